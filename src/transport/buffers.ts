/**
 * One bounded budget for the packet buffers of windowed sends in a thread:
 * a window of 64 blocks of 65464 bytes is 4 MiB, and hundreds of such
 * transfers at once must not take gigabytes. A transfer always has one
 * buffer; beyond it, it gets buffers while the budget lasts, and with fewer
 * buffers than its window it sends the window in bursts (a buffer is
 * reused once its send has completed).
 *
 * @module
 */

/**
 * Bytes of window buffers handed out, against a limit.
 *
 * @example
 * ```ts
 * import { BufferBudget } from "./buffers.ts";
 * const budget = new BufferBudget(100);
 * if (!budget.take(60) || budget.take(60)) throw new Error();
 * budget.give(60);
 * if (!budget.take(60)) throw new Error();
 * ```
 */
export class BufferBudget {
  /** The most bytes handed out at once. */
  readonly limit: number;
  #used = 0;

  /**
   * A budget of `limit` bytes.
   *
   * @param limit Bytes.
   */
  constructor(limit: number) {
    this.limit = limit;
  }

  /** Bytes handed out now. */
  get used(): number {
    return this.#used;
  }

  /**
   * Takes `bytes` if they fit.
   *
   * @param bytes How many.
   * @returns Whether they were granted.
   */
  take(bytes: number): boolean {
    if (this.#used + bytes > this.limit) return false;
    this.#used += bytes;
    return true;
  }

  /**
   * Gives bytes back.
   *
   * @param bytes How many (what `take` granted).
   */
  give(bytes: number): void {
    this.#used = Math.max(0, this.#used - bytes);
  }
}
