/**
 * Parsers for the values of the server's flags: each returns the value or
 * throws an Error whose message says what was expected (the flag parser
 * prefixes the flag's name).
 *
 * @module
 */

import { parseCidr } from "../net/cidr.ts";
import { ipv4Value, ipv6Groups, splitZone } from "../net/ip.ts";

// The server resolves no names: a name in an address flag would be looked
// up at bind time, fail with a resolver error (exit 1, which a service
// manager restarts forever) or bind to whatever DNS says that day.
function isIpLiteral(text: string): boolean {
  const [addr, zone] = splitZone(text);
  if (zone === undefined) {
    return ipv4Value(addr) >= 0 || ipv6Groups(addr) !== undefined;
  }
  return /^[\w.-]{1,64}$/.test(zone) && ipv6Groups(addr) !== undefined;
}

/**
 * `LOW:HIGH`, an inclusive port range within 1-65535.
 *
 * @example
 * ```ts
 * import { portRange } from "./values.ts";
 * const [lo, hi] = portRange("50000:50100");
 * if (lo !== 50000 || hi !== 50100) throw new Error();
 * ```
 *
 * @param text The flag's value.
 * @returns The range.
 * @throws {Error} When it is not one.
 */
export function portRange(text: string): [number, number] {
  const m = /^(\d{1,5}):(\d{1,5})$/.exec(text);
  const lo = m ? Number(m[1]) : NaN;
  const hi = m ? Number(m[2]) : NaN;
  if (!(lo >= 1 && lo <= hi && hi <= 65535)) {
    throw new Error("expected LOW:HIGH within 1-65535");
  }
  return [lo, hi];
}

/**
 * `IP:PORT` of a TCP listener, IPv6 in brackets; no names.
 *
 * @example
 * ```ts
 * import { tcpAddress } from "./values.ts";
 * if (tcpAddress("[::1]:9169").hostname !== "::1") throw new Error();
 * ```
 *
 * @param text The flag's value.
 * @returns Host and port.
 * @throws {Error} When it is not one.
 */
export function tcpAddress(text: string): { hostname: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  const hostname = m ? m[1] ?? m[2] : "";
  const ok = m && (m[1] ? ipv6Groups(hostname) : ipv4Value(hostname) >= 0);
  if (!ok || !(port >= 0 && port <= 65535)) {
    throw new Error(
      "expected IP:PORT, e.g. 127.0.0.1:9169 or [::1]:9169 (no names)",
    );
  }
  return { hostname, port };
}

/**
 * An IP address to listen on (an IPv6 zone allowed; no brackets, no port,
 * no names).
 *
 * @example
 * ```ts
 * import { listenHost } from "./values.ts";
 * if (listenHost("fe80::1%eth0") !== "fe80::1%eth0") throw new Error();
 * ```
 *
 * @param text The flag's value.
 * @returns The address as given.
 * @throws {Error} When it cannot be one.
 */
export function listenHost(text: string): string {
  if (!isIpLiteral(text)) {
    throw new Error(
      "expected an IP address, not a name (0.0.0.0, ::, 192.0.2.1, " +
        "fe80::1%eth0)",
    );
  }
  return text;
}

/**
 * An address or a CIDR network.
 *
 * @example
 * ```ts
 * import { network } from "./values.ts";
 * if (network("fd00::/8") !== "fd00::/8") throw new Error();
 * ```
 *
 * @param text The flag's value.
 * @returns The network as given.
 * @throws {Error} When it is not one.
 */
export function network(text: string): string {
  try {
    parseCidr(text);
  } catch {
    throw new Error("expected an address or a network (10.0.0.0/8, fd00::/8)");
  }
  return text;
}
