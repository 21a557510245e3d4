/**
 * The listening server: receives requests, picks a session class with
 * {@linkcode TftpServer.selectProtocol}, and runs each transfer on its own
 * ephemeral port.
 *
 * @module
 */

import {
  decode,
  encodeError,
  ErrorCode,
  Opcode,
  type Packet,
  PacketError,
  type RequestPacket,
} from "../protocol/packet.ts";
import { MAX_BLKSIZE, MAX_WINDOWSIZE } from "../protocol/options.ts";
import { Logger } from "../log.ts";
import { FsStorage } from "../storage/files.ts";
import type { Storage } from "../storage/types.ts";
import {
  type Clock,
  DEFAULT_SESSION_CONFIG,
  formatPeer,
  ReadSession,
  type Session,
  type SessionClass,
  type SessionConfig,
  systemClock,
  type TransferStats,
  type Transport,
  WriteSession,
} from "./session.ts";

/** Options of {@linkcode TftpServer}. */
export interface ServerOptions {
  /** Address to listen on (default `0.0.0.0`; `::` serves IPv4 and IPv6). */
  host?: string;
  /** UDP port (default 9069; 0 picks a free one). */
  port?: number;
  /** Directory to serve (default: current directory). Ignored with `storage`. */
  root?: string;
  /** Custom storage instead of the file system under `root`. */
  storage?: Storage;
  /** Retransmit interval in seconds (default 0.5). */
  ackTimeout?: number;
  /** Seconds without progress before giving up on a transfer (default 3). */
  timeout?: number;
  /** Retransmit rounds without progress before giving up (default 5). */
  retries?: number;
  /** Largest blksize granted (default 65464). */
  maxBlksize?: number;
  /** Largest windowsize granted (default 64). */
  maxWindowsize?: number;
  /** Largest upload in bytes (default: no limit). */
  maxUpload?: number;
  /** Refuse all uploads. */
  readOnly?: boolean;
  /** Logger (default: INFO to stderr). */
  logger?: Logger;
  /** Clock for sessions (tests). */
  clock?: Clock;
  /** Called after every transfer with its stats. */
  onTransferEnd?: (stats: TransferStats) => void;
}

/**
 * A TFTP server.
 *
 * @example
 * ```ts ignore
 * import { TftpServer } from "./server.ts";
 * const server = new TftpServer({ host: "127.0.0.1", port: 0, root: "." });
 * const addr = await server.listen();
 * console.log(`listening on ${addr.port}`);
 * await server.close();
 * ```
 */
export class TftpServer {
  /** Resolved options. */
  readonly options: ServerOptions;
  /** Logger. */
  readonly log: Logger;
  /** Session settings derived from the options. */
  readonly config: SessionConfig;
  /** Storage (set by `listen` when not given). */
  storage?: Storage;
  #conn?: Deno.DatagramConn;
  #sessions = new Map<string, Session>();
  #runs = new Set<Promise<unknown>>();
  #closing = false;
  #loop?: Promise<void>;

  /**
   * @param options Address, root, limits, logger.
   */
  constructor(options: ServerOptions = {}) {
    this.options = options;
    this.log = options.logger ?? new Logger();
    this.config = {
      ...DEFAULT_SESSION_CONFIG,
      ackTimeout: options.ackTimeout ?? DEFAULT_SESSION_CONFIG.ackTimeout,
      connTimeout: options.timeout ?? DEFAULT_SESSION_CONFIG.connTimeout,
      maxRetries: options.retries ?? DEFAULT_SESSION_CONFIG.maxRetries,
      maxBlksize: Math.min(options.maxBlksize ?? MAX_BLKSIZE, MAX_BLKSIZE),
      maxWindowsize: Math.min(options.maxWindowsize ?? 64, MAX_WINDOWSIZE),
      maxUpload: options.maxUpload,
    };
    this.storage = options.storage;
  }

