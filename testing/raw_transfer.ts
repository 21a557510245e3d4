/**
 * Test helper: the whole-transfer scripts of the raw TFTP peer (a windowed
 * download, a windowed upload) and the types they share. They live apart
 * from the socket so that `raw_client.ts` stays small, and they take any
 * {@linkcode RawPeer} (which `RawClient` is) so this module imports nothing
 * of the client's.
 *
 * @module
 */

import {
  encodeAck,
  encodeData,
  encodeRequest,
  type ErrorPacket,
  Opcode,
  type Packet,
} from "../src/protocol/packet.ts";
import { concat } from "./bytes.ts";

/**
 * Where to send: a host and a port.
 *
 * @example
 * ```ts
 * import type { Endpoint } from "./raw_transfer.ts";
 * const server: Endpoint = { hostname: "127.0.0.1", port: 69 };
 * if (server.port !== 69) throw new Error();
 * ```
 */
export interface Endpoint {
  /** Host address (`127.0.0.1`, `::1`). */
  hostname: string;
  /** UDP port. */
  port: number;
}

/**
 * Whether two addresses are the same endpoint.
 *
 * @example
 * ```ts
 * import { sameAddr } from "./raw_transfer.ts";
 * const a = { hostname: "127.0.0.1", port: 69 };
 * if (!sameAddr(a, { ...a }) || sameAddr(a, { ...a, port: 70 })) {
 *   throw new Error();
 * }
 * ```
 *
 * @param a One address.
 * @param b The other.
 * @returns true when host and port match.
 */
export function sameAddr(a: Endpoint, b: Endpoint): boolean {
  return a.port === b.port && a.hostname === b.hostname;
}

/**
 * What a transfer script needs of a socket: send a datagram, receive one
 * decoded packet or undefined on timeout. `RawClient` has this shape.
 *
 * @example
 * ```ts
 * import { RawClient } from "./raw_client.ts";
 * import type { RawPeer } from "./raw_transfer.ts";
 * using client = RawClient.open();
 * const peer: RawPeer = client;
 * if ((await peer.receive(10)) !== undefined) throw new Error();
 * ```
 */
export interface RawPeer {
  /** Sends one datagram to `to`. */
  send(data: Uint8Array, to: Endpoint): Promise<void>;
  /** The next packet and its sender, or undefined after `timeoutMs`. */
  receive(
    timeoutMs?: number,
  ): Promise<{ packet: Packet; from: Deno.NetAddr } | undefined>;
}

/**
 * Which file on which server a transfer script asks for.
 *
 * @example
 * ```ts
 * import type { RemoteFile } from "./raw_transfer.ts";
 * const file: RemoteFile = {
 *   server: { hostname: "127.0.0.1", port: 69 },
 *   filename: "pxelinux.0",
 * };
 * if (!file.filename) throw new Error();
 * ```
 */
export interface RemoteFile {
  /** The server's listen address. */
  server: Endpoint;
  /** File name as sent in the request. */
  filename: string;
}

/**
 * Options shared by {@linkcode runGet} and {@linkcode runPut}.
 *
 * @example
 * ```ts
 * import type { TransferOptions } from "./raw_transfer.ts";
 * const opts: TransferOptions = { options: { blksize: "1428" }, maxResends: 5 };
 * if (opts.maxResends !== 5) throw new Error();
 * ```
 */
export interface TransferOptions {
  /** Transfer mode as sent (default `octet`). */
  mode?: string;
  /** Options to request, in order. */
  options?: Record<string, string>;
  /** Ms to wait for each packet before resending (default 2000). */
  packetTimeoutMs?: number;
  /** Resends after a silent wait before giving up (default 3). */
  maxResends?: number;
}

/**
 * Options of {@linkcode runGet}.
 *
 * @example
 * ```ts
 * import type { GetOptions } from "./raw_transfer.ts";
 * const opts: GetOptions = { options: { windowsize: "4" }, ackEarly: new Set([2]) };
 * if (!opts.ackEarly?.has(2)) throw new Error();
 * ```
 */
