/**
 * Test doubles for driving sessions without sockets or real time: a fake
 * datagram {@linkcode FakeTransport} and a fake {@linkcode FakeClock}.
 *
 * Everything the fakes do completes in microtasks, so one macrotask turn
 * ({@linkcode settle}) is enough for a session to finish reacting to an
 * injected datagram or a fired timer.
 *
 * @module
 */

import type { Clock, Transport } from "../src/transport/types.ts";

/** One datagram a session sent. */
export interface SentDatagram {
  /** A copy of the bytes, taken when `send` was called. */
  data: Uint8Array;
  /** Where it was sent. */
  addr: Deno.NetAddr;
}

/** Options of {@linkcode FakeTransport}. */
export interface FakeTransportOptions {
  /** Local address reported by `addr` (default 127.0.0.1). */
  hostname?: string;
  /** Local port reported by `addr` (default 40000). */
  port?: number;
}

interface PendingReceive {
  buf?: Uint8Array;
  resolve: (v: [Uint8Array, Deno.Addr]) => void;
  reject: (err: unknown) => void;
}

/**
 * Lets a macrotask turn pass, so every microtask queued by a fake (and by
 * the session reacting to it) has run. Not a sleep: nothing real is waited
 * for.
 *
 * @returns A promise resolved on the next macrotask.
 */
export function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** Copies a datagram into `buf` the way `Deno.DatagramConn` does (truncating). */
function deliver(
  data: Uint8Array,
  buf: Uint8Array | undefined,
): Uint8Array {
  if (!buf) return data.slice();
  const n = Math.min(data.length, buf.length);
  buf.set(data.subarray(0, n));
  return buf.subarray(0, n);
}

/**
 * A fake UDP socket. It records every datagram sent, lets a test inject
 * datagrams from any address, keeps `receive()` pending until one arrives,
 * and rejects a pending receive on `close()` (like `Deno.DatagramConn`).
 *
 * @example
 * ```ts
 * import { FakeTransport } from "./fake.ts";
 * const t = new FakeTransport();
 * const got = t.receive();
 * t.inject(new Uint8Array([0, 4, 0, 1]), { transport: "udp", hostname: "127.0.0.1", port: 5 });
 * const [data] = await got;
 * if (data.length !== 4) throw new Error();
 * t.close();
 * ```
 */
export class FakeTransport implements Transport {
  /** The local address. */
  readonly addr: Deno.NetAddr;
  /** Every datagram sent while open, in order. */
  readonly sent: SentDatagram[] = [];
  /** Whether `close()` was called. */
  closed = false;
  /** How many times `close()` was called. */
  closeCalls = 0;
  /** Sends attempted after close (a real socket throws on them). */
  sendsAfterClose = 0;
  /** Misuses seen (e.g. two receives pending at once). */
  readonly violations: string[] = [];
  #queue: [Uint8Array, Deno.NetAddr][] = [];
  #pending: PendingReceive | undefined;
  #onSend: (() => void)[] = [];

  /**
   * @param opts Local address to report.
   */
  constructor(opts: FakeTransportOptions = {}) {
    this.addr = {
      transport: "udp",
      hostname: opts.hostname ?? "127.0.0.1",
      port: opts.port ?? 40000,
    };
  }

  /**
   * Records a datagram.
   *
   * @param data Bytes (copied).
   * @param addr Destination.
   * @returns The number of bytes "sent".
   */
  send(data: Uint8Array, addr: Deno.NetAddr): Promise<number> {
    if (this.closed) {
      this.sendsAfterClose++;
      return Promise.reject(new Deno.errors.BadResource("socket is closed"));
    }
    this.sent.push({ data: data.slice(), addr: { ...addr } });
    const waiters = this.#onSend;
    this.#onSend = [];
    for (const w of waiters) w();
    return Promise.resolve(data.length);
  }

  /**
   * Waits for the next injected datagram (or takes a queued one).
   *
   * @param buf Optional buffer to receive into (truncates like Deno).
   * @returns The datagram and its source.
   */
  receive(buf?: Uint8Array): Promise<[Uint8Array, Deno.Addr]> {
    if (this.closed) {
      return Promise.reject(new Deno.errors.BadResource("socket is closed"));
    }
    if (this.#pending) {
      this.violations.push("two receive() calls pending at once");
      return Promise.reject(
        new Error("FakeTransport: receive already pending"),
      );
    }
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve([deliver(queued[0], buf), queued[1]]);
    return new Promise((resolve, reject) => {
      this.#pending = { buf, resolve, reject };
    });
  }

  /**
   * Delivers a datagram as if it came from `from`. Dropped when closed.
   *
   * @param data The datagram.
   * @param from Its source address.
   * @returns false when the socket is closed (the datagram is lost).
   */
  inject(data: Uint8Array, from: Deno.NetAddr): boolean {
    if (this.closed) return false;
    const copy = data.slice();
    const p = this.#pending;
    if (p) {
      this.#pending = undefined;
      p.resolve([deliver(copy, p.buf), { ...from }]);
    } else {
      this.#queue.push([copy, { ...from }]);
    }
    return true;
  }

