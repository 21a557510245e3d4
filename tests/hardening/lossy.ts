/**
 * The fault-injection matrix: transfers through a {@linkcode LossyProxy},
 * each checked for the right bytes (or a clean failure) and for a bounded
 * number of server packets (no Sorcerer's Apprentice growth).
 *
 * The packet bounds follow from the retransmit policy:
 *
 * - Read (server sends): every window starts after an ACK that moves the
 *   window or after a timeout, and holds at most `windowsize` packets; the
 *   first "window" is the OACK or DATA 1. So
 *   `DATA + OACK <= windowsize * (1 + advancing ACKs + retransmit rounds)`,
 *   and, as retries reset only on progress,
 *   `retransmit rounds <= retries * (advancing ACKs + 1)`.
 *   Duplicate and stale ACKs do not count: a server that answered them with
 *   data would break the bound.
 * - Write (server receives): one ACK (or OACK) at the start, at most one per
 *   DATA received and one per timeout:
 *   `ACK + OACK <= 1 + DATA received + retransmit rounds`.
 *
 * @module
 */

import { tftpGet, tftpPut } from "../../src/client/client.ts";
import { TftpClientError } from "../../src/client/client.ts";
import type { TransferStats } from "../../src/server/session.ts";
import {
  advancingAcks,
  countOp,
  type FaultProfile,
  LossyProxy,
  type ProxyFlow,
} from "../../testing/lossy_proxy.ts";
import { mixSeed, Rng } from "../../testing/rng.ts";
import {
  binaryContent,
  type Harness,
  netasciiContent,
  startHarness,
} from "./harness.ts";

/** A named pair of fault profiles. */
export interface Faults {
  /** Short name, used in file names. */
  name: string;
  /** Client -> server. */
  toServer: FaultProfile;
  /** Server -> client. */
  toClient: FaultProfile;
}

/** The fault profiles of the matrix. */
export const FAULTS: Record<string, Faults> = {
  loss5: { name: "loss5", toServer: { drop: 0.05 }, toClient: { drop: 0.05 } },
  loss20: { name: "loss20", toServer: { drop: 0.2 }, toClient: { drop: 0.2 } },
  dupReorder: {
    name: "dup-reorder",
    toServer: { duplicate: 0.05, reorder: 0.05, jitterMs: 2 },
    toClient: { duplicate: 0.05, reorder: 0.05, jitterMs: 2 },
  },
  clean: { name: "clean", toServer: {}, toClient: {} },
};

/** One transfer of the matrix. */
export interface TransferCase {
  /** `get` (RRQ) or `put` (WRQ). */
  dir: "get" | "put";
  /** Transfer mode. */
  mode: "octet" | "netascii";
  /** Requested windowsize (1: none requested). */
  windowsize: number;
  /** Requested blksize (512 with windowsize 1: no options at all). */
  blksize: number;
  /** Bytes on the wire. */
  size: number;
  /** Short description of the size. */
  sizeLabel: string;
}

/**
 * Settings shared by the server and the clients of a matrix run. The
 * intervals leave room for a loaded machine (two test runs on two CPUs):
 * with 30-40 ms timers a stalled event loop looked like loss, and a
 * transfer ran out of retransmits without a packet being lost.
 */
export const MATRIX_SETTINGS = {
  /** Server retransmit interval, seconds. */
  ackTimeout: 0.1,
  /** Server give-up time without progress (and upload linger), seconds. */
  timeout: 8,
  /**
   * Retransmit rounds without progress, server and client. Not what a
   * deployment would use: server, proxy and clients share one event loop,
   * and on a loaded machine (two suites at once on 2 CPUs) it can fall
   * seconds behind; 30 rounds (4.5 s at the client's interval, 3 s at the
   * server's) outlast that, where 10 gave up on transfers that were only
   * waiting for their turn.
   */
  retries: 30,
  /** Client retransmit interval, ms. */
  clientRetransmitMs: 150,
  /** Bound for the server to end a transfer after the client is done, ms. */
  endBoundMs: 20_000,
};

/** What happened to one transfer. */
export interface CaseResult {
  /** The case. */
  c: TransferCase;
  /** Remote file name. */
  name: string;
  /** Whether the client finished with the right bytes. */
  completed: boolean;
  /** The client's error, when it failed. */
  clientError?: string;
  /** The server's stats. */
  stats: TransferStats;
  /** The proxy flow. */
  flow: ProxyFlow;
  /** Broken expectations (empty when all is well). */
  problems: string[];
  /** Packets the server sent (DATA+OACK for reads, ACK+OACK for writes). */
  serverPackets: number;
  /** The bound those packets had to stay within. */
  bound: number;
}