export interface GetOptions extends TransferOptions {
  /** Absolute block numbers to ACK as soon as they arrive (mid-window). */
  ackEarly?: Set<number>;
  /** Answer an OACK with ACK 0 (default true). */
  ackOack?: boolean;
}

/**
 * Options of {@linkcode runPut}.
 *
 * @example
 * ```ts
 * import type { PutOptions } from "./raw_transfer.ts";
 * const opts: PutOptions = { data: new Uint8Array(1024), drop: new Set([2]) };
 * if (opts.data.length !== 1024) throw new Error();
 * ```
 */
export interface PutOptions extends TransferOptions {
  /** Bytes to send (already in netascii form for netascii mode). */
  data: Uint8Array;
  /** After block 65535, number the next block 1 instead of 0. */
  rolloverToOne?: boolean;
  /** Absolute block numbers to leave out the first time (simulated loss). */
  drop?: Set<number>;
}

/**
 * What a transfer run by the raw client saw.
 *
 * @example
 * ```ts
 * import { RawClient } from "./raw_client.ts";
 * import type { TransferResult } from "./raw_transfer.ts";
 * using client = RawClient.open();
 * using listen = RawClient.open();
 * const done = client.get(listen.addr, "x");
 * const rrq = await listen.expect();
 * await listen.send(new Uint8Array([0, 5, 0, 1, 0]), rrq.from); // ERROR 1
 * const res: TransferResult = await done;
 * if (res.error?.code !== 1) throw new Error();
 * ```
 */
export interface TransferResult {
  /** The OACK, if the server sent one. */
  oack?: Map<string, string>;
  /** The ERROR that ended the transfer, if any. */
  error?: ErrorPacket;
  /** The server's transfer address (TID). */
  tid?: Deno.NetAddr;
  /** Bytes received (get). */
  data: Uint8Array;
  /** Number of blocks in the file (get: received; put: sent). */
  blocks: number;
  /** DATA packets received (get) or sent (put), duplicates included. */
  dataPackets: number;
  /** ACK packets received (put). */
  acks: number;
  /** Duplicate DATA (get) or stale ACKs (put) seen. */
  duplicates: number;
  /** Datagrams that came from an address other than the TID. */
  strangers: number;
  /** Payload length of each block, in block order (resends not repeated). */
  lengths: number[];
}

function emptyResult(): TransferResult {
  return {
    data: new Uint8Array(0),
    blocks: 0,
    dataPackets: 0,
    acks: 0,
    duplicates: 0,
    strangers: 0,
    lengths: [],
  };
}

/**
 * Downloads `file.filename` from `file.server` through `peer`,
 * acknowledging like a windowed RFC 7440 client (lock-step without a
 * windowsize option). Throws when something arrives that a correct server
 * never sends.
 *
 * @example
 * ```ts
 * import { RawClient } from "./raw_client.ts";
 * import { runGet } from "./raw_transfer.ts";
 * import { encodeData } from "../src/protocol/packet.ts";
 * using client = RawClient.open();
 * using listen = RawClient.open();
 * using tid = RawClient.open();
 * const done = runGet(client, { server: listen.addr, filename: "a" });
 * const rrq = await listen.expect();
 * await tid.send(encodeData(1, new Uint8Array(512)), rrq.from);
 * await tid.expect(); // ACK 1
 * await tid.send(encodeData(2, new Uint8Array(0)), rrq.from);
 * const res = await done;
 * if (res.blocks !== 2 || res.lengths.join() !== "512,0") throw new Error();
 * ```
 *
 * @param peer The socket to use.
 * @param file Server and file to read.
 * @param opts Mode, options, early ACKs.
 * @returns What happened.
 */
