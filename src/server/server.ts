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
import { isWildcard } from "../net/local_addresses.ts";
import { PortAllocator } from "../transport/ports.ts";
import { SharedTransport } from "../transport/shared_port.ts";
import { BufferBudget } from "../transport/buffers.ts";
import {
  type Lane,
  receiveBufferBytes,
  type Transport,
} from "../transport/types.ts";
import { SERVER_DEFAULTS } from "../defaults.ts";
import { admit, allowed, peerKey } from "./admission.ts";
import { Delay } from "./delay.ts";
import { type Listener, ListenSockets } from "./listeners.ts";
import type { RemapRule } from "./remap.ts";
import { resolveName } from "./names.ts";
import { ReadSession } from "./read_session.ts";
import { WriteSession } from "./write_session.ts";
import {
  DEFAULT_SESSION_CONFIG,
  formatPeer,
  type SessionClass,
  type SessionConfig,
} from "./session.ts";
import { type StartRequest, startTransfer, type ThreadEnv } from "./start.ts";
import { type TransferHandle, TransferRegistry } from "./transfers.ts";
import { WorkerPool } from "./workers/pool.ts";
import type { ServerOptions } from "./options.ts";

export type { ServerOptions } from "./options.ts";

/** Milliseconds after listening before the worker threads start. */
const WORKER_START_DELAY_MS = 100;

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
  #sockets?: ListenSockets;
  #registry: TransferRegistry;
  #shared = new Map<string, SharedTransport>();
  #closing = false;
  #allow?: Cidr[];
  #ports: PortAllocator;
  #lane: Lane;
  #pool?: WorkerPool;
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
    this.#ports = new PortAllocator(this.#hosts[0], {
      range: options.portRange,
    });
    this.#registry = new TransferRegistry({
      onEnd: options.onTransferEnd,
      onHookError: (err) => this.log.error(`onTransferEnd failed: ${err}`),
    });
    this.#checkWorkers(options.workers ?? 1);
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

  /** The configured listen hosts (at least one). */
  get #hosts(): string[] {
    const h = this.options.host;
    if (typeof h === "string") return [h];
    return h?.length ? [...h] : [SERVER_DEFAULTS.host];
  }

  /** Each thread's share of the window-buffer budget. */
  get #windowMemory(): number {
    const total = this.options.maxWindowMemory ??
      SERVER_DEFAULTS.maxWindowMemory;
    return Math.floor(total / Math.max(1, this.options.workers ?? 1));
  }

  /**
   * The first listen address and the port (after `listen`). A wildcard
   * host served per local address is reported as the wildcard itself.
   */
  get addr(): Deno.NetAddr {
    const sockets = this.#sockets;
    if (!sockets) throw new Error("server is not listening");
    const first = this.#hosts[0];
    if (sockets.expanded && isWildcard(first)) {
      return { transport: "udp", hostname: first, port: sockets.port };
    }
    const l = sockets.all[0];
    return l ? l.conn.addr as Deno.NetAddr : this.addrs[0];
  }

  /**
   * Every listen socket's address (after `listen`): one per host, or per
   * local address for a wildcard host; link-local IPv6 ones with their
   * scope (`fe80::1%2`).
   */
  get addrs(): Deno.NetAddr[] {
    if (!this.#sockets) throw new Error("server is not listening");
    return this.#sockets.all.map((l) => l.addr);
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
    // Several receives per socket: when a rack boots at once, hundreds of
    // requests queue while hundreds of transfers keep the event loop busy,
    // and with one receive they were admitted one per turn. In single-port
    // mode the socket also carries transfer packets, whose order matters.
    this.#sockets = ListenSockets.open({
      hosts: this.#hosts,
      port: this.options.port ?? SERVER_DEFAULTS.port,
      log: this.log,
      receivers: this.options.singlePort ? 1 : LISTEN_RECEIVERS,
      rescanSeconds: this.options.rescanInterval ??
        SERVER_DEFAULTS.rescanInterval,
      onDatagram: (data, peer, on) => this.#onDatagram(data, peer, on),
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
    const where = this.#sockets.all.map((l) => formatPeer(l.addr)).join(", ");
    this.log.info(`listening on ${where}, root ${root} (${rw})${threads}`);
    if (workers > 1) {
      // Threads starting compete for the CPUs: let the first requests of a
      // fresh server be answered first (start-up 31 ms without workers, 60
      // ms with them starting at once, on 2 CPUs).
      this.#poolDelay = new Delay(WORKER_START_DELAY_MS);
      this.#poolStarting = this.#poolDelay.done.then((elapsed) =>
        elapsed ? this.#startWorkers(workers) : undefined
      );
    }
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
      host: this.#hosts[0],
      portRange: o.portRange,
      allowFrom: o.allowFrom,
      windowMemory: this.#windowMemory,
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
   * Opens the socket for one transfer: an ephemeral port, or the next free
   * port of `portRange`, on the address the request arrived on (so the
   * replies leave from the address the client sent to). Override to bind
   * differently.
   *
   * @param peer The client.
   * @param local The listen address the request arrived on (absent when
   * called from outside the server).
   * @returns A transport.
   */
  createTransport(peer: Deno.NetAddr, local?: Deno.NetAddr): Transport {
    if (this.options.singlePort) {
      const on = local ? this.#sockets?.find(local.hostname) : undefined;
      const listener = on ?? this.#sockets!.all[0];
      const t = new SharedTransport(listener.conn);
      this.#shared.set(sharedKey(listener, peer), t);
      return t;
    }
    return this.#ports.open(local?.hostname);
  }

  #reply(
    on: Listener,
    addr: Deno.NetAddr,
    code: number,
    message: string,
  ): void {
    if (on.closed) return;
    on.conn.send(encodeError(code, message), addr).catch(() => {});
  }

  #allowed = (hostname: string): boolean => allowed(this.#allow, hostname);

  /** Single-port mode: hands a transfer's datagram to its transfer. */
  #route(data: Uint8Array, peer: Deno.NetAddr, on: Listener): boolean {
    const key = sharedKey(on, peer);
    const t = this.#shared.get(key);
    if (!t) return false;
    const handle = this.#registry.get(peerKey(peer));
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

  #onDatagram(data: Uint8Array, peer: Deno.NetAddr, on: Listener): void {
    if (this.options.singlePort && this.#allowed(peer.hostname)) {
      if (this.#route(data, peer, on)) return;
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
      return;
    }
    if (verdict.kind === "refuse") {
      this.log[verdict.level](verdict.log);
      this.#reply(on, peer, verdict.code, verdict.message);
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
      this.#reply(on, peer, e.code, e.message);
      return;
    }
    const cls = this.selectProtocol(request, peer);
    if (!cls) {
      this.#reply(on, peer, ErrorCode.ILLEGAL_OPERATION, "request refused");
      return;
    }
    const start: StartRequest = { request, name, peer, local: on.addr };
    const repeatOf = verdict.repeatOf;
    if (repeatOf && !repeatOf.remote) {
      // Let the transfer's pending datagrams have their turn first.
      setTimeout(() => {
        if (repeatOf.finished) this.#start(cls, start, client, on);
        else if (this.log.debugEnabled) {
          this.log.debug(
            `${key} repeated request ignored: transfer in progress`,
          );
        }
      }, 0);
      return;
    }
    this.#start(cls, start, client, on, repeatOf);
  }

  #start(
    cls: SessionClass,
    start: StartRequest,
    client: string,
    on: Listener,
    repeatOf?: TransferHandle,
  ): void {
    if (this.#closing) return;
    const { peer } = start;
    const key = peerKey(peer);
    const remote = this.#pool?.run(start, {
      repeatOf,
      refuse: (code, message) => this.#reply(on, peer, code, message),
    });
    if (remote) {
      this.#registry.add(key, client, remote);
      return;
    }
    try {
      const t = startTransfer(cls, start, this.#env());
      this.#registry.add(key, client, t);
      const shared = sharedKey(on, peer);
      t.done.finally(() => {
        if (this.#shared.get(shared) === t.session.transport) {
          this.#shared.delete(shared);
        }
      });
    } catch (err) {
      this.log.error(`${key} cannot open a transfer socket: ${err}`);
      this.#reply(
        on,
        peer,
        ErrorCode.NOT_DEFINED,
        "no transfer port available, try again later",
      );
    }
  }

  #env(): ThreadEnv {
    return {
      storage: this.storage!,
      config: this.config,
      log: this.log,
      lane: this.#lane,
      openTransport: (peer, local) => this.createTransport(peer, local),
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
    const listening = this.#sockets?.close();
    this.#poolDelay?.cancel();
    await this.#poolStarting;
    const closing = this.#registry.closeAll();
    await this.#pool?.close();
    await closing;
    await listening;
  }
}

/** Single-port mode: a transfer is its listen socket and its peer. */
function sharedKey(on: Listener, peer: Deno.NetAddr): string {
  return `${on.addr.hostname} ${peerKey(peer)}`;
}
