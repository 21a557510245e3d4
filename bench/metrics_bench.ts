/**
 * Cost of the metrics monitor (`src/metrics/`): what a transfer pays
 * (started + ended, with 200 others running and the recent ring full), and
 * what a scrape, a status document and the once-a-second sample cost with
 * a boot storm's 2048 transfers running. Compare the first with the
 * server's own cost per transfer (`session_bench.ts`: a 1 MiB read) to
 * check the storm benchmark stays within 3% with metrics on.
 *
 * @module
 */

import { TransferMonitor } from "../src/metrics/monitor.ts";
import { renderMetrics } from "../src/metrics/collect.ts";
import type { TransferStats } from "../src/server/session.ts";

const NAMES = Array.from({ length: 64 }, (_, i) => `pxe/host-${i}/initrd.img`);
const PEERS = Array.from({ length: 64 }, (_, i) => `10.0.${i}.7:${2000 + i}`);

function stats(i: number): TransferStats {
  return {
    peer: PEERS[i & 63],
    filename: NAMES[i & 63],
    direction: "read",
    mode: "octet",
    options: { blksize: "1468", tsize: "1048576", windowsize: "16" },
    bytes: 1048576,
    durationMs: 120 + (i & 15),
    retransmits: i % 5 === 0 ? 1 : 0,
    outcome: i % 50 === 0 ? "error" : "ok",
    error: i % 50 === 0 ? "ERROR 1: File not found" : undefined,
  };
}

/** A monitor with `running` transfers in progress and a full ring. */
function loaded(running: number): TransferMonitor {
  const m = new TransferMonitor({ threads: 2 });
  for (let i = 0; i < 400; i++) {
    m.ended(m.started({ ...stats(i) }, { bytes: 0 }), stats(i));
  }
  for (let i = 0; i < running; i++) {
    const s = stats(i);
    m.started({ ...s, worker: i % 3 || undefined }, {
      bytes: (i * 7919) % 1048576,
      options: s.options,
    });
  }
  return m;
}

const steady = loaded(200);
let n = 0;
Deno.bench("monitor: started + ended, per transfer (200 running)", () => {
  const i = n++;
  const s = stats(i);
  const live = { bytes: 0 };
  const id = steady.started(
    { peer: s.peer, filename: s.filename, direction: "read", mode: "octet" },
    live,
  );
  live.bytes = s.bytes;
  steady.ended(id, s);
});

const storm = loaded(2048);
Deno.bench(
  "scrape: /metrics text (2048 running)",
  { group: "periodic" },
  () => {
    renderMetrics(storm);
  },
);
Deno.bench("status document as JSON (2048 running, 500 listed)", {
  group: "periodic",
}, () => {
  JSON.stringify(storm.status());
});
Deno.bench("page update as JSON (2048 running, 100 listed)", {
  group: "periodic",
}, () => {
  JSON.stringify(storm.status({ listed: 100, recent: 50 }));
});
let clock = 0;
const sampled = new TransferMonitor({ now: () => clock += 1000 });
for (let i = 0; i < 2048; i++) {
  sampled.started({ ...stats(i) }, { bytes: i });
}
Deno.bench(
  "sample() once a second (2048 running)",
  { group: "periodic" },
  () => {
    sampled.sample();
  },
);
