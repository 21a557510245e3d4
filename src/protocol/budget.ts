/**
 * How long a transfer keeps trying: a count of retransmits and a clock,
 * both reset only by progress. A duplicate, a stray packet or a packet from
 * a stranger is never progress, so a peer that repeats itself (or an
 * attacker that repeats it) cannot keep a transfer alive. Pure: time comes
 * in as `now`.
 *
 * @module
 */

/** Settings of a {@linkcode RetryBudget}. */
export interface RetryBudgetOptions {
  /** Retransmits allowed without progress; after them, silence. */
  maxRetries: number;
  /** Milliseconds without progress after which the transfer is abandoned. */
  giveUpMs: number;
  /**
   * Once the retransmits are spent: milliseconds since the last progress
   * after which waiting in silence ends too (default: `giveUpMs`).
   */
  patienceMs?: number;
  /**
   * Once the peer has made progress at least once: milliseconds without
   * progress before giving up, retransmits spent or not (default: as
   * before it). A sender that resends only on its own timer, which we do
   * not know, is waited for longer once it has shown it is there.
   */
  giveUpAfterProgressMs?: number;
}

/** What the retransmit timer should do, from {@linkcode RetryBudget.onTimer}. */
export type TimerVerdict = "retransmit" | "wait" | "give-up";

/**
 * Retransmit count and give-up clock of one transfer.
 *
 * @example
 * ```ts
 * import { RetryBudget } from "./budget.ts";
 * const b = new RetryBudget({ maxRetries: 1, giveUpMs: 3000, patienceMs: 1500 }, 0);
 * if (b.onTimer(500) !== "retransmit") throw new Error();
 * if (b.onTimer(1000) !== "wait") throw new Error(); // out of retransmits
 * b.progress(1200); // the peer moved on: both reset
 * if (b.onTimer(1700) !== "retransmit") throw new Error();
 * if (b.onTimer(2800) !== "give-up") throw new Error(); // 1500 ms of patience
 * ```
 */
export class RetryBudget {
  /** Retransmits allowed without progress. */
  readonly maxRetries: number;
  /** Milliseconds without progress before giving up. */
  readonly giveUpMs: number;
  /** Once out of retransmits: milliseconds without progress before giving up. */
  readonly patienceMs: number;
  #afterProgressMs?: number;
  #progressed = false;
  #retries = 0;
  #retransmits = 0;
  #lastProgress: number;

  /**
   * Starts the clock.
   *
   * @param options Retransmit count and give-up time.
   * @param now The current time in ms (the transfer's start).
   */
  constructor(options: RetryBudgetOptions, now: number) {
    this.maxRetries = Math.max(0, options.maxRetries);
    this.giveUpMs = options.giveUpMs;
    this.patienceMs = Math.min(options.patienceMs ?? Infinity, this.giveUpMs);
    this.#afterProgressMs = options.giveUpAfterProgressMs;
    this.#lastProgress = now;
  }

  /** Retransmits since the last progress. */
  get retries(): number {
    return this.#retries;
  }

  /** Retransmits over the whole transfer. */
  get retransmits(): number {
    return this.#retransmits;
  }

  /**
   * When the transfer is abandoned unless it progresses first, in ms (sooner
   * once the retransmits are spent).
   */
  get giveUpAt(): number {
    if (this.#progressed && this.#afterProgressMs !== undefined) {
      return this.#lastProgress + this.#afterProgressMs;
    }
    return this.#lastProgress +
      (this.#retries >= this.maxRetries ? this.patienceMs : this.giveUpMs);
  }

  /**
   * Records progress: the peer acknowledged or sent something new.
   *
   * @param now The current time in ms.
   */
  progress(now: number): void {
    this.#progressed = true;
    this.#retries = 0;
    this.#lastProgress = now;
  }

  /**
   * Leaves `ms` out of the give-up clock: time the peer could not act in
   * (our side kept the next packet waiting). The retransmits spent still
   * count, so repeated waits never make a silent peer last forever.
   *
   * @param ms Milliseconds to leave out.
   */
  exclude(ms: number): void {
    if (ms > 0) this.#lastProgress += ms;
  }

  /**
   * Decides what a retransmit timer that fired at `now` does: retransmit
   * (counted), wait in silence (out of retransmits, still listening), or
   * give up (no progress for `giveUpMs`, or for `patienceMs` once out of
   * retransmits). A timer that fires late under load still retransmits
   * while the retransmits last: patience is what the retransmits would
   * have taken, not a deadline for each of them.
   *
   * @param now The current time in ms.
   * @returns The verdict.
   */
  onTimer(now: number): TimerVerdict {
    if (now >= this.giveUpAt) return "give-up";
    if (this.#retries >= this.maxRetries) return "wait";
    this.#retries++;
    this.#retransmits++;
    return "retransmit";
  }
}

/** Settings of a {@linkcode ReplyBudget}. */
export interface ReplyBudgetOptions {
  /** Replies allowed at once. */
  burst: number;
  /** Milliseconds to earn one more reply. */
  refillMs: number;
}

/**
 * A token bucket for unsolicited replies (ERRORs to strangers and to junk),
 * so that a flood of spoofed datagrams cannot turn the server into a
 * reflector: at most `burst` at once, then one per `refillMs`.
 *
 * @example
 * ```ts
 * import { ReplyBudget } from "./budget.ts";
 * const b = new ReplyBudget({ burst: 2, refillMs: 100 }, 0);
 * if (!b.take(0) || !b.take(0) || b.take(50)) throw new Error();
 * if (!b.take(100)) throw new Error(); // one earned
 * ```
 */
export class ReplyBudget {
  #burst: number;
  #refillMs: number;
  #tokens: number;
  #refilledAt: number;

  /**
   * Starts with a full bucket.
   *
   * @param options Burst and refill time.
   * @param now The current time in ms.
   */
  constructor(options: ReplyBudgetOptions, now: number) {
    this.#burst = options.burst;
    this.#refillMs = options.refillMs;
    this.#tokens = options.burst;
    this.#refilledAt = now;
  }

  /**
   * Spends one reply, if there is one.
   *
   * @param now The current time in ms.
   * @returns true to send the reply.
   */
  take(now: number): boolean {
    const earned = Math.floor((now - this.#refilledAt) / this.#refillMs);
    if (earned > 0) {
      this.#tokens = Math.min(this.#burst, this.#tokens + earned);
      this.#refilledAt += earned * this.#refillMs;
    }
    if (this.#tokens <= 0) return false;
    this.#tokens--;
    return true;
  }
}
