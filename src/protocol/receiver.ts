/**
 * The write-side (receiving) transfer state machine: in-order delivery,
 * duplicates, gaps, windows, rollover and the final block. Pure: the caller
 * writes payloads, sends ACKs and runs the timer.
 *
 * @module
 */

/** Bit flags returned by {@linkcode Receiver.onData}. */
export const ReceiveFlag = {
  /** The payload is the next in order: write it. */
  DELIVER: 1,
  /** Send an ACK of {@linkcode Receiver.ackBlock} now. */
  ACK: 2,
  /** This was the final block (payload shorter than blksize). */
  FINAL: 4,
} as const;

/** Parameters of a {@linkcode Receiver}. */
export interface ReceiverOptions {
  /** Payload bytes per full block. */
  blksize?: number;
  /** Blocks per window (RFC 7440); the receiver ACKs once per window. */
  windowsize?: number;
  /** Timer rounds allowed without progress before giving up. */
  maxRetries?: number;
}

/**
 * Receiving state machine.
 *
 * @example
 * ```ts
 * import { ReceiveFlag, Receiver } from "./receiver.ts";
 * const r = new Receiver({ blksize: 512 });
 * const f = r.onData(1, 100); // short block: final
 * if (!(f & ReceiveFlag.DELIVER && f & ReceiveFlag.FINAL)) throw new Error();
 * if (r.ackBlock !== 1) throw new Error();
 * ```
 */
export class Receiver {
  /** Payload bytes per full block. */
  readonly blksize: number;
  /** Blocks per window. */
  readonly windowsize: number;
  /** Timer rounds allowed without progress. */
  readonly maxRetries: number;
  /** Next absolute block expected (1 = nothing received yet). */
  expected = 1;
  /** Whether the final block has arrived. */
  finished = false;
  /** Timer rounds since the last progress. */
  retries = 0;
  /** Total timer rounds (re-ACKs sent because of silence). */
  retransmits = 0;
  #shift = 0;
  #inWindow = 0;
  #gapAcked = false;
  #dupAcked = false;
  #ackedUpTo = 1;

  /**
   * Creates an instance.
   *
   * @param opts Block size, window size, retry bound.
   */
  constructor(opts: ReceiverOptions = {}) {
    this.blksize = opts.blksize ?? 512;
    this.windowsize = Math.max(1, opts.windowsize ?? 1);
    this.maxRetries = opts.maxRetries ?? 5;
  }

  /** Wire block number to acknowledge: the last block received in order. */
  get ackBlock(): number {
    return (this.expected - 1 + this.#shift) & 0xffff;
  }

  /** Bytes-independent count of blocks received in order. */
  get blocksReceived(): number {
    return this.expected - 1;
  }

  /**
   * Handles a DATA packet.
   *
   * @param wire Block number from the packet (0..65535).
   * @param length Payload length in bytes.
   * @returns A combination of {@linkcode ReceiveFlag} bits (0: ignore).
   */
  onData(wire: number, length: number): number {
    if (this.finished) {
      // The final ACK may have been lost: re-ACK a retransmitted last block.
      return wire === this.ackBlock ? ReceiveFlag.ACK : 0;
    }
    const expectedWire = (this.expected + this.#shift) & 0xffff;
    let match = wire === expectedWire;
    if (
      !match && expectedWire === 0 && wire === 1 && this.windowsize === 1 &&
      this.expected > 1
    ) {
      // Some clients roll over from 65535 to 1 instead of 0. Only in
      // lock-step is this unambiguous (no block can be skipped).
      this.#shift++;
      match = true;
    }
    if (match) {
      this.expected++;
      this.retries = 0;
      this.#gapAcked = false;
      this.#dupAcked = false;
      if (length < this.blksize) {
        this.finished = true;
        this.#ackedUpTo = this.expected;
        return ReceiveFlag.DELIVER | ReceiveFlag.ACK | ReceiveFlag.FINAL;
      }
      if (++this.#inWindow >= this.windowsize) {
        this.#inWindow = 0;
        this.#ackedUpTo = this.expected;
        return ReceiveFlag.DELIVER | ReceiveFlag.ACK;
      }
      return ReceiveFlag.DELIVER;
    }
    const ahead = (wire - expectedWire) & 0xffff;
    if (ahead < this.windowsize) {
      // A gap: ACK the last in-order block once, so the sender resumes.
      if (this.#gapAcked) return 0;
      this.#gapAcked = true;
      this.#inWindow = 0;
      this.#ackedUpTo = this.expected;
      return ReceiveFlag.ACK;
    }
    if (this.windowsize > 1) {
      // A network duplicate of a block received since our last ACK: the
      // sender is not retransmitting (it has not heard from us yet), so an
      // ACK now would only restart its window out of step.
      const behind = (expectedWire - wire) & 0xffff;
      if (this.expected - behind >= this.#ackedUpTo) return 0;
    }
    // A duplicate: our ACK was probably lost. In lock-step every duplicate
    // is a separate retransmit and gets its ACK; in a window, ACK once.
    if (this.windowsize > 1 && this.#dupAcked) return 0;
    this.#dupAcked = true;
    this.#inWindow = 0;
    this.#ackedUpTo = this.expected;
    return ReceiveFlag.ACK;
  }

  /**
   * Handles the timer: re-ACK the last block (or resend the OACK), or give
   * up after `maxRetries` rounds without progress.
   *
   * @returns true to resend, false to give up.
   */
  onTimeout(): boolean {
    if (this.retries >= this.maxRetries) return false;
    this.retries++;
    this.retransmits++;
    this.#inWindow = 0;
    this.#ackedUpTo = this.expected;
    this.#gapAcked = false;
    this.#dupAcked = false;
    return true;
  }
}
