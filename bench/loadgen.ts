/**
 * A lean TFTP load generator for benchmarks: many concurrent RRQ and WRQ
 * transfers from one process, with blksize, windowsize, tsize and timeout
 * options and seeded loss of received DATA.
 *
 * It is written apart from `src/` on purpose (an independent implementation
 * checks the server's bytes) and does as little per packet as it can: one
 * reused receive buffer and one reused ACK buffer per transfer, no decoding
 * into objects, and one shared timer for every transfer in flight.
 *
 * Client behaviour (the same against every server):
 * - Retransmit interval: the `timeout` option's value when one is sent, else
 *   `retransmitMs` (default 1000 ms); give up after `retries` (default 5)
 *   retransmits without progress.
 * - RRQ: ACK every `windowsize`-th block and the final one; on a gap ACK the
 *   last in-order block once; on a duplicate re-ACK it (in lock-step every
 *   time, in a window once per progress), as tftp-hpa's client does.
 * - WRQ: send a window, move it to the block after the one ACKed (RFC 7440),
 *   resend from the first unACKed block on timeout; duplicate ACKs ignored.
 *
 * @module
 */

import { Rng } from "../testing/rng.ts";
import {
  encodeRequest,
  errorText,
  listen,
  OP_ACK,
  OP_DATA,
  OP_ERROR,
  OP_OACK,
  OP_RRQ,
  OP_WRQ,
  parseOack,
  type RequestOptions,
  type Timed,
  unwatch,
  watch,
} from "./loadgen_wire.ts";

export type { RequestOptions };

/** Where the server listens. */
export interface Target {
  /** Host (an address on loopback). */
  host: string;
  /** UDP port of the listening socket. */
  port: number;
}

/** Options common to reads and writes. */
export interface TransferOptions extends RequestOptions {
  /** Our retransmit interval in ms without a timeout option (default 1000). */
  retransmitMs?: number;
  /** Retransmits without progress before giving up (default 5). */
  retries?: number;
  /** Our address (default: the target's host), e.g. 127.1.0.5 to act as another machine. */
  localHost?: string;
}

/** Options of {@linkcode rrq}. */
export interface RrqOptions extends TransferOptions {
  /** Bytes expected (sizes the buffer; more is still accepted). */
  expectedSize?: number;
  /** Fraction of received DATA packets to drop (0..1), for loss tests. */
  loss?: number;
  /** Seed of the drop decisions (same seed, same drops). */
  seed?: number;
}

/** Options of {@linkcode wrq}. */
export interface WrqOptions extends TransferOptions {
  /** The bytes to upload. */
  data: Uint8Array;
}

/** What one transfer did. */
export interface TransferResult {
  /** Whether it completed. */
  ok: boolean;
  /** Why it failed. */
  error?: string;
  /** Payload bytes moved. */
  bytes: number;
  /** Milliseconds from request to the final block (or to failure). */
  ms: number;
  /** The received bytes (RRQ only). */
  data?: Uint8Array;
  /** Retransmits we made (requests, ACKs or DATA windows). */
  retransmits: number;
  /** DATA packets dropped on purpose. */
  dropped: number;
  /** Options the server accepted (from its OACK). */
  oack: Record<string, string>;
}

/**
 * Downloads one file (RRQ).
 *
 * @example
 * ```ts ignore
 * import { rrq } from "./loadgen.ts";
 * const r = await rrq({ host: "127.0.0.1", port: 6969 }, {
 *   filename: "f.bin",
 *   blksize: 1468,
 * });
 * console.log(r.ok, r.bytes, r.ms);
 * ```
 *
 * @param target Server address.
 * @param opts File, options, loss.
 * @returns What happened; never throws.
 */
