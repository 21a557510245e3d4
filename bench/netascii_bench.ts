/**
 * Micro-benchmarks of netascii conversion on one 1468-byte block of text.
 *
 * @module
 */

import {
  NetasciiDecoder,
  NetasciiEncoder,
  netasciiLength,
} from "../src/protocol/netascii.ts";

const line = "kernel /boot/vmlinuz root=/dev/sda1 quiet\n";
const text = new TextEncoder().encode(
  line.repeat(Math.ceil(1468 / line.length)),
)
  .subarray(0, 1468);
const binary = new Uint8Array(1468).map((_, i) => (i * 7) & 0x7f | 0x20);
const encoder = new NetasciiEncoder();
const wire = new NetasciiEncoder().encode(text);
const decoder = new NetasciiDecoder();

Deno.bench("encode text block (line ends)", { group: "netascii" }, () => {
  encoder.encode(text);
});

Deno.bench("encode block without line ends", { group: "netascii" }, () => {
  encoder.encode(binary);
});

Deno.bench("decode text block", { group: "netascii" }, () => {
  decoder.decode(wire);
});

Deno.bench(
  "netasciiLength of a block",
  { group: "netascii", baseline: true },
  () => {
    netasciiLength(text);
  },
);
