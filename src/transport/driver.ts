/**
 * The transfer driver: runs a transfer machine ({@linkcode SendTransfer} or
 * {@linkcode ReceiveTransfer}) over a {@linkcode Transport} and a
 * {@linkcode Clock}. It owns the socket loop, the one timer, the packet
 * buffers and the calls to the block source or sink; every decision is the
 * machine's. The server's read and write transfers and the client's get
 * and put all run here.
 *
 * @module
 */

import { encodeError, ErrorCode, writeDataHeader } from "../protocol/packet.ts";
import { Act } from "../protocol/transfer.ts";
import type { SendTransfer } from "../protocol/send_transfer.ts";
import type { ReceiveTransfer } from "../protocol/receive_transfer.ts";
import type { BlockSource } from "./block_source.ts";
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

/** Options of {@linkcode driveSend}. */
export interface DriveSendOptions extends DriveOptions {
  /** Server: the encoded OACK (block 0). */
  oack?: Uint8Array;
  /**
   * Where the blocks come from, once the blksize is known (a client learns
   * it from the OACK).
   */
  source: (blksize: number) => BlockSource;
}

/** Options of {@linkcode driveReceive}. */
export interface DriveReceiveOptions extends DriveOptions {
  /** Takes each payload in order (copy it if kept: the buffer is reused). */
  write: (data: Uint8Array) => void | Promise<void>;
  /**
   * Publishes what was received, before the final ACK goes out; a throw
   * ends the transfer with that error (a `TftpError`'s code, else ERROR 3).
   */
  commit?: () => Promise<void>;
  /** Largest DATA payload accepted (sizes the receive buffer). */
  maxBlksize: number;
}

/** What a finished drive reports. */
export interface DriveResult {
  /** Payload bytes moved. */
  bytes: number;
  /** Error sent to the peer because of a local failure, if any. */
  localError?: { code: number; message: string };
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
abstract class Drive {
  protected readonly o: DriveOptions;
  protected readonly clock: Clock;
  protected readonly deadline: Deadline;
  protected closed = false;
  /** A reply is due at once (an upload's next DATA after our ACK). */
  protected replyDue = false;
  #poll: BusyPoll;
  #lockstep: () => boolean;
  #done!: () => void;
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

  protected rearm(): void {
    if (!this.closed) this.deadline.set(this.machineDeadline, this.clock.now());
  }

  protected send(data: Uint8Array, to: Deno.NetAddr): Promise<number> {
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
        try {
          got = await this.#receive(buf, lane);
        } catch (err) {
          if (this.closed) break;
          throw err;
        }
        if (this.closed) break;
        const [data, addr] = got;
        if (this.o.debug) this.o.debug(describe(data));
        const r = this.onDatagram(data, addr as Deno.NetAddr, this.clock.now());
        if (r) await r;
        this.o.onProgress?.();
        if (!this.#told && this.o.onEstablished && this.established) {
          this.#told = true;
          this.o.onEstablished();
        }
        this.rearm();
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
    this.#done();
  }
}

/** Runs a sending transfer. */
class SendDrive extends Drive {
  #t: SendTransfer;
  #so: DriveSendOptions;
  #source?: BlockSource;
  #slots: Uint8Array[] = [];
  #granted = 0;
  #next = 0;
  #pumping = false;
  #total = 0;
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
    return this.#t.deadline;
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
  }

