/**
 * Binding the socket of one transfer: an ephemeral port, or the next free
 * port of a configured range, on the address its request arrived on (the
 * range applies to each address).
 *
 * @module
 */

/**
 * Hands out transfer sockets, cycling through a port range when one is set
 * (ports another thread or process holds on that address are skipped).
 *
 * @example
 * ```ts
 * import { PortAllocator } from "./ports.ts";
 * const ports = new PortAllocator("127.0.0.1");
 * const conn = ports.open();
 * conn.close();
 * ```
 */
export class PortAllocator {
  /** Address the sockets bind to unless {@linkcode PortAllocator.open} names one. */
  readonly hostname: string;
  /** Inclusive port range, if any. */
  readonly range?: [number, number];
  #next: number;

  /**
   * Hands out transfer sockets on `hostname`, in `options.range` if given.
   *
   * @param hostname Default address to bind.
   * @param options `range`: inclusive port range; `start`: offset into the
   * range to try first (threads sharing a range start apart).
   * @throws {Error} When the range is not whole port numbers, low to high,
   * or `start` is not a whole number from 0.
   */
  constructor(
    hostname: string,
    options: { range?: [number, number]; start?: number } = {},
  ) {
    const range = options.range;
    if (
      range &&
      !(Number.isInteger(range[0]) && Number.isInteger(range[1]) &&
        range[0] >= 1 && range[0] <= range[1] && range[1] <= 65535)
    ) {
      throw new Error(`invalid port range ${range[0]}:${range[1]}`);
    }
    const start = options.start ?? 0;
    // A negative offset would make the first ports fall below the range.
    if (!Number.isInteger(start) || start < 0) {
      throw new Error(`invalid port start ${start}`);
    }
    this.hostname = hostname;
    this.range = range;
    this.#next = start;
  }

  /**
   * Binds a socket for one transfer.
   *
   * @param hostname Address to bind (default: the constructor's).
   * @returns The socket.
   * @throws {Error} When every port of the range is taken.
   */
  open(hostname: string = this.hostname): Deno.DatagramConn {
    const range = this.range;
    if (!range) {
      return Deno.listenDatagram({ transport: "udp", hostname, port: 0 });
    }
    const count = range[1] - range[0] + 1;
    for (let i = 0; i < count; i++) {
      const port = range[0] + (this.#next++ % count);
      try {
        return Deno.listenDatagram({ transport: "udp", hostname, port });
      } catch (err) {
        if (!(err instanceof Deno.errors.AddrInUse)) throw err;
      }
    }
    throw new Error(
      `no free transfer port in range ${range[0]}:${range[1]}`,
    );
  }
}
