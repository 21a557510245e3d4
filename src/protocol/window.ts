/**
 * How many blocks a sender may have in flight: the congestion window of a
 * windowed transfer (RFC 7440). It never exceeds the negotiated windowsize
 * and doubles while windows are acknowledged whole (slow start). Pure.
 *
 * A transfer whose peer cannot prove it saw our reply (single-port mode, or
 * a small port range, where transfer ports can be guessed) starts small, so
 * one blind ACK 0 can only pull a small first window (reflection).
 *
 * @module
 */

/** Settings of a {@linkcode WindowControl}. */
export interface WindowOptions {
  /** The negotiated windowsize: the most blocks ever in flight. */
  windowsize: number;
  /** Blocks in the first window (default: `windowsize`). */
  initial?: number;
}

/**
 * The congestion window.
 *
 * @example
 * ```ts
 * import { WindowControl } from "./window.ts";
 * const w = new WindowControl({ windowsize: 16, initial: 2 });
 * w.onAcked(2, 2); // the whole first window: double
 * if (w.size !== 4) throw new Error(String(w.size));
 * w.onAcked(1, 4); // a partial ACK: the rest is resent, no growth
 * if (w.size !== 4) throw new Error(String(w.size));
 * ```
 */
export class WindowControl {
  /** The negotiated windowsize. */
  readonly max: number;
  #size: number;

  /**
   * Starts at `initial`.
   *
   * @param options Negotiated windowsize and first window.
   */
  constructor(options: WindowOptions) {
    this.max = Math.max(1, options.windowsize);
    this.#size = clamp(options.initial ?? this.max, 1, this.max);
  }

  /** Blocks that may be in flight now. */
  get size(): number {
    return this.#size;
  }

  /**
   * An ACK moved the window: `acked` of the `sent` blocks in flight were
   * acknowledged. A window acknowledged whole lets the next one be twice
   * as large; a partial one leaves the size as it is (the rest is resent).
   *
   * @param acked Blocks the ACK acknowledged.
   * @param sent Blocks that were in flight.
   */
  onAcked(acked: number, sent: number): void {
    if (acked >= sent && sent >= this.#size) {
      this.#size = Math.min(this.max, this.#size * 2);
    }
  }
}

/**
 * The first window of a transfer whose transfer port can be guessed: as
 * many blocks as fit in `bytes`, at least one.
 *
 * @example
 * ```ts
 * import { guardedInitialWindow } from "./window.ts";
 * if (guardedInitialWindow(64, 65464) !== 1) throw new Error();
 * if (guardedInitialWindow(64, 512) !== 16) throw new Error();
 * ```
 *
 * @param windowsize The negotiated windowsize.
 * @param blksize The negotiated blksize.
 * @param options `bytes`: most payload bytes in the first window (default
 * 8 KiB).
 * @returns Blocks in the first window.
 */
export function guardedInitialWindow(
  windowsize: number,
  blksize: number,
  options: { bytes?: number } = {},
): number {
  return clamp(Math.floor((options.bytes ?? 8192) / blksize), 1, windowsize);
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(Math.max(v, lo), hi);
}
