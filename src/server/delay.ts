/**
 * A timed wait that can be cut short, for work that is put off (starting
 * the worker threads, restarting one) and must not hold up a shutdown.
 *
 * @module
 */

/**
 * Waits `ms` milliseconds unless cancelled first.
 *
 * @example
 * ```ts
 * import { Delay } from "./delay.ts";
 * const d = new Delay(60_000);
 * d.cancel();
 * if (await d.done) throw new Error("cancelled, so not elapsed");
 * ```
 */
export class Delay {
  /** Resolves with true when the time ran out, false when cancelled. */
  readonly done: Promise<boolean>;
  #timer?: ReturnType<typeof setTimeout>;
  #resolve!: (elapsed: boolean) => void;

  /**
   * Starts the wait.
   *
   * @param ms Milliseconds; 0 or less is over at once.
   */
  constructor(ms: number) {
    this.done = new Promise((resolve) => this.#resolve = resolve);
    if (ms <= 0) this.#resolve(true);
    else this.#timer = setTimeout(() => this.#resolve(true), ms);
  }

  /** Ends the wait now (nothing happens if it is already over). */
  cancel(): void {
    clearTimeout(this.#timer);
    this.#resolve(false);
  }
}
