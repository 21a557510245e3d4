/**
 * Test helper: the one raw UDP TFTP peer of the tests. Tests script exact
 * packet sequences with {@linkcode RawClient.request},
 * {@linkcode RawClient.ack}, {@linkcode RawClient.send} and the bounded
 * receives ({@linkcode RawClient.receive} answers undefined on timeout,
 * {@linkcode RawClient.expect} throws), play a fake server or a silent
 * peer, or run whole transfers with {@linkcode RawClient.get} and
 * {@linkcode RawClient.put}, which check what arrives (one TID, block
 * numbers, sizes) and count packets.
 *
 * @example
 * ```ts
 * import { RawClient } from "./raw_client.ts";
 * using client = RawClient.open("127.0.0.1");
 * using server = RawClient.open("127.0.0.1");
 * await client.request(server.addr, { op: "RRQ", name: "a.txt" });
 * const { packet, from } = await server.expect();
 * if (packet.op !== 1 || from.port !== client.port) throw new Error();
 * ```
 *
 * @module
 */

import {
  decode,
  encodeAck,
  encodeData,
  encodeRequest,
  type ErrorPacket,
  Opcode,
  type Packet,
} from "../src/protocol/packet.ts";
import { concat } from "./bytes.ts";

export { randomBytes } from "./bytes.ts";

/** Where to send: a host and a port. */
export interface Endpoint {
  /** Host address (`127.0.0.1`, `::1`). */
  hostname: string;
  /** UDP port. */
  port: number;
}

/** One received datagram. */
export interface Received {
  /** A copy of the datagram's bytes. */
  data: Uint8Array;
  /** Who sent it. */
  from: Deno.NetAddr;
}

/** One received datagram, decoded. */
export interface ReceivedPacket extends Received {
  /** The decoded packet (its views point into `data`). */
  packet: Packet;
}

/** Options shared by {@linkcode RawClient.get} and {@linkcode RawClient.put}. */
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

/** Options of {@linkcode RawClient.get}. */
export interface GetOptions extends TransferOptions {
  /** Absolute block numbers to ACK as soon as they arrive (mid-window). */
  ackEarly?: Set<number>;
  /** Answer an OACK with ACK 0 (default true). */
  ackOack?: boolean;
}

/** Options of {@linkcode RawClient.put}. */
export interface PutOptions extends TransferOptions {
  /** Bytes to send (already in netascii form for netascii mode). */
  data: Uint8Array;
  /** After block 65535, number the next block 1 instead of 0. */
  rolloverToOne?: boolean;
  /** Absolute block numbers to leave out the first time (simulated loss). */
  drop?: Set<number>;
}

/** What a transfer run by the raw client saw. */
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
 * Whether two addresses are the same endpoint.
 *
 * @param a One address.
 * @param b The other.
 * @returns true when host and port match.
 */
export function sameAddr(a: Endpoint, b: Endpoint): boolean {
  return a.port === b.port && a.hostname === b.hostname;
}

/** What {@linkcode RawClient.request} sends. */
export interface RequestSpec {
  /** `RRQ` or `WRQ`. */
  op: "RRQ" | "WRQ";
  /** File name as sent. */
  name: string;
  /** Transfer mode as sent (default `octet`). */
  mode?: string;
  /** Options to request, in order. */
  options?: Record<string, string>;
}

/**
 * A UDP socket speaking raw TFTP, with bounded receives. A receive that
 * timed out stays pending and delivers to the next call, so datagrams are
 * never lost or reordered between calls.
 *
 * @example
 * ```ts
 * import { RawClient } from "./raw_client.ts";
 * using a = RawClient.open();
 * using b = RawClient.open();
 * await a.ack(b.addr, 7);
 * const got = await b.receive(5000);
 * if (got?.packet.op !== 4 || got.packet.block !== 7) throw new Error();
 * if ((await b.receive(10)) !== undefined) throw new Error("one ACK only");
 * ```
 */
export class RawClient implements Disposable {
  /** The socket. */
  readonly conn: Deno.DatagramConn;
  #buf = new Uint8Array(65536);
  #pending?: Promise<[Uint8Array, Deno.Addr]>;
  #closed = false;

  /**
   * Use {@linkcode RawClient.open}.
   *
   * @param conn An open UDP socket.
   */
  constructor(conn: Deno.DatagramConn) {
    this.conn = conn;
  }