  /** Closes; a pending receive rejects with `Interrupted`. */
  close(): void {
    this.closeCalls++;
    if (this.closed) return;
    this.closed = true;
    const p = this.#pending;
    this.#pending = undefined;
    p?.reject(new Deno.errors.Interrupted("operation canceled"));
  }

  /** Whether a `receive()` is waiting for a datagram. */
  get receiving(): boolean {
    return this.#pending !== undefined;
  }

  /**
   * Waits until at least `count` datagrams have been sent in total. Fails
   * instead of hanging when the transport closes first or the session goes
   * idle (a whole macrotask turn passes without a send).
   *
   * @param count Total number of sent datagrams to wait for.
   * @returns The datagrams sent from index `since` on (default: all).
   */
  async waitForSent(count: number, since = 0): Promise<SentDatagram[]> {
    while (this.sent.length < count) {
      if (this.closed) {
        throw new Error(
          `transport closed after ${this.sent.length} of ${count} datagrams`,
        );
      }
      const before = this.sent.length;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const idle = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), 0);
      });
      const sent = new Promise<boolean>((resolve) => {
        this.#onSend.push(() => resolve(false));
      });
      const wasIdle = await Promise.race([idle, sent]);
      clearTimeout(timer);
      if (wasIdle && this.sent.length === before) {
        throw new Error(
          `session idle after ${before} datagrams, expected ${count}`,
        );
      }
    }
    return this.sent.slice(since);
  }
}

/**
 * A fake clock: time moves only when the test says so, and timers run in
 * due order.
 *
 * @example
 * ```ts
 * import { FakeClock } from "./fake.ts";
 * const clock = new FakeClock();
 * const fired: number[] = [];
 * clock.setTimeout(() => fired.push(2), 20);
 * clock.setTimeout(() => fired.push(1), 10);
 * clock.advance(25);
 * if (fired.join() !== "1,2") throw new Error();
 * ```
 */
export class FakeClock implements Clock {
  #now: number;
  #nextId = 1;
  #timers = new Map<number, { at: number; fn: () => void }>();

  /**
   * @param start The initial time in ms.
   */
  constructor(start = 1_000_000) {
    this.#now = start;
  }

  /**
   * The current fake time.
   *
   * @returns Milliseconds.
   */
  now(): number {
    return this.#now;
  }

  /**
   * Schedules `fn` at now + `ms`.
   *
   * @param fn Callback.
   * @param ms Delay (negative counts as 0).
   * @returns The timer id.
   */
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    return id;
  }

  /**
   * Cancels a timer (unknown ids are ignored).
   *
   * @param id The timer id.
   */
  clearTimeout(id: unknown): void {
    this.#timers.delete(id as number);
  }

  /** Number of timers scheduled and not yet run. */
  get pending(): number {
    return this.#timers.size;
  }

  /**
   * When the earliest timer is due.
   *
   * @returns Its time, or undefined when none is scheduled.
   */
  nextAt(): number | undefined {
    let at: number | undefined;
    for (const t of this.#timers.values()) {
      if (at === undefined || t.at < at) at = t.at;
    }
    return at;
  }

  /**
   * Moves time forward by `ms`, running every timer that falls due on the
   * way, earliest first (ties in scheduling order), with `now()` set to
   * each timer's due time while it runs. Timers scheduled by a callback run
   * too when they are due within the span.
   *
   * @param ms Milliseconds to move.
   * @returns How many timers ran.
   */
  advance(ms: number): number {
    const target = this.#now + ms;
    let ran = 0;
    for (;;) {
      let bestId = -1;
      let best: { at: number; fn: () => void } | undefined;
      for (const [id, t] of this.#timers) {
        if (t.at <= target && (best === undefined || t.at < best.at)) {
          best = t;
          bestId = id;
        }
      }
      if (!best) break;
      this.#timers.delete(bestId);
      this.#now = best.at;
      best.fn();
      if (++ran > 100_000) throw new Error("FakeClock: runaway timers");
    }
    this.#now = target;
    return ran;
  }
}

/**
 * Moves a fake clock forward by `ms` one due timer at a time, letting the
 * session react (a {@linkcode settle}) after each, so timers it re-arms in
 * reaction also run when due within the span.
 *
 * @param clock The fake clock.
 * @param ms Milliseconds to move.
 * @returns How many timers ran.
 */
export async function elapse(clock: FakeClock, ms: number): Promise<number> {
  const target = clock.now() + ms;
  let ran = 0;
  await settle();
  for (;;) {
    const at = clock.nextAt();
    if (at === undefined || at > target) break;
    ran += clock.advance(at - clock.now());
    await settle();
    if (ran > 10_000) throw new Error("elapse: runaway timers");
  }
  clock.advance(target - clock.now());
  return ran;
}
