/**
 * The main thread's side of `--workers`: starts worker threads, hands each
 * admitted request to the least busy one, and mirrors every remote transfer
 * as a {@linkcode RemoteSession} so limits, hooks and shutdown work as for
 * local transfers.
 *
 * @module
 */

import type { Logger } from "../../log.ts";
import { Delay } from "../delay.ts";
import { ErrorCode, Opcode } from "../../protocol/packet.ts";
import type { TransferStats } from "../session.ts";
import type { StartRequest } from "../start.ts";
import type { TransferHandle } from "../transfers.ts";
import { RemoteSession } from "./remote.ts";
import {
  type WorkerCode,
  type WorkerKind,
  workerModule,
  workerSource,
  WorkerThread,
} from "./thread.ts";
import { failedStats, type FromWorker, type WorkerSetup } from "./protocol.ts";
import { reclaimSlots } from "../../storage/origin/shared_limit.ts";

/** Pause before restarting a thread that died twice within it, in ms. */
const RESTART_PAUSE_MS = 5000;

interface Slot {
  worker: WorkerThread;
  index: number;
  active: Map<number, RemoteSession>;
  alive: boolean;
  closed?: () => void;
}

/** Options of {@linkcode WorkerPool.start}. */
export interface WorkerPoolOptions {
  /**
   * The worker module: a script's text, a module URL, or what
   * {@linkcode workerSource} picked (its default).
   */
  source?: WorkerCode;
  /** Writes the workers' log lines and pool events (a worker dying). */
  log: Logger;
  /**
   * Send every read of one name to one thread (a hash of the name) instead
   * of the least busy one: a storage that coalesces requests per name (the
   * HTTP origin) then makes one origin request for a storm across threads,
   * at the cost of the storm's transfers sharing that one thread.
   */
  byName?: boolean;
}

/**
 * A fixed set of worker threads running transfers, handed requests from
 * the moment they start.
 *
 * @example
 * ```ts ignore
 * const pool = WorkerPool.open(2, setup, { log });
 * pool.ready.catch((err) => log.error(String(err)));
 * const remote = pool.run({ request, name, peer }, { refuse: () => {} });
 * await remote.done;
 * await pool.close();
 * ```
 */
export class WorkerPool {
  #slots: Slot[] = [];
  #nextId = 1;
  #log: Logger;
  #url: string | Promise<string>;
  #kind: WorkerKind;
  #byName: boolean;
  #closing = false;
  #restarts = new Set<Promise<void>>();
  #pauses = new Set<Delay>();
  #lastDeath = new Map<number, number>();
  #ready: Promise<void> = Promise.resolve();

  private constructor(
    url: string | Promise<string>,
    kind: WorkerKind,
    options: WorkerPoolOptions,
  ) {
    this.#url = url;
    this.#kind = kind;
    this.#log = options.log;
    this.#byName = options.byName ?? false;
  }

  /** What the threads run: the sources, the embedded bundle, or a given module. */
  get source(): WorkerKind {
    return this.#kind;
  }

