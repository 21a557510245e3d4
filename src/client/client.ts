/**
 * A TFTP client: get and put, with blksize, windowsize, tsize, timeout and
 * netascii. It runs the same transfer machines ({@linkcode ReceiveTransfer},
 * {@linkcode SendTransfer}) through the same driver as the server; a put
 * streams from its source block by block.
 *
 * @module
 */

import { encodeRequest, ErrorCode, Opcode } from "../protocol/packet.ts";
import { NetasciiDecoder } from "../protocol/netascii.ts";
import { ReceiveTransfer } from "../protocol/receive_transfer.ts";
import { SendTransfer } from "../protocol/send_transfer.ts";
import type { RetryOptions } from "../protocol/transfer.ts";
import type { ReadHandle } from "../storage/types.ts";
import { BytesReadHandle } from "../storage/memory.ts";
import {
  NetasciiBlockSource,
  netasciiSize,
  OctetBlockSource,
} from "../transport/block_source.ts";
import { type Driven, driveReceive, driveSend } from "../transport/driver.ts";
import { type Clock, systemClock, type Transport } from "../transport/types.ts";
import { CLIENT_DEFAULTS } from "../defaults.ts";
import { ipv4Value, ipv6Groups, splitZone } from "../net/ip.ts";
import { lookup } from "node:dns/promises";

/** Options of a transfer. */
export interface ClientOptions {
  /**
   * Server address, or a host name looked up first (default 127.0.0.1).
   */
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
  /**
   * The socket to use (default: a new one bound to the server's own address
   * when that is local, such as loopback, else to the wildcard address).
   */
  transport?: Transport;
  /** Clock (default: the real one; tests pass a fake). */
  clock?: Clock;
  /**
   * Cancels the transfer when aborted: the server, once it has answered,
   * gets one ERROR 0 ("transfer cancelled") from the transfer's socket, and
   * the call rejects with a {@linkcode TftpClientError} of kind
   * `cancelled`. Aborted before the request went out: nothing is sent.
   */
  signal?: AbortSignal;
}

/** Why a client transfer failed. */
export type ClientErrorKind =
  | "not-found"
  | "access"
  | "exists"
  | "disk-full"
  | "timeout"
  | "address"
  | "protocol"
  | "cancelled"
  | "other";

/** A failed client transfer.  *
 * @example
 * ```ts
 * import { TftpClientError } from "./client.ts";
 * const e = new TftpClientError(1, "server error 1: file not found");
 * if (e.kind !== "not-found") throw new Error();
 * ```
 */
export class TftpClientError extends Error {
  /** The TFTP error code from the server, or -1 when none (timeout...). */
  readonly code: number;
  /** A coarse kind for exit codes. */
  readonly kind: ClientErrorKind;
  /**
   * An error with the server's TFTP code (or -1) and a message.
   *
   * @param code TFTP error code, or -1.
   * @param message Text.
   * @param options `kind` when the code and message do not say it.
   */
  constructor(
    code: number,
    message: string,
    options: { kind?: ClientErrorKind } = {},
  ) {
    super(message);
    this.name = "TftpClientError";
    this.code = code;
    this.kind = options.kind ??
      (code === -1
        ? (message.includes("timed out") ? "timeout" : "protocol")
        : code === ErrorCode.FILE_NOT_FOUND
        ? "not-found"
        : code === ErrorCode.ACCESS_VIOLATION
        ? "access"
        : code === ErrorCode.FILE_EXISTS
        ? "exists"
        : code === ErrorCode.DISK_FULL
        ? "disk-full"
        : "other");
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
  if (opts.tsize && tsize !== undefined) m.set("tsize", String(tsize));
  for (const [k, v] of Object.entries(opts.extraOptions ?? {})) m.set(k, v);
  return m;
}

function retryOptions(opts: ClientOptions): RetryOptions {
  const intervalMs = opts.retransmitMs ??
    (opts.timeout ? opts.timeout * 1000 : CLIENT_DEFAULTS.retransmitMs);
  const maxRetries = opts.retries ?? CLIENT_DEFAULTS.retries;
  return {
    maxRetries,
    giveUpMs: intervalMs * (maxRetries + 1),
    rto: { initialMs: intervalMs, fixed: true },
  };
}

/**
 * The server's address as an IP: replies are matched against it, so a name
 * such as `localhost` is looked up first (the system resolver, which reads
 * /etc/hosts; IPv4 preferred, since most TFTP servers listen there). Text
 * that looks like an address but is not one is refused here rather than
 * handed to the resolver, which reads `010.0.0.1` as octal.
 */
async function resolveHost(host: string): Promise<string> {
  const bad = (what: string, hint = "") =>
    new TftpClientError(-1, `${what} ${JSON.stringify(host)}${hint}`, {
      kind: "address",
    });
  if (host.includes(":")) {
    const [addr, zone] = splitZone(host);
    if (zone !== "" && ipv6Groups(addr)) return host;
    throw bad("invalid IPv6 address", " (in brackets with a port: [::1]:69)");
  }
  if (/^[0-9.]+$/.test(host)) {
    if (ipv4Value(host) >= 0) return host;
    throw bad("invalid IPv4 address");
  }
  let found: { address: string; family: number }[] = [];
  try {
    found = await lookup(host, { all: true });
  } catch (err) {
    if ((err as { code?: string }).code === "EPERM") {
      throw new TftpClientError(
        -1,
        `cannot look up ${JSON.stringify(host)}: run with --allow-net`,
        { kind: "address" },
      );
    }
  }
  const pick = found.find((a) => a.family === 4) ?? found[0];
  if (!pick) throw bad("cannot resolve host");
  return pick.address;
}

const LOOPBACK = /^(127\.|::1$|::ffff:127\.)/i;

/**
 * A socket for talking to `host`: bound to `host` itself when it is a
 * loopback address (so `--allow-net=HOST` is all the permission needed),
 * else to the wildcard address of its family.
 */
function bindFor(host: string): Deno.DatagramConn {
  const hostname = LOOPBACK.test(host)
    ? host
    : host.includes(":")
    ? "::"
    : "0.0.0.0";
  try {
    return Deno.listenDatagram({ transport: "udp", hostname, port: 0 });
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) {
      throw new TftpClientError(
        -1,
        `cannot bind a local UDP port on ${hostname}: ` +
          `run with --allow-net=${hostname}:0 as well as the server's address`,
      );
    }
    throw err;
  }
}

