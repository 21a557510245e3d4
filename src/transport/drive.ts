/**
 * The part of the transfer driver both directions share: the receive loop,
 * the one timer per transfer, replies to strangers, busy-polling. See
 * `driver.ts`.
 *
 * @module
 */

import { encodeError, ErrorCode } from "../protocol/packet.ts";
import { BusyPoll, spin } from "./busy_poll.ts";
import { type Clock, type Lane, systemClock, type Transport } from "./types.ts";

/** What both drivers need. */
export interface DriveOptions {
  /** The transfer's socket. */
  transport: Transport;
  /** Clock (default: the real one). */
  clock?: Clock;
  /** The transfers of this thread (for busy-polling); absent: no spin. */
  lane?: Lane;
  /** Longest busy-poll spin in µs (0 or absent: off). */
  busyPollUs?: number;
  /**
   * Whether a stranger at `hostname` may get an ERROR 5 (the server's
   * allow-list); default: anyone may.
   */
  answerStranger?: (hostname: string) => boolean;
  /** Called once when the peer first answers (the machine is established). */
  onEstablished?: () => void;
  /** Called after each datagram the machine took (progress bars). */
  onProgress?: () => void;
  /** Debug lines (unknown TIDs, retransmits). */
  debug?: (message: string) => void;
  /** Client: the request to (re)send to the server's listen port. */
  request?: Uint8Array;
}

const NAMES = ["?", "RRQ", "WRQ", "DATA", "ACK", "ERROR", "OACK"];

/** A received datagram in a debug line: opcode, block, length. */
function describe(data: Uint8Array): string {
  const op = data.length >= 2 ? (data[0] << 8) | data[1] : 0;
  const name = NAMES[op] ?? `opcode ${op}`;
  if (data.length < 4 || (op !== 3 && op !== 4)) {
    return `received ${name} (${data.length} bytes)`;
  }
  const block = (data[2] << 8) | data[3];
  return op === 3
    ? `received DATA ${block} (${data.length - 4} bytes)`
    : `received ACK ${block}`;
}

const STRANGER_ERROR = encodeError(
  ErrorCode.UNKNOWN_TID,
  "unknown transfer ID",
);

/**
 * One timer per transfer, re-armed lazily: moving the deadline later costs
 * nothing, only an earlier one (or an expiry before the deadline) touches
 * the real timer.
 */
class Deadline {
  #clock: Clock;
  #timer: unknown;
  #timerAt = 0;
  #deadline = Infinity;
  #fire: () => void;

  constructor(clock: Clock, fire: () => void) {
    this.#clock = clock;
    this.#fire = fire;
  }

  set(at: number, now: number): void {
    this.#deadline = at;
    if (!Number.isFinite(at)) return;
    if (this.#timer !== undefined) {
      if (this.#timerAt <= at) return;
      this.#clock.clearTimeout(this.#timer);
    }
    this.#schedule(now, at - now);
  }

  #schedule(now: number, ms: number): void {
    this.#timerAt = now + ms;
    this.#timer = this.#clock.setTimeout(this.#onTimer, Math.max(0, ms));
    // (ms may be fractional; the real timer rounds it, see #onTimer.)
  }

  #onTimer = (): void => {
    this.#timer = undefined;
    const now = this.#clock.now();
    const left = this.#deadline - now;
    if (!Number.isFinite(left)) return;
    if (left > 0) {
      // Timers may fire a fraction of a millisecond early: the machine
      // decides on `now`, so wait until the deadline has really passed.
      this.#schedule(now, Math.ceil(left));
      return;
    }
    this.#fire();
  };

  stop(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#deadline = Infinity;
  }
}

/** The loop both drivers share: receive, hand to the machine, act. */
export abstract class Drive {
  protected readonly o: DriveOptions;
  protected readonly clock: Clock;
  protected readonly deadline: Deadline;
  protected closed = false;
  /** A reply is due at once (an upload's next DATA after our ACK). */
  protected replyDue = false;
  #poll: BusyPoll;
  #lockstep: () => boolean;
  #done!: () => void;
  /** The receive waiting on the socket, if any. */
  #receiving?: Promise<unknown>;
  readonly finished: Promise<void>;

