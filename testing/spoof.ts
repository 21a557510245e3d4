/**
 * Test helper: sends one IPv4 UDP datagram with any source address and port,
 * the way an attacker on the path forges one (a raw socket through FFI;
 * needs `--allow-ffi` and CAP_NET_RAW, so run it as root, e.g. inside
 * {@linkcode ../testing/netns.ts}'s namespace).
 *
 * @example
 * ```ts ignore
 * import { sendSpoofed } from "./spoof.ts";
 * sendSpoofed(new Uint8Array([0, 4, 0, 1]), {
 *   from: { hostname: "127.0.0.1", port: 40001 },
 *   to: { hostname: "127.0.0.1", port: 40002 },
 * });
 * ```
 *
 * @module
 */

import type { Endpoint } from "./raw_client.ts";

const AF_INET = 2;
const SOCK_RAW = 3;
/** IPPROTO_RAW: the datagram carries its own IP header (IP_HDRINCL). */
const IPPROTO_RAW = 255;
const IPPROTO_UDP = 17;

function ipv4(host: string): number[] {
  const parts = host.split(".").map(Number);
  if (
    parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p > 255)
  ) {
    throw new Error(`not an IPv4 address: ${host}`);
  }
  return parts;
}

/**
 * The bytes of an IPv4 packet carrying one UDP datagram. The kernel fills
 * in the IP checksum and identification; the UDP checksum is 0 (none), which
 * IPv4 allows.
 *
 * @param data UDP payload.
 * @param where Source and destination.
 * @returns The packet.
 */
export function ipv4UdpPacket(
  data: Uint8Array,
  where: { from: Endpoint; to: Endpoint },
): Uint8Array {
  const pkt = new Uint8Array(20 + 8 + data.length);
  const v = new DataView(pkt.buffer);
  v.setUint8(0, 0x45); // version 4, 5-word header
  v.setUint16(2, pkt.length);
  v.setUint8(8, 64); // TTL
  v.setUint8(9, IPPROTO_UDP);
  pkt.set(ipv4(where.from.hostname), 12);
  pkt.set(ipv4(where.to.hostname), 16);
  v.setUint16(20, where.from.port);
  v.setUint16(22, where.to.port);
  v.setUint16(24, 8 + data.length);
  pkt.set(data, 28);
  return pkt;
}

/**
 * Sends `data` as a UDP datagram from `from` to `to` (IPv4 only).
 *
 * @param data Payload.
 * @param where Forged source and real destination.
 * @throws {Error} When no raw socket can be opened (not root, no FFI).
 */
export function sendSpoofed(
  data: Uint8Array,
  where: { from: Endpoint; to: Endpoint },
): void {
  const libc = Deno.dlopen("libc.so.6", {
    socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
    sendto: {
      parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"],
      result: "isize",
    },
    close: { parameters: ["i32"], result: "i32" },
  });
  try {
    const fd = libc.symbols.socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
    if (fd < 0) throw new Error("cannot open a raw socket (needs root)");
    try {
      const pkt = ipv4UdpPacket(data, where);
      const sa = new Uint8Array(16); // struct sockaddr_in
      new DataView(sa.buffer).setUint16(0, AF_INET, true);
      sa.set(ipv4(where.to.hostname), 4);
      const n = libc.symbols.sendto(
        fd,
        pkt,
        BigInt(pkt.length),
        0,
        sa,
        sa.length,
      );
      if (Number(n) !== pkt.length) throw new Error(`sendto returned ${n}`);
    } finally {
      libc.symbols.close(fd);
    }
  } finally {
    libc.close();
  }
}
