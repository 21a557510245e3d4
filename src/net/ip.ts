/**
 * IP address text to numbers and back, strictly: dotted decimal IPv4
 * without leading zeros, IPv6 as RFC 4291 writes it, RFC 5952 text out.
 * Shared by `address.ts` and `cidr.ts`; not part of the public API.
 *
 * Servers normalise the peer's address on every request (and on every
 * datagram in single-port mode), so these scan characters and use plain
 * numbers: no regular expressions, and no typed arrays (allocating one costs
 * about 1 µs in Deno, 50 times the whole parse).
 *
 * @module
 */

const DOT = 0x2e;
const COLON = 0x3a;
const ZERO = 0x30;

/**
 * Parses dotted decimal IPv4. A leading zero is refused: the system resolver
 * (`inet_aton`, which `--host` goes through) reads `010` as octal 8.
 *
 * @example
 * ```ts
 * import { ipv4Value } from "./ip.ts";
 * if (ipv4Value("10.0.0.1") !== 0x0a000001) throw new Error();
 * if (ipv4Value("010.0.0.1") !== -1) throw new Error();
 * ```
 *
 * @param text Address text.
 * @returns The address as an unsigned 32-bit number, or -1.
 */
export function ipv4Value(text: string): number {
  const len = text.length;
  let value = 0;
  let octets = 0;
  let i = 0;
  while (octets < 4) {
    const start = i;
    let v = 0;
    for (; i < len && i - start < 4; i++) {
      const d = text.charCodeAt(i) - ZERO;
      if (d < 0 || d > 9) break;
      v = v * 10 + d;
    }
    const digits = i - start;
    if (digits === 0 || digits > 3 || v > 255) return -1;
    if (digits > 1 && text.charCodeAt(start) === ZERO) return -1;
    value = value * 256 + v;
    if (++octets === 4) break;
    if (i === len || text.charCodeAt(i) !== DOT) return -1;
    i++;
  }
  return i === len ? value : -1;
}

/**
 * Parses IPv6 text without a zone: 8 groups, or fewer with one `::` standing
 * for at least one zero group, optionally ending in dotted IPv4.
 *
 * @example
 * ```ts
 * import { ipv6Groups } from "./ip.ts";
 * if (ipv6Groups("1::8")?.join(":") !== "1:0:0:0:0:0:0:8") throw new Error();
 * if (ipv6Groups("1:2:3:4::5:6:7:8") !== undefined) throw new Error();
 * ```
 *
 * @param text Address text.
 * @returns The 8 groups (16-bit numbers), or undefined.
 */
export function ipv6Groups(text: string): number[] | undefined {
  const groups: number[] = [];
  const len = text.length;
  let gap = -1;
  let i = 0;
  if (text.startsWith("::")) {
    gap = 0;
    i = 2;
  }
  while (i < len) {
    const start = i;
    let v = 0;
    for (; i < len && i - start < 5; i++) {
      const d = hexDigit(text.charCodeAt(i));
      if (d < 0) break;
      v = v * 16 + d;
    }
    if (i === start) return undefined;
    if (i < len && text.charCodeAt(i) === DOT) {
      const tail = groups.length <= 6 ? ipv4Value(text.slice(start)) : -1;
      if (tail < 0) return undefined;
      groups.push(Math.floor(tail / 65536), tail % 65536);
      break;
    }
    if (i - start > 4 || groups.length === 8) return undefined;
    groups.push(v);
    if (i === len) break;
    if (text.charCodeAt(i) !== COLON || ++i === len) return undefined;
    if (text.charCodeAt(i) === COLON) {
      if (gap >= 0) return undefined;
      gap = groups.length;
      i++;
    }
  }
  const n = groups.length;
  if (gap < 0) return n === 8 ? groups : undefined;
  if (n > 7) return undefined;
  groups.splice(gap, 0, ...new Array<number>(8 - n).fill(0));
  return groups;
}

