/**
 * The sending half of the driver (a server's read, a client's put): pumps
 * the blocks the machine asks for, from the block source, with one packet
 * buffer per block in flight out of the thread's budget.
 *
 * @module
 */

import { encodeError, ErrorCode, writeDataHeader } from "../protocol/packet.ts";
import { Act } from "../protocol/transfer.ts";
import type { SendTransfer } from "../protocol/send_transfer.ts";
import type { BlockSource } from "./block_source.ts";
import { Drive, type DriveOptions } from "./drive.ts";
import { systemClock } from "./types.ts";

const ignore = (): void => {};

/** A lock-step block whose read has to be waited for. */
interface Carried {
  block: number;
  pkt: Uint8Array;
  n: Promise<number>;
}

/** {@linkcode SendDrive.#lockstepNow} sent the block. */
const SENT = 1;

/** The most an `Atomics.wait` adds to the time asked for, ms (measured). */
const WAIT_COST_MS = 0.1;

/** Options of {@linkcode driveSend}. */
export interface DriveSendOptions extends DriveOptions {
  /** Server: the encoded OACK (block 0). */
  oack?: Uint8Array;
  /**
   * Where the blocks come from, once the blksize is known (a client learns
   * it from the OACK).
   */
  source: (blksize: number) => BlockSource;
  /**
   * Longest wait in ms for a block's bytes (a body arriving from an
   * origin). Meanwhile nothing is outstanding, so the retransmit timer
   * stops; past it the transfer ends with ERROR 0. Absent: the timer runs
   * through reads.
   */
  sourceWaitMs?: number;
}

/** Runs a sending transfer. */
export class SendDrive extends Drive {
  #t: SendTransfer;
  #so: DriveSendOptions;
  #source?: BlockSource;
  #slots: Uint8Array[] = [];
  #granted = 0;
  #next = 0;
  #pumping = false;
  #sending?: Promise<number>;
  /** The first packet buffer's payload (lock-step reads into it). */
  #payload?: Uint8Array;
  #burstAt = 0;
  #sleeper?: Int32Array;
  #total = 0;
  /** When the read of the block due began, while it has to be waited for. */
  #waitingSince?: number;
  localError?: { code: number; message: string };

  constructor(t: SendTransfer, o: DriveSendOptions) {
    super(o, () => (t.sender?.windowsize ?? 1) === 1);
    this.#t = t;
    this.#so = o;
  }

  get bytes(): number {
    const t = this.#t;
    if (t.outcome === "ok") return this.#total;
    return Math.min(t.blocksAcked * t.blksize, this.#total || Infinity);
  }

  protected rxSize(): number {
    return 1024;
  }

  protected get machineDeadline(): number {
    const since = this.#waitingSince;
    if (since === undefined) return this.#t.deadline;
    return since + this.#so.sourceWaitMs!;
  }

  protected get established(): boolean {
    return this.#t.established;
  }

  start(): void {
    this.#act(this.#t.start(this.clock.now()));
    this.rearm();
  }

  protected onDatagram(data: Uint8Array, from: Deno.NetAddr, now: number) {
    const act = this.#t.onDatagram(data, from, now);
    if (act & Act.STRANGER) this.stranger(from);
    else this.#act(act);
    // Lock-step: receive again once the DATA has gone out. Its ACK cannot
    // come sooner, and a receive issued at once finds an empty socket and
    // waits on it: one failed recvfrom per block, and its wake-up. A block
    // still being read does not hold the loop (the peer may end it).
    const sending = this.#sending;
    if (sending) return sending.then(ignore, ignore);
  }

  protected onTimer(now: number) {
    const since = this.#waitingSince;
    if (since !== undefined) {
      const ms = this.#so.sourceWaitMs!;
      if (now - since < ms) return;
      const detail = `storage kept a block waiting for ${ms} ms`;
      return this.abort(
        ErrorCode.NOT_DEFINED,
        "storage did not answer in time",
        detail,
      );
    }
    const act = this.#t.onTimer(now);
    if (act & Act.SEND) this.o.debug?.(`timeout: resending`);
    this.#act(act);
  }

  #act(act: number): void {
    if (act === Act.NONE) return;
    if (act & Act.REQUEST) {
      this.send(this.o.request!, this.#t.peer as Deno.NetAddr);
    }
    if (act & Act.SEND) this.#pump();
    if (act & (Act.DONE | Act.END)) this.#finish();
  }

  #finish(): void {
    const farewell = this.#t.farewell;
    if (farewell) {
      const to = this.#t.peer as Deno.NetAddr;
      const pkt = encodeError(farewell.code, farewell.message);
      this.o.transport.send(pkt, to).catch(() => {}).finally(() =>
        this.close()
      );
      return;
    }
    this.close();
  }

