/**
 * CIDR allow-lists for client addresses (`--allow-from 10.0.0.0/8`).
 * IPv4-mapped IPv6 peers (`::ffff:a.b.c.d`) match IPv4 networks.
 *
 * @module
 */

import { normalizeHost } from "./address.ts";

/** A parsed network: address bytes and prefix length. */
export interface Cidr {
  /** 4 or 16 address bytes. */
  bytes: Uint8Array;
  /** Prefix length in bits. */
  prefix: number;
  /** The text it was parsed from. */
  text: string;
}

function parseV4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    if (!/^\d{1,3}$/.test(parts[i])) return undefined;
    const n = Number(parts[i]);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseV6(text: string): Uint8Array | undefined {
  let s = text.toLowerCase();
  const pct = s.indexOf("%");
  if (pct >= 0) s = s.slice(0, pct);
  let tail: Uint8Array | undefined;
  const lastColon = s.lastIndexOf(":");
  if (s.slice(lastColon + 1).includes(".")) {
    tail = parseV4(s.slice(lastColon + 1));
    if (!tail) return undefined;
    s = s.slice(0, lastColon + 1) + "0:0";
  }
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(":") : [];
  const rest = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const groups = halves.length === 2
    ? [...head, ...Array(8 - head.length - rest.length).fill("0"), ...rest]
    : head;
  if (groups.length !== 8) return undefined;
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    if (!/^[0-9a-f]{1,4}$/.test(groups[i])) return undefined;
    const n = parseInt(groups[i], 16);
    out[2 * i] = n >> 8;
    out[2 * i + 1] = n & 0xff;
  }
  if (tail) out.set(tail, 12);
  return out;
}

/**
 * Parses an IP address (IPv4 or IPv6) into bytes; IPv4-mapped IPv6 becomes
 * IPv4.
 *
 * @param text Address text.
 * @returns 4 or 16 bytes, or undefined when it is not an address.
 */
export function parseIp(text: string): Uint8Array | undefined {
  const host = normalizeHost(text);
  return host.includes(":") ? parseV6(host) : parseV4(host);
}

/**
 * Parses `ADDR/PREFIX` (or a bare address: a single host).
 *
 * @example
 * ```ts
 * import { cidrContains, parseCidr } from "./cidr.ts";
 * const net = parseCidr("192.168.1.0/24");
 * if (!cidrContains(net, "::ffff:192.168.1.7")) throw new Error();
 * ```
 *
 * @param text The network.
 * @returns The parsed network.
 * @throws {Error} When `text` is not a valid network.
 */
export function parseCidr(text: string): Cidr {
  const [addr, prefixText, extra] = text.trim().split("/");
  const bytes = parseIp(addr);
  if (!bytes || extra !== undefined) {
    throw new Error(`invalid network ${JSON.stringify(text)}`);
  }
  const max = bytes.length * 8;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (!/^\d+$/.test(prefixText ?? String(max)) || prefix > max) {
    throw new Error(`invalid prefix length in ${JSON.stringify(text)}`);
  }
  return { bytes, prefix, text };
}

/**
 * Whether `address` is inside `net`.
 *
 * @param net A parsed network.
 * @param address An address as a socket reports it.
 * @returns true when it matches.
 */
export function cidrContains(net: Cidr, address: string): boolean {
  const ip = parseIp(address);
  if (!ip || ip.length !== net.bytes.length) return false;
  let bits = net.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((ip[i] & mask) !== (net.bytes[i] & mask)) return false;
  }
  return true;
}
