/**
 * The sending side of a transfer (a server's RRQ, a client's WRQ): every
 * rule of the data phase lives here. Which block goes next, windows and
 * block-number rollover, what an ACK means, what counts as progress, when
 * to retransmit, when to give up. Pure: the caller reads blocks, sends
 * packets and runs one timer at {@linkcode Sender.deadline}; time comes in
 * as `now` (ms).
 *
 * Blocks are numbered absolutely from 1 (block 0 stands for the OACK); the
 * wire carries the low 16 bits, so numbers roll over from 65535 to 0.
 *
 * @module
 */

import { RetryBudget } from "./budget.ts";
import { Rto, type RtoOptions } from "./rto.ts";
import { WindowControl } from "./window.ts";
import { Pacer } from "./pacing.ts";

/** What an event asks the caller to do next. */
export const SenderEvent = {
  /** Nothing to send (a duplicate or stray ACK never causes a send). */
  IGNORE: 0,
  /** Send what {@linkcode Sender.nextBlock} yields, then call `sent`. */
  SEND: 1,
  /** The final block was acknowledged: the transfer is complete. */
  DONE: 2,
  /** No progress for too long: give up. */
  FAIL: 3,
} as const;

/** A {@linkcode SenderEvent} value. */
export type SenderEvent = typeof SenderEvent[keyof typeof SenderEvent];

/** Parameters of a {@linkcode Sender}. */
export interface SenderOptions {
  /** The negotiated windowsize (RFC 7440); 1 is lock-step. */
  windowsize?: number;
  /** Blocks in the first window (default: the whole windowsize). */
  initialWindow?: number;
  /** Whether an OACK (block 0) goes first and must be acknowledged. */
  oack?: boolean;
  /** Retransmits allowed without progress (default 5). */
  maxRetries?: number;
  /** Ms without progress before giving up (default 3000). */
  giveUpMs?: number;
  /** Once out of retransmits: ms without progress before giving up. */
  patienceMs?: number;
  /** The retransmit interval (default: a fixed 1000 ms). */
  rto?: RtoOptions;
  /**
   * Payload bytes per block, to pace windows for a receiver that drops
   * bursts (see `pacing.ts`); absent or a lock-step window: never paced.
   */
  blksize?: number;
}

/**
 * Sending state machine.
 *
 * @example
 * ```ts
 * import { Sender, SenderEvent } from "./sender.ts";
 * const s = new Sender({ windowsize: 2 }, 0);
 * const sent = [s.nextBlock(), s.nextBlock(), s.nextBlock()]; // [1, 2, -1]
 * if (sent[2] !== -1) throw new Error();
 * s.setLast(2);
 * s.sent(0);
 * if (s.onAck(1, 5) !== SenderEvent.SEND) throw new Error();
 * if (s.onAck(1, 6) !== SenderEvent.IGNORE) throw new Error(); // duplicate
 * if (s.onAck(2, 7) !== SenderEvent.DONE) throw new Error();
 * ```
 */
export class Sender {
  #window: WindowControl;
  #budget: RetryBudget;
  #rto: Rto;
  #base: number;
  #next: number;
  #highestSent = -1;
  #last = Infinity;
  #sentAt: number;
  #pacer?: Pacer;
  #burstLeft = Infinity;
  #burstSent = 0;
  #resent = false;
  #silent = false;

