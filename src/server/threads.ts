/**
 * A server's worker threads: started a little after it listens, handed
 * requests while they run, stopped with it. Until they run (or when they
 * failed to start) the server serves every request in its own thread.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import { Delay } from "./delay.ts";
import { type RemoteSession, WorkerPool } from "./workers/pool.ts";
import type { WorkerSetup } from "./workers/protocol.ts";
import type { StartRequest } from "./start.ts";
import type { TransferHandle } from "./transfers.ts";

/** Milliseconds after listening before the worker threads start. */
const WORKER_START_DELAY_MS = 100;

/**
 * The worker threads of one server, from the delayed start to the close.
 *
 * @example Nothing scheduled: ready at once, no thread to hand work to
 * ```ts
 * import { WorkerThreads } from "./threads.ts";
 * import { Logger } from "../log.ts";
 * const threads = new WorkerThreads({ log: new Logger({ stderr: false }) });
 * await threads.ready;
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

  /**
   * Makes an idle set: {@linkcode WorkerThreads.schedule} starts threads.
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
   * Starts `count` threads after a short delay. Threads starting compete
   * for the CPUs: the first requests of a fresh server are answered first
   * (start-up 31 ms without workers, 60 ms with them starting at once, on
   * 2 CPUs).
   *
   * @param count Number of threads.
   * @param setup Builds what every thread needs, when they start.
   */
  schedule(
    count: number,
    setup: () => Omit<WorkerSetup, "portStart">,
  ): void {
    this.#delay = new Delay(WORKER_START_DELAY_MS);
    this.#starting = this.#delay.done.then((elapsed) =>
      elapsed ? this.#start(count, setup()) : undefined
    );
  }

  /**
   * Resolves once the threads run, or failed to start (logged), or at once
   * when none were scheduled.
   */
  get ready(): Promise<void> {
    return this.#starting ?? Promise.resolve();
  }

  #start(count: number, setup: Omit<WorkerSetup, "portStart">): Promise<void> {
    return WorkerPool.start(count, setup, {
      log: this.#log,
      byName: this.#byName,
    }).then(
      async (pool) => {
        if (this.#stopping) return await pool.close();
        this.#pool = pool;
        this.#log.info(`${pool.size} worker threads ready (${pool.source})`);
      },
      (err) => {
        this.#log.error(
          `worker threads failed to start (${(err as Error).message}): ` +
            `running every transfer in the main thread`,
        );
      },
    );
  }

  /**
   * Hands a request to a running thread.
   *
   * @param start The request, its resolved name and the client.
   * @param options As {@linkcode WorkerPool.run}.
   * @returns The transfer, or undefined when no thread runs (yet).
   */
  run(
    start: StartRequest,
    options: {
      refuse: (code: number, message: string) => void;
      repeatOf?: TransferHandle;
    },
  ): RemoteSession | undefined {
    return this.#pool?.run(start, options);
  }

  /**
   * Cancels a start that has not begun and waits for one under way (threads
   * that come up now are stopped at once).
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
