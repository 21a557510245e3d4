/**
 * A TFTP client: get and put, with blksize, windowsize, tsize, timeout and
 * netascii. It runs the same {@linkcode Sender} and {@linkcode Receiver}
 * state machines as the server, one per direction.
 *
 * @module
 */

import {
  decode,
  encodeAck,
  encodeError,
  encodeRequest,
  ErrorCode,
  Opcode,
  type Packet,
  writeAck,
  writeDataHeader,
} from "../protocol/packet.ts";
import { NetasciiDecoder, NetasciiEncoder } from "../protocol/netascii.ts";
import { ReceiveFlag, Receiver } from "../protocol/receiver.ts";
import { Sender, SenderEvent } from "../protocol/sender.ts";
import { normalizeHost, sameEndpoint } from "../net/address.ts";

/** Options of a transfer. */
export interface ClientOptions {
  /** Server address (default 127.0.0.1). */
  host?: string;
  /** Server port (default 69). */
  port?: number;
  /** Requested blksize (RFC 2348); omitted: 512 without asking. */
  blksize?: number;
  /** Requested windowsize (RFC 7440); omitted: lock-step. */
  windowsize?: number;
  /** Ask for (get) or announce (put) the transfer size (RFC 2349). */
  tsize?: boolean;
  /** Timeout option in seconds sent to the server (RFC 2349). */
  timeout?: number;
  /** Our own retransmit interval in ms (default: timeout option or 1000). */
  retransmitMs?: number;
  /** Retransmits without progress before giving up (default 5). */
  retries?: number;
  /** `octet` (default) or `netascii`. */
  mode?: "octet" | "netascii";
  /** Extra options to send as they are. */
  extraOptions?: Record<string, string>;
  /** Called as bytes arrive or leave: done so far, and the total if known. */
  onProgress?: (bytes: number, total?: number) => void;
}

/** Why a client transfer failed. */
export type ClientErrorKind =
  | "not-found"
  | "access"
  | "exists"
  | "disk-full"
  | "timeout"
  | "protocol"
  | "other";

/** A failed client transfer. */
export class TftpClientError extends Error {
  /** The TFTP error code from the server, or -1 when none (timeout...). */
  readonly code: number;
  /** A coarse kind for exit codes. */
  readonly kind: ClientErrorKind;
  /**
   * Creates an instance.
   *
   * @param code TFTP error code, or -1.
   * @param message Text.
   */
  constructor(code: number, message: string) {
    super(message);
    this.name = "TftpClientError";
    this.code = code;
    this.kind = code === -1
      ? (message.includes("timed out") ? "timeout" : "protocol")
      : code === ErrorCode.FILE_NOT_FOUND
      ? "not-found"
      : code === ErrorCode.ACCESS_VIOLATION
      ? "access"
      : code === ErrorCode.FILE_EXISTS
      ? "exists"
      : code === ErrorCode.DISK_FULL
      ? "disk-full"
      : "other";
  }
}

/** What a finished transfer reports. */
export interface ClientResult {
  /** Local bytes read or written (before netascii conversion). */
  bytes: number;
  /** Options the server accepted (empty when it sent no OACK). */
  options: Map<string, string>;
  /** Retransmit rounds we made. */
  retransmits: number;
}

/** Where a download goes: bytes are handed over in order. */
export interface ByteSink {
  /** Takes the next bytes (copy them if kept: the buffer is reused). */
  write(data: Uint8Array): void | Promise<void>;
}

function requestOptions(
  opts: ClientOptions,
  tsize: number | undefined,
): Map<string, string> {
  const m = new Map<string, string>();
  if (opts.blksize !== undefined) m.set("blksize", String(opts.blksize));
  if (opts.windowsize !== undefined) {
    m.set("windowsize", String(opts.windowsize));
  }
  if (opts.timeout !== undefined) m.set("timeout", String(opts.timeout));
  if (opts.tsize) m.set("tsize", String(tsize ?? 0));
  for (const [k, v] of Object.entries(opts.extraOptions ?? {})) m.set(k, v);
  return m;
}

/** One UDP exchange with a server: socket, server TID lock, timed receive. */
class Exchange {
  conn: Deno.DatagramConn;
  server: Deno.NetAddr;
  locked = false;
  buf: Uint8Array;
  #pending?: Promise<[Uint8Array, Deno.Addr]>;

  constructor(opts: ClientOptions, bufSize: number) {
    const host = opts.host ?? "127.0.0.1";
    this.conn = Deno.listenDatagram({
      transport: "udp",
      hostname: host.includes(":") ? "::" : "0.0.0.0",
      port: 0,
    });
    this.server = { transport: "udp", hostname: host, port: opts.port ?? 69 };
    this.buf = new Uint8Array(bufSize);
  }

  #requestResends = 0;