export async function rrq(
  target: Target,
  opts: RrqOptions,
): Promise<TransferResult> {
  const sock = listen(opts.localHost ?? target.host);
  const rx = new Uint8Array(Math.max(opts.blksize ?? 512, 512) + 5);
  const ack = new Uint8Array(4);
  ack[1] = OP_ACK;
  const drop = opts.loss ? new Rng(opts.seed ?? 1) : undefined;
  const loss = opts.loss ?? 0;
  const maxRetries = opts.retries ?? 5;
  let out = new Uint8Array(opts.expectedSize ?? 65536);
  let blksize = 512;
  let windowsize = 1;
  let expected = 1; // absolute number of the next block
  let inWindow = 0;
  let acked = false; // gap/duplicate already answered since last progress
  let peer: Deno.NetAddr | undefined;
  let lastSent: Uint8Array = encodeRequest(OP_RRQ, opts);
  let retries = 0;
  let retransmits = 0;
  let dropped = 0;
  let error: string | undefined;
  let oack: Record<string, string> = {};
  let closed = false;
  let total = 0;
  const t0 = performance.now();
  let t1 = t0;

  const dest = (): Deno.NetAddr =>
    peer ?? { transport: "udp", hostname: target.host, port: target.port };
  const close = () => {
    if (closed) return;
    closed = true;
    sock.close();
  };
  const timer: Timed = {
    last: t0,
    intervalMs: opts.timeout !== undefined
      ? opts.timeout * 1000
      : opts.retransmitMs ?? 1000,
    onTimeout() {
      if (closed) return;
      if (retries >= maxRetries) {
        error = `timed out at block ${expected}`;
        t1 = performance.now();
        close();
        return;
      }
      retries++;
      retransmits++;
      sock.send(lastSent, dest()).catch(() => {});
    },
  };
  const sendAck = async (block: number) => {
    ack[2] = (block >> 8) & 0xff;
    ack[3] = block & 0xff;
    lastSent = ack;
    timer.last = performance.now();
    await sock.send(ack, dest());
  };

  watch(timer);
  try {
    await sock.send(lastSent, dest());
    for (;;) {
      const [d, addr] = await sock.receive(rx);
      const from = addr as Deno.NetAddr;
      if (peer === undefined) {
        peer = from;
      } else if (from.port !== peer.port) {
        continue; // another TID (a duplicate request's session): ignore
      }
      const op = d.length >= 4 && d[0] === 0 ? d[1] : 0;
      if (op === OP_DATA) {
        if (drop && drop.float() < loss) {
          dropped++;
          continue;
        }
        const block = (d[2] << 8) | d[3];
        const want = expected & 0xffff;
        if (block === want) {
          const len = d.length - 4;
          const at = (expected - 1) * blksize;
          if (at + len > out.length) {
            const bigger = new Uint8Array(Math.max(out.length * 2, at + len));
            bigger.set(out);
            out = bigger;
          }
          out.set(d.subarray(4), at);
          total = at + len;
          expected++;
          retries = 0;
          acked = false;
          timer.last = performance.now();
          if (len < blksize) {
            t1 = performance.now();
            await sendAck(block);
            break;
          }
          if (++inWindow >= windowsize) {
            inWindow = 0;
            await sendAck(block);
          }
        } else {
          const ahead = (block - want) & 0xffff;
          if (ahead < windowsize) {
            // A gap: ask for the rest once.
            if (acked) continue;
          } else if (windowsize > 1 && acked) {
            continue; // duplicate in a window: one re-ACK per progress
          }
          acked = true;
          inWindow = 0;
          await sendAck((expected - 1) & 0xffff);
        }
      } else if (op === OP_OACK && expected === 1) {
        oack = parseOack(d);
        if (oack.blksize) blksize = Number(oack.blksize);
        if (oack.windowsize) windowsize = Number(oack.windowsize);
        if (oack.tsize && Number(oack.tsize) > out.length) {
          out = new Uint8Array(Number(oack.tsize));
        }
        if (blksize + 5 > rx.length) {
          error = `server chose blksize ${blksize} above the requested one`;
          break;
        }
        retries = 0;
        await sendAck(0);
      } else if (op === OP_ERROR) {
        error = errorText(d);
        break;
      }
    }
  } catch (err) {
    if (!closed || error === undefined) {
      error = `socket: ${err instanceof Error ? err.message : String(err)}`;
    }
  } finally {
    unwatch(timer);
    close();
  }
  if (t1 === t0) t1 = performance.now();
  return {
    ok: error === undefined,
    error,
    bytes: total,
    ms: t1 - t0,
    data: error === undefined ? out.subarray(0, total) : undefined,
    retransmits,
    dropped,
    oack,
  };
}

/**
 * Uploads bytes (WRQ).
 *
 * @example
 * ```ts ignore
 * import { wrq } from "./loadgen.ts";
 * const r = await wrq({ host: "127.0.0.1", port: 6969 }, {
 *   filename: "up.bin",
 *   data: new Uint8Array(100000),
 *   blksize: 1468,
 *   windowsize: 16,
 * });
 * console.log(r.ok, r.ms);
 * ```
 *
 * @param target Server address.
 * @param opts File, bytes, options.
 * @returns What happened; never throws.
 */
