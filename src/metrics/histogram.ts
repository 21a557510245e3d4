/**
 * A Prometheus-style histogram with fixed buckets: one array of counts, no
 * allocation per observation.
 *
 * @module
 */

/** Bucket upper bounds of `tftp_transfer_duration_seconds`, in seconds. */
export const DURATION_BUCKETS: readonly number[] = [
  0.01,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  120,
  300,
];

/**
 * Counts observations per bucket, plus their sum and count.
 *
 * @example
 * ```ts
 * import { Histogram } from "./histogram.ts";
 * const h = new Histogram([1, 5]);
 * h.observe(0.5);
 * h.observe(3);
 * h.observe(9);
 * const c = h.cumulative();
 * if (c.join() !== "1,2,3" || h.count !== 3 || h.sum !== 12.5) {
 *   throw new Error();
 * }
 * ```
 */
export class Histogram {
  /** Upper bounds, ascending (the `+Inf` bucket is implied). */
  readonly bounds: readonly number[];
  /** Sum of the observed values. */
  sum = 0;
  /** Number of observations. */
  count = 0;
  #counts: Float64Array;

  /**
   * Creates an empty histogram.
   *
   * @param bounds Upper bounds, strictly ascending and finite.
   */
  constructor(bounds: readonly number[]) {
    for (let i = 0; i < bounds.length; i++) {
      if (
        !Number.isFinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])
      ) {
        throw new RangeError("histogram bounds must be finite and ascending");
      }
    }
    this.bounds = [...bounds];
    this.#counts = new Float64Array(bounds.length + 1);
  }

  /**
   * Records one value (a negative or non-finite value counts as 0).
   *
   * @param value The value.
   */
  observe(value: number): void {
    const v = Number.isFinite(value) && value > 0 ? value : 0;
    let i = 0;
    while (i < this.bounds.length && v > this.bounds[i]) i++;
    this.#counts[i]++;
    this.sum += v;
    this.count++;
  }

  /**
   * Cumulative counts per bucket, the last being `+Inf` (equal to `count`).
   *
   * @returns One count per bound, then the `+Inf` count.
   */
  cumulative(): number[] {
    const out: number[] = [];
    let total = 0;
    for (const c of this.#counts) out.push(total += c);
    return out;
  }
}