  /** Resends the request; throws once `maxRetries` resends went unanswered. */
  async resendRequest(request: Uint8Array, maxRetries: number): Promise<void> {
    if (this.#requestResends++ >= maxRetries) {
      throw new TftpClientError(-1, "timed out waiting for the server");
    }
    await this.send(request);
  }

  /**
   * Reads the transfer parameters from an OACK; answers ERROR 8 and throws
   * when they are out of range.
   */
  async acceptOack(
    options: Map<string, string>,
    maxBlksize: number,
  ): Promise<{ blksize: number; windowsize: number }> {
    const blksize = Number(options.get("blksize") ?? 512);
    const windowsize = Number(options.get("windowsize") ?? 1);
    if (!(blksize >= 8 && blksize <= maxBlksize) || !(windowsize >= 1)) {
      await this.send(encodeError(ErrorCode.OPTION_REFUSED, "bad OACK"));
      throw new TftpClientError(-1, "server sent an unacceptable OACK");
    }
    return { blksize, windowsize };
  }

  /** When we last sent something (the retransmit timer runs from there). */
  lastSent = performance.now();

  send(data: Uint8Array): Promise<number> {
    this.lastSent = performance.now();
    return this.conn.send(data, this.server);
  }

  /**
   * Next packet, or undefined once `intervalMs` have passed since our last
   * send. Measured from the send, not from the last datagram received: a
   * peer repeating itself (old ACKs, a resent window) must not keep us from
   * retransmitting what it is missing.
   */
  nextOrTimeout(intervalMs: number): Promise<Packet | undefined> {
    return this.next(this.lastSent + intervalMs - performance.now());
  }

  /**
   * Next packet from the server, or undefined after `ms` ms. Datagrams from
   * other endpoints get ERROR 5; junk is skipped.
   */
  async next(ms: number): Promise<Packet | undefined> {
    const deadline = performance.now() + ms;
    for (;;) {
      const left = deadline - performance.now();
      if (left <= 0) return undefined;
      this.#pending ??= this.conn.receive(this.buf);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<undefined>((r) => {
        timer = setTimeout(() => r(undefined), left);
      });
      const got = await Promise.race([this.#pending, timeout]);
      clearTimeout(timer);
      if (!got) return undefined;
      this.#pending = undefined;
      const [data, a] = got;
      const from = a as Deno.NetAddr;
      if (!this.locked) {
        const want = this.server.hostname;
        const isLiteral = want.includes(":") || /^[\d.]+$/.test(want);
        if (isLiteral && normalizeHost(from.hostname) !== normalizeHost(want)) {
          continue;
        }
        this.server = { ...this.server, port: from.port };
        this.locked = true;
      } else if (!sameEndpoint(from, this.server)) {
        this.conn.send(
          encodeError(ErrorCode.UNKNOWN_TID, "unknown transfer ID"),
          from,
        ).catch(() => {});
        continue;
      }
      try {
        return decode(data);
      } catch {
        continue;
      }
    }
  }

  close(): void {
    try {
      this.conn.close();
    } catch { /* closed */ }
    this.#pending?.catch(() => {});
  }
}

function serverError(p: { code: number; message: string }): TftpClientError {
  return new TftpClientError(
    p.code,
    `server error ${p.code}: ${p.message || "(no message)"}`,
  );
}

/**
 * Downloads `remote` into `sink`.
 *
 * @example
 * ```ts ignore
 * import { tftpGet } from "./client.ts";
 * const chunks: Uint8Array[] = [];
 * await tftpGet("boot.ipxe", {
 *   sink: { write: (d) => void chunks.push(d.slice()) },
 *   host: "127.0.0.1",
 *   port: 9069,
 *   blksize: 1468,
 * });
 * ```
 *
 * @param remote Remote file name.
 * @param opts Server, options and where the bytes go.
 * @returns Bytes received and accepted options.
 * @throws {TftpClientError} On a server error or a timeout.
 */