/**
 * Size choices for a case: empty, one block, an exact multiple of blksize
 * (ends with an empty DATA), and a multiple plus a partial block.
 *
 * @param kind 0..3.
 * @param blksize Block size.
 * @param blocks How many full blocks for the multi-block kinds.
 * @returns Size and label.
 */
export function sizeOf(
  kind: number,
  blksize: number,
  blocks: number,
): { size: number; sizeLabel: string } {
  switch (kind % 4) {
    case 0:
      return { size: 0, sizeLabel: "empty" };
    case 1:
      return { size: Math.floor(blksize / 2) + 1, sizeLabel: "one-block" };
    case 2:
      return { size: blocks * blksize, sizeLabel: `exact-${blocks}` };
    default:
      return {
        size: blocks * blksize + Math.floor(blksize / 3) + 1,
        sizeLabel: `${blocks}-and-part`,
      };
  }
}

/**
 * Every combination of direction, mode, windowsize, blksize and size.
 *
 * @param blocksFor Full blocks of the multi-block sizes, by windowsize.
 * @returns The cases.
 */
export function fullCases(
  blocksFor: (windowsize: number) => number,
): TransferCase[] {
  const cases: TransferCase[] = [];
  for (const dir of ["get", "put"] as const) {
    for (const mode of ["octet", "netascii"] as const) {
      for (const windowsize of [1, 4, 16, 64]) {
        for (const blksize of [512, 1468, 8192]) {
          for (let kind = 0; kind < 4; kind++) {
            const { size, sizeLabel } = sizeOf(
              kind,
              blksize,
              blocksFor(windowsize),
            );
            cases.push({ dir, mode, windowsize, blksize, size, sizeLabel });
          }
        }
      }
    }
  }
  return cases;
}

