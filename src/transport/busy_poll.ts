/**
 * Busy-polling for a lone fast transfer: after sending, spin a few
 * microseconds before asking for the reply, so a reply that is already
 * there is taken without the thread going to sleep and being woken again
 * (the wake-up costs more than a loopback or fast-LAN round trip). The
 * spin adapts to when replies arrive and switches itself off for slow
 * clients. Pure logic; the session does the spinning.
 *
 * @module
 */

/** Tuning of a {@linkcode BusyPoll}. */
export interface BusyPollOptions {
  /** Longest spin, µs (0 disables busy-polling). Default 50. */
  maxUs?: number;
  /** First spin, µs. Default 10. */
  startUs?: number;
  /**
   * A receive that completes within this many µs after the spin found its
   * reply already there (a hit); a reply that had to be waited for costs a
   * sleep and a wake-up, far more. Default 15.
   */
  hitUs?: number;
  /** Misses in a row at the longest spin before pausing. Default 16. */
  giveUpAfter?: number;
  /** Receives without spinning after a pause, before trying again. Default 256. */
  pauseFor?: number;
}

/**
 * Chooses how long to spin before each receive.
 *
 * @example
 * ```ts
 * import { BusyPoll } from "./busy_poll.ts";
 * const poll = new BusyPoll({ maxUs: 50 });
 * const spin = poll.spinUs; // spin this long, then receive
 * poll.record(3); // the reply was there: next spin is a little shorter
 * if (!(poll.spinUs < spin)) throw new Error();
 * ```
 */
export class BusyPoll {
  /** Receives that followed a spin. */
  spins = 0;
  /** Of those, how many found their reply already there. */
  hits = 0;
  #spin: number;
  #start: number;
  #max: number;
  #hit: number;
  #giveUpAfter: number;
  #pauseFor: number;
  #missesAtMax = 0;
  #paused = 0;

  /**
   * A busy-poll policy within the limits of `options`.
   *
   * @param options Limits.
   */
  constructor(options: BusyPollOptions = {}) {
    this.#max = Math.max(0, options.maxUs ?? 50);
    this.#start = Math.min(options.startUs ?? 10, this.#max);
    this.#spin = this.#start;
    this.#hit = options.hitUs ?? 15;
    this.#giveUpAfter = options.giveUpAfter ?? 16;
    this.#pauseFor = options.pauseFor ?? 256;
  }

  /** Whether busy-polling is configured at all. */
  get enabled(): boolean {
    return this.#max > 0;
  }

  /** How long to spin before the next receive, µs (0: do not spin now). */
  get spinUs(): number {
    return this.#spin;
  }

  /**
   * Learns from one receive (call it for every receive while the transfer
   * is alone, spun or not). A hit shortens the next spin by 1 µs, to find
   * the shortest that still hits; a miss lengthens it by 3 µs. Misses in a
   * row at the longest spin mean the peer is too far away for spinning to
   * pay: spinning pauses for a while, then tries again from the start.
   *
   * @param waitedUs Time from the receive call to its result, µs.
   */
  record(waitedUs: number): void {
    if (this.#spin <= 0) {
      if (this.#max > 0 && ++this.#paused >= this.#pauseFor) {
        this.#paused = 0;
        this.#spin = this.#start;
      }
      return;
    }
    this.spins++;
    if (waitedUs <= this.#hit) {
      this.hits++;
      this.#spin = Math.max(1, this.#spin - 1);
      this.#missesAtMax = 0;
      return;
    }
    if (this.#spin >= this.#max) {
      if (++this.#missesAtMax >= this.#giveUpAfter) {
        this.#missesAtMax = 0;
        this.#spin = 0;
      }
      return;
    }
    this.#spin = Math.min(this.#max, this.#spin + 3);
  }
}

/**
 * Spins (burns CPU) for `us` microseconds.
 *
 * @param us Duration.
 * @param now Clock in milliseconds (default `performance.now`).
 */
export function spin(
  us: number,
  now: () => number = () => performance.now(),
): void {
  if (us <= 0) return;
  const end = now() + us / 1000;
  while (now() < end) { /* busy wait */ }
}
