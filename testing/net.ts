/**
 * Test helper: what the local network stack offers right now: a free UDP
 * port, a free range of them, whether an address (IPv6 loopback, an extra
 * loopback address) can be bound. The one home
 * of these checks for `tests/`, `bench/` and `tools/`.
 *
 * @example
 * ```ts
 * import { freeUdpPort, ipv6Available } from "./net.ts";
 * const port = freeUdpPort();
 * const host = ipv6Available() ? "::1" : "127.0.0.1";
 * if (port <= 0 || !host) throw new Error();
 * ```
 *
 * @module
 */

/**
 * Finds a UDP port that is free right now on `hostname` (binds port 0, reads
 * the port, closes). Another process may take it before it is used: callers
 * retry on "already in use".
 *
 * @example
 * ```ts
 * import { freeUdpPort } from "./net.ts";
 * const port = freeUdpPort("127.0.0.1");
 * Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port })
 *   .close();
 * ```
 *
 * @param hostname Address to bind.
 * @returns A port number.
 */
export function freeUdpPort(hostname = "127.0.0.1"): number {
  const conn = Deno.listenDatagram({ transport: "udp", hostname, port: 0 });
  const port = (conn.addr as Deno.NetAddr).port;
  conn.close();
  return port;
}

/** First port of Linux's default ephemeral range (`ip_local_port_range`). */
const EPHEMERAL_LOW = 32768;

/**
 * Finds `count` consecutive UDP ports free right now on `hostname`, below
 * the ephemeral range, so that no socket bound to port 0 (by this or any
 * other process) lands in them meanwhile. A test that binds the same ports
 * explicitly can still take one: callers see that as "in use", never as a
 * pass.
 *
 * @example
 * ```ts
 * import { freeUdpRange } from "./net.ts";
 * const [low, high] = freeUdpRange(3);
 * if (high - low !== 2) throw new Error();
 * ```
 *
 * @param count How many ports.
 * @param hostname Address to bind.
 * @returns The inclusive range `[low, high]`.
 * @throws {Error} When 100 random tries found no free range.
 */
export function freeUdpRange(
  count: number,
  hostname = "127.0.0.1",
): [number, number] {
  const span = EPHEMERAL_LOW - 10_000 - count;
  for (let attempt = 0; attempt < 100; attempt++) {
    const low = 10_000 +
      (crypto.getRandomValues(new Uint32Array(1))[0] % span);
    const held: Deno.DatagramConn[] = [];
    try {
      for (let port = low; port < low + count; port++) {
        held.push(Deno.listenDatagram({ transport: "udp", hostname, port }));
      }
      return [low, low + count - 1];
    } catch (err) {
      if (!(err instanceof Deno.errors.AddrInUse)) throw err;
    } finally {
      for (const c of held) c.close();
    }
  }
  throw new Error(`no ${count} consecutive free UDP ports on ${hostname}`);
}

/**
 * Whether a UDP socket can be bound on `hostname` right now (port 0), e.g.
 * an extra loopback address such as `127.0.0.2`, which Linux routes but
 * other systems may not.
 *
 * @example
 * ```ts
 * import { udpBindable } from "./net.ts";
 * if (!udpBindable("127.0.0.1")) throw new Error("no IPv4 loopback");
 * ```
 *
 * @param hostname Local address.
 * @returns true when the bind succeeds.
 */
export function udpBindable(hostname: string): boolean {
  try {
    Deno.listenDatagram({ transport: "udp", hostname, port: 0 }).close();
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether a UDP socket can be bound on `::1` (IPv6 loopback). Tests that
 * need it pass this to `needs(...)` from `./gates.ts`.
 *
 * @example
 * ```ts
 * import { ipv6Available } from "./net.ts";
 * if (ipv6Available()) {
 *   Deno.listenDatagram({ transport: "udp", hostname: "::1", port: 0 })
 *     .close();
 * }
 * ```
 *
 * @returns true when IPv6 loopback is usable.
 */
export function ipv6Available(): boolean {
  return udpBindable("::1");
}