  /** The bound address (after `listen`). */
  get addr(): Deno.NetAddr {
    if (!this.#conn) throw new Error("server is not listening");
    return this.#conn.addr as Deno.NetAddr;
  }

  /** Number of transfers in progress. */
  get activeSessions(): number {
    return this.#sessions.size;
  }

  /**
   * Opens the storage (checking permissions), binds the socket and starts
   * serving.
   *
   * @returns The bound address.
   * @throws {Error} With a message saying what to fix (root missing, no
   * read permission, port in use).
   */
  async listen(): Promise<Deno.NetAddr> {
    if (!this.storage) this.storage = await openRootStorage(this);
    const host = this.options.host ?? "0.0.0.0";
    this.#conn = Deno.listenDatagram({
      transport: "udp",
      hostname: host,
      port: this.options.port ?? 9069,
    });
    const addr = this.addr;
    const root = this.storage instanceof FsStorage
      ? this.storage.root
      : "(custom storage)";
    const rw = this.storage instanceof FsStorage && !this.storage.writable
      ? "read-only"
      : "read-write";
    this.log.info(
      `listening on ${formatPeer(addr)}, root ${root} (${rw})`,
    );
    this.#loop = this.#serve();
    return addr;
  }

  /**
   * Chooses the session class for a request (py3tftp's `select_protocol`).
   * Override to route requests to custom sessions; return `undefined` to
   * refuse with ERROR 4.
   *
   * @param request The decoded request.
   * @param _peer Who sent it.
   * @returns The session class to run, or undefined.
   */
  selectProtocol(
    request: RequestPacket,
    _peer: Deno.NetAddr,
  ): SessionClass | undefined {
    if (request.op === Opcode.RRQ) return ReadSession;
    if (request.op === Opcode.WRQ) return WriteSession;
    return undefined;
  }

  /**
   * Opens the socket for one transfer (an ephemeral port on the listen
   * address). Override to use a port range.
   *
   * @param _peer The client.
   * @returns A transport.
   */
  createTransport(_peer: Deno.NetAddr): Transport {
    return Deno.listenDatagram({
      transport: "udp",
      hostname: this.options.host ?? "0.0.0.0",
      port: 0,
    });
  }

  async #serve(): Promise<void> {
    const conn = this.#conn!;
    const buf = new Uint8Array(65536);
    while (!this.#closing) {
      let data: Uint8Array;
      let addr: Deno.Addr;
      try {
        [data, addr] = await conn.receive(buf);
      } catch (err) {
        if (this.#closing) break;
        this.log.error(`receive failed: ${err}`);
        continue;
      }
      try {
        this.#onDatagram(data, addr as Deno.NetAddr);
      } catch (err) {
        this.log.error(`failed to handle a datagram: ${err}`);
      }
    }
  }

  #reply(addr: Deno.NetAddr, code: number, message: string): void {
    this.#conn?.send(encodeError(code, message), addr).catch(() => {});
  }

  #onDatagram(data: Uint8Array, peer: Deno.NetAddr): void {
    let p: Packet;
    try {
      p = decode(data);
    } catch (err) {
      const msg = err instanceof PacketError ? err.message : String(err);
      this.log.debug(`${formatPeer(peer)} malformed request: ${msg}`);
      this.#reply(
        peer,
        ErrorCode.ILLEGAL_OPERATION,
        `malformed request: ${msg}`,
      );
      return;
    }
    if (p.op !== Opcode.RRQ && p.op !== Opcode.WRQ) {
      this.log.debug(`${formatPeer(peer)} opcode ${p.op} on the listen port`);
      if (p.op !== Opcode.ERROR) {
        this.#reply(peer, ErrorCode.ILLEGAL_OPERATION, "expected RRQ or WRQ");
      }
      return;
    }
    const key = formatPeer(peer);
    if (this.#sessions.has(key)) {
      this.log.debug(`${key} repeated request ignored: transfer in progress`);
      return;
    }
    const cls = this.selectProtocol(p, peer);
    if (!cls) {
      this.#reply(peer, ErrorCode.ILLEGAL_OPERATION, "request refused");
      return;
    }
    let transport: Transport;
    try {
      transport = this.createTransport(peer);
    } catch (err) {
      this.log.error(`${key} cannot open a transfer socket: ${err}`);
      this.#reply(peer, ErrorCode.NOT_DEFINED, "no transfer port available");
      return;
    }
    const session = new cls({
      request: p,
      peer,
      transport,
      storage: this.storage!,
      config: this.config,
      log: this.log,
      clock: this.options.clock ?? systemClock,
    });
    this.#sessions.set(key, session);
    const run = session.run().then(
      (stats) => this.options.onTransferEnd?.(stats),
      (err) => this.log.error(`${key} session crashed: ${err}`),
    ).finally(() => {
      if (this.#sessions.get(key) === session) this.#sessions.delete(key);
      this.#runs.delete(run);
    });
    this.#runs.add(run);
  }

  /**
   * Stops listening, cancels every transfer (unfinished uploads leave no
   * file) and waits for them to clean up.
   */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    try {
      this.#conn?.close();
    } catch { /* already closed */ }
    for (const s of this.#sessions.values()) s.cancel();
    await Promise.allSettled([...this.#runs]);
    await this.#loop;
  }
}

/** Opens the file-system root with the permissions Deno grants. */
async function openRootStorage(server: TftpServer): Promise<FsStorage> {
  const root = server.options.root ?? ".";
  const read = await Deno.permissions.query({ name: "read", path: root });
  if (read.state !== "granted") {
    throw new Error(
      `no read permission on ${root}: run with --allow-read=${root}`,
    );
  }
  let storage: FsStorage;
  try {
    storage = await FsStorage.open(root, {
      writable: !server.options.readOnly,
    });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new Error(`root ${root} does not exist`);
    }
    throw err;
  }
  if (!server.options.readOnly) {
    const write = await Deno.permissions.query({
      name: "write",
      path: storage.root,
    });
    if (write.state !== "granted") {
      server.log.warn(
        `no write permission on ${storage.root}: serving read-only, ` +
          `uploads get ERROR 2 (add --allow-write=${root} to accept uploads)`,
      );
      storage = new FsStorage(storage.root, { writable: false });
    }
  }
  return storage;
}
