/**
 * The retransmit interval: a round-trip estimate in the style of RFC 6298
 * (smoothed RTT plus four deviations, clamped), doubled on each timeout.
 * Pure: samples and timestamps come from the caller.
 *
 * @module
 */

/** Settings of an {@linkcode Rto}. */
export interface RtoOptions {
  /** Interval before the first sample, and the ceiling, in ms. */
  initialMs: number;
  /**
   * Floor of the adaptive interval in ms. 0 (or `fixed`) keeps the interval
   * at `initialMs` whatever is measured.
   */
  minMs?: number;
  /**
   * Keep `initialMs` for good: the peer asked for this interval (the RFC
   * 2349 timeout option), so neither samples nor timeouts change it.
   */
  fixed?: boolean;
}

/**
 * Retransmit interval estimator.
 *
 * Only round trips of packets that were sent once may be fed (Karn's rule):
 * the caller knows which were retransmitted.
 *
 * @example
 * ```ts
 * import { Rto } from "./rto.ts";
 * const rto = new Rto({ initialMs: 500, minMs: 50 });
 * rto.sample(2); // a loopback round trip
 * const measured = rto.ms; // clamped to the floor
 * rto.backoff();
 * if (measured !== 50 || rto.ms !== 100) throw new Error(`${measured} ${rto.ms}`);
 * ```
 */
export class Rto {
  #initial: number;
  #min: number;
  #adaptive: boolean;
  #srtt: number | undefined;
  #rttvar = 0;
  #ms: number;

  /**
   * Starts at `initialMs`.
   *
   * @param options Initial interval, floor, fixed mode.
   */
  constructor(options: RtoOptions) {
    this.#initial = options.initialMs;
    this.#min = options.minMs ?? 0;
    this.#adaptive = !options.fixed && this.#min > 0;
    this.#ms = this.#initial;
  }

  /** The interval to wait before the next retransmit, in ms. */
  get ms(): number {
    return this.#ms;
  }

  /** Whether a round trip has been measured (the interval adapts). */
  get measured(): boolean {
    return this.#srtt !== undefined;
  }

  /**
   * Feeds one round trip of a packet that was not retransmitted.
   *
   * @param ms Measured round trip in ms.
   */
  sample(ms: number): void {
    if (!this.#adaptive) return;
    if (this.#srtt === undefined) {
      this.#srtt = ms;
      this.#rttvar = ms / 2;
    } else {
      this.#rttvar = 0.75 * this.#rttvar + 0.25 * Math.abs(this.#srtt - ms);
      this.#srtt = 0.875 * this.#srtt + 0.125 * ms;
    }
    this.#ms = clamp(this.#srtt + 4 * this.#rttvar, this.#min, this.#initial);
  }

  /** Doubles the interval after a timeout, up to the initial interval. */
  backoff(): void {
    if (this.#adaptive) this.#ms = Math.min(this.#ms * 2, this.#initial);
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(Math.max(v, lo), hi);
}