export async function runGet(
  peer: RawPeer,
  file: RemoteFile,
  opts: GetOptions = {},
): Promise<TransferResult> {
  const { server, filename } = file;
  const res = emptyResult();
  const timeoutMs = opts.packetTimeoutMs ?? 2000;
  const maxResends = opts.maxResends ?? 3;
  const request = encodeRequest(Opcode.RRQ, filename, {
    mode: opts.mode ?? "octet",
    options: new Map(Object.entries(opts.options ?? {})),
  });
  await peer.send(request, server);
  let lastSent = request;
  let lastTo: Endpoint = server;
  let blksize = 512;
  let windowsize = 1;
  let expected = 1; // absolute number of the next block wanted
  let inWindow = 0;
  let gapAcked = false;
  let silent = 0;
  const chunks: Uint8Array[] = [];
  for (;;) {
    const r = await peer.receive(timeoutMs);
    if (!r) {
      if (++silent > maxResends) {
        throw new Error(`get ${filename}: no answer (block ${expected})`);
      }
      await peer.send(lastSent, lastTo);
      continue;
    }
    silent = 0;
    if (!res.tid) {
      // Only a refusal at admission (an ERROR) comes from the listen port.
      if (sameAddr(r.from, server) && r.packet.op !== Opcode.ERROR) {
        throw new Error("server answered from its listen port");
      }
      res.tid = r.from;
    } else if (!sameAddr(r.from, res.tid)) {
      res.strangers++;
      continue;
    }
    const p = r.packet;
    if (p.op === Opcode.ERROR) {
      res.error = p;
      break;
    }
    if (p.op === Opcode.OACK) {
      if (res.oack || expected !== 1) {
        res.duplicates++;
        continue;
      }
      res.oack = p.options;
      blksize = Number(p.options.get("blksize") ?? 512);
      windowsize = Number(p.options.get("windowsize") ?? 1);
      if (opts.ackOack === false) break;
      lastSent = encodeAck(0);
      lastTo = res.tid;
      await peer.send(lastSent, lastTo);
      continue;
    }
    if (p.op !== Opcode.DATA) {
      throw new Error(`get ${filename}: unexpected opcode ${p.op}`);
    }
    res.dataPackets++;
    if (p.data.length > blksize) {
      throw new Error(
        `DATA ${p.block} has ${p.data.length} bytes > blksize ${blksize}`,
      );
    }
    const expectedWire = expected & 0xffff;
    if (p.block !== expectedWire) {
      const ahead = (p.block - expectedWire) & 0xffff;
      if (ahead < windowsize) {
        // A gap: ACK the last block received in order, once.
        if (!gapAcked) {
          gapAcked = true;
          inWindow = 0;
          lastSent = encodeAck(expected - 1);
          await peer.send(lastSent, res.tid);
        }
      } else {
        res.duplicates++;
      }
      continue;
    }
    chunks.push(p.data.slice());
    res.lengths.push(p.data.length);
    gapAcked = false;
    const abs = expected++;
    inWindow++;
    const final = p.data.length < blksize;
    if (final || inWindow >= windowsize || opts.ackEarly?.has(abs)) {
      inWindow = 0;
      lastSent = encodeAck(abs);
      lastTo = res.tid;
      await peer.send(lastSent, lastTo);
    }
    if (final) break;
  }
  res.blocks = expected - 1;
  res.data = concat(chunks);
  return res;
}

/**
 * Uploads `opts.data` as `file.filename` to `file.server` through `peer`,
 * sending a window of blocks per ACK (lock-step without a windowsize
 * option).
 *
 * @example
 * ```ts
 * import { RawClient } from "./raw_client.ts";
 * import { runPut } from "./raw_transfer.ts";
 * import { encodeAck } from "../src/protocol/packet.ts";
 * using client = RawClient.open();
 * using listen = RawClient.open();
 * using tid = RawClient.open();
 * const done = runPut(client, { server: listen.addr, filename: "a" }, {
 *   data: new Uint8Array([1, 2, 3]),
 * });
 * const wrq = await listen.expect();
 * await tid.send(encodeAck(0), wrq.from);
 * const data = await tid.expect();
 * if (data.packet.op !== 3 || data.packet.data.length !== 3) throw new Error();
 * await tid.send(encodeAck(1), wrq.from);
 * const res = await done;
 * if (res.blocks !== 1 || res.acks !== 1) throw new Error();
 * ```
 *
 * @param peer The socket to use.
 * @param file Server and file to write.
 * @param opts Bytes, mode, options, rollover style, simulated loss.
 * @returns What happened; `error` is set when the server refused.
 */
