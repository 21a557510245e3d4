/**
 * CIDR allow-lists for client addresses (`--allow-from 10.0.0.0/8`).
 * IPv4-mapped IPv6 peers (`::ffff:a.b.c.d`, in any spelling) match IPv4
 * networks and never IPv6 ones; IPv4 text with a leading zero (`010.0.0.1`,
 * octal to the system resolver) is not an address.
 *
 * @module
 */

import {
  ipv4Bytes,
  ipv4Value,
  ipv6Bytes,
  ipv6Groups,
  mappedIPv4,
  splitZone,
} from "./ip.ts";

/** A parsed network: address bytes and prefix length. */
export interface Cidr {
  /** 4 or 16 address bytes. */
  bytes: Uint8Array;
  /** Prefix length in bits. */
  prefix: number;
  /** The text it was parsed from. */
  text: string;
}

/** An address as written: IPv4, or IPv6 groups (a mapped one kept). */
type Written = { v4: number } | { v6: number[] };

function parseWritten(text: string): Written | undefined {
  const [addr, zone] = splitZone(text);
  if (zone === "") return undefined;
  if (!addr.includes(":")) {
    const v4 = zone === undefined ? ipv4Value(addr) : -1;
    return v4 < 0 ? undefined : { v4 };
  }
  const v6 = ipv6Groups(addr);
  return v6 && { v6 };
}

/**
 * Parses an IP address (IPv4 or IPv6, with or without a zone) into bytes;
 * an IPv4-mapped IPv6 address, however it is spelled (`::ffff:1.2.3.4`,
 * `::FFFF:1.2.3.4`, `::ffff:102:304`), becomes its 4 IPv4 bytes.
 *
 * @example
 * ```ts
 * import { parseIp } from "./cidr.ts";
 * if (parseIp("::ffff:102:304")?.join(".") !== "1.2.3.4") throw new Error();
 * if (parseIp("010.0.0.1") !== undefined) throw new Error();
 * ```
 *
 * @param text Address text.
 * @returns 4 or 16 bytes, or undefined when it is not an address.
 */
export function parseIp(text: string): Uint8Array | undefined {
  const w = parseWritten(text);
  if (!w) return undefined;
  if ("v4" in w) return ipv4Bytes(w.v4);
  const mapped = mappedIPv4(w.v6);
  return mapped >= 0 ? ipv4Bytes(mapped) : ipv6Bytes(w.v6);
}

/**
 * Parses `ADDR/PREFIX` (or a bare address: a single host). A network
 * written IPv4-mapped (`::ffff:10.0.0.0/104`) is the IPv4 network of its
 * last 32 bits (`10.0.0.0/8`) and needs a prefix of 96 or more.
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
  const w = parseWritten(addr);
  if (!w || extra !== undefined) {
    throw new Error(`invalid network ${JSON.stringify(text)}`);
  }
  const max = "v4" in w ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (!/^\d+$/.test(prefixText ?? String(max)) || prefix > max) {
    throw new Error(`invalid prefix length in ${JSON.stringify(text)}`);
  }
  if ("v4" in w) return { bytes: ipv4Bytes(w.v4), prefix, text };
  const mapped = mappedIPv4(w.v6);
  if (mapped < 0) return { bytes: ipv6Bytes(w.v6), prefix, text };
  // A mapped network is the IPv4 network of its last 32 bits; a prefix
  // shorter than 96 would also cover addresses that are not mapped.
  if (prefix < 96) {
    throw new Error(`invalid prefix length in ${JSON.stringify(text)}`);
  }
  return { bytes: ipv4Bytes(mapped), prefix: prefix - 96, text };
}

/**
 * Whether `address` is inside `net`.
 *
 * @example
 * ```ts
 * import { cidrContains, parseCidr } from "./cidr.ts";
 * if (cidrContains(parseCidr("::/0"), "10.0.0.1")) throw new Error();
 * ```
 *
 * @param net A parsed network.
 * @param address An address as a socket reports it.
 * @returns true when it matches.
 */
export function cidrContains(net: Cidr, address: string): boolean {
  // Compared byte by byte without building the address's bytes: this runs
  // for every datagram when --allow-from is set.
  const w = parseWritten(address);
  if (!w) return false;
  const v4 = "v4" in w ? w.v4 : mappedIPv4(w.v6);
  const isV4 = v4 >= 0;
  if (isV4 !== (net.bytes.length === 4)) return false;
  let bits = net.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const byte = isV4
      ? (v4 >>> (24 - 8 * i)) & 0xff
      : ((w as { v6: number[] }).v6[i >> 1] >> (i & 1 ? 0 : 8)) & 0xff;
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((byte & mask) !== (net.bytes[i] & mask)) return false;
  }
  return true;
}