  /**
   * Binds a client socket on an ephemeral port.
   *
   * @param hostname Local address (default `127.0.0.1`).
   * @returns The client.
   */
  static open(hostname = "127.0.0.1"): RawClient {
    return new RawClient(
      Deno.listenDatagram({ transport: "udp", hostname, port: 0 }),
    );
  }

  /** The local address. */
  get addr(): Deno.NetAddr {
    return this.conn.addr as Deno.NetAddr;
  }

  /** The local port. */
  get port(): number {
    return this.addr.port;
  }

  /**
   * Sends an RRQ or WRQ.
   *
   * @param to The server's listen address.
   * @param what Opcode, file name, mode and options.
   */
  async request(to: Endpoint, what: RequestSpec): Promise<void> {
    const op = what.op === "RRQ" ? Opcode.RRQ : Opcode.WRQ;
    await this.send(
      encodeRequest(op, what.name, {
        mode: what.mode ?? "octet",
        options: new Map(Object.entries(what.options ?? {})),
      }),
      to,
    );
  }

  /**
   * Sends ACK `block`.
   *
   * @param to The peer's transfer address.
   * @param block Block number as sent (0 to 65535).
   */
  async ack(to: Endpoint, block: number): Promise<void> {
    await this.send(encodeAck(block), to);
  }

  /**
   * Sends one datagram.
   *
   * @param data Bytes.
   * @param to Destination.
   */
  async send(data: Uint8Array, to: Endpoint): Promise<void> {
    await this.conn.send(data, {
      transport: "udp",
      hostname: to.hostname,
      port: to.port,
    });
  }

