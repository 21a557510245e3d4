/**
 * Single-port mode (`--single-port`): every transfer runs on the listen
 * port. The listen loop hands each datagram from a transfer's peer to that
 * transfer's {@linkcode SharedTransport}; sends go out through the listen
 * socket.
 *
 * @module
 */

import type { Transport } from "./types.ts";

/** Datagrams queued for a transfer that has not asked for them yet. */
const QUEUE_LIMIT = 256;

/**
 * A transport for `--single-port`: sends through the listen socket and
 * receives what the server's listen loop hands over for one peer.
 *
 * @example
 * ```ts ignore
 * const t = new SharedTransport(listenConn);
 * t.deliver(datagram, peer); // from the listen loop
 * const [data, from] = await t.receive();
 * ```
 */
export class SharedTransport implements Transport {
  #conn: Deno.DatagramConn;
  #queue: [Uint8Array, Deno.NetAddr][] = [];
  #waiter?: {
    buf?: Uint8Array;
    resolve: (v: [Uint8Array, Deno.Addr]) => void;
    reject: (e: unknown) => void;
  };
  #closed = false;

  /**
   * Wraps the listen socket for one peer's transfer.
   *
   * @param conn The listen socket.
   */
  constructor(conn: Deno.DatagramConn) {
    this.#conn = conn;
  }

  /** Whether the transfer has stopped receiving. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The listen address. */
  get addr(): Deno.Addr {
    return this.#conn.addr;
  }

  /**
   * Sends through the listen socket.
   *
   * @param data Datagram.
   * @param addr Destination.
   * @returns Bytes sent.
   */
  send(data: Uint8Array, addr: Deno.NetAddr): Promise<number> {
    return this.#conn.send(data, addr);
  }

  /**
   * Next datagram handed over by {@linkcode SharedTransport.deliver}.
   *
   * @param buf Buffer to copy into (else a fresh copy is returned).
   * @returns Datagram and sender.
   */
  receive(buf?: Uint8Array): Promise<[Uint8Array, Deno.Addr]> {
    if (this.#closed) return Promise.reject(new Deno.errors.Interrupted());
    const next = this.#queue.shift();
    if (next) return Promise.resolve(copyInto(next[0], next[1], buf));
    return new Promise((resolve, reject) => {
      this.#waiter = { buf, resolve, reject };
    });
  }

  /**
   * Hands a datagram from this transport's peer to the session.
   *
   * @param data Datagram (copied).
   * @param addr Sender.
   */
  deliver(data: Uint8Array, addr: Deno.NetAddr): void {
    if (this.#closed) return;
    const w = this.#waiter;
    if (w) {
      this.#waiter = undefined;
      w.resolve(copyInto(data, addr, w.buf));
    } else if (this.#queue.length < QUEUE_LIMIT) {
      this.#queue.push([data.slice(), addr]);
    }
  }

  /** Stops receiving (the listen socket stays open). */
  close(): void {
    this.#closed = true;
    this.#queue.length = 0;
    this.#waiter?.reject(new Deno.errors.Interrupted("transport closed"));
    this.#waiter = undefined;
  }
}

function copyInto(
  data: Uint8Array,
  addr: Deno.NetAddr,
  buf?: Uint8Array,
): [Uint8Array, Deno.Addr] {
  if (!buf) return [data.slice(), addr];
  const n = Math.min(buf.length, data.length);
  buf.set(data.subarray(0, n));
  return [buf.subarray(0, n), addr];
}