  /**
   * Creates the machine at the start of the transfer.
   *
   * @param options Window, OACK, retry bounds, retransmit interval.
   * @param now The current time in ms.
   */
  constructor(options: SenderOptions, now: number) {
    this.#window = new WindowControl({
      windowsize: options.windowsize ?? 1,
      initial: options.initialWindow,
    });
    this.#budget = new RetryBudget({
      maxRetries: options.maxRetries ?? 5,
      giveUpMs: options.giveUpMs ?? 3000,
      patienceMs: options.patienceMs,
    }, now);
    this.#rto = new Rto(options.rto ?? { initialMs: 1000, fixed: true });
    this.#base = options.oack ? 0 : 1;
    this.#next = this.#base;
    this.#sentAt = now;
    if (this.#window.max > 1 && options.blksize) {
      this.#pacer = new Pacer({
        blksize: options.blksize,
        windowsize: this.#window.max,
      });
    }
  }

  /** Lowest block not yet acknowledged (0 while the OACK is outstanding). */
  get base(): number {
    return this.#base;
  }

  /** The block {@linkcode Sender.nextBlock} considers next. */
  get next(): number {
    return this.#next;
  }

  /** Highest block sent so far (-1 before the first). */
  get highestSent(): number {
    return this.#highestSent;
  }

  /** The final block, once known; Infinity before. */
  get last(): number {
    return this.#last;
  }

  /** Whether the OACK is still waiting for its ACK 0. */
  get awaitingOack(): boolean {
    return this.#base === 0;
  }

  /** Whether the final block has been acknowledged. */
  get done(): boolean {
    return this.#base > this.#last;
  }

  /** Blocks that may be in flight now (the congestion window). */
  get window(): number {
    return this.#window.size;
  }

  /** The negotiated windowsize. */
  get windowsize(): number {
    return this.#window.max;
  }

  /** Retransmit rounds since the last progress. */
  get retries(): number {
    return this.#budget.retries;
  }

  /** Retransmit rounds over the whole transfer. */
  get retransmits(): number {
    return this.#budget.retransmits;
  }

  /** The current retransmit interval in ms. */
  get intervalMs(): number {
    return this.#rto.ms;
  }

  /** When the caller's timer should fire next ({@linkcode Sender.onTimeout}). */
  get deadline(): number {
    const giveUp = this.#budget.giveUpAt;
    if (this.#silent) return giveUp;
    return Math.min(this.#sentAt + this.#rto.ms, giveUp);
  }

  /**
   * The next block to send now, or -1 when the window is full (or the
   * transfer is done). Block 0 means "send the OACK".
   *
   * @returns Absolute block number or -1.
   */
  nextBlock(): number {
    const n = this.#next;
    if (n > this.#last) return -1;
    if (this.#base === 0) {
      if (n !== 0) return -1;
    } else if (n >= this.#base + this.#window.size || this.#burstLeft <= 0) {
      return -1;
    }
    if (n > 0) {
      this.#burstLeft--;
      this.#burstSent++;
    }
    this.#next = n + 1;
    if (n > this.#highestSent) this.#highestSent = n;
    return n;
  }

  /**
   * How long to pause before the rest of the window, ms: more than 0 when
   * a paced burst is out and the window is not; then call
   * {@linkcode Sender.resume}.
   */
  get pauseMs(): number {
    if (this.#burstLeft > 0 || !this.#pacer) return 0;
    const n = this.#next;
    if (n > this.#last || n >= this.#base + this.#window.size) return 0;
    return this.#pacer.pauseMs;
  }

  /** Whether windows are paced now (a receiver dropped a burst). */
  get paced(): boolean {
    return this.#pacer?.paced ?? false;
  }

  /** The pause is over: the next burst may go. */
  resume(): void {
    this.#burstLeft = this.#pacer?.burst ?? Infinity;
    this.#burstSent = 0;
  }

  /**
   * Records that `block` is the final one (its payload was shorter than
   * blksize). Blocks after it are never yielded.
   *
   * @param block Absolute block number of the final block.
   */
  setLast(block: number): void {
    this.#last = block;
    if (this.#next > block + 1) this.#next = block + 1;
  }

  /**
   * The blocks yielded so far are on the wire: the retransmit interval runs
   * from now (an ACK or a timeout that asked for a send already started it;
   * this moves it to when the sends completed).
   *
   * @param now The current time in ms.
   */
  sent(now: number): void {
    this.#sentAt = now;
  }

  /**
   * The source kept the next block waiting for `ms` (a storage filling
   * from an origin): nothing was outstanding meanwhile, so that time does
   * not count towards giving up on the peer.
   *
   * @param ms How long the block's bytes took.
   */
  sourceWaited(ms: number): void {
    this.#budget.exclude(ms);
  }

  /**
   * Handles an ACK. An ACK of a block inside the sent window moves the
   * window to the block after it (RFC 7440) and is progress; any other ACK
   * (a duplicate, one from the past, one for a block never sent) is
   * ignored: it causes no send (Sorcerer's Apprentice) and is not progress.
   *
   * @param wire Block number from the ACK (0..65535).
   * @param now The current time in ms.
   * @returns What to do next.
   */
  onAck(wire: number, now: number): SenderEvent {
    const prev = this.#base - 1;
    const delta = (wire - prev) & 0xffff;
    if (delta === 0) return SenderEvent.IGNORE;
    const block = prev + delta;
    if (block > this.#highestSent) return SenderEvent.IGNORE;
    // Karn's rule: a round trip is measured only when nothing was resent.
    if (!this.#resent) this.#rto.sample(now - this.#sentAt);
    this.#silent = false;
    this.#budget.progress(now);
    const lagMs = now - this.#sentAt;
    if (this.#base > 0) {
      const acked = block - this.#base + 1;
      const inFlight = this.#highestSent - prev;
      this.#window.onAcked(acked, inFlight);
      if (acked < inFlight) this.#pacer?.onPartial(acked);
      else this.#pacer?.onWindow(lagMs, this.#burstSent);
    } else if (!this.#resent) {
      this.#pacer?.onRoundTrip(lagMs);
    }
    this.#resent = false;
    this.#base = block + 1;
    this.#next = this.#base;
    this.#sentAt = now;
    this.resume();
    return block >= this.#last ? SenderEvent.DONE : SenderEvent.SEND;
  }

  /**
   * Handles the timer at {@linkcode Sender.deadline}: resend the window
   * from the first unacknowledged block (RFC 7440: a receiver that only
   * ACKs at its window boundary needs all of it) with a doubled interval;
   * when
   * the retransmits are spent, wait in silence; after `giveUpMs` without
   * progress, give up.
   *
   * @param now The current time in ms.
   * @returns {@linkcode SenderEvent.SEND}, `IGNORE` (waiting) or `FAIL`.
   */
  onTimeout(now: number): SenderEvent {
    switch (this.#budget.onTimer(now)) {
      case "give-up":
        return SenderEvent.FAIL;
      case "wait":
        this.#silent = true;
        return SenderEvent.IGNORE;
    }
    this.#resent = true;
    this.#rto.backoff();
    // A window that drew no ACK lost its tail, or a receive queue full of
    // its resent duplicates dropped the rest (see pacing.ts).
    if (this.#base > 0 && this.#highestSent >= this.#base) {
      this.#pacer?.onTimeout();
    }
    this.#next = this.#base;
    this.#sentAt = now;
    this.resume();
    return SenderEvent.SEND;
  }
}