/** What the server is told, and the error's text, on a cancel. */
const CANCELLED = "transfer cancelled";

function failure(
  t: { outcome?: string; error?: string; peerError?: { code: number } },
): TftpClientError {
  if (t.outcome === "cancelled") {
    return new TftpClientError(-1, CANCELLED, { kind: "cancelled" });
  }
  return new TftpClientError(t.peerError?.code ?? -1, t.error ?? CANCELLED);
}

/** Refuses to start a transfer whose signal has already been aborted. */
function checkNotCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new TftpClientError(-1, CANCELLED, { kind: "cancelled" });
  }
}

/**
 * Cancels `run` through its driver when `signal` aborts; returns the
 * function that stops listening (a signal may outlive the transfer).
 */
function cancelOn(signal: AbortSignal | undefined, run: Driven): () => void {
  if (!signal) return () => {};
  const onAbort = () => run.cancel(CANCELLED);
  signal.addEventListener("abort", onAbort, { once: true });
  return () => signal.removeEventListener("abort", onAbort);
}

/**
 * Downloads `remote` into `sink`.
 *
 * @example Download from a server on loopback
 * ```ts
 * import { tftpGet } from "./client.ts";
 * import { TftpServer } from "../server/server.ts";
 * import { MemoryStorage } from "../storage/memory.ts";
 * import { Logger } from "../log.ts";
 * const server = new TftpServer({
 *   host: "127.0.0.1",
 *   port: 0,
 *   storage: new MemoryStorage({ "boot.ipxe": "#!ipxe\n" }),
 *   logger: new Logger({ stderr: false }),
 * });
 * const { port } = await server.listen();
 * const parts: Uint8Array[] = [];
 * await tftpGet("boot.ipxe", {
 *   host: "127.0.0.1",
 *   port,
 *   blksize: 1468,
 *   sink: { write: (d) => void parts.push(d.slice()) },
 * });
 * await server.close();
 * if (parts.reduce((n, p) => n + p.length, 0) !== 7) throw new Error();
 * ```
 *
 * @param remote Remote file name.
 * @param opts Server, options and where the bytes go.
 * @returns Bytes received and accepted options.
 * @throws {TftpClientError} On a server error, a timeout or a cancel (`signal`).
 */
