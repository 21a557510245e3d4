/**
 * The receiving side of a transfer (a server's WRQ, a client's RRQ): every
 * rule of the data phase lives here. In-order delivery, duplicates, gaps,
 * windows, rollover, the final block, the size limit, re-ACKs, giving up,
 * and the linger after the final ACK. Pure: the caller writes payloads,
 * sends ACKs and runs one timer at {@linkcode Receiver.deadline}; time comes
 * in as `now` (ms).
 *
 * @module
 */

import { ErrorCode, TftpError } from "./packet.ts";
import { RetryBudget } from "./budget.ts";
import { Rto, type RtoOptions } from "./rto.ts";

/** Bit flags returned by {@linkcode Receiver.onData}. */
export const ReceiveFlag = {
  /** The payload is the next in order: write it. */
  DELIVER: 1,
  /** Send an ACK of {@linkcode Receiver.ackBlock} now. */
  ACK: 2,
  /** This was the final block (payload shorter than blksize). */
  FINAL: 4,
} as const;

/** What the timer asks the caller to do, from {@linkcode Receiver.onTimeout}. */
export const ReceiverTimer = {
  /** Nothing (waiting in silence); the deadline moved. */
  WAIT: 0,
  /** Resend the last ACK (or the OACK while block 1 is awaited). */
  REACK: 1,
  /** The linger after the final ACK is over: the transfer is complete. */
  DONE: 2,
  /** No progress for too long: give up. */
  FAIL: 3,
} as const;

/** A {@linkcode ReceiverTimer} value. */
export type ReceiverTimer = typeof ReceiverTimer[keyof typeof ReceiverTimer];

/** Parameters of a {@linkcode Receiver}. */
export interface ReceiverOptions {
  /** Payload bytes per full block (default 512). */
  blksize?: number;
  /** Blocks per window (RFC 7440); the receiver ACKs once per window. */
  windowsize?: number;
  /** Retransmits allowed without progress (default 5). */
  maxRetries?: number;
  /** Ms without progress before giving up (default 3000). */
  giveUpMs?: number;
  /** Once out of retransmits: ms without progress before giving up. */
  patienceMs?: number;
  /** Give-up once the sender has made progress (default: as before). */
  giveUpAfterProgressMs?: number;
  /** The re-ACK interval (default: a fixed 1000 ms). */
  rto?: RtoOptions;
  /** Most payload bytes accepted; more is ERROR 3 (default: no limit). */
  maxBytes?: number;
  /**
   * Ms to stay after the final ACK, re-ACKing a retransmitted final block
   * (its ACK may have been lost). 0: done at once.
   */
  lingerMs?: number;
  /**
   * Accept a rollover from 65535 to 1 instead of 0 (some clients do that;
   * only unambiguous in lock-step). Default true.
   */
  rolloverToOne?: boolean;
}

/**
 * Receiving state machine.
 *
 * @example
 * ```ts
 * import { ReceiveFlag, Receiver } from "./receiver.ts";
 * const r = new Receiver({ blksize: 512 }, 0);
 * const f = r.onData(1, 100, 5); // short block: final
 * if (!(f & ReceiveFlag.DELIVER && f & ReceiveFlag.FINAL)) throw new Error();
 * if (r.ackBlock !== 1) throw new Error();
 * ```
 */
export class Receiver {
  /** Payload bytes per full block. */
  readonly blksize: number;
  /** Blocks per window. */
  readonly windowsize: number;
  #budget: RetryBudget;
  #rto: Rto;
  #maxBytes: number;
  #lingerMs: number;
  #rolloverToOne: boolean;
  #expected = 1;
  #bytes = 0;
  #finished = false;
  #lingerUntil = 0;
  #shift = 0;
  #inWindow = 0;
  #gapAcked = false;
  #dupAcked = false;
  #ackedUpTo = 1;
  #ackedAt: number;
  #reacked = false;
  #silent = false;

