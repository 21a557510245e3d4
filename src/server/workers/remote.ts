/**
 * A transfer that runs in a worker thread, as the main thread sees it.
 *
 * @module
 */

import type { RequestPacket } from "../../protocol/packet.ts";
import type { TransferStats } from "../session.ts";
import type { TransferHandle } from "../transfers.ts";
import { CachedProgress } from "../../metrics/progress.ts";

/** A transfer running in a worker thread, seen from the main thread. */
export class RemoteSession implements TransferHandle {
  /** Resolves with the stats when the worker reports the outcome. */
  readonly stats: Promise<TransferStats>;
  /** Resolves when the worker has cleaned the transfer up. */
  readonly done: Promise<void>;
  #finished = false;
  #established = false;
  #resolveStats!: (s: TransferStats) => void;
  #resolveDone!: () => void;
  #cancel: (reason?: string) => void;
  /** Answers the client from the listen socket (the worker could not). */
  readonly refuse: (code: number, message: string) => void;
  /**
   * Serves the request in the main thread instead (its threads failed to
   * start); absent: it is refused.
   */
  readonly retryHere?: () => void;
  /** The request it serves. */
  readonly request: RequestPacket;
  /** Always true: it runs in a worker thread. */
  readonly remote = true;
  /** Its id in its worker. */
  readonly id: number;
  /** Its worker (0-based). */
  readonly worker: number;
  /** Its progress, as the worker last reported it. */
  readonly progress: CachedProgress = new CachedProgress();

  /**
   * Mirrors one transfer handed to a worker.
   *
   * @param start Its id, worker and request.
   * @param actions `cancel` asks the worker to cancel the transfer;
   * `refuse` sends the client an ERROR from the listen socket;
   * `retryHere` serves the request in the main thread.
   */
  constructor(
    start: { id: number; worker: number; request: RequestPacket },
    actions: {
      cancel: (reason?: string) => void;
      refuse: (code: number, message: string) => void;
      retryHere?: () => void;
    },
  ) {
    this.id = start.id;
    this.worker = start.worker;
    this.request = start.request;
    this.#cancel = actions.cancel;
    this.refuse = actions.refuse;
    this.retryHere = actions.retryHere;
    this.stats = new Promise((r) => this.#resolveStats = r);
    this.done = new Promise((r) => this.#resolveDone = r);
  }

  /** Whether the outcome is known (a finished transfer may still linger). */
  get finished(): boolean {
    return this.#finished;
  }

  /** Whether the client has answered (reported by the worker). */
  get established(): boolean {
    return this.#established;
  }

  /** The worker reported that the client answered. */
  establish(): void {
    this.#established = true;
  }

  /** Cancels the transfer (an unfinished upload leaves no file). */
  cancel(reason?: string): void {
    this.#cancel(reason);
  }

  /**
   * Records the outcome the worker reported.
   *
   * @param stats The transfer's stats.
   */
  settle(stats: TransferStats): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#resolveStats(stats);
  }

  /**
   * Records that the worker is done with the transfer; a transfer that
   * never reported an outcome (its worker died) ends as an error.
   *
   * @param fallback Stats to report when none came.
   */
  end(fallback?: TransferStats): void {
    if (fallback) this.settle(fallback);
    this.#resolveDone();
  }
}