  /** Fails the transfer locally: ERROR to the peer, then close. */
  abort(code: number, message: string, error: string): void {
    if (this.#t.end("error", error) === Act.NONE) return;
    this.localError = { code, message };
    const to = this.#t.peer as Deno.NetAddr;
    this.o.transport.send(encodeError(code, message), to).catch(() => {})
      .finally(() => this.close());
  }

  /**
   * Cancels the transfer from this side: ERROR 0 to the peer once it has
   * answered (a client still in its request phase has nobody to tell),
   * then close.
   */
  cancel(message: string): void {
    const t = this.#t;
    const answered = t.sender !== undefined;
    if (t.end("cancelled", message) === Act.NONE) return;
    if (!answered) return this.close();
    const pkt = encodeError(ErrorCode.NOT_DEFINED, message);
    this.o.transport.send(pkt, t.peer as Deno.NetAddr).catch(() => {})
      .finally(() => this.close());
  }

  protected override fail(err: unknown): void {
    if (this.closed) return;
    const e = err as { code?: number; message?: string };
    if (typeof e?.code === "number" && typeof e.message === "string") {
      this.abort(e.code, e.message, `ERROR ${e.code}: ${e.message}`);
      return;
    }
    this.abort(ErrorCode.NOT_DEFINED, "internal error", String(err));
  }

  /**
   * Waits `ms` between two bursts of a paced window. Alone in its thread
   * with the real clock, a transfer sleeps for exactly that long (the
   * thread has nothing else to do, and a timer cannot wait less than a
   * millisecond); with others, a timer lets them run meanwhile.
   */
  #pause(ms: number): Promise<void> | void {
    if (
      ms < 2 && this.clock === systemClock &&
      (this.o.lane?.active ?? 1) <= 1
    ) {
      const until = this.clock.now() + ms;
      this.#sleeper ??= new Int32Array(new SharedArrayBuffer(4));
      // A wait overshoots by about its own cost, but not always (0.02-0.1
      // ms here): sleep short of the end and spin out the rest, so that a
      // pause is never shorter than asked. A short one made bursts of 2
      // outrun a receiver at the paced rate, which then dropped every ~20th
      // block (K = 4 model: 3-10 s reads instead of 0.7 s).
      if (ms > WAIT_COST_MS) {
        Atomics.wait(this.#sleeper, 0, 0, ms - WAIT_COST_MS);
      }
      while (this.clock.now() < until) {
        // At most WAIT_COST_MS.
      }
      return;
    }
    return new Promise((resolve) => this.clock.setTimeout(resolve, ms));
  }

  #pump(): void {
    if (this.#pumping || this.closed) return;
    this.#pumping = true;
    const carried = this.#lockstepNow();
    if (carried === SENT) return;
    this.#pumpLoop(carried).then(this.#pumped, this.#pumpFailed);
  }

  #pumped = (): void => this.rearm();

  #pumpFailed = (err: unknown): void => {
    this.#pumping = false;
    this.fail(err);
  };

  /**
   * Lock-step's next block when its bytes are at hand (a read from a
   * cached chunk): sent from here, without an async loop and its promises
   * per block (with one thread, the 64-client storm's server CPU ~3%
   * less). Anything else goes to {@linkcode SendDrive.#pumpLoop}: the OACK,
   * a window, no block due, a read that has to wait (handed over with the
   * block it reads, so the block is read once).
   */
  #lockstepNow(): Carried | typeof SENT | undefined {
    const t = this.#t;
    const s = t.sender;
    const source = this.#source;
    const pkt = this.#slots[0];
    if (!s || s.windowsize !== 1 || s.next === 0 || !source || !pkt) return;
    const block = t.nextBlock();
    // Nothing due: the loop's ending applies.
    if (block < 0) return;
    this.#payload ??= pkt.subarray(4);
    let n: number | Promise<number>;
    try {
      n = source.read(block, this.#payload);
    } catch (err) {
      n = Promise.reject(err);
    }
    if (typeof n !== "number") return { block, pkt, n };
    const sent = this.#emit(block, pkt, n);
    this.#sending = sent;
    sent.then(this.#lockstepSent, this.#lockstepFailed);
    return SENT;
  }

  #lockstepSent = (): void => {
    this.#sending = undefined;
    this.#pumping = false;
    if (this.closed) return;
    const t = this.#t;
    const now = this.clock.now();
    t.sent(now);
    const base = t.sender!.base;
    if (base > 1) this.#source!.release(base);
    // A timeout while the block was going out asked for its resend.
    this.#pump();
    this.rearm(now);
  };

