/**
 * Test helper: one direction of one `LossyProxy` flow, which takes the
 * seeded fault decisions (drop, duplicate, reorder, delay) and logs every
 * datagram before and after them. Apart from the proxy's sockets so the
 * fault logic reads (and runs) on its own.
 *
 * @module
 */

import { type DirectionLog, logEntryOf } from "./packet_log.ts";
import type { Rng } from "./rng.ts";

/**
 * What happens to the datagrams going one way.
 *
 * @example
 * ```ts
 * import type { FaultProfile } from "./fault_lane.ts";
 * const lossy: FaultProfile = { drop: 0.05, reorder: 0.1, holdMs: 20 };
 * if (lossy.drop !== 0.05) throw new Error();
 * ```
 */
export interface FaultProfile {
  /** Probability of dropping a datagram. */
  drop?: number;
  /** Probability of delivering a datagram twice. */
  duplicate?: number;
  /**
   * Probability of holding a datagram back until the next one in the same
   * direction has gone (or `holdMs` passed), so the two swap places.
   */
  reorder?: number;
  /** Longest hold of a reordered datagram, in ms (default 15). */
  holdMs?: number;
  /** Fixed delay added to every datagram, in ms. */
  delayMs?: number;
  /** Extra random delay from 0 to this many ms (reorders too). */
  jitterMs?: number;
}

/** A timer id as `setTimeout` returns it. */
type Timer = ReturnType<typeof setTimeout>;

/**
 * What a {@linkcode FaultLane} works with.
 *
 * @example
 * ```ts
 * import type { FaultLaneOptions } from "./fault_lane.ts";
 * import { newDirectionLog } from "./packet_log.ts";
 * import { Rng } from "./rng.ts";
 * const opts: FaultLaneOptions = {
 *   rng: new Rng(1),
 *   profile: {},
 *   log: newDirectionLog(),
 *   emit: () => {},
 *   timers: new Set(),
 * };
 * if (opts.timers.size !== 0) throw new Error();
 * ```
 */
export interface FaultLaneOptions {
  /** The lane's own seeded generator (one per flow and direction). */
  rng: Rng;
  /** The faults to inject. */
  profile: FaultProfile;
  /** Where to count and log what arrives and what is passed on. */
  log: DirectionLog;
  /** Passes a datagram on (sends it). */
  emit: (data: Uint8Array) => void;
  /** Pending hold and delay timers, shared so the owner can cancel them all. */
  timers: Set<ReturnType<typeof setTimeout>>;
}

/**
 * One direction of one flow: decides the faults and passes datagrams on.
 *
 * @example
 * ```ts
 * import { FaultLane } from "./fault_lane.ts";
 * import { newDirectionLog } from "./packet_log.ts";
 * import { Rng } from "./rng.ts";
 * const out: Uint8Array[] = [];
 * const log = newDirectionLog();
 * const lane = new FaultLane({
 *   rng: new Rng(3),
 *   profile: { duplicate: 1 },
 *   log,
 *   emit: (d) => out.push(d),
 *   timers: new Set(),
 * });
 * lane.push(new Uint8Array([0, 4, 0, 1]));
 * if (out.length !== 2 || log.duplicated !== 1) throw new Error();
 * ```
 */
export class FaultLane {
  #rng: Rng;
  #profile: FaultProfile;
  #log: DirectionLog;
  #emit: (data: Uint8Array) => void;
  #timers: Set<Timer>;
  #held?: Uint8Array;
  #holdTimer?: Timer;

  /**
   * @param opts Generator, faults, log, sink and the shared timer set.
   */
  constructor(opts: FaultLaneOptions) {
    this.#rng = opts.rng;
    this.#profile = opts.profile;
    this.#log = opts.log;
    this.#emit = opts.emit;
    this.#timers = opts.timers;
  }

  /**
   * Takes one datagram: logs it, then drops, duplicates, delays or holds
   * it as the profile and the generator decide.
   *
   * @param data The datagram (the lane keeps a reference, not a copy).
   */
  push(data: Uint8Array): void {
    const log = this.#log;
    const p = this.#profile;
    log.received++;
    log.bytesReceived += data.length;
    log.sent.push(logEntryOf(data));
    // Every random decision is taken here, in arrival order, so a flow's
    // fault pattern depends on its seed and its packets only.
    if (this.#rng.chance(p.drop ?? 0)) {
      log.dropped++;
      return;
    }
    const copies = this.#rng.chance(p.duplicate ?? 0) ? 2 : 1;
    if (copies === 2) log.duplicated++;
    for (let i = 0; i < copies; i++) {
      const jitter = p.jitterMs ? this.#rng.int(p.jitterMs + 1) : 0;
      const delay = (p.delayMs ?? 0) + jitter;
      const hold = this.#rng.chance(p.reorder ?? 0);
      if (delay > 0) {
        log.delayed++;
        const id = setTimeout(() => {
          this.#timers.delete(id);
          this.#pass(data, hold);
        }, delay);
        this.#timers.add(id);
      } else {
        this.#pass(data, hold);
      }
    }
  }

  #pass(data: Uint8Array, hold: boolean): void {
    if (hold && this.#held === undefined) {
      this.#log.reordered++;
      this.#held = data;
      const id = setTimeout(() => {
        this.#timers.delete(id);
        this.#holdTimer = undefined;
        this.#release();
      }, this.#profile.holdMs ?? 15);
      this.#holdTimer = id;
      this.#timers.add(id);
      return;
    }
    this.#deliver(data);
    if (this.#held !== undefined) {
      if (this.#holdTimer !== undefined) {
        clearTimeout(this.#holdTimer);
        this.#timers.delete(this.#holdTimer);
        this.#holdTimer = undefined;
      }
      this.#release();
    }
  }

  #release(): void {
    const held = this.#held;
    this.#held = undefined;
    if (held !== undefined) this.#deliver(held);
  }

  #deliver(data: Uint8Array): void {
    this.#log.delivered++;
    this.#log.passed.push(logEntryOf(data));
    this.#emit(data);
  }
}
