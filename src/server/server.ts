/**
 * The listening server: the listen loop and the wiring of the request
 * pipeline. Each datagram at the listen port goes through admission
 * (`admission.ts`), the name pipeline, {@linkcode TftpServer.selectProtocol},
 * and is started on its own transfer port, in this thread or in a worker
 * thread (`threads.ts`, `workers/`); `status.ts` reports to the monitor.
 *
 * @module
 */

import {
  ErrorCode,
  Opcode,
  type RequestPacket,
  TftpError,
} from "../protocol/packet.ts";
import { Logger, quote } from "../log.ts";
import { clip, parenthesize } from "../escape.ts";
import { sharedCwdLock } from "../storage/fs_root.ts";
import type { Storage } from "../storage/types.ts";
import { type Cidr, parseCidr } from "../net/cidr.ts";
import { normalizeHost } from "../net/address.ts";
import { isWildcard } from "../net/local_addresses.ts";
import { PortAllocator } from "../transport/ports.ts";
import { BufferBudget } from "../transport/buffers.ts";
import type { Lane, Transport } from "../transport/types.ts";
import { SERVER_DEFAULTS } from "../defaults.ts";
import { admit, allowed, peerKey } from "./admission.ts";
import {
  type Listener,
  ListenSockets,
  listenText,
  replyError,
} from "./listeners.ts";
import { SharedRoutes } from "./single_port.ts";
import { resolveName } from "./names.ts";
import { ReadSession } from "./read_session.ts";
import { WriteSession } from "./write_session.ts";
import { safeWord, type SessionClass, type SessionConfig } from "./session.ts";
import { type StartRequest, startTransfer, type ThreadEnv } from "./start.ts";
import {
  PeerLoad,
  type TransferHandle,
  TransferRegistry,
} from "./transfers.ts";
import { liveSession } from "../metrics/progress.ts";
import { openServerStorage, type ServerStorage } from "./serve_storage.ts";
import { RefusalLog } from "./refusal_log.ts";
import type { ServerStatus } from "./status.ts";
import { WorkerThreads } from "./threads.ts";
import {
  sessionConfig,
  threadsText,
  windowShare,
  workerSetup,
  workersRefusal,
} from "./setup.ts";
import type { ServerOptions } from "./options.ts";

