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
  TftpError,
} from "../protocol/packet.ts";
import { MAX_BLKSIZE, MAX_WINDOWSIZE } from "../protocol/options.ts";
import { Logger } from "../log.ts";
import { FsStorage, PerClientStorage } from "../storage/files.ts";
import { openRootStorage, rootWritable } from "../storage/fs_root.ts";
import { Delay } from "./delay.ts";
import { PortAllocator } from "../transport/ports.ts";
import { type RemoteSession, WorkerPool } from "./workers/pool.ts";
import { WORKER_SOURCE } from "./workers/bundle.ts";
import { normalizeHost } from "../net/address.ts";
import { type Cidr, cidrContains, parseCidr } from "../net/cidr.ts";
import { applyRemap, type RemapRule } from "./remap.ts";
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
  /**
   * Floor in ms of the adaptive retransmit interval used when the client
   * sets no timeout option (default 50; 0 keeps `ackTimeout` fixed).
   */
  minRtoMs?: number;
  /**
   * Longest busy-poll spin in µs while a lock-step transfer is alone in its
   * thread (default 50; 0 off): after sending, the thread spins briefly so
   * a fast client's reply is taken without a sleep and wake-up.
   */
  busyPollUs?: number;
  /** Largest blksize granted (default 65464). */
  maxBlksize?: number;
  /** Largest windowsize granted (default 64). */
  maxWindowsize?: number;
  /** Largest upload in bytes (default: no limit). */
  maxUpload?: number;
  /** Refuse all uploads. */
  readOnly?: boolean;
  /** Let uploads replace existing regular files (default: ERROR 6). */
  allowOverwrite?: boolean;
  /** `\\` to `/` and leading `/` stripped from names (default true). */
  normalizeNames?: boolean;
  /** Find names case-insensitively when the exact name does not exist. */
  ignoreCase?: boolean;
  /** Serve `ROOT/<client ip>/` to a client when that directory exists. */
  perClientRoot?: boolean;
  /** Remap rules applied to names before the root check. */
  remap?: RemapRule[];
  /** Most transfers at once (default 2048). */
  maxSessions?: number;
  /** Most transfers at once from one client IP (default 128). */
  maxSessionsPerClient?: number;
  /** Only clients in these networks (CIDR) get any reply. */
  allowFrom?: string[];
  /** Bind transfer sockets in this inclusive port range. */
  portRange?: [number, number];
  /** Run every transfer on the listen port (for NAT and strict firewalls). */
  singlePort?: boolean;
  /**
   * Threads that run transfers (default 1: all in the main thread). With
   * more, the main thread admits requests and hands each transfer to the
   * least busy worker thread, so a boot storm uses every CPU and no
   * thread's event loop holds hundreds of sockets. Needs the file-system
   * root (no custom `storage`), per-transfer ports (no `singlePort`) and
   * the stock session classes.
   */
  workers?: number;
  /** Logger (default: INFO to stderr). */
  logger?: Logger;
  /** Clock for sessions (tests). */
  clock?: Clock;
  /** Called after every transfer with its stats. */
  onTransferEnd?: (stats: TransferStats) => void;
}

/** Milliseconds after listening before the worker threads start. */
const WORKER_START_DELAY_MS = 100;

/** Receives kept pending on the listen socket at once. */
const LISTEN_RECEIVERS = 16;

/** Default of {@linkcode ServerOptions.maxSessions}. */
export const DEFAULT_MAX_SESSIONS = 2048;
/** Default of {@linkcode ServerOptions.maxSessionsPerClient}. */
export const DEFAULT_MAX_SESSIONS_PER_CLIENT = 128;

/**
 * A transport for `--single-port`: sends through the listen socket and
 * receives what the server's listen loop hands over for one peer.
 */
