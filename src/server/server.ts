/**
 * The listening server: the listen loop and the wiring of the request
 * pipeline. Each datagram at the listen port goes through admission
 * (`admission.ts`), the name pipeline, {@linkcode TftpServer.selectProtocol},
 * and is started on its own transfer port, in this thread or in a worker
 * thread (`workers/`).
 *
 * @module
 */

import {
  encodeError,
  ErrorCode,
  Opcode,
  type RequestPacket,
  TftpError,
} from "../protocol/packet.ts";
import { MAX_BLKSIZE, MAX_WINDOWSIZE } from "../protocol/options.ts";
import { Logger, quote } from "../log.ts";
import { clip } from "../escape.ts";
import { FsStorage } from "../storage/files.ts";
import { PerClientStorage } from "../storage/per_client.ts";
import {
  openRootStorage,
  rootWritable,
  sharedCwdLock,
} from "../storage/fs_root.ts";
import type { Storage } from "../storage/types.ts";
import { type Cidr, parseCidr } from "../net/cidr.ts";
import { normalizeHost } from "../net/address.ts";
import { PortAllocator } from "../transport/ports.ts";
import { SharedTransport } from "../transport/shared_port.ts";
import { BufferBudget } from "../transport/buffers.ts";
import {
  type Clock,
  type Lane,
  receiveBufferBytes,
  type Transport,
} from "../transport/types.ts";
import { SERVER_DEFAULTS } from "../defaults.ts";
import { admit, allowed, peerKey } from "./admission.ts";
import { Delay } from "./delay.ts";
import type { RemapRule } from "./remap.ts";
import { resolveName } from "./names.ts";
import { ReadSession } from "./read_session.ts";
import { WriteSession } from "./write_session.ts";
import {
  DEFAULT_SESSION_CONFIG,
  formatPeer,
  type SessionClass,
  type SessionConfig,
  type TransferStats,
} from "./session.ts";
import { type StartRequest, startTransfer, type ThreadEnv } from "./start.ts";
import { type TransferHandle, TransferRegistry } from "./transfers.ts";
import denoJson from "../../deno.json" with { type: "json" };
import { TransferMonitor } from "../metrics/monitor.ts";
import {
  startStatusServer,
  type StatusServer,
} from "../metrics/status_server.ts";
import { liveSession } from "../metrics/progress.ts";
import type { LiveSource } from "../metrics/types.ts";
import { WorkerPool } from "./workers/pool.ts";

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
   * Longest time in seconds a transfer may go without progress, whatever
   * timeout option the client asks for (default 30).
   */
  maxIdle?: number;
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
  /**
   * Bytes for the packet buffers of windowed sends, for the whole server
   * (default 64 MiB): a transfer beyond the budget sends its window in
   * bursts instead of holding a buffer per block.
   */
  maxWindowMemory?: number;
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
  /** Most transfers at once from one client (IPv4 address or IPv6 /64; default 128). */
  maxSessionsPerClient?: number;
  /** Only clients in these networks (CIDR) get any reply, at any port. */
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
   * root (no custom `storage`), per-transfer ports (no `singlePort`), the
   * stock session classes (no `selectProtocol` or `createTransport`
   * override) and the real clock: anything else is refused here, since it
   * could not run in the threads.
   */
  workers?: number;
  /** Logger (default: INFO to stderr). */
  logger?: Logger;
  /** Clock for sessions (tests). */
  clock?: Clock;
  /** Called after every transfer with its stats. */
  onTransferEnd?: (stats: TransferStats) => void;
  /**
   * Serve Prometheus metrics, a JSON status API and a live status page on
   * this TCP address (off by default; bind it to loopback or a management
   * address: it has no authentication). See docs/metrics.md.
   */
  metrics?: { hostname: string; port: number };
}

/** Milliseconds after listening before the worker threads start. */
const WORKER_START_DELAY_MS = 100;

/** How often worker threads report progress when a monitor listens, ms. */
const PROGRESS_MS = 1000;

/** Receives kept pending on the listen socket at once. */
const LISTEN_RECEIVERS = 16;

/** Default of {@linkcode ServerOptions.maxSessions}. */
export const DEFAULT_MAX_SESSIONS: number = SERVER_DEFAULTS.maxSessions;
/** Default of {@linkcode ServerOptions.maxSessionsPerClient}. */
export const DEFAULT_MAX_SESSIONS_PER_CLIENT: number =
  SERVER_DEFAULTS.maxSessionsPerClient;

