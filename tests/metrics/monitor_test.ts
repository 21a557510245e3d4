/**
 * The monitor: counts, live progress pulled only when asked, refusals,
 * bounds, and label values that never carry network text.
 */

import assert from "node:assert/strict";
import { TransferMonitor } from "../../src/metrics/monitor.ts";
import { renderMetrics } from "../../src/metrics/collect.ts";
import { REFUSAL_REASONS } from "../../src/metrics/types.ts";
import type { Outcome } from "../../src/server/session.ts";
import type { RefusalReason as AdmissionRefusal } from "../../src/server/admission.ts";
import type { RefusalReason } from "../../src/metrics/types.ts";
import {
  HOSTILE_NAMES,
  info,
  ManualClock,
  type MutableLive,
  stats,
  transfer,
} from "./common.ts";

/** The value of one sample line in exposition text, or undefined. */
function sampleValue(text: string, series: string): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith(series + " ")) {
      return Number(line.slice(series.length + 1));
    }
  }
  return undefined;
}

Deno.test("TransferMonitor counts finished transfers by direction and outcome, bytes, retransmits and durations", () => {
  const m = new TransferMonitor();
  transfer(m, "a", { bytes: 1000, retransmits: 2, durationMs: 40 });
  transfer(m, "b", { bytes: 500, outcome: "timeout", durationMs: 3000 });
  transfer(m, "c", {
    direction: "write",
    bytes: 70,
    outcome: "error",
    error: "ERROR 3: disk full",
  });
  transfer(m, "d", { outcome: "probe", bytes: 0, durationMs: 2 });
  const t = m.totals();
  assert.equal(t.transfers.read.ok, 1);
  assert.equal(t.transfers.read.timeout, 1);
  assert.equal(t.transfers.read.probe, 1);
  assert.equal(t.transfers.write.error, 1);
  assert.equal(t.outcomes.ok, 1);
  assert.deepEqual(t.bytes, { read: 1500, write: 70 });
  assert.equal(t.retransmits, 2);
  assert.equal(t.errors["3"], 1);

  const text = renderMetrics(m);
  assert.equal(
    sampleValue(text, 'tftp_transfers_total{direction="read",outcome="ok"}'),
    1,
  );
  assert.equal(
    sampleValue(
      text,
      'tftp_transfers_total{direction="write",outcome="error"}',
    ),
    1,
  );
  assert.equal(
    sampleValue(text, 'tftp_transfers_total{direction="write",outcome="ok"}'),
    0,
    "every series exists from the start",
  );
  assert.equal(sampleValue(text, 'tftp_bytes_total{direction="read"}'), 1500);
  assert.equal(sampleValue(text, "tftp_retransmits_total"), 2);
  assert.equal(sampleValue(text, "tftp_transfer_duration_seconds_count"), 4);
  assert.equal(
    sampleValue(text, 'tftp_transfer_duration_seconds_bucket{le="0.05"}'),
    2,
  );
  assert.equal(
    sampleValue(text, 'tftp_transfer_duration_seconds_bucket{le="5"}'),
    4,
  );
  assert.equal(sampleValue(text, 'tftp_transfer_errors_total{code="3"}'), 1);
});

Deno.test("TransferMonitor reads live progress only when asked, never on its own", () => {
  const m = new TransferMonitor();
  let reads = 0;
  let bytes = 0;
  const live = {
    get bytes() {
      reads++;
      return bytes;
    },
  };
  m.started(info("big.img"), live);
  for (let block = 1; block <= 1000; block++) bytes = block * 1468;
  assert.equal(reads, 0, "moving bytes costs the monitor nothing");
  assert.equal(m.totals().bytes.read, 1000 * 1468);
  assert.ok(reads > 0);
  const before = reads;
  m.status();
  assert.ok(reads > before, "a status document reads it again");
});

Deno.test("TransferMonitor keeps tftp_bytes_total monotonic when final stats report less than a live reading", () => {
  const m = new TransferMonitor();
  const live: MutableLive = { bytes: 0 };
  const id = m.started(info("x"), live);
  live.bytes = 5000;
  assert.equal(m.totals().bytes.read, 5000);
  m.ended(id, stats("x", { bytes: 4000 }));
  assert.equal(m.totals().bytes.read, 5000);
  // A cached worker value that lags: the final count wins.
  const live2: MutableLive = { bytes: 0 };
  const id2 = m.started(info("y"), live2);
  live2.bytes = 100;
  assert.equal(m.totals().bytes.read, 5100);
  m.ended(id2, stats("y", { bytes: 4096 }));
  assert.equal(m.totals().bytes.read, 9096);
  assert.equal(m.activeCount, 0);
});