export type { ServerOptions } from "./options.ts";

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
  #sockets?: ListenSockets;
  /** The storage this server built (the origin's), closed with it. */
  #own?: ServerStorage;
  #registry: TransferRegistry;
  #shared = new SharedRoutes();
  #closing = false;
  #allow?: Cidr[];
  #ports: PortAllocator;
  #lane: Lane;
  #threads: WorkerThreads;
  #load = new PeerLoad();
  #status?: ServerStatus;
  #refusals: RefusalLog;

  /**
   * Checks the options; {@linkcode TftpServer.listen} starts serving.
   *
   * @param options Address, root, limits, logger.
   * @throws {Error} For settings that cannot work together.
   */
  constructor(options: ServerOptions = {}) {
    this.options = options;
    this.log = options.logger ?? new Logger();
    this.#refusals = new RefusalLog(this.log);
    this.config = sessionConfig(options);
    this.storage = options.storage;
    if (options.storage && options.origin) {
      throw new Error(
        "origin and storage exclude each other: pass the origin's settings " +
          "(the server builds the storage) or a storage you built",
      );
    }
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
    const refusal = workersRefusal(options, {
      selectProtocol:
        this.selectProtocol !== TftpServer.prototype.selectProtocol,
      createTransport:
        this.createTransport !== TftpServer.prototype.createTransport,
    });
    if (refusal) throw new Error(refusal);
    this.#threads = new WorkerThreads({
      log: this.log,
      byName: !!options.origin,
    });
    this.#lane = {
      active: 0,
      windowBuffers: new BufferBudget(windowShare(options)),
    };
  }

  /** The configured listen hosts (at least one). */
  get #hosts(): string[] {
    const h = this.options.host;
    if (typeof h === "string") return [h];
    return h?.length ? [...h] : [SERVER_DEFAULTS.host];
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
   * Every listen socket's address (after `listen`): one per host or per local
   * address of a wildcard host; link-local IPv6 with its scope (`fe80::1%2`).
   */
  get addrs(): Deno.NetAddr[] {
    if (!this.#sockets) throw new Error("server is not listening");
    return this.#sockets.all.map((l) => l.addr);
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
   * Resolves when no transfer is in progress (at once if none is), each one's
   * socket closed and upload published or removed, whichever thread ran it.
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
    // Loaded only when asked for: it was 6 ms of every start-up (2 vCPUs).
    if (this.options.metrics && !this.#status) {
      const { ServerStatus } = await import("./status.ts");
      this.#status = new ServerStatus({ workers: this.options.workers });
    }
    let serves = this.storage?.describe?.() ?? "custom storage";
    if (!this.storage) {
      const opened = await openServerStorage(this.options, this.log);
      this.storage = opened.storage;
      this.#own = opened;
      serves = opened.serves;
    }
    try {
      // First, so a bad --metrics fails the start before "listening".
      if (this.#status) this.#status.open(this.options.metrics!, this.log);
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
    } catch (err) {
      await this.#status?.close();
      await this.#own?.owned?.close();
      throw err;
    }
    const addr = this.addr;
    const workers = this.options.workers ?? 1;
    const start = this.options.workersStart ?? SERVER_DEFAULTS.workersStart;
    const where = this.#sockets.all.map((l) => listenText(l.addr)).join(", ");
    this.log.info(
      `listening on ${where}, ${serves}${threadsText(workers, start)}`,
    );
    if (workers > 1) {
      this.#threads.schedule(workers, () =>
        workerSetup(this.options, {
          count: workers,
          cwdLock: sharedCwdLock(),
          originSlots: this.#own?.originSlots,
          host: this.#hosts[0],
          progressMs: this.#status ? PROGRESS_MS : 0,
          config: this.config,
          verbose: this.log.debugEnabled,
        }), { start });
    }
    return addr;
  }

  /**
   * Starts the worker threads now (else they start on demand, see
   * `workersStart`); resolves once they run or failed to start (logged;
   * transfers then run in the main thread). At once without worker threads.
   *
   * @returns Resolves when the threads are up or known not to come.
   */
  startWorkers(): Promise<void> {
    return this.#threads.start();
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
   * Opens one transfer's socket: an ephemeral port, or the next free port of
   * `portRange`, on the address the request arrived on (replies leave from
   * the address the client sent to). Override to bind differently.
   *
   * @param peer The client.
   * @param local The listen address the request came to (absent: outside).
   * @returns A transport.
   */
  createTransport(peer: Deno.NetAddr, local?: Deno.NetAddr): Transport {
    if (this.options.singlePort) {
      const on = local ? this.#sockets?.find(local.hostname) : undefined;
      const listener = on ?? this.#sockets!.all[0];
      return this.#shared.open(listener, peer);
    }
    return this.#ports.open(local?.hostname);
  }

  #allowed = (hostname: string): boolean => allowed(this.#allow, hostname);

  #onDatagram(data: Uint8Array, peer: Deno.NetAddr, on: Listener): void {
    if (this.options.singlePort && this.#allowed(peer.hostname)) {
      const handle = this.#registry.get(peerKey(peer));
      if (this.#shared.route(data, { peer, on }, handle)) return;
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
      junkReplies: on.junk,
      sharedPort: this.options.singlePort,
    });
    if (verdict.kind === "ignore") {
      if (this.log.debugEnabled) this.log.debug(verdict.log);
      this.#status?.refused(verdict.reason);
      return;
    }
    if (verdict.kind === "refuse") {
      this.#refusals.write(verdict.reason, verdict.level, verdict.log);
      this.#status?.refused(verdict.reason);
      replyError(on, peer, verdict);
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
      this.#refusals.write(
        "name",
        "warn",
        `${key} ${op} ${quote(request.filename)} ${
          safeWord(request.mode)
        }: error ${parenthesize(clip(`ERROR ${e.code}: ${e.message}`))}`,
      );
      this.#status?.refused(e.message.includes("remap") ? "remap" : "name");
      replyError(on, peer, e);
      return;
    }
    const cls = this.selectProtocol(request, peer);
    if (!cls) {
      this.#status?.refused("refused");
      replyError(on, peer, {
        code: ErrorCode.ILLEGAL_OPERATION,
        message: "request refused",
      });
      return;
    }
    const start: StartRequest = { request, name, peer, local: on.addr };
    const repeatOf = verdict.repeatOf;
    if (repeatOf && !repeatOf.remote) {
      // Let the transfer's pending datagrams have their turn first.
      setTimeout(() => {
        if (repeatOf.finished) return this.#start(cls, start, client, on);
        this.#status?.refused("duplicate");
        if (this.log.debugEnabled) {
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
    const { peer } = start, key = peerKey(peer);
    const remote = this.#threads.run(start, {
      repeatOf,
      // One client asking again (a probe, a retry) is not load; another is.
      busy: this.#load.busyBesides(key),
      refuse: (code, message) => replyError(on, peer, { code, message }),
      retryHere: () => this.#startHere(cls, start, client, on),
    });
    if (remote) {
      this.#registry.add(key, remote, { client, behind: repeatOf });
      this.#status?.watch(start, {
        handle: remote,
        live: remote.progress,
        worker: remote.worker + 1,
      });
    } else this.#startHere(cls, start, client, on);
  }

  #startHere(
    cls: SessionClass,
    start: StartRequest,
    client: string,
    on: Listener,
  ): void {
    if (this.#closing) return;
    const { peer } = start, key = peerKey(peer);
    try {
      const t = startTransfer(cls, start, this.#env());
      this.#load.hold(key, t);
      this.#registry.add(key, t, { client });
      this.#status?.watch(start, { handle: t, live: liveSession(t.session) });
      t.done.finally(() => this.#shared.release(on, peer, t.session.transport));
    } catch (err) {
      const line = `${key} cannot open a transfer socket: ${err}`;
      this.#refusals.write("no-port", "warn", line);
      this.#status?.refused("no-port");
      replyError(on, peer, {
        code: ErrorCode.NOT_DEFINED,
        message: "no transfer port available, try again later",
      });
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
    await this.#threads.stopStarting();
    await this.#status?.close();
    const closing = this.#registry.closeAll();
    const listening = this.#sockets?.close();
    await this.#threads.close();
    await closing;
    await listening;
    await this.#own?.owned?.close();
  }
}