  protected onTimer(now: number) {
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

  protected override fail(err: unknown): void {
    if (this.closed) return;
    const e = err as { code?: number; message?: string };
    if (typeof e?.code === "number" && typeof e.message === "string") {
      this.abort(e.code, e.message, `ERROR ${e.code}: ${e.message}`);
      return;
    }
    this.abort(ErrorCode.NOT_DEFINED, "internal error", String(err));
  }

  #pump(): void {
    if (this.#pumping || this.closed) return;
    this.#pumping = true;
    this.#pumpLoop().then(() => this.rearm(), (err) => {
      this.#pumping = false;
      this.fail(err);
    });
  }

  async #pumpLoop(): Promise<void> {
    const t = this.#t;
    const peer = t.peer as Deno.NetAddr;
    const pending: Promise<number>[] = [];
    const lockstep = (t.sender?.windowsize ?? 1) === 1;
    let block: number;
    for (;;) {
      while (!this.closed && (block = t.nextBlock()) >= 0) {
        if (block === 0) {
          await this.send(this.#so.oack!, peer);
          continue;
        }
        const blksize = t.blksize;
        this.#source ??= this.#so.source(blksize);
        let pkt = this.#buffer(4 + blksize);
        if (!pkt) {
          // Every buffer is in flight: let their sends complete first.
          await Promise.all(pending.splice(0));
          this.#next = 1;
          pkt = this.#slots[0];
        }
        let n = this.#source.read(block, pkt.subarray(4));
        if (typeof n !== "number") n = await n;
        if (n < blksize) {
          t.setLast(block);
          this.#total = (block - 1) * blksize + n;
        }
        writeDataHeader(pkt, block);
        const sent = this.o.transport.send(pkt.subarray(0, 4 + n), peer);
        if (lockstep) await sent;
        else pending.push(sent);
      }
      // A window goes out without a yield between its datagrams; then wait
      // for all of them, and look again: ACKs may have moved the window.
      if (pending.length === 0) break;
      await Promise.all(pending.splice(0));
      this.#next = 0;
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

/** Runs a receiving transfer. */
class ReceiveDrive extends Drive {
  #t: ReceiveTransfer;
  #ro: DriveReceiveOptions;
  localError?: { code: number; message: string };

  constructor(t: ReceiveTransfer, o: DriveReceiveOptions) {
    super(o, () => (t.receiver?.windowsize ?? 1) === 1);
    this.#t = t;
    this.#ro = o;
  }

  protected rxSize(): number {
    // One spare byte, so an oversized DATA is seen as such, not truncated.
    return 4 + this.#ro.maxBlksize + 1;
  }

  protected get machineDeadline(): number {
    return this.#t.deadline;
  }

  protected get established(): boolean {
    return this.#t.established;
  }

  async start(): Promise<void> {
    await this.#act(this.#t.start(this.clock.now()), undefined);
    this.rearm();
  }

  protected onDatagram(data: Uint8Array, from: Deno.NetAddr, now: number) {
    const act = this.#t.onDatagram(data, from, now);
    if (act & Act.STRANGER) {
      this.stranger(from);
      return;
    }
    if (act !== Act.NONE) return this.#act(act, data);
  }

  protected onTimer(now: number) {
    const act = this.#t.onTimer(now);
    if (act & Act.SEND) this.o.debug?.(`timeout: re-acknowledging`);
    return this.#act(act, undefined);
  }

  async #act(act: number, data: Uint8Array | undefined): Promise<void> {
    if (act & Act.REQUEST) {
      await this.send(this.o.request!, this.#t.peer as Deno.NetAddr);
    }
    if (act & Act.DELIVER) {
      try {
        const w = this.#ro.write(data!.subarray(4));
        if (w) await w;
      } catch (err) {
        return this.#abort(err, ErrorCode.DISK_FULL, "write failed");
      }
    }
    if (act & Act.FINAL && this.#ro.commit) {
      try {
        await this.#ro.commit();
      } catch (err) {
        return this.#abort(err, ErrorCode.DISK_FULL, "could not store");
      }
    }
    if (act & Act.SEND && !this.closed) {
      const ack = this.#t.control;
      this.replyDue = true;
      await this.send(ack, this.#t.peer as Deno.NetAddr);
      this.#t.acked(this.clock.now());
    }
    if (act & Act.END && this.#t.farewell) {
      const f = this.#t.farewell;
      this.localError = { code: f.code, message: f.message };
      await this.send(
        encodeError(f.code, f.message),
        this.#t.peer as Deno.NetAddr,
      );
    }
    if (act & (Act.DONE | Act.END)) this.close();
  }

  async #abort(err: unknown, code: number, what: string): Promise<void> {
    const e = err as { code?: number; message?: string };
    const tftp = typeof e?.code === "number" && typeof e.message === "string";
    const c = tftp ? e.code! : code;
    const message = tftp ? e.message! : `${what}: ${(err as Error)?.message}`;
    if (this.#t.end("error", `ERROR ${c}: ${message}`) === Act.NONE) return;
    this.localError = { code: c, message };
    await this.send(encodeError(c, message), this.#t.peer as Deno.NetAddr);
    this.close();
  }

  /** Fails the transfer locally: ERROR to the peer, then close. */
  abort(code: number, message: string): Promise<void> {
    return this.#abort({ code, message }, code, message);
  }
}

/** A running transfer, as its owner sees it. */
export interface Driven {
  /** Resolves when the socket is closed and the machine has ended. */
  readonly finished: Promise<void>;
  /** Payload bytes moved so far. */
  readonly bytes: number;
  /** An error we sent the peer because of a local failure. */
  readonly localError?: { code: number; message: string };
  /** Busy-poll statistics: [hits, spins]. */
  readonly pollStats: [number, number];
  /** Stops at once (the machine must have been ended by the caller). */
  close(): void;
}

/**
 * Runs a sending transfer to its end.
 *
 * @example
 * ```ts ignore
 * const t = new SendTransfer({ role: "server", peer, windowsize: 1 }, clock.now());
 * const run = driveSend(t, { transport, source: (b) => new OctetBlockSource(handle, b) });
 * await run.finished;
 * ```
 *
 * @param t The machine.
 * @param options Socket, clock, where the blocks come from.
 * @returns The running transfer.
 */
export function driveSend(t: SendTransfer, options: DriveSendOptions): Driven {
  const d = new SendDrive(t, options);
  d.start();
  d.loop();
  return {
    finished: d.finished,
    get bytes() {
      return d.bytes;
    },
    get localError() {
      return d.localError;
    },
    get pollStats() {
      return d.pollStats;
    },
    close: () => d.close(),
  };
}

/**
 * Runs a receiving transfer to its end.
 *
 * @example
 * ```ts ignore
 * const t = new ReceiveTransfer({ role: "server", peer }, clock.now());
 * const run = driveReceive(t, { transport, write: (d) => file.write(d), maxBlksize: 512 });
 * await run.finished;
 * ```
 *
 * @param t The machine.
 * @param options Socket, clock, where the payloads go.
 * @returns The running transfer.
 */
export function driveReceive(
  t: ReceiveTransfer,
  options: DriveReceiveOptions,
): Driven {
  const d = new ReceiveDrive(t, options);
  d.start().then(() => d.loop(), (err) => d.abort(0, String(err)));
  return {
    finished: d.finished,
    get bytes() {
      return t.bytes;
    },
    get localError() {
      return d.localError;
    },
    get pollStats() {
      return d.pollStats;
    },
    close: () => d.close(),
  };
}
