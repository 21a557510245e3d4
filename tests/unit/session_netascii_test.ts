/**
 * Sessions in netascii mode: line ends converted both ways, tsize in wire
 * bytes, and identical blocks on a resend.
 */

import assert from "node:assert/strict";
import { Opcode } from "../../src/protocol/packet.ts";
import { NetasciiEncoder } from "../../src/protocol/netascii.ts";
import { MemoryStorage } from "../../src/storage/memory.ts";
import { elapse } from "../../testing/fake.ts";
import {
  ack,
  data,
  ended,
  expectData,
  expectOack,
  pkt,
  start,
  te,
} from "./session_cases.ts";

Deno.test("session: netascii read converts line ends, tsize counts wire bytes", async () => {
  const text = "abcdefg\nhij\rk\n";
  const wire = new NetasciiEncoder().encode(te.encode(text));
  assert.equal(wire.length, 17);
  const h = start("read", "t.txt", new MemoryStorage({ "t.txt": text }), {
    mode: "netascii",
    options: [["blksize", "8"], ["tsize", "0"]],
    config: { minRtoMs: 0 }, // a fixed 0.5 s retransmit interval
  });
  const t = h.transport;
  expectOack((await t.waitForSent(1))[0], [["blksize", "8"], ["tsize", "17"]]);
  ack(h, 0);
  // The CR LF of the first line end is split across blocks 1 and 2.
  expectData((await t.waitForSent(2))[1], 1, te.encode("abcdefg\r"));
  ack(h, 1);
  expectData((await t.waitForSent(3))[2], 2, te.encode("\nhij\r\0k\r"));
  // A lost ACK: block 2 comes again, identical.
  await elapse(h.clock, 500);
  expectData((await t.waitForSent(4))[3], 2, te.encode("\nhij\r\0k\r"));
  ack(h, 2);
  expectData((await t.waitForSent(5))[4], 3, te.encode("\n"));
  ack(h, 3);
  const stats = await ended(h);
  assert.equal(stats.outcome, "ok");
  assert.equal(stats.bytes, 17);
});

Deno.test("session: netascii read of a wire length that is a multiple of blksize", async () => {
  // "abc\n" is 5 bytes on the wire; 3 lines = 15... use blksize 10 and 2 lines.
  const h = start("read", "t", new MemoryStorage({ t: "abc\nabc\n" }), {
    mode: "netascii",
    options: [["blksize", "10"]],
  });
  const t = h.transport;
  await t.waitForSent(1);
  ack(h, 0);
  expectData((await t.waitForSent(2))[1], 1, te.encode("abc\r\nabc\r\n"));
  ack(h, 1);
  expectData((await t.waitForSent(3))[2], 2, new Uint8Array(0));
  ack(h, 2);
  assert.equal((await ended(h)).outcome, "ok");
});

Deno.test("session: netascii write converts line ends back, across blocks", async () => {
  const storage = new MemoryStorage({}, { writable: true });
  const h = start("write", "n.txt", storage, {
    mode: "netascii",
    options: [["blksize", "8"]],
  });
  const t = h.transport;
  expectOack((await t.waitForSent(1))[0], [["blksize", "8"]]);
  data(h, 1, te.encode("abcdefg\r"));
  await t.waitForSent(2);
  data(h, 2, te.encode("\nxy\r\0z\r"));
  await t.waitForSent(3);
  assert.deepEqual(storage.files.get("n.txt"), te.encode("abcdefg\nxy\rz\r"));
  await elapse(h.clock, 3000);
  assert.equal((await ended(h)).outcome, "ok");
});

Deno.test("session: netascii write whose last byte is CR keeps it", async () => {
  const storage = new MemoryStorage({}, { writable: true });
  const h = start("write", "cr", storage, { mode: "netascii" });
  await h.transport.waitForSent(1);
  data(h, 1, te.encode("line\r\nend\r"));
  await h.transport.waitForSent(2);
  assert.deepEqual(storage.files.get("cr"), te.encode("line\nend\r"));
  await elapse(h.clock, 3000);
  await ended(h);
});

Deno.test("session: netascii windowed read resends identical blocks after a mid-window ACK and a timeout", async () => {
  const text = "a\nb\rc\n".repeat(40);
  const wire = new NetasciiEncoder().encode(te.encode(text));
  const h = start("read", "t", new MemoryStorage({ t: text }), {
    mode: "netascii",
    options: [["blksize", "16"], ["windowsize", "4"]],
  });
  const t = h.transport;
  await t.waitForSent(1);
  ack(h, 0);
  await t.waitForSent(5);
  ack(h, 2);
  await t.waitForSent(9);
  await elapse(h.clock, 500);
  await t.waitForSent(13);
  const lastBlock = Math.floor(wire.length / 16) + 1;
  let top = 6;
  while (top < lastBlock) {
    ack(h, top);
    const next = Math.min(top + 4, lastBlock);
    // Two timeouts in a row on one window pace the rest of the transfer
    // (src/protocol/pacing.ts): its bursts go out as the clock moves.
    const want = t.sent.length + (next - top);
    for (let ms = 0; t.sent.length < want && ms < 100; ms++) {
      await elapse(h.clock, 1);
    }
    await t.waitForSent(want);
    top = next;
  }
  ack(h, lastBlock);
  const stats = await ended(h);
  assert.equal(stats.outcome, "ok");
  assert.equal(stats.bytes, wire.length);
  // Every copy of a block carries the same bytes, and together they are the
  // netascii text.
  const blocks = new Map<number, Uint8Array>();
  for (const p of t.sent.map(pkt)) {
    if (p.op !== Opcode.DATA) continue;
    const seen = blocks.get(p.block);
    if (seen) assert.deepEqual(p.data, seen, `block ${p.block} changed`);
    blocks.set(p.block, p.data.slice());
  }
  const got: number[] = [];
  for (let b = 1; b <= lastBlock; b++) got.push(...blocks.get(b)!);
  assert.deepEqual(new Uint8Array(got), wire);
});
