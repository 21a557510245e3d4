/**
 * The read-side (sending) transfer state machine: windows, rollover,
 * retransmit decisions. Pure: the caller reads blocks, sends packets and runs
 * the timer; this type only says which block goes next.
 *
 * Blocks are numbered absolutely from 1 (block 0 stands for the OACK); the
 * wire carries the low 16 bits, so numbers roll over from 65535 to 0.
 *
 * @module
 */

/** What an event asks the caller to do next. */
export const SenderEvent = {
  /** Nothing to do (duplicate or stray ACK: never retransmit on it). */
  IGNORE: 0,
  /** The window moved: send what {@linkcode Sender.nextBlock} yields. */
  SEND: 1,
  /** The last block was acknowledged: the transfer is complete. */
  DONE: 2,
  /** Too many retransmits: give up. */
  FAIL: 3,
} as const;

/** A {@linkcode SenderEvent} value. */
export type SenderEvent = typeof SenderEvent[keyof typeof SenderEvent];

/** Parameters of a {@linkcode Sender}. */
export interface SenderOptions {
  /** Blocks in flight per window (RFC 7440); 1 is lock-step. */
  windowsize?: number;
  /** Whether an OACK (block 0) goes first and must be acknowledged. */
  oack?: boolean;
  /** Retransmits allowed without progress before giving up. */
  maxRetries?: number;
}

/**
 * Sending state machine.
 *
 * @example
 * ```ts
 * import { Sender, SenderEvent } from "./sender.ts";
 * const s = new Sender({ windowsize: 2 });
 * const sent = [s.nextBlock(), s.nextBlock(), s.nextBlock()]; // [1, 2, -1]
 * if (sent[2] !== -1) throw new Error();
 * s.setLast(2);
 * if (s.onAck(2) !== SenderEvent.DONE) throw new Error();
 * ```
 */
export class Sender {
  /** Blocks per window. */
  readonly windowsize: number;
  /** Retransmits allowed without progress. */
  readonly maxRetries: number;
  /** Lowest block not yet acknowledged (0 while the OACK is outstanding). */
  base: number;
  /** Next block {@linkcode Sender.nextBlock} will yield. */
  next: number;
  /** Highest block sent so far (-1 before the first). */
  highestSent: number = -1;
  /** The final block, once known; Infinity before. */
  last: number = Infinity;
  /** Retransmit rounds since the last progress. */
  retries = 0;
  /** Total retransmit rounds. */
  retransmits = 0;

  /**
   * Creates an instance.
   *
   * @param opts Window size, OACK, retry bound.
   */
  constructor(opts: SenderOptions = {}) {
    this.windowsize = Math.max(1, opts.windowsize ?? 1);
    this.maxRetries = opts.maxRetries ?? 5;
    this.base = opts.oack ? 0 : 1;
    this.next = this.base;
  }

  /** Whether the OACK is still waiting for its ACK 0. */
  get awaitingOack(): boolean {
    return this.base === 0;
  }

  /** Whether the last block has been acknowledged. */
  get done(): boolean {
    return this.base > this.last;
  }

  /**
   * The next block to send in the current window, or -1 when the window is
   * full (or the transfer is done). Block 0 means "send the OACK".
   *
   * @returns Absolute block number or -1.
   */
  nextBlock(): number {
    const n = this.next;
    if (n > this.last) return -1;
    if (this.base === 0) {
      if (n !== 0) return -1;
    } else if (n >= this.base + this.windowsize) {
      return -1;
    }
    this.next = n + 1;
    if (n > this.highestSent) this.highestSent = n;
    return n;
  }

  /**
   * Records that `block` is the final one (its payload was shorter than
   * blksize). Blocks after it are never yielded.
   *
   * @param block Absolute block number of the final block.
   */
  setLast(block: number): void {
    this.last = block;
    if (this.next > block + 1) this.next = block + 1;
  }

  /**
   * Handles an ACK. An ACK of a block inside the sent window moves the window
   * to the block after it (RFC 7440); a duplicate or stray ACK is ignored, so
   * a duplicate never triggers a retransmit (Sorcerer's Apprentice).
   *
   * @param wire Block number from the ACK (0..65535).
   * @returns What to do next.
   */
  onAck(wire: number): SenderEvent {
    const prev = this.base - 1;
    const delta = (wire - prev) & 0xffff;
    if (delta === 0) return SenderEvent.IGNORE;
    const block = prev + delta;
    if (block > this.highestSent) return SenderEvent.IGNORE;
    this.base = block + 1;
    this.next = this.base;
    this.retries = 0;
    return block >= this.last ? SenderEvent.DONE : SenderEvent.SEND;
  }

  /**
   * Handles the retransmit timer: go back to the first unacknowledged block,
   * or give up after `maxRetries` rounds without progress.
   *
   * @returns {@linkcode SenderEvent.SEND} or {@linkcode SenderEvent.FAIL}.
   */
  onTimeout(): SenderEvent {
    if (this.retries >= this.maxRetries) return SenderEvent.FAIL;
    this.retries++;
    this.retransmits++;
    this.next = this.base;
    return SenderEvent.SEND;
  }
}
