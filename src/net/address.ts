/**
 * Address helpers: IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, what a
 * dual-stack `::` socket reports for IPv4 peers) compare equal to `a.b.c.d`.
 *
 * @module
 */

/** An endpoint: an address as a socket reports it, and a port. */
export interface Endpoint {
  /** IP address (IPv4, IPv6, or IPv4-mapped IPv6). */
  hostname: string;
  /** UDP port. */
  port: number;
}

const MAPPED = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

/**
 * Turns `::ffff:a.b.c.d` into `a.b.c.d` and lower-cases IPv6 text.
 *
 * @example
 * ```ts
 * import { normalizeHost } from "./address.ts";
 * if (normalizeHost("::FFFF:127.0.0.1") !== "127.0.0.1") throw new Error();
 * ```
 *
 * @param hostname An address as a socket reports it.
 * @returns The normalised address.
 */
export function normalizeHost(hostname: string): string {
  const m = MAPPED.exec(hostname);
  return m ? m[1] : hostname.toLowerCase();
}

/**
 * Whether two socket addresses are the same endpoint (IP and port).
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