export async function wrq(
  target: Target,
  opts: WrqOptions,
): Promise<TransferResult> {
  const sock = listen(opts.localHost ?? target.host);
  const rx = new Uint8Array(516);
  const data = opts.data;
  const maxRetries = opts.retries ?? 5;
  let blksize = 512;
  let windowsize = 1;
  let pkt = new Uint8Array(4 + blksize);
  pkt[1] = OP_DATA;
  let lastBlock = Math.floor(data.length / blksize) + 1;
  let started = false; // ACK 0 or OACK seen
  let base = 1; // first block not yet acknowledged
  let next = 1; // next block to send
  let pumping = false;
  let peer: Deno.NetAddr | undefined;
  const request = encodeRequest(OP_WRQ, opts, data.length);
  let retries = 0;
  let retransmits = 0;
  let error: string | undefined;
  let oack: Record<string, string> = {};
  let closed = false;
  let done = false;
  const t0 = performance.now();
  let t1 = t0;

  const dest = (): Deno.NetAddr =>
    peer ?? { transport: "udp", hostname: target.host, port: target.port };
  const close = () => {
    if (closed) return;
    closed = true;
    sock.close();
  };
  const fail = (why: string) => {
    if (error === undefined) error = why;
    t1 = performance.now();
    close();
  };
  const pump = async () => {
    if (pumping || closed) return;
    pumping = true;
    try {
      while (!closed && next <= lastBlock && next < base + windowsize) {
        const n = next++;
        const off = (n - 1) * blksize;
        const len = Math.min(blksize, data.length - off);
        pkt[2] = (n >> 8) & 0xff;
        pkt[3] = n & 0xff;
        pkt.set(data.subarray(off, off + len), 4);
        await sock.send(pkt.subarray(0, 4 + len), dest());
      }
      timer.last = performance.now();
    } catch (err) {
      if (!closed) fail(`send: ${String(err)}`);
    } finally {
      pumping = false;
    }
  };
  const timer: Timed = {
    last: t0,
    intervalMs: opts.timeout !== undefined
      ? opts.timeout * 1000
      : opts.retransmitMs ?? 1000,
    onTimeout() {
      if (closed || pumping) return;
      if (retries >= maxRetries) {
        fail(`timed out at block ${base}`);
        return;
      }
      retries++;
      retransmits++;
      if (!started) {
        sock.send(request, dest()).catch(() => {});
        return;
      }
      next = base;
      pump();
    },
  };

  watch(timer);
  try {
    await sock.send(request, dest());
    while (!done) {
      const [d, addr] = await sock.receive(rx);
      const from = addr as Deno.NetAddr;
      if (peer === undefined) peer = from;
      else if (from.port !== peer.port) continue;
      const op = d.length >= 4 && d[0] === 0 ? d[1] : 0;
      if (!started && (op === OP_OACK || (op === OP_ACK && d[3] === 0))) {
        started = true;
        if (op === OP_OACK) {
          oack = parseOack(d);
          if (oack.blksize) blksize = Number(oack.blksize);
          if (oack.windowsize) windowsize = Number(oack.windowsize);
          pkt = new Uint8Array(4 + blksize);
          pkt[1] = OP_DATA;
          lastBlock = Math.floor(data.length / blksize) + 1;
        }
        retries = 0;
        await pump();
      } else if (op === OP_ACK && started) {
        const wire = (d[2] << 8) | d[3];
        const delta = (wire - (base - 1)) & 0xffff;
        const block = base - 1 + delta;
        if (delta === 0 || block >= next) continue; // duplicate or stray
        base = block + 1;
        retries = 0;
        if (block >= lastBlock) {
          t1 = performance.now();
          done = true;
          break;
        }
        next = base;
        await pump();
      } else if (op === OP_ERROR) {
        fail(errorText(d));
      }
    }
  } catch (err) {
    if (error === undefined) {
      error = `socket: ${err instanceof Error ? err.message : String(err)}`;
    }
  } finally {
    unwatch(timer);
    close();
  }
  if (t1 === t0) t1 = performance.now();
  return {
    ok: done && error === undefined,
    error,
    bytes: done ? data.length : Math.max(0, (base - 1) * blksize),
    ms: t1 - t0,
    retransmits,
    dropped: 0,
    oack,
  };
}

/** Summary of many transfers. */
export interface PoolResult {
  /** Each transfer's result, in start order. */
  results: TransferResult[];
  /** Milliseconds from the first start to the last end. */
  wallMs: number;
}

/**
 * Runs `count` transfers with at most `concurrency` in flight.
 *
 * @param count How many transfers.
 * @param concurrency How many at once.
 * @param run Starts transfer number `i` in worker slot `slot` (0..concurrency-1).
 * @returns Every result and the wall time.
 */
export async function runPool(
  count: number,
  concurrency: number,
  run: (i: number, slot: number) => Promise<TransferResult>,
): Promise<PoolResult> {
  const results: TransferResult[] = new Array(count);
  let nextIndex = 0;
  const t0 = performance.now();
  async function worker(slot: number): Promise<void> {
    while (nextIndex < count) {
      const i = nextIndex++;
      results[i] = await run(i, slot);
    }
  }
  const workers = [];
  for (let w = 0; w < Math.min(concurrency, count); w++) {
    workers.push(worker(w));
  }
  await Promise.all(workers);
  return { results, wallMs: performance.now() - t0 };
}
