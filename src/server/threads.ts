/**
 * A server's worker threads: started when the server gets busy (or a little
 * after it listens, when asked), handed requests from then on, stopped with
 * it. Until they start (or when they failed to) the server serves every
 * request in its own thread.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import { Delay } from "./delay.ts";
import { WorkerPool } from "./workers/pool.ts";
import type { RemoteSession } from "./workers/remote.ts";
import type { WorkerSetup } from "./workers/protocol.ts";
import type { ServerOptions } from "./options.ts";
import type { StartRequest } from "./start.ts";
import type { TransferHandle } from "./transfers.ts";

/** Milliseconds after listening before the worker threads start. */
const WORKER_START_DELAY_MS = 100;

/**
 * When a server's worker threads start: `demand` at the first request that
 * arrives while the main thread already runs a transfer (a server that
 * serves one client at a time stays one thread, ~35 MB lighter with two
 * threads, and memory a thread took is not given back when it stops);
 * `listen` 100 ms after listening.
 */
export type WorkersStart = NonNullable<ServerOptions["workersStart"]>;

/**
 * The worker threads of one server, from the delayed start to the close.
 *
 * @example Nothing scheduled: ready at once, no thread to hand work to
 * ```ts
 * import { WorkerThreads } from "./threads.ts";
 * import { Logger } from "../log.ts";
 * const threads = new WorkerThreads({ log: new Logger({ stderr: false }) });
 * await threads.start();
 * await threads.stopStarting();
 * await threads.close();
 * ```
 */
export class WorkerThreads {
  #log: Logger;
  #byName: boolean;
  #pool?: WorkerPool;
  #starting?: Promise<void>;
  #delay?: Delay;
  #stopping = false;
  #plan?: { count: number; setup: () => Omit<WorkerSetup, "portStart"> };

  /**
   * Makes an idle set: {@linkcode WorkerThreads.schedule} plans threads.
   *
   * @param options `log`: pool events and the threads' log lines;
   * `byName`: send every read of one name to one thread (see
   * {@linkcode WorkerPool.start}).
   */
  constructor(options: { log: Logger; byName?: boolean }) {
    this.#log = options.log;
    this.#byName = options.byName ?? false;
  }

  /**
   * Plans `count` threads, started on demand or shortly after listening.
   * Threads starting compete for the CPUs: the first requests of a fresh
   * server are answered first (start-up 31 ms without workers, 60 ms with
   * them starting at once, on 2 CPUs).
   *
   * @param count Number of threads.
   * @param setup Builds what every thread needs, when they start.
   * @param options `start`: when.
   */
  schedule(
    count: number,
    setup: () => Omit<WorkerSetup, "portStart">,
    options: { start: WorkersStart },
  ): void {
    this.#plan = { count, setup };
    if (options.start === "demand") return;
    this.#delay = new Delay(WORKER_START_DELAY_MS);
    this.#delay.done.then((elapsed) => {
      if (elapsed) this.start();
    });
  }

  /**
   * Starts the planned threads now unless they started already.
   *
   * @returns Resolves once they run, or failed to start (logged), or at
   * once when none are planned.
   */
  start(): Promise<void> {
    if (!this.#starting && this.#plan && !this.#stopping) {
      this.#delay?.cancel();
      this.#starting = this.#open(this.#plan.count, this.#plan.setup());
    }
    return this.#starting ?? Promise.resolve();
  }

  #open(count: number, setup: Omit<WorkerSetup, "portStart">): Promise<void> {
    const pool = WorkerPool.open(count, setup, {
      log: this.#log,
      byName: this.#byName,
    });
    this.#pool = pool;
    return pool.ready.then(
      () => {
        this.#log.info(`${pool.size} worker threads ready (${pool.source})`);
      },
      (err) => {
        this.#pool = undefined;
        this.#log.error(
          `worker threads failed to start (${(err as Error).message}): ` +
            `running every transfer in the main thread`,
        );
      },
    );
  }

  /**
   * Hands a request to the threads, starting them first when they start on
   * demand and the main thread is `busy`.
   *
   * @param start The request, its resolved name and the client.
   * @param options As {@linkcode WorkerPool.run}, and `busy`: the main
   * thread already runs a transfer.
   * @returns The transfer, or undefined when no thread runs (yet).
   */
  run(
    start: StartRequest,
    options: {
      refuse: (code: number, message: string) => void;
      retryHere?: () => void;
      repeatOf?: TransferHandle;
      busy?: boolean;
    },
  ): RemoteSession | undefined {
    if (options.busy) this.start();
    return this.#pool?.run(start, options);
  }

  /**
   * Stops planned threads from starting and waits for a start under way.
   */
  async stopStarting(): Promise<void> {
    this.#stopping = true;
    this.#delay?.cancel();
    await this.#starting;
  }

  /** Stops the running threads after their transfers cleaned up. */
  async close(): Promise<void> {
    await this.#pool?.close();
  }
}
