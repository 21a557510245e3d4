/**
 * Client side of `tools/soak.ts`, on its own thread so the clients do not
 * starve the server's event loop: runs transfers until the shared counter
 * reaches the limit or the deadline passes, checks every byte, and reports.
 *
 * Message in: {@linkcode SoakJob}. Messages out: `{ progress }` now and
 * then, `{ result }` at the end.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { createHash } from "node:crypto";
import { tftpGet, tftpPut } from "../src/client/client.ts";
import { mixSeed, Rng } from "../testing/rng.ts";

/** What a worker is asked to do. */
export interface SoakJob {
  /** Server port on 127.0.0.1. */
  port: number;
  /** Server root (to check uploads on disk). */
  root: string;
  /** Served files: name -> SHA-256. */
  files: Record<string, string>;
  /** Seed. */
  seed: number;
  /** Clients in this worker. */
  concurrency: number;
  /** Stop starting transfers after this time (epoch ms). */
  deadline: number;
  /** Stop after this many transfers in total (all workers). */
  limit: number;
  /** Shared counter of transfers begun (Int32Array on a SharedArrayBuffer). */
  counter: Int32Array;
  /** Client retransmit interval, ms. */
  retransmitMs: number;
}

/** What a worker reports. */
export interface SoakResult {
  /** Downloads done. */
  reads: number;
  /** Uploads done. */
  writes: number;
  /** Payload bytes. */
  bytes: number;
  /** Failed transfers. */
  failures: number;
  /** The first failures. */
  failureSamples: string[];
}

function sha(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

async function run(job: SoakJob): Promise<SoakResult> {
  const res: SoakResult = {
    reads: 0,
    writes: 0,
    bytes: 0,
    failures: 0,
    failureSamples: [],
  };
  const names = Object.keys(job.files);
  const fail = (what: string) => {
    res.failures++;
    if (res.failureSamples.length < 10) res.failureSamples.push(what);
  };
  const one = async (i: number) => {
    const r = new Rng(mixSeed(job.seed, "transfer", i));
    const common = {
      host: "127.0.0.1",
      port: job.port,
      blksize: r.chance(0.6) ? r.pick([512, 1024, 1468, 4096]) : undefined,
      windowsize: r.chance(0.5) ? r.pick([1, 2, 4, 8, 16]) : undefined,
      retransmitMs: job.retransmitMs,
      retries: 10,
    };
    try {
      if (r.chance(0.7)) {
        const name = r.pick(names);
        const hash = createHash("sha256");
        let n = 0;
        await tftpGet(name, {
          ...common,
          sink: {
            write: (d) => {
              hash.update(d);
              n += d.length;
            },
          },
        });
        if (hash.digest("hex") !== job.files[name]) {
          fail(`#${i} get ${name}: wrong bytes`);
        }
        res.reads++;
        res.bytes += n;
      } else {
        const name = `up-${i}.bin`;
        const data = r.bytes(r.int(200_000));
        await tftpPut(name, { ...common, data });
        const stored = await Deno.readFile(`${job.root}/${name}`);
        if (sha(stored) !== sha(data)) fail(`#${i} put ${name}: wrong bytes`);
        await Deno.remove(`${job.root}/${name}`);
        res.writes++;
        res.bytes += data.length;
      }
    } catch (err) {
      fail(`#${i}: ${err}`);
    }
  };
  let lastProgress = Date.now();
  const client = async () => {
    while (Date.now() < job.deadline) {
      const i = Atomics.add(job.counter, 0, 1);
      if (i >= job.limit) return;
      await one(i);
      if (Date.now() - lastProgress > 1000) {
        lastProgress = Date.now();
        self.postMessage({ progress: { ...res } });
      }
    }
  };
  await Promise.all(Array.from({ length: job.concurrency }, client));
  return res;
}

self.onmessage = async (e: MessageEvent<SoakJob>) => {
  const result = await run(e.data);
  self.postMessage({ result });
  self.close();
};