export async function tftpGet(
  remote: string,
  opts: ClientOptions & { sink: ByteSink },
): Promise<ClientResult> {
  const host = await resolveHost(opts.host ?? CLIENT_DEFAULTS.host);
  const clock = opts.clock ?? systemClock;
  const asked = requestOptions(opts, 0);
  const request = encodeRequest(Opcode.RRQ, remote, {
    mode: opts.mode ?? CLIENT_DEFAULTS.mode,
    options: asked,
  });
  const t = new ReceiveTransfer({
    role: "client",
    peer: {
      transport: "udp",
      hostname: host,
      port: opts.port ?? CLIENT_DEFAULTS.port,
    } as Deno.NetAddr,
    asked,
    ...retryOptions(opts),
  }, clock.now());
  const decoder = opts.mode === "netascii" ? new NetasciiDecoder() : undefined;
  checkNotCancelled(opts.signal);
  let bytes = 0;
  let wire = 0;
  const sink = opts.sink;
  const run = driveReceive(t, {
    transport: opts.transport ?? bindFor(host),
    clock,
    request,
    maxBlksize: Math.max(512, opts.blksize ?? 512),
    write: async (data) => {
      wire += data.length;
      const local = decoder ? decoder.decode(data) : data;
      bytes += local.length;
      await sink.write(local);
      opts.onProgress?.(wire, t.tsize);
    },
    commit: async () => {
      const tail = decoder?.flush();
      if (tail?.length) {
        bytes += tail.length;
        await sink.write(tail);
      }
    },
  });
  const stop = cancelOn(opts.signal, run);
  await run.finished.finally(stop);
  if (t.outcome !== "ok") throw failure(t);
  return { bytes, options: new Map(t.offered), retransmits: t.retransmits };
}

/**
 * Uploads `data` (or what `source` reads) as `remote`, block by block.
 *
 * @example Upload to a server on loopback
 * ```ts
 * import { tftpPut } from "./client.ts";
 * import { TftpServer } from "../server/server.ts";
 * import { MemoryStorage } from "../storage/memory.ts";
 * import { Logger } from "../log.ts";
 * const storage = new MemoryStorage({}, { writable: true });
 * const server = new TftpServer({
 *   host: "127.0.0.1",
 *   port: 0,
 *   storage,
 *   logger: new Logger({ stderr: false }),
 * });
 * const { port } = await server.listen();
 * await tftpPut("sw1.cfg", {
 *   host: "127.0.0.1",
 *   port,
 *   data: new TextEncoder().encode("hostname sw1\n"),
 * });
 * await server.close();
 * if (!storage.files.has("sw1.cfg")) throw new Error();
 * ```
 *
 * @param remote Remote file name.
 * @param opts Server, options and the bytes to send: `data`, or a
 * `source` read block by block as the upload goes, so memory stays within
 * a window of blocks whatever its size (its `size`, if known, gives tsize;
 * it is not closed: it stays the caller's).
 * @returns Bytes sent and accepted options.
 * @throws {TftpClientError} On a server error, a timeout or a cancel (`signal`).
 */
export async function tftpPut(
  remote: string,
  opts: ClientOptions & ({ data: Uint8Array } | { source: ReadHandle }),
): Promise<ClientResult> {
  const host = await resolveHost(opts.host ?? CLIENT_DEFAULTS.host);
  const clock = opts.clock ?? systemClock;
  const handle = "source" in opts
    ? opts.source
    : new BytesReadHandle(opts.data);
  const netascii = opts.mode === "netascii";
  // The netascii size costs a read of the whole source: only when it is
  // announced (tsize) or shown (progress).
  const wireSize = !netascii
    ? handle.size
    : opts.tsize || opts.onProgress
    ? await netasciiSize(handle, Number.MAX_SAFE_INTEGER)
    : undefined;
  checkNotCancelled(opts.signal);
  const asked = requestOptions(opts, wireSize);
  const request = encodeRequest(Opcode.WRQ, remote, {
    mode: opts.mode ?? CLIENT_DEFAULTS.mode,
    options: asked,
  });
  const t = new SendTransfer({
    role: "client",
    peer: {
      transport: "udp",
      hostname: host,
      port: opts.port ?? CLIENT_DEFAULTS.port,
    } as Deno.NetAddr,
    asked,
    ...retryOptions(opts),
  }, clock.now());
  const run = driveSend(t, {
    transport: opts.transport ?? bindFor(host),
    clock,
    request,
    source: (blksize) =>
      netascii
        ? new NetasciiBlockSource(handle, blksize)
        : new OctetBlockSource(handle, blksize),
    onProgress: opts.onProgress
      ? () => {
        const done = t.outcome === "ok"
          ? run.bytes
          : Math.min(t.blocksAcked * t.blksize, wireSize ?? Infinity);
        opts.onProgress!(done, wireSize);
      }
      : undefined,
  });
  const stop = cancelOn(opts.signal, run);
  await run.finished.finally(stop);
  if (t.outcome !== "ok") throw failure(t);
  return {
    bytes: handle.size ?? run.bytes,
    options: new Map(t.offered),
    retransmits: t.retransmits,
  };
}
