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
  encodeRequest,
  Opcode,
  type Packet,
} from "../src/protocol/packet.ts";
import {
  type Endpoint,
  type GetOptions,
  type PutOptions,
  runGet,
  runPut,
  type TransferResult,
} from "./raw_transfer.ts";

export { randomBytes } from "./bytes.ts";
export {
  type Endpoint,
  type GetOptions,
  type PutOptions,
  sameAddr,
  type TransferOptions,
  type TransferResult,
} from "./raw_transfer.ts";

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
   * The script is {@linkcode runGet}.
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
    return await runGet(this, { server, filename }, opts);
  }

  /**
   * Uploads `data` as `filename` to the server at `server`, sending a
   * window of blocks per ACK (lock-step without a windowsize option).
   * The script is {@linkcode runPut}.
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
    return await runPut(this, { server, filename }, opts);
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