export class SharedTransport implements Transport {
  #conn: Deno.DatagramConn;
  #queue: [Uint8Array, Deno.NetAddr][] = [];
  #waiter?: {
    buf?: Uint8Array;
    resolve: (v: [Uint8Array, Deno.Addr]) => void;
    reject: (e: unknown) => void;
  };
  #closed = false;

  /**
   * Creates an instance.
   *
   * @param conn The listen socket.
   */
  constructor(conn: Deno.DatagramConn) {
    this.#conn = conn;
  }

  /** The listen address. */
  get addr(): Deno.Addr {
    return this.#conn.addr;
  }

  /**
   * Sends through the listen socket.
   *
   * @param data Datagram.
   * @param addr Destination.
   * @returns Bytes sent.
   */
  send(data: Uint8Array, addr: Deno.NetAddr): Promise<number> {
    return this.#conn.send(data, addr);
  }

  /**
   * Next datagram handed over by {@linkcode SharedTransport.deliver}.
   *
   * @param buf Buffer to copy into (else a fresh copy is returned).
   * @returns Datagram and sender.
   */
  receive(buf?: Uint8Array): Promise<[Uint8Array, Deno.Addr]> {
    if (this.#closed) return Promise.reject(new Deno.errors.Interrupted());
    const next = this.#queue.shift();
    if (next) return Promise.resolve(copyInto(next[0], next[1], buf));
    return new Promise((resolve, reject) => {
      this.#waiter = { buf, resolve, reject };
    });
  }

  /**
   * Hands a datagram from this transport's peer to the session.
   *
   * @param data Datagram (copied).
   * @param addr Sender.
   */
  deliver(data: Uint8Array, addr: Deno.NetAddr): void {
    if (this.#closed) return;
    const w = this.#waiter;
    if (w) {
      this.#waiter = undefined;
      w.resolve(copyInto(data, addr, w.buf));
    } else if (this.#queue.length < 256) {
      this.#queue.push([data.slice(), addr]);
    }
  }

  /** Stops receiving (the listen socket stays open). */
  close(): void {
    this.#closed = true;
    this.#queue.length = 0;
    this.#waiter?.reject(new Deno.errors.Interrupted("transport closed"));
    this.#waiter = undefined;
  }
}

function copyInto(
  data: Uint8Array,
  addr: Deno.NetAddr,
  buf?: Uint8Array,
): [Uint8Array, Deno.Addr] {
  if (!buf) return [data.slice(), addr];
  const n = Math.min(buf.length, data.length);
  buf.set(data.subarray(0, n));
  return [buf.subarray(0, n), addr];
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
  #sessions = new Map<string, Session | RemoteSession>();
  #idleWaiters: (() => void)[] = [];
  #perClient = new Map<string, number>();
  #runs = new Set<Promise<unknown>>();
  #closing = false;
  #loop?: Promise<void>;
  #allow?: Cidr[];
  #ports: PortAllocator;
  #pool?: WorkerPool;
  #poolStarting?: Promise<void>;
  #poolDelay?: Delay;

  /**
   * Creates an instance.
   *
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
      minRtoMs: options.minRtoMs ?? DEFAULT_SESSION_CONFIG.minRtoMs,
      // In single-port mode the reply reaches the session through the main
      // thread's listen loop, which a spin would only hold up.
      busyPollUs: options.singlePort
        ? 0
        : options.busyPollUs ?? DEFAULT_SESSION_CONFIG.busyPollUs,
      maxBlksize: Math.min(options.maxBlksize ?? MAX_BLKSIZE, MAX_BLKSIZE),
      maxWindowsize: Math.min(options.maxWindowsize ?? 64, MAX_WINDOWSIZE),
      maxUpload: options.maxUpload,
    };
    this.storage = options.storage;
    if (options.allowFrom?.length) {
      this.#allow = options.allowFrom.map((c) => parseCidr(c));
    }
    this.#ports = new PortAllocator(options.host ?? "0.0.0.0", {
      range: options.portRange,
    });
    const workers = options.workers ?? 1;
    if (!Number.isInteger(workers) || workers < 1) {
      throw new Error(`invalid number of workers ${workers}`);
    }
    if (workers > 1 && options.storage) {
      throw new Error("workers need the file-system root, not custom storage");
    }
    if (workers > 1 && options.singlePort) {
      throw new Error("workers cannot be combined with single-port mode");
    }
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
   * Resolves when no transfer is in progress (at once if none is), after
   * each one's socket is closed and its upload published or removed,
   * whichever thread ran it.
   *
   * @returns A promise for that moment.
   */
  whenIdle(): Promise<void> {
    if (this.#sessions.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
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
    if (!this.storage) {
      this.storage = await openRootStorage(this.options, this.log);
    }
    const host = this.options.host ?? "0.0.0.0";
    this.#conn = Deno.listenDatagram({
      transport: "udp",
      hostname: host,
      port: this.options.port ?? 9069,
    });
    const addr = this.addr;
    const fs = this.storage instanceof PerClientStorage
      ? this.storage.base
      : this.storage;
    const root = fs instanceof FsStorage ? fs.root : "(custom storage)";
    const rw = fs instanceof FsStorage && !rootWritable(fs)
      ? "read-only"
      : "read-write";
    const workers = this.options.workers ?? 1;
    const threads = workers > 1 ? `, ${workers} worker threads` : "";
    this.log.info(
      `listening on ${formatPeer(addr)}, root ${root} (${rw})${threads}`,
    );
    if (workers > 1) {
      // Threads starting compete for the CPUs: let the first requests of a
      // fresh server be answered first (start-up 31 ms without workers, 60
      // ms with them starting at once, on 2 CPUs).
      this.#poolDelay = new Delay(WORKER_START_DELAY_MS);
      this.#poolStarting = this.#poolDelay.done.then((elapsed) =>
        elapsed ? this.#startWorkers(workers) : undefined
      );
    }
    this.#loop = this.#serve();
    return addr;
  }

  /**
   * Resolves once the worker threads run (or failed to start, which is
   * logged; transfers then run in the main thread). They start 100 ms after
   * `listen`; until then requests are served in the main thread, so
   * start-up is not delayed by the threads.
   */
  get workersReady(): Promise<void> {
    return this.#poolStarting ?? Promise.resolve();
  }

  #startWorkers(count: number): Promise<void> {
    const o = this.options;
    return WorkerPool.start(count, {
      root: o.root,
      readOnly: o.readOnly,
      normalizeNames: o.normalizeNames,
      ignoreCase: o.ignoreCase,
      allowOverwrite: o.allowOverwrite,
      perClientRoot: o.perClientRoot,
      host: o.host ?? "0.0.0.0",
      portRange: o.portRange,
      config: this.config,
      verbose: this.log.debugEnabled,
    }, { source: WORKER_SOURCE, log: this.log }).then(
      async (pool) => {
        if (this.#closing) return await pool.close();
        this.#pool = pool;
        this.log.debug(`${pool.size} worker threads ready`);
      },
      (err) => {
        this.log.error(
          `worker threads failed to start (${(err as Error).message}): ` +
            `running every transfer in the main thread`,
        );
      },
    );
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
    if (this.options.singlePort) return new SharedTransport(this.#conn!);
    return this.#ports.open();
  }

  #serve(): Promise<void> {
    // Each pending receive yields one datagram per event-loop turn. When a
    // rack boots at once, hundreds of requests queue on the listen socket
    // while hundreds of transfers keep the loop busy: with one receive they
    // were admitted one per turn and clients gave up before being served.
    // Several receives drain the queue as fast as the transfers progress.
    // (Their order does not matter for requests; in single-port mode the
    // listen socket also carries transfer packets, so it keeps one.)
    const receivers = this.options.singlePort ? 1 : LISTEN_RECEIVERS;
    const loops: Promise<void>[] = [];
    for (let i = 0; i < receivers; i++) loops.push(this.#receiveLoop());
    return Promise.all(loops).then(() => {});
  }

  async #receiveLoop(): Promise<void> {
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
    if (
      this.#allow && !this.#allow.some((n) => cidrContains(n, peer.hostname))
    ) {
      if (this.log.debugEnabled) {
        this.log.debug(`${formatPeer(peer)} not in --allow-from: ignored`);
      }
      return;
    }
    if (this.options.singlePort) {
      const s = this.#sessions.get(formatPeer(peer));
      if (s && "transport" in s && s.transport instanceof SharedTransport) {
        const isRequest = data.length >= 2 && data[0] === 0 &&
          (data[1] === Opcode.RRQ || data[1] === Opcode.WRQ);
        // A finished transfer (lingering to re-ACK) yields to a new request.
        if (!(s.finished && isRequest)) {
          s.transport.deliver(data, peer);
          return;
        }
        s.cancel();
      }
    }
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
    // A transfer that has finished (or lingers after an upload) does not
    // block its peer: PXE firmware probes and then asks again from the same
    // port, and interactive clients reuse one port for every command.
    if (this.#sessions.get(key)?.finished === false) {
      this.log.debug(`${key} repeated request ignored: transfer in progress`);
      return;
    }
    const maxTotal = this.options.maxSessions ?? DEFAULT_MAX_SESSIONS;
    if (this.#sessions.size >= maxTotal) {
      this.log.warn(`${key} refused: ${maxTotal} transfers in progress`);
      this.#reply(
        peer,
        ErrorCode.NOT_DEFINED,
        `server busy: too many transfers (limit ${maxTotal})`,
      );
      return;
    }
    const ip = normalizeHost(peer.hostname);
    const maxClient = this.options.maxSessionsPerClient ??
      DEFAULT_MAX_SESSIONS_PER_CLIENT;
    const fromClient = this.#perClient.get(ip) ?? 0;
    if (fromClient >= maxClient) {
      this.log.warn(`${key} refused: ${fromClient} transfers from ${ip}`);
      this.#reply(
        peer,
        ErrorCode.NOT_DEFINED,
        `too many transfers from ${ip} (limit ${maxClient})`,
      );
      return;
    }
    if (this.options.remap?.length) {
      try {
        const filename = applyRemap(this.options.remap, p.filename, {
          hostname: ip,
          op: p.op === Opcode.RRQ ? "read" : "write",
        });
        if (filename !== p.filename) {
          this.log.debug(
            `${key} remapped ${JSON.stringify(p.filename)} to ${
              JSON.stringify(filename)
            }`,
          );
          p = { ...p, filename };
        }
      } catch (err) {
        const e = err instanceof TftpError
          ? err
          : new TftpError(ErrorCode.NOT_DEFINED, String(err));
        this.log.info(`${key} ${JSON.stringify(p.filename)}: ${e.message}`);
        this.#reply(peer, e.code, e.message);
        return;
      }
    }
    const cls = this.selectProtocol(p, peer);
    if (!cls) {
      this.#reply(peer, ErrorCode.ILLEGAL_OPERATION, "request refused");
      return;
    }
    const remote = this.#pool && !this.options.clock &&
        (cls === ReadSession || cls === WriteSession)
      ? this.#pool.run(p, peer, {
        refuse: (code, message) => this.#reply(peer, code, message),
      })
      : undefined;
    if (remote) {
      this.#track(key, ip, remote, remote.done);
      return;
    }
    let transport: Transport;
    try {
      transport = this.createTransport(peer);
    } catch (err) {
      this.log.error(`${key} cannot open a transfer socket: ${err}`);
      this.#reply(
        peer,
        ErrorCode.NOT_DEFINED,
        "no transfer port available, try again later",
      );
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
    const run = session.run().then(
      () => {},
      (err) => this.log.error(`${key} session crashed: ${err}`),
    );
    this.#track(key, ip, session, run);
  }

  /** Books a started transfer until it ends, local or in a worker. */
  #track(
    key: string,
    ip: string,
    session: Session | RemoteSession,
    running: Promise<void>,
  ): void {
    this.#sessions.set(key, session);
    this.#perClient.set(ip, (this.#perClient.get(ip) ?? 0) + 1);
    // The per-client count and the hook follow the outcome, not the end of
    // an upload's linger: a client that finished may start its next transfer.
    session.stats.then((stats) => {
      const left = (this.#perClient.get(ip) ?? 1) - 1;
      if (left > 0) this.#perClient.set(ip, left);
      else this.#perClient.delete(ip);
      this.options.onTransferEnd?.(stats);
    }).catch((err) => this.log.error(`${key} onTransferEnd failed: ${err}`));
    const run = running.finally(() => {
      if (this.#sessions.get(key) === session) this.#sessions.delete(key);
      this.#runs.delete(run);
      if (this.#sessions.size === 0) {
        for (const resolve of this.#idleWaiters.splice(0)) resolve();
      }
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
    this.#poolDelay?.cancel();
    await this.#poolStarting;
    for (const s of this.#sessions.values()) s.cancel();
    await this.#pool?.close();
    await Promise.allSettled([...this.#runs]);
    await this.#loop;
  }
}
