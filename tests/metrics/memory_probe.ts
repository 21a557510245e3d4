/**
 * Run by `memory_test.ts` with `--v8-flags=--expose-gc`: drives a monitor
 * through thousands of transfers with long, distinct file names and error
 * texts (as a hostile client would send), reading the status document as
 * a live page would, then prints the retained heap growth as JSON.
 *
 * Usage: deno run --v8-flags=--expose-gc memory_probe.ts COUNT NAME_BYTES
 */

import { TransferMonitor } from "../../src/metrics/monitor.ts";

const gc = (globalThis as unknown as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --v8-flags=--expose-gc");

const count = Number(Deno.args[0] ?? 5000);
const nameBytes = Number(Deno.args[1] ?? 16384);
const buf = new Uint8Array(nameBytes).fill(0x61);
const decoder = new TextDecoder();

/** A fresh, flat string of `nameBytes` characters, distinct for each `i`. */
function distinct(i: number, tag: number): string {
  const digits = `${tag}:${i}:`;
  for (let k = 0; k < digits.length; k++) buf[k] = digits.charCodeAt(k);
  return decoder.decode(buf);
}

function heap(): number {
  gc!();
  gc!();
  return Deno.memoryUsage().heapUsed;
}

const monitor = new TransferMonitor();
const before = heap();
for (let i = 0; i < count; i++) {
  const filename = distinct(i, 1);
  const live = { bytes: 0 };
  const id = monitor.started(
    {
      peer: `10.1.${i >> 8 & 255}.${i & 255}:${1024 + i % 60000}`,
      filename,
      direction: "read",
      mode: "octet",
    },
    live,
  );
  live.bytes = 512;
  monitor.ended(id, {
    peer: `10.1.${i >> 8 & 255}.${i & 255}:${1024 + i % 60000}`,
    filename,
    direction: "read",
    mode: "octet",
    options: { blksize: "512", tsize: String(i) },
    bytes: 512,
    durationMs: 5,
    retransmits: i % 3,
    outcome: "error",
    error: distinct(i, 2),
  });
  if (i % 100 === 0) {
    monitor.sample();
    JSON.stringify(monitor.status());
  }
}
const after = heap();
const doc = monitor.status();
console.log(JSON.stringify({
  before,
  after,
  growth: after - before,
  recent: doc.recent.length,
  statusBytes: JSON.stringify(doc).length,
  transfers: doc.totals.outcomes.error,
}));
