import type { BufferBudget } from "./buffers.ts";

/**
 * What the transfer driver needs from the outside world: a datagram socket
 * and a clock. `Deno.DatagramConn` is a {@linkcode Transport}; tests use
 * fakes of both.
 *
 * @module
 */

/** A datagram socket: `Deno.DatagramConn` fits, and so does a test fake. */
export interface Transport {
  /** Sends one datagram. */
  send(data: Uint8Array, addr: Deno.NetAddr): Promise<number>;
  /** Receives one datagram into `buf` (or a fresh buffer). */
  receive(buf?: Uint8Array): Promise<[Uint8Array, Deno.Addr]>;
  /** Closes the socket; a pending receive rejects. */
  close(): void;
  /** The local address. */
  readonly addr: Deno.Addr;
}

/** Time source and timers (real by default, fake in tests). */
export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  /** Runs `fn` after `ms` milliseconds; returns an id. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a timer. */
  clearTimeout(id: unknown): void;
}

/**
 * The real clock: `performance.now()` and the global timers.
 *
 * @example
 * ```ts
 * import { systemClock } from "./types.ts";
 * const t0 = systemClock.now();
 * if (!(systemClock.now() >= t0)) throw new Error();
 * ```
 */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as number),
};

/**
 * The transfers one thread is running, shared by their drivers: a transfer
 * alone in its thread may busy-poll for its peer's reply (see
 * `busy_poll.ts`); with others, the spin would take their time.
 */
export interface Lane {
  /** Transfers running in this thread now. */
  active: number;
  /** Bytes for window buffers beyond each transfer's first (absent: no limit). */
  windowBuffers?: BufferBudget;
}

/** Linux's default socket receive buffer (net.core.rmem_default), bytes. */
export const DEFAULT_RECEIVE_BUFFER = 212992;

/**
 * Bytes a new UDP socket can queue: net.core.rmem_default when this program
 * may read it, else Linux's usual default. (Deno cannot enlarge a socket's
 * buffer, so what a window may hold in flight towards us is this.)
 *
 * @example
 * ```ts
 * import { receiveBufferBytes } from "./types.ts";
 * if (!(receiveBufferBytes() > 0)) throw new Error();
 * ```
 *
 * @returns The size in bytes.
 */
export function receiveBufferBytes(): number {
  const path = "/proc/sys/net/core/rmem_default";
  try {
    if (
      Deno.permissions.querySync({ name: "read", path }).state !== "granted"
    ) {
      return DEFAULT_RECEIVE_BUFFER;
    }
    const n = Number(Deno.readTextFileSync(path).trim());
    return Number.isInteger(n) && n > 0 ? n : DEFAULT_RECEIVE_BUFFER;
  } catch {
    return DEFAULT_RECEIVE_BUFFER;
  }
}