  /**
   * Receives one datagram, or undefined when none arrives within
   * `timeoutMs`. A receive that timed out stays pending and delivers to the
   * next call, so datagrams are never lost or reordered.
   *
   * @param timeoutMs Bound in milliseconds.
   * @returns The datagram (copied) and its sender.
   */
  async receiveRaw(timeoutMs = 2000): Promise<Received | undefined> {
    if (this.#closed) throw new Error("client is closed");
    if (!this.#pending) {
      const p = this.conn.receive(this.#buf);
      p.catch(() => {}); // close() rejects it; nobody may be waiting
      this.#pending = p;
    }
    const pending = this.#pending;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), timeoutMs);
    });
    try {
      const got = await Promise.race([pending, timeout]);
      if (got === undefined) return undefined;
      this.#pending = undefined;
      const [view, addr] = got;
      return { data: view.slice(), from: addr as Deno.NetAddr };
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Receives and decodes one datagram, or undefined on timeout. Throws if
   * the datagram is not a valid TFTP packet.
   *
   * @param timeoutMs Bound in milliseconds.
   * @returns The packet, its bytes and its sender.
   */
  async receive(timeoutMs = 2000): Promise<ReceivedPacket | undefined> {
    const r = await this.receiveRaw(timeoutMs);
    if (!r) return undefined;
    return { ...r, packet: decode(r.data) };
  }

  /**
   * Receives and decodes one datagram that must arrive.
   *
   * @param timeoutMs Bound in milliseconds (default 10000).
   * @returns The packet, its bytes and its sender.
   * @throws {Error} When nothing arrives in time.
   */
  async expect(timeoutMs = 10_000): Promise<ReceivedPacket> {
    const r = await this.receive(timeoutMs);
    if (!r) throw new Error(`no datagram within ${timeoutMs} ms`);
    return r;
  }

  /**
   * Receives every datagram that arrives until `quietMs` pass without one
   * (bounded by `max` datagrams).
   *
   * @param quietMs Silence that ends the drain.
   * @param max Most datagrams to collect.
   * @returns The datagrams, decoded.
   */
  async drain(quietMs = 150, max = 1000): Promise<ReceivedPacket[]> {
    const out: ReceivedPacket[] = [];
    while (out.length < max) {
      const r = await this.receive(quietMs);
      if (!r) break;
      out.push(r);
    }
    return out;
  }

  /**
   * Downloads `filename` from the server at `server`, acknowledging like a
   * windowed RFC 7440 client (lock-step without a windowsize option).
   * Throws when something arrives that a correct server never sends.
   *
   * @param server The server's listen address.
   * @param filename File to read.
   * @param opts Mode, options, early ACKs.
   * @returns What happened.
   */
  async get(
    server: Endpoint,
    filename: string,
    opts: GetOptions = {},
  ): Promise<TransferResult> {
    const res = emptyResult();
    const timeoutMs = opts.packetTimeoutMs ?? 2000;
    const maxResends = opts.maxResends ?? 3;
    const request = encodeRequest(Opcode.RRQ, filename, {
      mode: opts.mode ?? "octet",
      options: new Map(Object.entries(opts.options ?? {})),
    });
    await this.send(request, server);
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
      const r = await this.receive(timeoutMs);
      if (!r) {
        if (++silent > maxResends) {
          throw new Error(`get ${filename}: no answer (block ${expected})`);
        }
        await this.send(lastSent, lastTo);
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
        await this.send(lastSent, lastTo);
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
            await this.send(lastSent, res.tid);
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
        await this.send(lastSent, lastTo);
      }
      if (final) break;
    }
    res.blocks = expected - 1;
    res.data = concat(chunks);
    return res;
  }

  /**
   * Uploads `data` as `filename` to the server at `server`, sending a
   * window of blocks per ACK (lock-step without a windowsize option).
   *
   * @param server The server's listen address.
   * @param filename File to write.
   * @param opts Bytes, mode, options, rollover style, simulated loss.
   * @returns What happened; `error` is set when the server refused.
   */
  async put(
    server: Endpoint,
    filename: string,
    opts: PutOptions,
  ): Promise<TransferResult> {
    const data = opts.data;
    const res = emptyResult();
    const timeoutMs = opts.packetTimeoutMs ?? 2000;
    const maxResends = opts.maxResends ?? 3;
    const request = encodeRequest(Opcode.WRQ, filename, {
      mode: opts.mode ?? "octet",
      options: new Map(Object.entries(opts.options ?? {})),
    });
    await this.send(request, server);
    const wireOf = (abs: number) =>
      opts.rolloverToOne && abs > 0 ? ((abs - 1) % 65535) + 1 : abs & 0xffff;
    // The first answer: OACK, ACK 0 or ERROR.
    let blksize = 512;
    let windowsize = 1;
    for (let silent = 0;;) {
      const r = await this.receive(timeoutMs);
      if (!r) {
        if (++silent > maxResends) throw new Error("put: no answer to WRQ");
        await this.send(request, server);
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
        await this.send(encodeData(wireOf(abs), payload), tid);
      }
      sendFrom = end + 1;
      // Wait for an ACK inside [base - 1, end].
      let acked = -1;
      while (acked < 0) {
        const r = await this.receive(timeoutMs);
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

  /** Closes the socket (a pending receive is dropped). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }

  /** Same as {@linkcode RawClient.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** Where a one-shot client binds. */
export interface BindOptions {
  /** Local address of the client socket (default `127.0.0.1`). */
  bind?: string;
}

/**
 * Downloads a file with a fresh client socket (so no earlier transfer from
 * the same port is in the way), then closes it.
 *
 * @param server The server's listen address.
 * @param filename File to read.
 * @param opts As {@linkcode RawClient.get}, plus the local address.
 * @returns What happened.
 */
export async function getFile(
  server: Endpoint,
  filename: string,
  opts: GetOptions & BindOptions = {},
): Promise<TransferResult> {
  using client = RawClient.open(opts.bind);
  return await client.get(server, filename, opts);
}

/**
 * Uploads a file with a fresh client socket, then closes it.
 *
 * @param server The server's listen address.
 * @param filename File to write.
 * @param opts As {@linkcode RawClient.put}, plus the local address.
 * @returns What happened.
 */
export async function putFile(
  server: Endpoint,
  filename: string,
  opts: PutOptions & BindOptions,
): Promise<TransferResult> {
  using client = RawClient.open(opts.bind);
  return await client.put(server, filename, opts);
}

/**
 * The netascii form of local text, computed independently of the server's
 * converter: CR becomes CR NUL, then LF becomes CR LF.
 *
 * @param text Local text (LF line ends).
 * @returns The bytes on the wire.
 */
export function netasciiOf(text: string): Uint8Array {
  return new TextEncoder().encode(
    text.replaceAll("\r", "\r\0").replaceAll("\n", "\r\n"),
  );
}
