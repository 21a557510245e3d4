/**
 * Property tests for the packet codec, seeded and reproducible
 * (`HARDENING_SEED=n` replays a run; `HARDENING_FULL=1` runs 10x longer).
 *
 * - `decode` of any bytes returns a packet or throws `PacketError`, never
 *   anything else, never changes its input, and what it returns is
 *   consistent with the bytes.
 * - Encoding then decoding gives back what was encoded (names and modes
 *   lower-cased, options as the decoder documents).
 * - Mutated valid packets (truncated, bit-flipped, spliced) behave like
 *   random bytes.
 */

import assert from "node:assert/strict";
import {
  decode,
  encodeAck,
  encodeData,
  encodeError,
  encodeOack,
  encodeRequest,
  MAX_OPTIONS,
  Opcode,
  type Packet,
  PacketError,
} from "../../src/protocol/packet.ts";
import { Rng, seedFromEnv } from "../../testing/rng.ts";

const SEED = seedFromEnv(0xc0dec);
const SCALE = Deno.env.get("HARDENING_FULL") === "1" ? 10 : 1;

function hex(buf: Uint8Array): string {
  const head = [...buf.subarray(0, 64)].map((b) =>
    b.toString(16).padStart(2, "0")
  ).join("");
  return buf.length > 64 ? `${head}... (${buf.length} bytes)` : head;
}

/** Random bytes shaped like datagrams: short, NUL-rich, near-valid opcodes. */
function randomDatagram(rng: Rng): Uint8Array {
  const r = rng.int(100);
  const len = r < 10
    ? rng.int(5)
    : r < 95
    ? rng.int(600)
    : r < 99
    ? rng.int(9000)
    : rng.int(65508);
  const buf = new Uint8Array(len);
  for (let i = 0; i < len; i++) {
    const k = rng.int(10);
    buf[i] = k < 3 ? 0 : k < 7 ? 32 + rng.int(95) : rng.int(256);
  }
  if (len >= 2 && rng.chance(0.8)) {
    buf[0] = rng.chance(0.95) ? 0 : rng.int(256);
    buf[1] = rng.chance(0.9) ? rng.int(8) : rng.int(256);
  }
  return buf;
}

/** Checks a decoded packet against the bytes it came from. */
function checkDecoded(p: Packet, buf: Uint8Array): void {
  assert.equal(p.op, (buf[0] << 8) | buf[1], "opcode");
  switch (p.op) {
    case Opcode.RRQ:
    case Opcode.WRQ:
      assert.ok(p.filename.length > 0, "empty filename");
      assert.ok(!p.filename.includes("\0"), "NUL in filename");
      assert.equal(p.mode, p.mode.toLowerCase(), "mode not lower-cased");
      assert.ok(p.options.size <= MAX_OPTIONS, "too many options");
      for (const [k, v] of p.options) {
        assert.ok(k.length > 0 && k === k.toLowerCase(), `option ${k}`);
        assert.ok(!k.includes("\0") && !v.includes("\0"), "NUL in option");
      }
      break;
    case Opcode.DATA:
      assert.ok(buf.length >= 4);
      assert.equal(p.block, (buf[2] << 8) | buf[3]);
      assert.equal(p.data.length, buf.length - 4);
      assert.equal(p.data.buffer, buf.buffer, "DATA payload is not a view");
      break;
    case Opcode.ACK:
      assert.ok(buf.length >= 4);
      assert.equal(p.block, (buf[2] << 8) | buf[3]);
      break;
    case Opcode.ERROR:
      assert.ok(buf.length >= 4);
      assert.equal(p.code, (buf[2] << 8) | buf[3]);
      assert.ok(!p.message.includes("\0"), "NUL in message");
      break;
    case Opcode.OACK:
      assert.ok(p.options.size <= MAX_OPTIONS, "too many options");
      for (const k of p.options.keys()) assert.equal(k, k.toLowerCase());
      break;
    default:
      assert.fail(`unexpected opcode ${(p as { op: number }).op}`);
  }
}

/** Decodes; fails the test on any exception but PacketError. */
function decodeChecked(buf: Uint8Array, what: string): Packet | undefined {
  const before = buf.slice();
  let p: Packet | undefined;
  try {
    p = decode(buf);
  } catch (err) {
    if (!(err instanceof PacketError)) {
      throw new Error(
        `${what}: decode threw ${err} for ${hex(buf)} (seed ${SEED})`,
      );
    }
  }
  assert.deepEqual(buf, before, `${what}: decode changed its input`);
  if (p) {
    try {
      checkDecoded(p, buf);
    } catch (err) {
      throw new Error(`${what}: ${err} for ${hex(buf)} (seed ${SEED})`);
    }
  }
  return p;
}

const SAMPLE_CHARS = [
  "a",
  "Z",
  "0",
  ".",
  "/",
  "\\",
  " ",
  "-",
  "é",
  "ß",
  "日",
  "😀",
  "\u0001",
  "\u007f",
];

function randomText(rng: Rng, max: number, min = 0): string {
  const n = rng.range(min, max);
  let s = "";
  for (let i = 0; i < n; i++) s += rng.pick(SAMPLE_CHARS);
  return s;
}

function randomCase(rng: Rng, s: string): string {
  return [...s].map((c) => rng.chance(0.5) ? c.toUpperCase() : c).join("");
}