Deno.test("TransferMonitor.refused() counts by reason; with an id it withdraws a running transfer instead of counting it", () => {
  const m = new TransferMonitor();
  for (const r of REFUSAL_REASONS) m.refused(r);
  m.refused("busy");
  m.refused("made up" as never);
  const id = m.started(info("f"), { bytes: 0 });
  m.refused("no-port", id);
  assert.equal(m.activeCount, 0);
  m.ended(id, stats("f"));
  // Done after its outcome: a fallback refusal changes nothing.
  const done = m.started(info("g"), { bytes: 0 });
  m.ended(done, stats("g"));
  m.refused("duplicate", done);
  const t = m.totals();
  assert.equal(t.refusals.busy, 2);
  assert.equal(t.refusals["no-port"], 2);
  assert.equal(t.refusals.duplicate, 1);
  assert.equal(t.refusals.other, 2);
  assert.equal(t.outcomes.ok, 1, "a withdrawn transfer is not a transfer");
  assert.deepEqual(m.status().recent.map((r) => r.file), ["g"]);
  const text = renderMetrics(m);
  assert.equal(sampleValue(text, 'tftp_refusals_total{reason="busy"}'), 2);
  assert.equal(
    sampleValue(text, 'tftp_refusals_total{reason="per-client"}'),
    1,
  );
});

Deno.test("every reason admission gives is one the monitor counts", () => {
  // Compile-time check: admission's reasons are a subset of the monitor's,
  // so the server passes verdict.reason as it is.
  const fits = (r: AdmissionRefusal): RefusalReason => r;
  const m = new TransferMonitor();
  m.refused(fits("per-client"));
  assert.equal(m.totals().refusals["per-client"], 1);
});

Deno.test("TransferMonitor maps unknown outcomes and error texts into its fixed sets", () => {
  const m = new TransferMonitor();
  transfer(m, "a", { outcome: "exploded" as Outcome });
  transfer(m, "b", { outcome: "error", error: "ERROR 1: File not found" });
  transfer(m, "c", { outcome: "error", error: "ERROR 12: new code" });
  transfer(m, "d", { outcome: "error" });
  const t = m.totals();
  assert.equal(t.outcomes.error, 4);
  assert.equal(t.errors["1"], 1);
  assert.equal(t.errors.other, 3);
  assert.equal(m.status().recent[3].outcome, "error");
});

Deno.test("TransferMonitor shows percent from the size or the tsize option, else null", () => {
  const m = new TransferMonitor();
  m.started(info("sized"), { bytes: 250, size: 1000 });
  m.started(info("tsize"), {
    bytes: 300,
    options: new Map([["tsize", "600"], ["blksize", "1468"]]),
  });
  m.started(info("unknown"), { bytes: 10 });
  m.started(info("over"), { bytes: 2000, size: 1000 });
  m.started(info("empty"), { bytes: 0, size: 0 });
  const byFile = Object.fromEntries(m.status().active.map((a) => [a.file, a]));
  assert.equal(byFile.sized.percent, 25);
  assert.equal(byFile.sized.size, 1000);
  assert.equal(byFile.tsize.percent, 50);
  assert.deepEqual(byFile.tsize.options, { tsize: "600", blksize: "1468" });
  assert.equal(byFile.unknown.percent, null);
  assert.equal(byFile.unknown.size, null);
  assert.equal(byFile.over.percent, 100);
  assert.equal(byFile.empty.percent, 100);
});

Deno.test("TransferMonitor.sample() gives recent rates per transfer and a bounded throughput history", () => {
  const clock = new ManualClock();
  const m = new TransferMonitor({ now: clock.now, history: 3 });
  const up: MutableLive = { bytes: 0 };
  const down: MutableLive = { bytes: 0 };
  m.started(info("r"), down);
  m.started(info("w", { direction: "write" }), up);
  m.sample();
  clock.advance(2000);
  down.bytes = 10_000;
  up.bytes = 1000;
  m.sample();
  const s = m.status();
  assert.deepEqual(s.active.map((a) => a.rate), [5000, 500]);
  assert.deepEqual(s.throughput.points, [[clock.t, 5000, 500]]);
  clock.advance(1000);
  m.sample();
  assert.deepEqual(m.status().active.map((a) => a.rate), [0, 0]);
  for (let i = 0; i < 5; i++) {
    clock.advance(1000);
    m.sample();
  }
  const pts = m.status().throughput;
  assert.equal(pts.points.length, 3);
  assert.equal(pts.intervalSeconds, 1);
});

