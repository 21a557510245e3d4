/**
 * Address helpers: one text per address, so that what a socket reports and
 * what a user typed compare equal. IPv4-mapped IPv6 addresses
 * (`::ffff:a.b.c.d`, what a dual-stack `::` socket reports for IPv4 peers)
 * are their IPv4 address; other IPv6 text is RFC 5952 (`0:0::1` is `::1`).
 *
 * @module
 */

import {
  formatIPv4,
  formatIPv6,
  ipv6Groups,
  mappedIPv4,
  splitZone,
} from "./ip.ts";

/** An endpoint: an address as a socket reports it, and a port. */
export interface Endpoint {
  /** IP address (IPv4, IPv6, or IPv4-mapped IPv6). */
  hostname: string;
  /** UDP port. */
  port: number;
}

/** What a dual-stack socket reports for an IPv4 peer (the common case). */
const SOCKET_MAPPED =
  /^::ffff:((?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3})$/i;

/**
 * One text per address: IPv4-mapped IPv6 in any spelling (`::FFFF:1.2.3.4`,
 * `::ffff:102:304`) becomes `1.2.3.4`; other IPv6 becomes RFC 5952 text
 * without its zone (the zone says which interface leads to the address, and
 * sockets do not report it). Anything else (IPv4, names) is lower-cased.
 *
 * @example
 * ```ts
 * import { normalizeHost } from "./address.ts";
 * if (normalizeHost("::FFFF:127.0.0.1") !== "127.0.0.1") throw new Error();
 * if (normalizeHost("0:0:0:0:0:0:0:1") !== "::1") throw new Error();
 * ```
 *
 * @param hostname An address as a socket reports it or a user writes it.
 * @returns The normalised address.
 */
export function normalizeHost(hostname: string): string {
  if (!hostname.includes(":")) return hostname.toLowerCase();
  const m = SOCKET_MAPPED.exec(hostname);
  if (m) return m[1];
  const [addr, zone] = splitZone(hostname);
  const groups = zone === "" ? undefined : ipv6Groups(addr);
  if (!groups) return hostname.toLowerCase();
  const v4 = mappedIPv4(groups);
  return v4 >= 0 ? formatIPv4(v4) : formatIPv6(groups);
}

/**
 * Whether two socket addresses are the same endpoint (IP and port).
 *
 * @example
 * ```ts
 * import { sameEndpoint } from "./address.ts";
 * const a = { transport: "udp", hostname: "::ffff:10.0.0.1", port: 69 } as const;
 * const b = { transport: "udp", hostname: "10.0.0.1", port: 69 } as const;
 * if (!sameEndpoint(a, b)) throw new Error();
 * ```
 *
 * @param a One address.
 * @param b The other.
 * @returns true when IP (after normalisation) and port match.
 */
export function sameEndpoint(a: Endpoint, b: Endpoint): boolean {
  return a.port === b.port &&
    (a.hostname === b.hostname ||
      normalizeHost(a.hostname) === normalizeHost(b.hostname));
}
