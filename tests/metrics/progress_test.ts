/**
 * Progress without per-block cost: a local session read through getters,
 * and a worker thread's once-a-second report applied to cached copies the
 * monitor reads (the message crosses threads as a structured clone).
 */

import assert from "node:assert/strict";
import { TransferMonitor } from "../../src/metrics/monitor.ts";
import {
  CachedProgress,
  liveSession,
  type ProgressReport,
  ProgressReporter,
} from "../../src/metrics/progress.ts";
import type { Session } from "../../src/server/session.ts";
import { info, stats } from "./common.ts";

interface FakeSession {
  bytes: number;
  negotiated: { oack: Map<string, string> };
  size?: number;
}

function session(options: [string, string][] = []): FakeSession {
  return { bytes: 0, negotiated: { oack: new Map(options) } };
}

Deno.test("liveSession() takes the server's own Session type", () => {
  // Compile-time check: the server's sessions fit SessionLike as they are.
  const view = (s: Session) => liveSession(s);
  assert.equal(typeof view, "function");
});

Deno.test("liveSession() shows a local session's bytes and options as they are when asked", () => {
  const m = new TransferMonitor();
  const s = session();
  m.started(info("local.img"), liveSession(s));
  s.negotiated = { oack: new Map([["blksize", "1468"], ["tsize", "4000"]]) };
  s.bytes = 1000;
  const [a] = m.status().active;
  assert.equal(a.bytes, 1000);
  assert.deepEqual(a.options, { blksize: "1468", tsize: "4000" });
  assert.equal(a.percent, 25);
});

Deno.test("a worker's progress report reaches the monitor through cached copies", () => {
  // Worker side: three transfers; one report per second for all of them.
  const sessions = new Map<number, FakeSession>([
    [11, session([["blksize", "1468"], ["tsize", "8000"]])],
    [12, session()],
    [13, session([["windowsize", "16"]])],
  ]);
  const reporter = new ProgressReporter();
  // Main side: the monitor reads a cache per remote transfer.
  const m = new TransferMonitor({ threads: 1 });
  const caches = new Map<number, CachedProgress>();
  const ids = new Map<number, number>();
  for (const remoteId of sessions.keys()) {
    const cache = new CachedProgress();
    caches.set(remoteId, cache);
    ids.set(remoteId, m.started(info(`f${remoteId}`, { worker: 1 }), cache));
  }
  const deliver = (report: ProgressReport | undefined) => {
    assert.ok(report);
    const msg = structuredClone(report);
    for (const entry of msg.transfers) caches.get(entry[0])?.apply(entry);
  };

  sessions.get(11)!.bytes = 2000;
  deliver(reporter.report(sessions));
  let view = Object.fromEntries(m.status().active.map((a) => [a.file, a]));
  assert.equal(view.f11.bytes, 2000);
  assert.equal(view.f11.percent, 25);
  assert.deepEqual(view.f13.options, { windowsize: "16" });
  assert.equal(view.f12.bytes, 0);

  // Later reports carry bytes only; options stay known.
  sessions.get(11)!.bytes = 6000;
  sessions.get(12)!.bytes = 512;
  const second = reporter.report(sessions)!;
  assert.deepEqual(second.transfers.find((e) => e[0] === 11), [11, 6000]);
  deliver(second);
  view = Object.fromEntries(m.status().active.map((a) => [a.file, a]));
  assert.equal(view.f11.percent, 75);
  assert.deepEqual(view.f11.options, { blksize: "1468", tsize: "8000" });
  assert.equal(view.f12.bytes, 512);
  assert.equal(m.totals().bytes.read, 6512);

  // A late, older message cannot move progress back.
  caches.get(11)!.apply([11, 10]);
  assert.equal(caches.get(11)!.bytes, 6000);

  // A transfer that ended leaves the report; the final stats win.
  sessions.delete(11);
  m.ended(ids.get(11)!, stats("f11", { bytes: 8000, worker: 1 }));
  const third = reporter.report(sessions)!;
  assert.deepEqual(third.transfers.map((e) => e[0]), [12, 13]);
  assert.equal(m.totals().bytes.read, 8000 + 512);
  sessions.clear();
  assert.equal(reporter.report(sessions), undefined, "idle: no message");
});