Deno.test("TransferMonitor counts running transfers per thread, configured threads from zero", () => {
  const m = new TransferMonitor({ threads: 3 });
  m.started(info("a"), { bytes: 0 });
  m.started(info("b", { worker: 2 }), { bytes: 0 });
  m.started(info("c", { worker: 2 }), { bytes: 0 });
  assert.deepEqual(m.activeByThread(), { main: 1, "1": 0, "2": 2, "3": 0 });
  const text = renderMetrics(m);
  assert.equal(
    sampleValue(text, 'tftp_thread_active_transfers{thread="2"}'),
    2,
  );
  assert.equal(sampleValue(text, "tftp_active_transfers"), 3);
  assert.deepEqual(m.status().active.map((a) => a.worker), [null, 2, 2]);
});

Deno.test("no label value ever carries a file name, a peer or an error text", () => {
  const m = new TransferMonitor({ version: "0.1.0" });
  for (const name of HOSTILE_NAMES) {
    const peer = `[2001:db8::${name.length}]:69`;
    transfer(m, name, { peer, outcome: "error", error: `ERROR 1: ${name}` });
    m.started(info(name, { peer }), { bytes: 1, options: { [name]: name } });
  }
  const text = renderMetrics(m);
  for (const name of HOSTILE_NAMES) assert.ok(!text.includes(name));
  assert.ok(!text.includes("2001:db8"));
  const allowed = new Set([
    "read",
    "write",
    "ok",
    "error",
    "aborted",
    "probe",
    "timeout",
    "cancelled",
    "main",
    "other",
    "+Inf",
    "0.1.0",
    Deno.version.deno,
    Deno.version.v8,
    Deno.version.typescript,
    ...REFUSAL_REASONS,
  ]);
  const values = [...text.matchAll(/="([^"]*)"/g)].map((x) => x[1]);
  assert.ok(values.length > 50);
  for (const v of values) {
    assert.ok(
      allowed.has(v) || /^[0-9]+(\.[0-9]+)?$/.test(v),
      `unexpected label value ${v}`,
    );
  }
});

Deno.test("TransferMonitor keeps the last N finished transfers and clips what it keeps", () => {
  const m = new TransferMonitor({ recent: 5, listed: 2 });
  const huge = "n".repeat(10_000);
  for (let i = 0; i < 50; i++) {
    transfer(m, huge + i, {
      peer: "p".repeat(500),
      outcome: "error",
      error: "e".repeat(10_000),
      options: Object.fromEntries(
        Array.from({ length: 100 }, (_, k) => [`o${k}`, "v".repeat(100)]),
      ),
    });
  }
  for (let i = 0; i < 4; i++) m.started(info(huge), { bytes: 0 });
  const s = m.status();
  assert.equal(s.recent.length, 5);
  assert.deepEqual(s.recent.map((r) => r.id), [50, 49, 48, 47, 46]);
  for (const r of s.recent) {
    assert.ok(r.file.length <= 257 && r.file.endsWith("…"));
    assert.ok(r.peer.length <= 65);
    assert.ok((r.error ?? "").length <= 257);
    assert.ok(Object.keys(r.options).length <= 16);
    assert.ok(Object.values(r.options).every((v) => v.length <= 33));
  }
  assert.equal(s.activeCount, 4);
  assert.equal(s.active.length, 2, "the listing is bounded too");
  assert.equal(JSON.stringify(s).length < 20_000, true);
});

Deno.test("TransferMonitor never cuts a surrogate pair in half when clipping", () => {
  const m = new TransferMonitor();
  transfer(m, "a".repeat(255) + "😀".repeat(10));
  const file = m.status().recent[0].file;
  assert.ok(file.endsWith("a…"), file.slice(-4));
  assert.ok(file.isWellFormed());
});

Deno.test("a live source that throws shows its last reading", () => {
  const m = new TransferMonitor();
  let fail = false;
  m.started(info("x"), {
    get bytes() {
      if (fail) throw new Error("gone");
      return 77;
    },
    get options(): Record<string, string> {
      throw new Error("gone");
    },
  });
  assert.equal(m.status().active[0].bytes, 77);
  fail = true;
  assert.equal(m.status().active[0].bytes, 77);
  assert.equal(m.totals().bytes.read, 77);
});