function caseName(faults: Faults, c: TransferCase, i: number): string {
  return `${faults.name}-${i}-${c.dir}-${c.mode}-w${c.windowsize}-b${c.blksize}-${c.sizeLabel}.bin`;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Checks the server's packet count of one transfer against the bounds in
 * the module documentation.
 *
 * @param dir Direction.
 * @param stats The server's stats.
 * @param flow The proxy flow.
 * @param retries The server's retry limit.
 * @returns Packets, bound and problems.
 */
export function checkPacketBound(
  dir: "get" | "put",
  stats: TransferStats,
  flow: ProxyFlow,
  retries: number,
): { packets: number; bound: number; problems: string[] } {
  const problems: string[] = [];
  const oack = Object.keys(stats.options).length > 0;
  const rounds = stats.retransmits;
  if (dir === "get") {
    const w = Number(stats.options.windowsize ?? 1);
    const acks = advancingAcks(flow.toServer.passed, { oack });
    const packets = countOp(flow.toClient.sent, 3) +
      countOp(flow.toClient.sent, 6);
    const bound = w * (1 + acks + rounds);
    if (packets > bound) {
      problems.push(
        `server sent ${packets} DATA/OACK > ${w} * (1 + ${acks} advancing ACKs + ${rounds} timeouts) = ${bound}`,
      );
    }
    if (rounds > retries * (acks + 1)) {
      problems.push(
        `${rounds} retransmit rounds > ${retries} retries * (${acks} advancing ACKs + 1)`,
      );
    }
    return { packets, bound, problems };
  }
  const data = countOp(flow.toServer.passed, 3);
  const packets = countOp(flow.toClient.sent, 4) +
    countOp(flow.toClient.sent, 6);
  const bound = 1 + data + rounds;
  if (packets > bound) {
    problems.push(
      `server sent ${packets} ACK/OACK > 1 + ${data} DATA received + ${rounds} timeouts = ${bound}`,
    );
  }
  return { packets, bound, problems };
}

/**
 * Runs one transfer through the proxy and checks it.
 *
 * @param h The server.
 * @param proxy The proxy in front of it.
 * @param c The case.
 * @param opts `name`: remote name; `seed`: content seed.
 * @returns The result.
 */
export async function runCase(
  h: Harness,
  proxy: LossyProxy,
  c: TransferCase,
  opts: { name: string; seed: number },
): Promise<CaseResult> {
  const rng = new Rng(mixSeed(opts.seed, opts.name));
  const content = c.mode === "netascii"
    ? netasciiContent(rng, c.size)
    : binaryContent(rng, c.size);
  const plain = c.windowsize === 1 && c.blksize === 512;
  const clientOpts = {
    host: "127.0.0.1",
    port: proxy.port,
    mode: c.mode,
    blksize: plain ? undefined : c.blksize,
    windowsize: c.windowsize === 1 ? undefined : c.windowsize,
    retransmitMs: MATRIX_SETTINGS.clientRetransmitMs,
    retries: MATRIX_SETTINGS.retries,
  };
  const problems: string[] = [];
  let completed = false;
  let clientError: string | undefined;
  if (c.dir === "get") {
    await Deno.writeFile(`${h.root}/${opts.name}`, content);
    const chunks: Uint8Array[] = [];
    try {
      await tftpGet(opts.name, {
        ...clientOpts,
        sink: { write: (d) => void chunks.push(d.slice()) },
      });
      const got = new Uint8Array(chunks.reduce((n, x) => n + x.length, 0));
      let off = 0;
      for (const x of chunks) {
        got.set(x, off);
        off += x.length;
      }
      if (same(got, content)) completed = true;
      else {
        problems.push(
          `received ${got.length} bytes that differ from the ${content.length}-byte file`,
        );
      }
    } catch (err) {
      if (!(err instanceof TftpClientError)) throw err;
      clientError = err.message;
    }
  } else {
    try {
      await tftpPut(opts.name, { ...clientOpts, data: content });
      completed = true;
    } catch (err) {
      if (!(err instanceof TftpClientError)) throw err;
      clientError = err.message;
    }
  }
  const flow = proxy.flowFor(opts.name);
  if (!flow) throw new Error(`no proxy flow for ${opts.name}`);
  proxy.release(flow);
  const stats = await h.waitForPeer(flow.backPort, {
    timeoutMs: MATRIX_SETTINGS.endBoundMs,
  });
  if (c.dir === "put") {
    const onDisk = await h.readFile(opts.name);
    if (stats.outcome === "ok") {
      if (!onDisk || !same(onDisk, content)) {
        problems.push("server reported ok but the file is not the upload");
      }
    } else if (onDisk) {
      problems.push(`failed upload (${stats.outcome}) left a file`);
    }
    if (completed && stats.outcome !== "ok") {
      problems.push(`client completed but the server says ${stats.outcome}`);
    }
  } else if (!completed && stats.outcome === "ok") {
    problems.push("server says ok but the client did not get the file");
  }
  if (!completed && clientError === undefined && problems.length === 0) {
    problems.push("client neither completed nor failed");
  }
  const bound = checkPacketBound(
    c.dir,
    stats,
    flow,
    MATRIX_SETTINGS.retries,
  );
  problems.push(...bound.problems);
  return {
    c,
    name: opts.name,
    completed,
    clientError,
    stats,
    flow,
    problems,
    serverPackets: bound.packets,
    bound: bound.bound,
  };
}

/**
 * Runs a set of cases concurrently through one proxy with `faults` in front
 * of a fresh server.
 *
 * @param faults Fault profile.
 * @param cases Transfers.
 * @param opts `seed`: proxy and content seed; `concurrency`: transfers at
 * once (default all).
 * @returns One result per case, in order.
 */
export async function runMatrix(
  faults: Faults,
  cases: TransferCase[],
  opts: { seed: number; concurrency?: number },
): Promise<CaseResult[]> {
  await using h = await startHarness({
    ackTimeout: MATRIX_SETTINGS.ackTimeout,
    timeout: MATRIX_SETTINGS.timeout,
    retries: MATRIX_SETTINGS.retries,
    maxSessionsPerClient: 4096,
  });
  await using proxy = new LossyProxy({
    target: { hostname: "127.0.0.1", port: h.port },
    seed: opts.seed,
    toServer: faults.toServer,
    toClient: faults.toClient,
  });
  const results: CaseResult[] = new Array(cases.length);
  let nextIndex = 0;
  const worker = async () => {
    while (nextIndex < cases.length) {
      const i = nextIndex++;
      results[i] = await runCase(h, proxy, cases[i], {
        name: caseName(faults, cases[i], i),
        seed: opts.seed,
      });
    }
  };
  const n = Math.min(opts.concurrency ?? cases.length, cases.length);
  await Promise.all(Array.from({ length: n }, worker));
  if (h.errors.length > 0) {
    throw new Error(`server logged errors:\n${h.errors.join("\n")}`);
  }
  return results;
}

/**
 * One line per result, for failure messages and the long run's report.
 *
 * @param results Results.
 * @returns Text.
 */
export function describeResults(results: CaseResult[]): string {
  return results.map((r) =>
    `${r.completed ? "ok  " : "FAIL"} ${r.name} server=${r.stats.outcome} ` +
    `packets=${r.serverPackets}/${r.bound} retransmits=${r.stats.retransmits}` +
    `${r.clientError ? ` client: ${r.clientError}` : ""}` +
    `${r.problems.length ? `\n     PROBLEMS: ${r.problems.join("; ")}` : ""}`
  ).join("\n");
}
