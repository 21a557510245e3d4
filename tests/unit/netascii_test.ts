import assert from "node:assert/strict";
import {
  NetasciiDecoder,
  NetasciiEncoder,
  netasciiLength,
} from "../../src/protocol/netascii.ts";
import { concat } from "../../testing/bytes.ts";
import { Rng } from "../../testing/rng.ts";

const te = new TextEncoder();
const CR = 13;
const LF = 10;

function bytes(s: string): Uint8Array {
  return te.encode(s);
}

/** Splits `data` into chunks of random sizes (including empty ones). */
function split(
  data: Uint8Array,
  rand: () => number,
  max: number,
): Uint8Array[] {
  const out: Uint8Array[] = [];
  let off = 0;
  while (off < data.length) {
    const n = Math.floor(rand() * (max + 1));
    out.push(data.subarray(off, Math.min(data.length, off + n)));
    off += n;
  }
  return out;
}

Deno.test("netascii: LF becomes CR LF, CR becomes CR NUL", () => {
  const enc = new NetasciiEncoder();
  assert.deepEqual(enc.encode(bytes("a\nb")), bytes("a\r\nb"));
  assert.deepEqual(enc.encode(bytes("a\rb")), new Uint8Array([97, CR, 0, 98]));
  assert.deepEqual(
    enc.encode(bytes("\r\n")),
    new Uint8Array([CR, 0, CR, LF]),
    "a local CR LF is a bare CR then a line end",
  );
  assert.deepEqual(enc.encode(bytes("\n\n")), bytes("\r\n\r\n"));
  assert.deepEqual(enc.encode(new Uint8Array(0)), new Uint8Array(0));
  assert.deepEqual(enc.encode(bytes("plain text")), bytes("plain text"));
});

Deno.test("netascii: encoder returns a new array, never the input", () => {
  const input = bytes("no line ends");
  const out = new NetasciiEncoder().encode(input);
  assert.deepEqual(out, input);
  out[0] = 0;
  assert.equal(input[0], "n".charCodeAt(0));
});

Deno.test("netascii: decode is the inverse of encode", () => {
  const dec = new NetasciiDecoder();
  assert.deepEqual(dec.decode(bytes("a\r\nb")), bytes("a\nb"));
  assert.deepEqual(dec.decode(new Uint8Array([97, CR, 0, 98])), bytes("a\rb"));
  assert.deepEqual(
    dec.decode(new Uint8Array([CR, 0, CR, LF])),
    bytes("\r\n"),
  );
  assert.deepEqual(dec.flush(), new Uint8Array(0));
});

Deno.test("netascii: a bare CR followed by other bytes is kept", () => {
  const dec = new NetasciiDecoder();
  assert.deepEqual(dec.decode(bytes("a\rb")), bytes("a\rb"));
  assert.deepEqual(dec.decode(bytes("\r\r\n")), bytes("\r\n"));
  assert.deepEqual(dec.flush(), new Uint8Array(0));
});

Deno.test("netascii: decoder holds a trailing CR until the next chunk", () => {
  const dec = new NetasciiDecoder();
  assert.deepEqual(dec.decode(bytes("abc\r")), bytes("abc"));
  assert.deepEqual(dec.decode(bytes("\ndef")), bytes("\ndef"));

  assert.deepEqual(dec.decode(bytes("x\r")), bytes("x"));
  assert.deepEqual(dec.decode(new Uint8Array([0, 65])), bytes("\rA"));

  assert.deepEqual(dec.decode(bytes("y\r")), bytes("y"));
  assert.deepEqual(dec.decode(bytes("z")), bytes("\rz"), "bare CR kept");

  // An empty chunk keeps the CR pending.
  assert.deepEqual(dec.decode(bytes("\r")), new Uint8Array(0));
  assert.deepEqual(dec.decode(new Uint8Array(0)), new Uint8Array(0));
  assert.deepEqual(dec.decode(bytes("\n")), bytes("\n"));

  // Two CRs across chunks.
  assert.deepEqual(dec.decode(bytes("\r")), new Uint8Array(0));
  assert.deepEqual(dec.decode(bytes("\r")), bytes("\r"));
  assert.deepEqual(dec.decode(new Uint8Array([0])), bytes("\r"));
  assert.deepEqual(dec.flush(), new Uint8Array(0));
});

Deno.test("netascii: flush returns a held CR once", () => {
  const dec = new NetasciiDecoder();
  assert.deepEqual(dec.decode(bytes("end\r")), bytes("end"));
  assert.deepEqual(dec.flush(), new Uint8Array([CR]));
  assert.deepEqual(dec.flush(), new Uint8Array(0));
  assert.deepEqual(dec.decode(bytes("\n")), bytes("\n"), "no CR left over");
});

Deno.test("netascii: netasciiLength counts the wire bytes", () => {
  assert.equal(netasciiLength(new Uint8Array(0)), 0);
  assert.equal(netasciiLength(bytes("abc")), 3);
  assert.equal(netasciiLength(bytes("a\nb\r")), 6);
  assert.equal(netasciiLength(bytes("\r\n")), 4);
  const enc = new NetasciiEncoder();
  const sample = bytes("line 1\nline 2\r\n\r\r\n\n\n end");
  assert.equal(netasciiLength(sample), enc.encode(sample).length);
});

Deno.test("netascii: random bytes round trip through random chunk sizes", () => {
  const rng = new Rng(20240601);
  const rand = () => rng.float();
  for (let round = 0; round < 300; round++) {
    const len = Math.floor(rand() * 3000);
    const local = new Uint8Array(len);
    for (let i = 0; i < len; i++) {
      const r = rand();
      // Plenty of CR, LF and NUL so that boundaries hit them often.
      local[i] = r < 0.2
        ? CR
        : r < 0.35
        ? LF
        : r < 0.45
        ? 0
        : Math.floor(rand() * 256);
    }
    const enc = new NetasciiEncoder();
    const wire = concat(split(local, rand, 40).map((c) => enc.encode(c)));
    assert.equal(wire.length, netasciiLength(local));
    assert.deepEqual(wire, new NetasciiEncoder().encode(local));

    const chunks = split(wire, rand, 40);
    const dec = new NetasciiDecoder();
    const back = concat([...chunks.map((c) => dec.decode(c)), dec.flush()]);
    assert.deepEqual(back, local, `round ${round}`);
  }
});

Deno.test("netascii: a CR at the end of every chunk is joined with the next", () => {
  // "ab\r\n" repeated, cut right after each CR, so every chunk ends in CR.
  const local = bytes("ab\nab\rab\nab\r");
  const wire = new NetasciiEncoder().encode(local);
  const chunks: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i < wire.length; i++) {
    if (wire[i] === CR) {
      chunks.push(wire.subarray(start, i + 1));
      start = i + 1;
    }
  }
  chunks.push(wire.subarray(start));
  assert.ok(chunks.length > 3);
  const dec = new NetasciiDecoder();
  const outs = chunks.map((c) => dec.decode(c));
  for (const o of outs.slice(0, -1)) {
    assert.notEqual(o[o.length - 1], CR, "a trailing CR is held back");
  }
  assert.deepEqual(concat([...outs, dec.flush()]), local);
});