export async function runPut(
  peer: RawPeer,
  file: RemoteFile,
  opts: PutOptions,
): Promise<TransferResult> {
  const { server, filename } = file;
  const data = opts.data;
  const res = emptyResult();
  const timeoutMs = opts.packetTimeoutMs ?? 2000;
  const maxResends = opts.maxResends ?? 3;
  const request = encodeRequest(Opcode.WRQ, filename, {
    mode: opts.mode ?? "octet",
    options: new Map(Object.entries(opts.options ?? {})),
  });
  await peer.send(request, server);
  const wireOf = (abs: number) =>
    opts.rolloverToOne && abs > 0 ? ((abs - 1) % 65535) + 1 : abs & 0xffff;
  // The first answer: OACK, ACK 0 or ERROR.
  let blksize = 512;
  let windowsize = 1;
  for (let silent = 0;;) {
    const r = await peer.receive(timeoutMs);
    if (!r) {
      if (++silent > maxResends) throw new Error("put: no answer to WRQ");
      await peer.send(request, server);
      continue;
    }
    if (sameAddr(r.from, server) && r.packet.op !== Opcode.ERROR) {
      throw new Error("server answered from its listen port");
    }
    res.tid = r.from;
    const p = r.packet;
    if (p.op === Opcode.ERROR) {
      res.error = p;
      return res;
    }
    if (p.op === Opcode.OACK) {
      res.oack = p.options;
      blksize = Number(p.options.get("blksize") ?? 512);
      windowsize = Number(p.options.get("windowsize") ?? 1);
    } else if (p.op !== Opcode.ACK || p.block !== 0) {
      throw new Error(`put: unexpected first answer, opcode ${p.op}`);
    }
    break;
  }
  const tid = res.tid;
  const total = Math.floor(data.length / blksize) + 1;
  res.blocks = total;
  const dropped = new Set<number>();
  let highest = 0; // highest block sent so far
  let base = 1; // first block not yet acknowledged
  let silent = 0;
  let sendFrom = 1;
  while (base <= total) {
    const end = Math.min(base + windowsize - 1, total);
    for (let abs = sendFrom; abs <= end; abs++) {
      if (opts.drop?.has(abs) && !dropped.has(abs)) {
        dropped.add(abs);
        continue;
      }
      const start = (abs - 1) * blksize;
      const payload = data.subarray(
        start,
        Math.min(start + blksize, data.length),
      );
      res.dataPackets++;
      if (abs > highest) {
        highest = abs;
        res.lengths.push(payload.length);
      }
      await peer.send(encodeData(wireOf(abs), payload), tid);
    }
    sendFrom = end + 1;
    // Wait for an ACK inside [base - 1, end].
    let acked = -1;
    while (acked < 0) {
      const r = await peer.receive(timeoutMs);
      if (!r) {
        if (++silent > maxResends) {
          throw new Error(`put ${filename}: no ACK (block ${base})`);
        }
        sendFrom = base;
        break;
      }
      silent = 0;
      if (!sameAddr(r.from, tid)) {
        res.strangers++;
        continue;
      }
      const p = r.packet;
      if (p.op === Opcode.ERROR) {
        res.error = p;
        return res;
      }
      if (p.op !== Opcode.ACK) {
        throw new Error(`put: unexpected opcode ${p.op}`);
      }
      res.acks++;
      for (let abs = base - 1; abs <= end; abs++) {
        if (wireOf(abs) === p.block) acked = abs;
      }
      if (acked < 0) {
        throw new Error(`put: ACK ${p.block} outside window ${base}..${end}`);
      }
      if (acked === base - 1 && windowsize === 1) {
        // Stale duplicate in lock-step: never resend on it.
        res.duplicates++;
        acked = -1;
      }
    }
    if (acked < 0) continue; // timed out: resend from base
    if (acked === base - 1) res.duplicates++;
    base = acked + 1;
    if (sendFrom <= acked) sendFrom = base;
    if (acked < end) sendFrom = base; // server wants the rest again
  }
  return res;
}