function hexDigit(c: number): number {
  if (c >= ZERO && c <= ZERO + 9) return c - ZERO;
  const l = c | 0x20;
  return l >= 0x61 && l <= 0x66 ? l - 0x61 + 10 : -1;
}

/**
 * Splits `addr%zone`.
 *
 * @example
 * ```ts
 * import { splitZone } from "./ip.ts";
 * if (splitZone("fe80::1%eth0")[1] !== "eth0") throw new Error();
 * ```
 *
 * @param text Address text.
 * @returns The address, and the zone (`""` when the `%` has none) or
 *   undefined when there is no `%`.
 */
export function splitZone(text: string): [string, string | undefined] {
  const pct = text.indexOf("%");
  return pct < 0
    ? [text, undefined]
    : [text.slice(0, pct), text.slice(pct + 1)];
}

/**
 * The IPv4 address inside an IPv4-mapped IPv6 address (`::ffff:0:0/96`).
 *
 * @example
 * ```ts
 * import { ipv6Groups, mappedIPv4 } from "./ip.ts";
 * if (mappedIPv4(ipv6Groups("::ffff:102:304")!) !== 0x01020304) throw new Error();
 * ```
 *
 * @param g The 8 groups of an IPv6 address.
 * @returns The IPv4 address as a number, or -1 when it is not mapped.
 */
export function mappedIPv4(g: number[]): number {
  for (let i = 0; i < 5; i++) if (g[i] !== 0) return -1;
  return g[5] === 0xffff ? g[6] * 65536 + g[7] : -1;
}

/**
 * Formats an IPv4 address as dotted decimal.
 *
 * @example
 * ```ts
 * import { formatIPv4 } from "./ip.ts";
 * if (formatIPv4(0x0a000001) !== "10.0.0.1") throw new Error();
 * ```
 *
 * @param v The address as an unsigned 32-bit number.
 * @returns `a.b.c.d`.
 */
export function formatIPv4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
}

/**
 * Formats IPv6 groups as RFC 5952 text: lower case, no leading zeros, the
 * longest run of two or more zero groups (the first of equal runs) as `::`.
 *
 * @example
 * ```ts
 * import { formatIPv6, ipv6Groups } from "./ip.ts";
 * const text = formatIPv6(ipv6Groups("2001:DB8:0:0:1:0:0:1")!);
 * if (text !== "2001:db8::1:0:0:1") throw new Error();
 * ```
 *
 * @param g The 8 groups.
 * @returns The canonical text.
 */
export function formatIPv6(g: number[]): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  let out = "";
  for (let i = 0; i < 8; i++) {
    if (i === best) {
      out += "::";
      i += bestLen - 1;
      continue;
    }
    if (i > 0 && i !== best + bestLen) out += ":";
    out += g[i].toString(16);
  }
  return out;
}

/**
 * The 4 bytes of an IPv4 address.
 *
 * @example
 * ```ts
 * import { ipv4Bytes } from "./ip.ts";
 * if (ipv4Bytes(0x0a000001).join(".") !== "10.0.0.1") throw new Error();
 * ```
 *
 * @param v The address as an unsigned 32-bit number.
 * @returns 4 bytes.
 */
export function ipv4Bytes(v: number): Uint8Array {
  return new Uint8Array([
    v >>> 24,
    (v >>> 16) & 0xff,
    (v >>> 8) & 0xff,
    v & 0xff,
  ]);
}

/**
 * The 16 bytes of IPv6 groups.
 *
 * @example
 * ```ts
 * import { ipv6Bytes, ipv6Groups } from "./ip.ts";
 * if (ipv6Bytes(ipv6Groups("::1")!)[15] !== 1) throw new Error();
 * ```
 *
 * @param g The 8 groups.
 * @returns 16 bytes.
 */
export function ipv6Bytes(g: number[]): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = g[i] >> 8;
    out[2 * i + 1] = g[i] & 0xff;
  }
  return out;
}