/**
 * A TFTP server.
 *
 * @example Serve files from memory on a free port
 * ```ts
 * import { TftpServer } from "./server.ts";
 * import { MemoryStorage } from "../storage/memory.ts";
 * import { Logger } from "../log.ts";
 * const server = new TftpServer({
 *   host: "127.0.0.1",
 *   port: 0,
 *   storage: new MemoryStorage({ "boot.ipxe": "#!ipxe\n" }),
 *   logger: new Logger({ stderr: false }),
 * });
 * const addr = await server.listen();
 * if (addr.port === 0) throw new Error();
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
  #registry: TransferRegistry;
  #shared = new Map<string, SharedTransport>();
  #closing = false;
  #loop?: Promise<void>;
  #allow?: Cidr[];
  #ports: PortAllocator;
  #lane: Lane;
  #pool?: WorkerPool;
  #monitor?: TransferMonitor;
  #status?: StatusServer;
  #poolStarting?: Promise<void>;
  #poolDelay?: Delay;

  /**
   * Checks the options; {@linkcode TftpServer.listen} starts serving.
   *
   * @param options Address, root, limits, logger.
   * @throws {Error} For settings that cannot work together.
   */
  constructor(options: ServerOptions = {}) {
    this.options = options;
    this.log = options.logger ?? new Logger();
    const d = DEFAULT_SESSION_CONFIG;
    this.config = {
      ackTimeout: options.ackTimeout ?? d.ackTimeout,
      connTimeout: options.timeout ?? d.connTimeout,
      maxRetries: options.retries ?? d.maxRetries,
      maxIdle: options.maxIdle ?? d.maxIdle,
      minRtoMs: options.minRtoMs ?? d.minRtoMs,
      // In single-port mode the reply reaches the session through the main
      // thread's listen loop, which a spin would only hold up.
      busyPollUs: options.singlePort ? 0 : options.busyPollUs ?? d.busyPollUs,
      maxBlksize: Math.min(options.maxBlksize ?? d.maxBlksize, MAX_BLKSIZE),
      maxWindowsize: Math.min(
        options.maxWindowsize ?? d.maxWindowsize,
        MAX_WINDOWSIZE,
      ),
      maxUpload: options.maxUpload,
      receiveBuffer: receiveBufferBytes(),
      guessableTid: !!options.singlePort || !!options.portRange,
    };
    this.storage = options.storage;
    if (options.allowFrom?.length) {
      this.#allow = options.allowFrom.map((c) => parseCidr(c));
    }
    this.#ports = new PortAllocator(options.host ?? SERVER_DEFAULTS.host, {
      range: options.portRange,
    });
    this.#registry = new TransferRegistry({
      onEnd: options.onTransferEnd,
      onHookError: (err) => this.log.error(`onTransferEnd failed: ${err}`),
    });
    this.#checkWorkers(options.workers ?? 1);
    this.#monitor = options.metrics
      ? new TransferMonitor({
        version: denoJson.version,
        threads: (options.workers ?? 1) > 1 ? options.workers : 0,
      })
      : undefined;
    this.#lane = {
      active: 0,
      windowBuffers: new BufferBudget(this.#windowMemory),
    };
  }

  #checkWorkers(workers: number): void {
    if (!Number.isInteger(workers) || workers < 1) {
      throw new Error(`invalid number of workers ${workers}`);
    }
    if (workers === 1) return;
    const why = this.options.storage
      ? "custom storage"
      : this.options.singlePort
      ? "single-port mode"
      : this.options.clock
      ? "a custom clock"
      : this.selectProtocol !== TftpServer.prototype.selectProtocol
      ? "a custom selectProtocol"
      : this.createTransport !== TftpServer.prototype.createTransport
      ? "a custom createTransport"
      : undefined;
    if (why) {
      throw new Error(
        `workers: ${workers} cannot be combined with ${why}: worker threads ` +
          `run the stock sessions on the file-system root; use workers: 1`,
      );
    }
  }

  /** Each thread's share of the window-buffer budget. */
  get #windowMemory(): number {
    const total = this.options.maxWindowMemory ??
      SERVER_DEFAULTS.maxWindowMemory;
    return Math.floor(total / Math.max(1, this.options.workers ?? 1));
  }

  /** The bound address (after `listen`). */
  get addr(): Deno.NetAddr {
    if (!this.#conn) throw new Error("server is not listening");
    return this.#conn.addr as Deno.NetAddr;
  }

  /** The status listener's address, once listening with `metrics`. */
  get metricsAddr(): Deno.NetAddr | undefined {
    return this.#status?.addr;
  }

  /** Number of transfers in progress. */
  get activeSessions(): number {
    return this.#registry.size;
  }

  /**
   * Resolves when no transfer is in progress (at once if none is), after
   * each one's socket is closed and its upload published or removed,
   * whichever thread ran it.
   *
   * @returns A promise for that moment.
   */
  whenIdle(): Promise<void> {
    return this.#registry.whenIdle();
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
    this.#conn = Deno.listenDatagram({
      transport: "udp",
      hostname: this.options.host ?? SERVER_DEFAULTS.host,
      port: this.options.port ?? SERVER_DEFAULTS.port,
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
    if (this.options.metrics && this.#monitor) {
      this.#status = startStatusServer(this.options.metrics, this.#monitor, {
        onError: (err) => this.log.error(`status page: ${err}`),
      });
      this.log.info(
        `metrics and status page on http://${formatPeer(this.#status.addr)}/`,
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
      cwdLock: sharedCwdLock(),
      host: o.host ?? SERVER_DEFAULTS.host,
      portRange: o.portRange,
      allowFrom: o.allowFrom,
      windowMemory: this.#windowMemory,
      progressMs: this.#monitor ? PROGRESS_MS : 0,
      config: this.config,
      verbose: this.log.debugEnabled,
    }, { log: this.log }).then(
      async (pool) => {
        if (this.#closing) return await pool.close();
        this.#pool = pool;
        this.log.info(`${pool.size} worker threads ready (${pool.source})`);
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
   * address, or the next free port of `portRange`). Override to bind
   * differently.
   *
   * @param peer The client.
   * @returns A transport.
   */
  createTransport(peer: Deno.NetAddr): Transport {
    if (this.options.singlePort) {
      const t = new SharedTransport(this.#conn!);
      this.#shared.set(peerKey(peer), t);
      return t;
    }
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

  #allowed = (hostname: string): boolean => allowed(this.#allow, hostname);

  /** Single-port mode: hands a transfer's datagram to its transfer. */
  #route(data: Uint8Array, peer: Deno.NetAddr): boolean {
    const key = peerKey(peer);
    const t = this.#shared.get(key);
    if (!t) return false;
    const handle = this.#registry.get(key);
    const isRequest = data.length >= 2 && data[0] === 0 &&
      (data[1] === Opcode.RRQ || data[1] === Opcode.WRQ);
    if (!handle || t.closed) {
      this.#shared.delete(key);
      return false;
    }
    if (!isRequest) {
      t.deliver(data, peer);
      return true;
    }
    // A request after the transfer ended is a new one (admission decides).
    if (handle.finished) this.#shared.delete(key);
    return false;
  }

  #onDatagram(data: Uint8Array, peer: Deno.NetAddr): void {
    if (this.options.singlePort && this.#allowed(peer.hostname)) {
      if (this.#route(data, peer)) return;
    }
    const registry = this.#registry;
    const verdict = admit(data, peer, {
      allowFrom: this.#allow,
      maxSessions: this.options.maxSessions ?? DEFAULT_MAX_SESSIONS,
      maxPerClient: this.options.maxSessionsPerClient ??
        DEFAULT_MAX_SESSIONS_PER_CLIENT,
      active: registry.size,
      fromClient: (c) => registry.fromClient(c),
      existing: (k) => registry.get(k),
    });
    if (verdict.kind === "ignore") {
      if (this.log.debugEnabled) this.log.debug(verdict.log);
      this.#monitor?.refused(verdict.reason);
      return;
    }
    if (verdict.kind === "refuse") {
      this.log[verdict.level](verdict.log);
      this.#monitor?.refused(verdict.reason);
      this.#reply(peer, verdict.code, verdict.message);
      return;
    }
    const { request, client } = verdict;
    const key = peerKey(peer);
    // A new request from the same port: the peer has its final ACK, so a
    // finished upload need not linger for it any more.
    const previous = this.#registry.get(key);
    if (previous?.finished) previous.cancel("the client sent a new request");
    let name: string;
    try {
      name = this.#resolveName(request, peer);
    } catch (err) {
      const e = err instanceof TftpError
        ? err
        : new TftpError(ErrorCode.NOT_DEFINED, String(err));
      const op = request.op === Opcode.RRQ ? "RRQ" : "WRQ";
      this.log.info(
        `${key} ${op} ${quote(request.filename)} ${request.mode}: error: ${
          clip(e.message)
        }`,
      );
      this.#monitor?.refused(e.message.includes("remap") ? "remap" : "name");
      this.#reply(peer, e.code, e.message);
      return;
    }
    const cls = this.selectProtocol(request, peer);
    if (!cls) {
      this.#monitor?.refused("refused");
      this.#reply(peer, ErrorCode.ILLEGAL_OPERATION, "request refused");
      return;
    }
    const start: StartRequest = { request, name, peer };
    const repeatOf = verdict.repeatOf;
    if (repeatOf && !repeatOf.remote) {
      // Let the transfer's pending datagrams have their turn first.
      setTimeout(() => {
        if (repeatOf.finished) return this.#start(cls, start, client);
        this.#monitor?.refused("duplicate");
        if (this.log.debugEnabled) {
          this.log.debug(
            `${key} repeated request ignored: transfer in progress`,
          );
        }
      }, 0);
      return;
    }
    this.#start(cls, start, client, repeatOf);
  }

  #start(
    cls: SessionClass,
    start: StartRequest,
    client: string,
    repeatOf?: TransferHandle,
  ): void {
    if (this.#closing) return;
    const { peer } = start;
    const key = peerKey(peer);
    const remote = this.#pool?.run(start, {
      repeatOf,
      refuse: (code, message) => this.#reply(peer, code, message),
    });
    if (remote) {
      this.#registry.add(key, client, remote);
      this.#watch(start, remote, remote.progress, remote.worker + 1);
      return;
    }
    try {
      const t = startTransfer(cls, start, this.#env());
      this.#registry.add(key, client, t);
      this.#watch(start, t, liveSession(t.session));
      t.done.finally(() => {
        if (this.#shared.get(key) === t.session.transport) {
          this.#shared.delete(key);
        }
      });
    } catch (err) {
      this.log.error(`${key} cannot open a transfer socket: ${err}`);
      this.#monitor?.refused("no-port");
      this.#reply(
        peer,
        ErrorCode.NOT_DEFINED,
        "no transfer port available, try again later",
      );
    }
  }

  /** Tells the monitor about a started transfer, and later its end. */
  #watch(
    start: StartRequest,
    handle: TransferHandle,
    live: LiveSource,
    worker?: number,
  ): void {
    const monitor = this.#monitor;
    if (!monitor) return;
    const id = monitor.started({
      peer: formatPeer(start.peer),
      filename: start.request.filename,
      direction: start.request.op === Opcode.RRQ ? "read" : "write",
      mode: start.request.mode,
      worker,
    }, live);
    handle.stats.then((stats) => monitor.ended(id, stats));
    // A transfer a worker dropped (a repeated request, no free port) ends
    // without stats: withdrawn, counted as refused.
    handle.done.then(() => monitor.refused("duplicate", id));
  }

  #env(): ThreadEnv {
    return {
      storage: this.storage!,
      config: this.config,
      log: this.log,
      lane: this.#lane,
      openTransport: (peer) => this.createTransport(peer),
      clock: this.options.clock,
      answerStranger: this.#allow ? this.#allowed : undefined,
    };
  }

  #resolveName(request: RequestPacket, peer: Deno.NetAddr): string {
    const name = resolveName(request.filename, {
      op: request.op === Opcode.RRQ ? "read" : "write",
      hostname: normalizeHost(peer.hostname),
      normalize: this.options.normalizeNames,
      ignoreCase: this.options.ignoreCase,
      remap: this.options.remap,
    });
    if (name !== request.filename && this.log.debugEnabled) {
      this.log.debug(`name ${quote(request.filename)} is ${quote(name)}`);
    }
    return name;
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
    await this.#status?.close();
    const closing = this.#registry.closeAll();
    await this.#pool?.close();
    await closing;
    await this.#loop;
  }
}