  /**
   * Starts `count` workers and returns at once: {@linkcode WorkerPool.run}
   * may hand them requests before they are up (each thread takes its
   * messages once it has opened the root). When a thread cannot start,
   * every thread stops, the requests handed to them are served by their
   * `retryHere` (else refused: ERROR 0, the client may ask again) and
   * `ready` rejects with the reason.
   *
   * @param count Number of threads.
   * @param setup What every worker needs.
   * @param options Worker source and logger.
   * @returns The starting pool.
   */
  static open(
    count: number,
    setup: Omit<WorkerSetup, "portStart">,
    options: WorkerPoolOptions,
  ): WorkerPool {
    const [url, kind] = workerModule(options.source ?? workerSource());
    const pool = new WorkerPool(url, kind, options);
    const span = setup.portRange
      ? setup.portRange[1] - setup.portRange[0] + 1
      : 0;
    const ready: Promise<void>[] = [];
    for (let i = 0; i < count; i++) {
      const portStart = Math.floor(span * i / count);
      const slots = setup.originSlots;
      const originSlots = slots && { buffer: slots.buffer, thread: i + 1 };
      ready.push(pool.#spawn(i, { ...setup, portStart, originSlots }));
    }
    pool.#ready = Promise.all(ready).then(() => {}, (err) => {
      for (const s of pool.#slots) {
        s.alive = false;
        s.worker.terminate();
        pool.#failAll(s, `worker threads failed to start`, true);
        // A thread that did start may hold origin slots the main thread,
        // serving in its place, would otherwise never get back.
        if (setup.originSlots) reclaimSlots(setup.originSlots, s.index + 1);
      }
      pool.#revoke();
      throw err;
    });
    return pool;
  }

  /**
   * Starts `count` workers and waits until each has opened the root.
   *
   * @param count Number of threads.
   * @param setup What every worker needs.
   * @param options Worker source and logger.
   * @returns The running pool.
   * @throws {Error} When a worker cannot start (its reason included).
   */
  static async start(
    count: number,
    setup: Omit<WorkerSetup, "portStart">,
    options: WorkerPoolOptions,
  ): Promise<WorkerPool> {
    const pool = WorkerPool.open(count, setup, options);
    await pool.ready;
    return pool;
  }

  /**
   * Resolves once every thread has opened the root; rejects with the first
   * one's reason when one cannot (the pool is then stopped). Whoever opens
   * the pool handles that rejection.
   */
  get ready(): Promise<void> {
    return this.#ready;
  }

  /** Number of live worker threads. */
  get size(): number {
    return this.#slots.filter((s) => s.alive).length;
  }

  #spawn(index: number, setup: WorkerSetup): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let started = false;
      const onMessage = (msg: FromWorker) => {
        switch (msg.type) {
          case "ready":
            started = true;
            resolve();
            break;
          case "failed":
            slot.alive = false;
            reject(new Error(msg.error));
            break;
          case "stats":
            msg.stats.worker = index + 1;
            slot.active.get(msg.id)?.settle(msg.stats);
            break;
          case "progress":
            for (const entry of msg.transfers) {
              slot.active.get(entry[0])?.progress.apply(entry);
            }
            break;
          case "established":
            slot.active.get(msg.id)?.establish();
            break;
          case "refused":
            slot.active.get(msg.id)?.refuse(msg.code, msg.message);
            break;
          case "log": {
            const stats = msg.fields?.stats as TransferStats | undefined;
            if (stats) stats.worker = index + 1;
            this.#log.log(msg.level, msg.message, msg.fields);
            break;
          }
          case "done": {
            const remote = slot.active.get(msg.id);
            slot.active.delete(msg.id);
            remote?.end();
            break;
          }
          case "closed":
            slot.closed?.();
            break;
        }
      };
      const onError = (why: string) => {
        slot.alive = false;
        if (!started) {
          reject(new Error(`worker ${index + 1} failed to start: ${why}`));
          return;
        }
        this.#log.error(
          `worker ${index + 1} died (${why}); ` +
            `${slot.active.size} transfers lost`,
        );
        this.#failAll(slot, `worker died: ${why}`);
        slot.closed?.();
        slot.worker.terminate();
        // Its origin requests ended with it; their slots did not.
        if (setup.originSlots) reclaimSlots(setup.originSlots, index + 1);
        this.#restart(slot, setup);
      };
      const worker = new WorkerThread(this.#url, {
        name: `tftpd-worker-${index + 1}`,
        on: { message: onMessage, error: onError },
      });
      const slot: Slot = { worker, index, active: new Map(), alive: true };
      this.#slots.push(slot);
      worker.post({ type: "setup", setup });
    });
  }

  /**
   * Replaces a dead worker, at once the first time and after a pause when
   * the same thread died less than RESTART_PAUSE_MS ago (a request that
   * crashes it must not make the pool spin).
   */
  #restart(dead: Slot, setup: WorkerSetup): void {
    if (this.#closing) return;
    const i = dead.index;
    const now = Date.now();
    const last = this.#lastDeath.get(i);
    this.#lastDeath.set(i, now);
    const pause = last !== undefined && now - last < RESTART_PAUSE_MS
      ? RESTART_PAUSE_MS
      : 0;
    const wait = new Delay(pause);
    this.#pauses.add(wait);
    const restart = wait.done.then(() => {
      this.#pauses.delete(wait);
      if (this.#closing) return;
      this.#slots = this.#slots.filter((s) => s !== dead);
      return this.#spawn(i, setup).then(
        () => this.#log.warn(`worker ${i + 1} restarted`),
        (err) =>
          this.#log.error(
            `worker ${i + 1} could not be restarted: ${(err as Error).message}`,
          ),
      );
    }).finally(() => this.#restarts.delete(restart));
    this.#restarts.add(restart);
  }

  #failAll(slot: Slot, error: string, refuse = false): void {
    for (const remote of slot.active.values()) {
      // Never started: served here when the caller can, withdrawn first.
      if (refuse && remote.retryHere) {
        remote.end();
        remote.retryHere();
        continue;
      }
      if (refuse) remote.refuse(ErrorCode.NOT_DEFINED, `${error}, try again`);
      remote.end(failedStats(error));
    }
    slot.active.clear();
  }

  /**
   * Hands a request to the live worker with the fewest transfers.
   *
   * @param start The request, its resolved name and the client.
   * @param options `refuse`: sends the client an ERROR from the listen
   * socket when the worker cannot start the transfer (no free port);
   * `retryHere`: serves it in the main thread when the threads fail to
   * start.
   * @returns The transfer, or undefined when no worker is alive.
   */
  run(
    start: StartRequest,
    options: {
      refuse: (code: number, message: string) => void;
      retryHere?: () => void;
      repeatOf?: TransferHandle;
    },
  ): RemoteSession | undefined {
    const { request, name, peer, local } = start;
    const repeat = options.repeatOf instanceof RemoteSession
      ? options.repeatOf
      : undefined;
    let best: Slot | undefined;
    for (const s of this.#slots) {
      if (!s.alive) continue;
      if (repeat && s.index === repeat.worker) {
        best = s;
        break;
      }
      if (!best || s.active.size < best.active.size) best = s;
    }
    if (this.#byName && !repeat && request.op === Opcode.RRQ) {
      best = this.#slotFor(name) ?? best;
    }
    if (!best) return undefined;
    const slot = best;
    const id = this.#nextId++;
    const remote = new RemoteSession({ id, worker: slot.index, request }, {
      cancel: (reason) => {
        if (slot.alive) {
          slot.worker.post(
            { type: "cancel", id, reason },
          );
        }
      },
      refuse: options.refuse,
      retryHere: options.retryHere,
    });
    slot.active.set(id, remote);
    slot.worker.post(
      {
        type: "start",
        id,
        request,
        name,
        repeatOf: repeat && slot.index === repeat.worker
          ? repeat.id
          : undefined,
        peer: { transport: "udp", hostname: peer.hostname, port: peer.port },
        local: local && {
          transport: "udp",
          hostname: local.hostname,
          port: local.port,
        },
      },
    );
    return remote;
  }

  /**
   * The thread a name hashes to, or the next live one after it while that
   * one is being restarted (other names keep their threads).
   */
  #slotFor(name: string): Slot | undefined {
    const slots = [...this.#slots].sort((a, b) => a.index - b.index);
    const start = nameHash(name) % slots.length;
    for (let i = 0; i < slots.length; i++) {
      const s = slots[(start + i) % slots.length];
      if (s.alive) return s;
    }
    return undefined;
  }

  /**
   * Cancels every transfer, waits for the workers to clean up (unfinished
   * uploads removed), then stops them.
   */
  async close(): Promise<void> {
    this.#closing = true;
    await this.ready.catch(() => {});
    for (const wait of this.#pauses) wait.cancel();
    await Promise.allSettled([...this.#restarts]);
    await Promise.all(this.#slots.map((slot) => {
      if (!slot.alive) return Promise.resolve();
      return new Promise<void>((resolve) => {
        slot.closed = resolve;
        slot.worker.post({ type: "close" });
      });
    }));
    for (const slot of this.#slots) {
      slot.alive = false;
      slot.worker.terminate();
      this.#failAll(slot, "server stopped");
    }
    this.#revoke();
  }

  #revoke(): void {
    Promise.resolve(this.#url).then((url) => {
      if (url.startsWith("blob:")) URL.revokeObjectURL(url);
    }, () => {});
  }
}

/** FNV-1a of a name's UTF-16 code units: cheap, and stable across runs. */
function nameHash(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  }
  return h >>> 0;
}