  #lockstepFailed = (err: unknown): void => {
    this.#sending = undefined;
    this.#pumping = false;
    this.fail(err);
  };

  /** Block `block`, `n` payload bytes in `pkt`, to the peer. */
  #emit(block: number, pkt: Uint8Array, n: number): Promise<number> {
    const t = this.#t;
    if (n < t.blksize) {
      t.setLast(block);
      this.#total = (block - 1) * t.blksize + n;
    }
    writeDataHeader(pkt, block);
    return this.o.transport.send(
      4 + n === pkt.length ? pkt : pkt.subarray(0, 4 + n),
      t.peer as Deno.NetAddr,
    );
  }

  #waitStarts(): number {
    const since = this.clock.now();
    this.#waitingSince = since;
    this.rearm(since);
    return since;
  }

  #waitEnded(since: number): void {
    this.#waitingSince = undefined;
    this.#t.sourceWaited(this.clock.now() - since);
  }

  async #pumpLoop(carried?: Carried): Promise<void> {
    const t = this.#t;
    const peer = t.peer as Deno.NetAddr;
    const pending: Promise<number>[] = [];
    const lockstep = (t.sender?.windowsize ?? 1) === 1;
    // Only a window is ever paced: lock-step skips this clock read per block.
    if (!lockstep) this.#burstAt = this.clock.now();
    let block: number;
    for (;;) {
      while (
        !this.closed && (block = carried?.block ?? t.nextBlock()) >= 0
      ) {
        if (block === 0) {
          await this.send(this.#so.oack!, peer);
          continue;
        }
        const blksize = t.blksize;
        this.#source ??= this.#so.source(blksize);
        let pkt = carried?.pkt ?? this.#buffer(4 + blksize);
        if (!pkt) {
          // Every buffer is in flight: let their sends complete first.
          await Promise.all(pending.splice(0));
          this.#next = 1;
          pkt = this.#slots[0];
        }
        let n = carried?.n ?? this.#source.read(block, pkt.subarray(4));
        carried = undefined;
        if (typeof n !== "number") {
          // A read that has to be waited for: nothing is outstanding, so
          // the retransmit timer stops (inline: no promise hop per read).
          const since = this.#so.sourceWaitMs === undefined
            ? undefined
            : this.#waitStarts();
          try {
            n = await n;
          } finally {
            if (since !== undefined) this.#waitEnded(since);
          }
        }
        // The transfer may have ended while the block was being read.
        if (this.closed) break;
        const sent = this.#emit(block, pkt, n);
        if (lockstep) {
          this.#sending = sent;
          try {
            await sent;
          } finally {
            this.#sending = undefined;
          }
        } else pending.push(sent);
      }
      // A window goes out without a yield between its datagrams; then wait
      // for all of them, and look again: ACKs may have moved the window.
      const waited = pending.length > 0;
      if (waited) {
        await Promise.all(pending.splice(0));
        this.#next = 0;
      }
      // A paced window: pause between its bursts (the receiver drops
      // bursts), then go on.
      const pause = this.closed ? 0 : t.pauseMs;
      if (pause > 0) {
        // Bursts are spaced from start to start, so the time the sends
        // take does not slow the pace.
        const now = this.clock.now();
        t.sent(now);
        // The retransmit interval runs from this burst, not the first.
        this.rearm();
        const wait = this.#burstAt + pause - now;
        if (wait > 0) await this.#pause(wait);
        t.resume();
        // From when this burst really starts: a late timer must not make
        // the next two bursts one.
        this.#burstAt = this.clock.now();
        continue;
      }
      if (!waited) break;
    }
    this.#pumping = false;
    this.#next = 0;
    if (!this.closed) {
      t.sent(this.clock.now());
      if (t.sender && t.sender.base > 1) this.#source?.release(t.sender.base);
    }
  }

  /**
   * The packet buffer for the next block: one per block in flight, so a
   * window's sends can be in flight together, and a buffer is rewritten
   * only after its send completed. The first buffer is every transfer's
   * own; more come from the thread's budget, and without them the window
   * goes out in bursts.
   */
  #buffer(size: number): Uint8Array | undefined {
    const slots = this.#slots;
    if (this.#next < slots.length) return slots[this.#next++];
    const want = Math.max(1, this.#t.sender?.windowsize ?? 1);
    const budget = this.o.lane?.windowBuffers;
    if (
      slots.length < want &&
      (slots.length === 0 || !budget || budget.take(size))
    ) {
      if (slots.length > 0 && budget) this.#granted += size;
      slots.push(new Uint8Array(size));
      this.#next = slots.length;
      return slots[slots.length - 1];
    }
    if (want === 1) {
      this.#next = 1;
      return slots[0];
    }
    return undefined;
  }

  override close(): void {
    if (this.#granted > 0) {
      this.o.lane?.windowBuffers?.give(this.#granted);
      this.#granted = 0;
    }
    super.close();
  }
}