  /**
   * Creates the machine; the caller sends the OACK or ACK 0 at `now`.
   *
   * @param options Block and window size, bounds, intervals.
   * @param now The current time in ms.
   */
  constructor(options: ReceiverOptions, now: number) {
    this.blksize = options.blksize ?? 512;
    this.windowsize = Math.max(1, options.windowsize ?? 1);
    this.#budget = new RetryBudget({
      maxRetries: options.maxRetries ?? 5,
      giveUpMs: options.giveUpMs ?? 3000,
      patienceMs: options.patienceMs,
      giveUpAfterProgressMs: options.giveUpAfterProgressMs,
    }, now);
    this.#rto = new Rto(options.rto ?? { initialMs: 1000, fixed: true });
    this.#maxBytes = options.maxBytes ?? Infinity;
    this.#lingerMs = options.lingerMs ?? 0;
    this.#rolloverToOne = options.rolloverToOne ?? true;
    this.#ackedAt = now;
  }

  /** Wire block number to acknowledge: the last block received in order. */
  get ackBlock(): number {
    return (this.#expected - 1 + this.#shift) & 0xffff;
  }

  /** The next absolute block expected (1: nothing received yet). */
  get expected(): number {
    return this.#expected;
  }

  /** Blocks received in order so far. */
  get blocksReceived(): number {
    return this.#expected - 1;
  }

  /** Payload bytes received in order so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Whether the final block has arrived. */
  get finished(): boolean {
    return this.#finished;
  }

  /** Whether block 1 is still awaited (the first ACK or OACK is due again). */
  get awaitingFirst(): boolean {
    return this.#expected === 1;
  }

  /** Re-ACKs sent because of silence, over the whole transfer. */
  get retransmits(): number {
    return this.#budget.retransmits;
  }

  /** Re-ACKs since the last progress. */
  get retries(): number {
    return this.#budget.retries;
  }

  /** The current re-ACK interval in ms. */
  get intervalMs(): number {
    return this.#rto.ms;
  }

  /** When the caller's timer should fire next ({@linkcode Receiver.onTimeout}). */
  get deadline(): number {
    if (this.#finished) return this.#lingerUntil;
    const giveUp = this.#budget.giveUpAt;
    if (this.#silent) return giveUp;
    return Math.min(this.#ackedAt + this.#rto.ms, giveUp);
  }

  /**
   * An ACK (or the OACK) went out at `now`: the re-ACK interval runs from
   * here, and the next block's arrival measures a round trip.
   *
   * @param now The current time in ms.
   */
  acked(now: number): void {
    this.#ackedAt = now;
    // From the first final ACK only: a repeated final block is re-ACKed but
    // is no progress, so repeating it cannot hold the transfer open.
    if (this.#finished && this.#lingerUntil === Infinity) {
      this.#lingerUntil = now + this.#lingerMs;
    }
  }

  /**
   * Handles a DATA packet. A block that is the next in order is progress;
   * a duplicate or a block from the future is not.
   *
   * @param wire Block number from the packet (0..65535).
   * @param length Payload length in bytes.
   * @param now The current time in ms.
   * @returns A combination of {@linkcode ReceiveFlag} bits (0: ignore).
   * @throws {TftpError} ERROR 4 for a payload longer than blksize, ERROR 3
   * past `maxBytes`.
   */
  onData(wire: number, length: number, now: number): number {
    if (length > this.blksize) {
      throw new TftpError(
        ErrorCode.ILLEGAL_OPERATION,
        `DATA block ${wire} larger than blksize ${this.blksize}`,
      );
    }
    if (this.#finished) {
      // The final ACK may have been lost: re-ACK a retransmitted last block.
      return wire === this.ackBlock ? ReceiveFlag.ACK : 0;
    }
    const expectedWire = (this.#expected + this.#shift) & 0xffff;
    let match = wire === expectedWire;
    if (
      !match && this.#rolloverToOne && expectedWire === 0 && wire === 1 &&
      this.windowsize === 1 && this.#expected > 1
    ) {
      this.#shift++;
      match = true;
    }
    if (match) return this.#deliver(length, now);
    const ahead = (wire - expectedWire) & 0xffff;
    if (ahead < this.windowsize) {
      // A gap: ACK the last in-order block once, so the sender resumes.
      if (this.#gapAcked) return 0;
      this.#gapAcked = true;
      return this.#ackNow();
    }
    if (this.windowsize > 1) {
      // A network duplicate of a block received since our last ACK: the
      // sender is not retransmitting (it has not heard from us yet), so an
      // ACK now would only restart its window out of step.
      const behind = (expectedWire - wire) & 0xffff;
      if (this.#expected - behind >= this.#ackedUpTo) return 0;
    }
    // A duplicate: our ACK was probably lost. In lock-step every duplicate
    // is a separate retransmit and gets its ACK; in a window, ACK once.
    if (this.windowsize > 1 && this.#dupAcked) return 0;
    this.#dupAcked = true;
    return this.#ackNow();
  }

  #deliver(length: number, now: number): number {
    if (this.#bytes + length > this.#maxBytes) {
      throw new TftpError(
        ErrorCode.DISK_FULL,
        `upload exceeds the limit of ${this.#maxBytes} bytes`,
      );
    }
    if (!this.#reacked && this.#inWindow === 0) {
      this.#rto.sample(now - this.#ackedAt);
    }
    this.#reacked = false;
    this.#silent = false;
    this.#budget.progress(now);
    this.#expected++;
    this.#bytes += length;
    this.#gapAcked = false;
    this.#dupAcked = false;
    if (length < this.blksize) {
      this.#finished = true;
      // The linger starts when the final ACK is out (`acked`): the caller
      // publishes the upload first.
      this.#lingerUntil = Infinity;
      this.#inWindow = 0;
      this.#ackedUpTo = this.#expected;
      return ReceiveFlag.DELIVER | ReceiveFlag.ACK | ReceiveFlag.FINAL;
    }
    if (++this.#inWindow >= this.windowsize) {
      this.#inWindow = 0;
      this.#ackedUpTo = this.#expected;
      return ReceiveFlag.DELIVER | ReceiveFlag.ACK;
    }
    return ReceiveFlag.DELIVER;
  }

  #ackNow(): number {
    this.#inWindow = 0;
    this.#ackedUpTo = this.#expected;
    return ReceiveFlag.ACK;
  }

  /**
   * Handles the timer at {@linkcode Receiver.deadline}.
   *
   * @param now The current time in ms.
   * @returns What to do: re-ACK, wait, done (linger over) or fail.
   */
  onTimeout(now: number): ReceiverTimer {
    if (this.#finished) {
      return now >= this.#lingerUntil ? ReceiverTimer.DONE : ReceiverTimer.WAIT;
    }
    switch (this.#budget.onTimer(now)) {
      case "give-up":
        return ReceiverTimer.FAIL;
      case "wait":
        this.#silent = true;
        return ReceiverTimer.WAIT;
    }
    this.#reacked = true;
    this.#rto.backoff();
    this.#inWindow = 0;
    this.#ackedUpTo = this.#expected;
    this.#gapAcked = false;
    this.#dupAcked = false;
    return ReceiverTimer.REACK;
  }
}