/** A valid packet and its expected decoding. */
function randomValid(rng: Rng): { bytes: Uint8Array; expect: Packet } {
  switch (rng.int(5)) {
    case 0: {
      const op = rng.chance(0.5) ? Opcode.RRQ : Opcode.WRQ;
      const filename = randomText(rng, 40, 1);
      const mode = randomCase(rng, rng.pick(["octet", "netascii", "mail"]));
      const sent: [string, string][] = [];
      const names = ["blksize", "tsize", "timeout", "windowsize", "x"];
      for (let i = rng.int(MAX_OPTIONS + 8); i > 0; i--) {
        const name = rng.chance(0.7)
          ? randomCase(rng, rng.pick(names))
          : randomText(rng, 8, 1);
        sent.push([name, randomText(rng, 10)]);
      }
      // What goes on the wire (the encoder takes a Map: one pair per exact
      // name); the decoder keeps the first of each lower-cased name, from
      // the first MAX_OPTIONS pairs.
      const wire = new Map(sent);
      const options = new Map<string, string>();
      for (const [k, v] of [...wire].slice(0, MAX_OPTIONS)) {
        const key = k.toLowerCase();
        if (!options.has(key)) options.set(key, v);
      }
      return {
        bytes: encodeRequest(op, filename, { mode, options: wire }),
        expect: { op, filename, mode: mode.toLowerCase(), options },
      };
    }
    case 1: {
      const block = rng.int(65536);
      const data = rng.bytes(rng.int(1500));
      return { bytes: encodeData(block, data), expect: { op: 3, block, data } };
    }
    case 2: {
      const block = rng.int(65536);
      return { bytes: encodeAck(block), expect: { op: 4, block } };
    }
    case 3: {
      const code = rng.int(65536);
      const message = randomText(rng, 60);
      return {
        bytes: encodeError(code, message),
        expect: { op: 5, code, message },
      };
    }
    default: {
      const options = new Map<string, string>();
      for (let i = rng.int(MAX_OPTIONS); i > 0; i--) {
        options.set(randomText(rng, 8, 1).toLowerCase(), randomText(rng, 6));
      }
      return { bytes: encodeOack(options), expect: { op: 6, options } };
    }
  }
}

function mutate(rng: Rng, bytes: Uint8Array): Uint8Array {
  const b = bytes.slice();
  switch (rng.int(6)) {
    case 0:
      return b.subarray(0, rng.int(b.length + 1));
    case 1: {
      for (let i = rng.range(1, 4); i > 0 && b.length > 0; i--) {
        b[rng.int(b.length)] ^= 1 << rng.int(8);
      }
      return b;
    }
    case 2: {
      if (b.length >= 2) b[1] = rng.int(256);
      if (rng.chance(0.3) && b.length >= 1) b[0] = rng.int(256);
      return b;
    }
    case 3: {
      const at = rng.int(b.length + 1);
      const extra = rng.chance(0.5) ? new Uint8Array(rng.range(1, 4)) : rng
        .bytes(rng.range(1, 30));
      const out = new Uint8Array(b.length + extra.length);
      out.set(b.subarray(0, at));
      out.set(extra, at);
      out.set(b.subarray(at), at + extra.length);
      return out;
    }
    case 4: {
      // Every NUL turned into a letter: nothing is terminated.
      return b.map((x, i) => (i >= 2 && x === 0 ? 65 : x));
    }
    default: {
      const at = rng.int(b.length + 1);
      const n = rng.int(b.length - at + 1);
      const out = new Uint8Array(b.length - n);
      out.set(b.subarray(0, at));
      out.set(b.subarray(at + n), at);
      return out;
    }
  }
}

Deno.test("fuzz: decode of random bytes returns a consistent packet or throws PacketError", () => {
  const rng = new Rng(SEED);
  let decoded = 0;
  const n = 60_000 * SCALE;
  for (let i = 0; i < n; i++) {
    if (decodeChecked(randomDatagram(rng), `random #${i}`)) decoded++;
  }
  // The generator reaches both outcomes (else the test proves little).
  assert.ok(decoded > n / 20 && decoded < n, `${decoded} of ${n} decoded`);
});

Deno.test("fuzz: encode then decode gives the packet back", () => {
  const rng = new Rng(SEED ^ 0x5a5a);
  for (let i = 0; i < 30_000 * SCALE; i++) {
    const { bytes, expect } = randomValid(rng);
    const p = decodeChecked(bytes, `round trip #${i}`);
    assert.ok(p, `round trip #${i}: ${hex(bytes)} did not decode`);
    assert.deepEqual(p, expect, `round trip #${i}: ${hex(bytes)}`);
  }
});

Deno.test("fuzz: mutated valid packets return a consistent packet or throw PacketError", () => {
  const rng = new Rng(SEED ^ 0xa5a5);
  let errors = 0;
  const n = 60_000 * SCALE;
  for (let i = 0; i < n; i++) {
    let bytes = randomValid(rng).bytes;
    for (let k = rng.range(1, 3); k > 0; k--) bytes = mutate(rng, bytes);
    if (!decodeChecked(bytes, `mutation #${i}`)) errors++;
  }
  assert.ok(errors > 0 && errors < n, `${errors} of ${n} rejected`);
});

Deno.test("fuzz: decode is a pure function of the bytes", () => {
  const rng = new Rng(SEED ^ 0x1234);
  for (let i = 0; i < 5_000 * SCALE; i++) {
    const buf = rng.chance(0.5) ? randomDatagram(rng) : randomValid(rng).bytes;
    let a: unknown, b: unknown;
    try {
      a = decode(buf);
    } catch (err) {
      a = String(err);
    }
    try {
      b = decode(buf.slice());
    } catch (err) {
      b = String(err);
    }
    assert.deepEqual(a, b, `decode differs on a copy of ${hex(buf)}`);
  }
});
