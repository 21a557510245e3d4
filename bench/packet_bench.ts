/**
 * Micro-benchmarks of the packet codec (the per-datagram work).
 *
 * @module
 */

import {
  decode,
  encodeAck,
  encodeError,
  encodeOack,
  encodeRequest,
  Opcode,
  writeAck,
  writeDataHeader,
} from "../src/protocol/packet.ts";
import { negotiate } from "../src/protocol/options.ts";

const data1468 = new Uint8Array(4 + 1468);
writeDataHeader(data1468, 4242);
const ack = encodeAck(4242);
const rrq = encodeRequest(Opcode.RRQ, "pxelinux.0", {
  options: new Map([
    ["blksize", "1468"],
    ["tsize", "0"],
    ["windowsize", "16"],
    ["timeout", "1"],
  ]),
});
const ackBuf = new Uint8Array(4);
const opts = new Map([["blksize", "1468"], ["tsize", "0"]]);

Deno.bench("decode DATA (1468 bytes)", { group: "decode" }, () => {
  decode(data1468);
});

Deno.bench("decode ACK", { group: "decode", baseline: true }, () => {
  decode(ack);
});

Deno.bench("decode RRQ with 4 options", { group: "decode" }, () => {
  decode(rrq);
});

Deno.bench("writeDataHeader (in place)", { group: "encode" }, () => {
  writeDataHeader(data1468, 77);
});

Deno.bench("writeAck (in place)", { group: "encode", baseline: true }, () => {
  writeAck(ackBuf, 77);
});

Deno.bench("encodeAck (allocates)", { group: "encode" }, () => {
  encodeAck(77);
});

Deno.bench("encodeError", { group: "encode" }, () => {
  encodeError(1, "File not found");
});

Deno.bench(
  "negotiate + encodeOack (blksize, tsize)",
  { group: "encode" },
  () => {
    encodeOack(negotiate("read", opts, { size: 1 << 20 }).oack);
  },
);