  constructor(o: DriveOptions, lockstep: () => boolean) {
    this.o = o;
    this.clock = o.clock ?? systemClock;
    this.deadline = new Deadline(this.clock, () => this.#onTimer());
    // Spinning needs the real clock (a test clock would never advance).
    this.#poll = new BusyPoll({
      maxUs: o.lane && this.clock === systemClock ? o.busyPollUs ?? 0 : 0,
    });
    this.#lockstep = lockstep;
    this.finished = new Promise((r) => this.#done = r);
  }

  protected abstract rxSize(): number;
  protected abstract onDatagram(
    data: Uint8Array,
    from: Deno.NetAddr,
    now: number,
  ): Promise<void> | void;
  protected abstract onTimer(now: number): Promise<void> | void;
  protected abstract get machineDeadline(): number;
  protected abstract get established(): boolean;
  #told = false;

  protected fail(err: unknown): void {
    this.o.debug?.(`driver failure: ${err}`);
    this.close();
  }

  #onTimer(): void {
    if (this.closed) return;
    try {
      const r = this.onTimer(this.clock.now());
      if (r) r.then(() => this.rearm(), (e) => this.fail(e));
      else this.rearm();
    } catch (err) {
      this.fail(err);
    }
  }

  /**
   * Sets the timer to the machine's deadline. `now` may be a little old (a
   * clock read costs ~0.1 us, a block in the storm ~10 us of CPU): a timer
   * set from it fires that much late at most, never early.
   */
  protected rearm(now: number = this.clock.now()): void {
    if (!this.closed) this.deadline.set(this.machineDeadline, now);
  }

  protected send(data: Uint8Array, to: Deno.NetAddr): Promise<number> {
    if (this.closed) return Promise.resolve(0);
    return this.o.transport.send(data, to).catch(() => 0);
  }

  protected stranger(from: Deno.NetAddr): void {
    if (this.o.answerStranger && !this.o.answerStranger(from.hostname)) return;
    this.o.debug?.(`datagram from unknown TID ${from.hostname}:${from.port}`);
    this.send(STRANGER_ERROR, from);
  }

  /** Runs the receive loop until the transfer ends. */
  async loop(): Promise<void> {
    const lane = this.o.lane;
    if (lane) lane.active++;
    try {
      let buf = new Uint8Array(this.rxSize());
      while (!this.closed) {
        if (buf.length < this.rxSize()) buf = new Uint8Array(this.rxSize());
        let got: [Uint8Array, Deno.Addr];
        const receiving = this.#receive(buf, lane);
        this.#receiving = receiving;
        try {
          got = await receiving;
        } catch (err) {
          if (this.closed) break;
          throw err;
        } finally {
          this.#receiving = undefined;
        }
        if (this.closed) break;
        const [data, addr] = got;
        if (this.o.debug) this.o.debug(describe(data));
        const now = this.clock.now();
        const r = this.onDatagram(data, addr as Deno.NetAddr, now);
        if (r) await r;
        this.o.onProgress?.();
        if (!this.#told && this.o.onEstablished && this.established) {
          this.#told = true;
          this.o.onEstablished();
        }
        // After a wait (a write to disk may take long) the time read
        // before it is too old.
        this.rearm(r ? undefined : now);
      }
    } catch (err) {
      this.fail(err);
    } finally {
      if (lane) lane.active--;
      this.close();
    }
  }

  #receive(buf: Uint8Array, lane?: Lane): Promise<[Uint8Array, Deno.Addr]> {
    // Lock-step, or the first DATA of an upload's next window (right after
    // our ACK). Not before every packet of a window, nor for the ACK of a
    // sent window, which comes a whole window later (measured: spinning
    // there cost 10% at windowsize 64).
    const spinFirst = lane !== undefined && lane.active === 1 &&
      this.#poll.enabled && (this.#lockstep() || this.replyDue);
    this.replyDue = false;
    if (!spinFirst) return this.o.transport.receive(buf);
    spin(this.#poll.spinUs);
    const t0 = performance.now();
    return this.o.transport.receive(buf).then((got) => {
      this.#poll.record((performance.now() - t0) * 1000);
      return got;
    });
  }

  /** Busy-poll statistics for the log: [hits, spins]. */
  get pollStats(): [number, number] {
    return [this.#poll.hits, this.#poll.spins];
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.deadline.stop();
    try {
      this.o.transport.close();
    } catch { /* already closed */ }
    // A socket closed under a pending receive keeps its port until that
    // receive has settled; a finished transfer must have given it back (a
    // port range may have no other).
    const receiving = this.#receiving;
    const done = () => this.#done();
    if (receiving) receiving.then(done, done);
    else done();
  }
}
