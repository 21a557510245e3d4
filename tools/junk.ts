/**
 * Junk datagrams for fuzzing a TFTP server: random bytes, truncated and
 * mutated packets, wrong opcodes, bad options, huge and hostile names.
 *
 * @module
 */

import {
  encodeAck,
  encodeData,
  encodeError,
  encodeOack,
  encodeRequest,
  Opcode,
} from "../src/protocol/packet.ts";
import type { Rng } from "../testing/rng.ts";

/** Names that try to leave the root or hit reserved ones. */
export const HOSTILE_NAMES: readonly string[] = [
  "../outside/secret.txt",
  "../../../../../../etc/passwd",
  "/etc/passwd",
  "..\\outside\\secret.txt",
  "\\..\\..\\outside\\secret.txt",
  "sub/../../outside/secret.txt",
  "sub/../..",
  "./../outside/secret.txt",
  "....//outside/secret.txt",
  "%2e%2e/outside/secret.txt",
  ".tftp-upload-x",
  "sub/.tftp-upload-y",
  "..",
  ".",
  "/",
  "//",
  "sub",
  "sub/",
  "\u202e..\u202d/outside",
  "CON",
  "a\u0001b",
];

const BAD_OPTIONS: readonly [string, string][] = [
  ["blksize", "0"],
  ["blksize", "-1"],
  ["blksize", "7"],
  ["blksize", "65465"],
  ["blksize", "99999999999999999999"],
  ["blksize", "abc"],
  ["blksize", ""],
  ["blksize", "1e3"],
  ["blksize", " 512"],
  ["windowsize", "0"],
  ["windowsize", "65536"],
  ["windowsize", "-5"],
  ["windowsize", "4294967297"],
  ["timeout", "0"],
  ["timeout", "256"],
  ["timeout", "0.001"],
  ["tsize", "-1"],
  ["tsize", "184467440737095516160"],
  ["tsize", "x"],
  ["multicast", ",,1"],
  ["", "empty-name"],
  ["BLKSIZE", "8"],
];

/** What the generator may aim at. */
export interface JunkContext {
  /** Names of files that exist in the root. */
  existing: readonly string[];
  /** Whether the datagram goes to a transfer port (else the listen port). */
  transferPort: boolean;
}

function randomName(rng: Rng, ctx: JunkContext): string {
  const k = rng.int(10);
  if (k < 3 && ctx.existing.length > 0) return rng.pick(ctx.existing);
  if (k < 6) return rng.pick(HOSTILE_NAMES);
  if (k < 7) return "x".repeat(rng.range(256, 3000));
  if (k < 8) {
    let s = "";
    for (let i = rng.range(1, 30); i > 0; i--) {
      s += String.fromCodePoint(rng.range(1, 0x2fff));
    }
    return s;
  }
  return `junk-${rng.int(1_000_000)}.bin`;
}

function randomOptions(rng: Rng): Map<string, string> {
  const m = new Map<string, string>();
  for (let i = rng.int(6); i > 0; i--) {
    const [k, v] = rng.chance(0.6) ? rng.pick(BAD_OPTIONS) : [
      rng.pick(["blksize", "windowsize", "timeout", "tsize"]),
      String(rng.int(70000)),
    ];
    m.set(k, v);
  }
  if (rng.chance(0.05)) {
    for (let i = 0; i < 40; i++) m.set(`opt${i}`, "1");
  }
  if (rng.chance(0.03)) m.set("blksize", "9".repeat(rng.range(100, 2000)));
  return m;
}

function request(rng: Rng, ctx: JunkContext): Uint8Array {
  const op = rng.chance(0.5) ? Opcode.RRQ : Opcode.WRQ;
  const mode = rng.chance(0.8)
    ? rng.pick(["octet", "netascii", "OCTET", "NetAscii"])
    : rng.pick(["mail", "", "binary", "octet\u0001", "x".repeat(300)]);
  return encodeRequest(op, randomName(rng, ctx), {
    mode,
    options: rng.chance(0.6) ? randomOptions(rng) : undefined,
  });
}

function mutate(rng: Rng, b: Uint8Array): Uint8Array {
  const out = b.slice();
  switch (rng.int(4)) {
    case 0:
      return out.subarray(0, rng.int(out.length + 1));
    case 1:
      for (let i = rng.range(1, 5); i > 0 && out.length > 0; i--) {
        out[rng.int(out.length)] = rng.int(256);
      }
      return out;
    case 2:
      return out.map((x, i) => (i >= 2 && x === 0 ? 0x41 : x));
    default: {
      const tail = rng.bytes(rng.range(1, 64));
      const joined = new Uint8Array(out.length + tail.length);
      joined.set(out);
      joined.set(tail, out.length);
      return joined;
    }
  }
}

/**
 * One junk datagram.
 *
 * @example
 * ```ts
 * import { makeJunk } from "./junk.ts";
 * import { Rng } from "../testing/rng.ts";
 * const d = makeJunk(new Rng(1), { existing: ["a.bin"], transferPort: false });
 * if (!(d instanceof Uint8Array)) throw new Error();
 * ```
 *
 * @param rng Generator.
 * @param ctx Existing names and where it goes.
 * @returns The datagram (at most 65507 bytes).
 */
export function makeJunk(rng: Rng, ctx: JunkContext): Uint8Array {
  const k = rng.int(100);
  if (ctx.transferPort && k < 50) {
    // What a transfer socket sees: ACK/DATA with odd blocks and sizes.
    const j = rng.int(6);
    if (j === 0) return encodeAck(rng.int(65536));
    if (j === 1) return encodeAck(rng.int(8));
    if (j === 2) {
      return encodeData(
        rng.int(65536),
        rng.bytes(rng.pick([0, 1, 511, 512, 513, 1468, 9000])),
      );
    }
    if (j === 3) return encodeData(rng.range(1, 3), rng.bytes(rng.int(600)));
    if (j === 4) return encodeError(rng.int(10), "junk");
    return rng.bytes(rng.int(8));
  }
  if (k < 15) return rng.bytes(rng.int(600));
  if (k < 20) return rng.bytes(rng.int(4));
  if (k < 45) return request(rng, ctx);
  if (k < 65) return mutate(rng, request(rng, ctx));
  if (k < 70) {
    const b = request(rng, ctx);
    b[0] = rng.int(256);
    b[1] = rng.pick([0, 7, 8, 9, 255]);
    return b;
  }
  if (k < 80) {
    const p = rng.pick([
      () => encodeAck(rng.int(65536)),
      () => encodeData(rng.int(65536), rng.bytes(rng.int(600))),
      () => encodeError(rng.int(65536), "x".repeat(rng.int(100))),
      () => encodeOack(randomOptions(rng)),
    ]);
    return p();
  }
  if (k < 82) {
    // Near the largest datagram: a huge name.
    return encodeRequest(
      rng.chance(0.5) ? Opcode.RRQ : Opcode.WRQ,
      "y".repeat(rng.range(30_000, 65_000)),
    );
  }
  return mutate(rng, mutate(rng, request(rng, ctx)));
}