export async function tftpGet(
  remote: string,
  opts: ClientOptions & { sink: ByteSink },
): Promise<ClientResult> {
  const asked = requestOptions(opts, 0);
  const maxBlk = Math.max(512, opts.blksize ?? 512);
  const ex = new Exchange(opts, maxBlk + 5);
  const intervalMs = opts.retransmitMs ??
    (opts.timeout ? opts.timeout * 1000 : 1000);
  const maxRetries = opts.retries ?? 5;
  const decoder = opts.mode === "netascii" ? new NetasciiDecoder() : undefined;
  const request = encodeRequest(Opcode.RRQ, remote, {
    mode: opts.mode ?? "octet",
    options: asked,
  });
  let accepted = new Map<string, string>();
  let receiver: Receiver | undefined;
  let total: number | undefined;
  let bytes = 0;
  let wire = 0;
  let retransmits = 0;
  const ack = new Uint8Array(4);
  try {
    await ex.send(request);
    for (;;) {
      const p = await ex.nextOrTimeout(intervalMs);
      if (!p) {
        if (!receiver) {
          await ex.resendRequest(request, maxRetries);
          retransmits++;
          continue;
        }
        if (!receiver.onTimeout()) {
          throw new TftpClientError(-1, "timed out waiting for DATA");
        }
        retransmits++;
        await ex.send(writeAck(ack, receiver.ackBlock));
        continue;
      }
      if (p.op === Opcode.ERROR) throw serverError(p);
      if (p.op === Opcode.OACK && !receiver) {
        accepted = p.options;
        if (p.options.has("tsize")) total = Number(p.options.get("tsize"));
        const { blksize, windowsize } = await ex.acceptOack(p.options, maxBlk);
        receiver = new Receiver({ blksize, windowsize, maxRetries });
        await ex.send(encodeAck(0));
        continue;
      }
      if (p.op !== Opcode.DATA) continue;
      receiver ??= new Receiver({ blksize: 512, maxRetries });
      const flags = receiver.onData(p.block, p.data.length);
      if (flags & ReceiveFlag.DELIVER) {
        wire += p.data.length;
        const local = decoder ? decoder.decode(p.data) : p.data;
        bytes += local.length;
        await opts.sink.write(local);
        opts.onProgress?.(wire, total);
      }
      if (flags & ReceiveFlag.ACK) {
        await ex.send(writeAck(ack, receiver.ackBlock));
      }
      if (flags & ReceiveFlag.FINAL) {
        const tail = decoder?.flush();
        if (tail?.length) {
          bytes += tail.length;
          await opts.sink.write(tail);
        }
        return { bytes, options: accepted, retransmits };
      }
    }
  } finally {
    ex.close();
  }
}

/**
 * Uploads `data` as `remote`.
 *
 * @example
 * ```ts ignore
 * import { tftpPut } from "./client.ts";
 * await tftpPut("config.txt", {
 *   data: new TextEncoder().encode("hostname sw1\n"),
 *   host: "127.0.0.1",
 *   port: 9069,
 * });
 * ```
 *
 * @param remote Remote file name.
 * @param opts Server, options and the bytes to send.
 * @returns Bytes sent and accepted options.
 * @throws {TftpClientError} On a server error or a timeout.
 */
export async function tftpPut(
  remote: string,
  opts: ClientOptions & { data: Uint8Array },
): Promise<ClientResult> {
  const payload = opts.mode === "netascii"
    ? new NetasciiEncoder().encode(opts.data)
    : opts.data;
  const asked = requestOptions(opts, payload.length);
  const ex = new Exchange(opts, 1024);
  const intervalMs = opts.retransmitMs ??
    (opts.timeout ? opts.timeout * 1000 : 1000);
  const maxRetries = opts.retries ?? 5;
  const request = encodeRequest(Opcode.WRQ, remote, {
    mode: opts.mode ?? "octet",
    options: asked,
  });
  let accepted = new Map<string, string>();
  let sender: Sender | undefined;
  let blksize = 512;
  let pkt = new Uint8Array(4 + blksize);
  let retransmits = 0;
  const sendWindow = async (s: Sender) => {
    let b: number;
    while ((b = s.nextBlock()) >= 0) {
      const start = (b - 1) * blksize;
      const part = payload.subarray(start, start + blksize);
      if (part.length < blksize) s.setLast(b);
      writeDataHeader(pkt, b);
      pkt.set(part, 4);
      await ex.send(pkt.subarray(0, 4 + part.length));
    }
  };
  try {
    await ex.send(request);
    for (;;) {
      const p = await ex.nextOrTimeout(intervalMs);
      if (!p) {
        if (!sender) {
          await ex.resendRequest(request, maxRetries);
          retransmits++;
          continue;
        }
        if (sender.onTimeout() === SenderEvent.FAIL) {
          throw new TftpClientError(-1, "timed out waiting for ACK");
        }
        retransmits++;
        await sendWindow(sender);
        continue;
      }
      if (p.op === Opcode.ERROR) throw serverError(p);
      if (!sender) {
        let win = 1;
        if (p.op === Opcode.OACK) {
          accepted = p.options;
          ({ blksize, windowsize: win } = await ex.acceptOack(
            p.options,
            opts.blksize ?? 512,
          ));
        } else if (p.op !== Opcode.ACK || p.block !== 0) {
          continue;
        }
        pkt = new Uint8Array(4 + blksize);
        sender = new Sender({ windowsize: win, maxRetries });
        await sendWindow(sender);
        continue;
      }
      if (p.op !== Opcode.ACK) continue;
      const ev = sender.onAck(p.block);
      if (ev === SenderEvent.DONE) {
        opts.onProgress?.(payload.length, payload.length);
        return { bytes: opts.data.length, options: accepted, retransmits };
      }
      if (ev === SenderEvent.SEND) {
        opts.onProgress?.(
          Math.min((sender.base - 1) * blksize, payload.length),
          payload.length,
        );
        await sendWindow(sender);
      }
    }
  } finally {
    ex.close();
  }
}
