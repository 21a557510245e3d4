/**
 * A counting limit on origin requests in flight, with a FIFO queue whose
 * waits end when the caller's signal aborts.
 *
 * @module
 */

interface Waiter {
  grant: (release: () => void) => void;
  signal?: AbortSignal;
  onAbort: () => void;
}

/**
 * At most `max` holders at once; the others wait in order.
 *
 * @example
 * ```ts
 * import { Limiter } from "./limiter.ts";
 * const limit = new Limiter(1);
 * const release = await limit.acquire();
 * const next = limit.acquire();
 * if (limit.active !== 1 || limit.waiting !== 1) throw new Error();
 * release();
 * (await next)();
 * ```
 */
export class Limiter {
  /** Most holders at once. */
  readonly max: number;
  #active = 0;
  #queue: Waiter[] = [];

  /**
   * Lets at most `max` holders in at once; the rest wait in turn.
   *
   * @param max Most holders at once (at least 1).
   */
  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1) {
      throw new Error(`invalid limit ${max}`);
    }
    this.max = max;
  }

  /** Holders now. */
  get active(): number {
    return this.#active;
  }

  /** Callers waiting for a turn. */
  get waiting(): number {
    return this.#queue.length;
  }

  /**
   * Waits for a turn.
   *
   * @param signal Gives up waiting when it aborts (rejects with its reason).
   * @returns A function that ends the turn (calling it again does nothing).
   */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#active < this.max) {
      this.#active++;
      return Promise.resolve(this.#release());
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: resolve,
        signal,
        onAbort: () => {
          const i = this.#queue.indexOf(waiter);
          if (i >= 0) this.#queue.splice(i, 1);
          reject(signal!.reason);
        },
      };
      signal?.addEventListener("abort", waiter.onAbort, { once: true });
      this.#queue.push(waiter);
    });
  }

  #release(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.#queue.shift();
      if (next) {
        next.signal?.removeEventListener("abort", next.onAbort);
        next.grant(this.#release());
      } else {
        this.#active--;
      }
    };
  }
}
