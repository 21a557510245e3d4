/**
 * A ReadSession over a fake transport and clock: lock-step and windowed
 * reads, OACK, duplicate ACKs, retransmits and giving up, and the block
 * number rollover.
 */

import assert from "node:assert/strict";
import { Opcode } from "../../src/protocol/packet.ts";
import { MemoryStorage } from "../../src/storage/memory.ts";
import { elapse, settle } from "../../testing/fake.ts";
import {
  ack,
  dataBlocks,
  ended,
  expectData,
  expectOack,
  pattern,
  pkt,
  start,
  summary,
} from "./session_cases.ts";

Deno.test("session: lock-step read of a whole file", async () => {
  const content = pattern(1300);
  const h = start(
    "read",
    "boot.bin",
    new MemoryStorage({ "boot.bin": content }),
  );
  const t = h.transport;
  expectData((await t.waitForSent(1))[0], 1, content.subarray(0, 512));
  ack(h, 1);
  expectData((await t.waitForSent(2))[1], 2, content.subarray(512, 1024));
  ack(h, 2);
  expectData((await t.waitForSent(3))[2], 3, content.subarray(1024));
  ack(h, 3);
  const stats = await ended(h);
  assert.equal(t.sent.length, 3);
  assert.equal(stats.outcome, "ok");
  assert.equal(stats.bytes, 1300);
  assert.equal(stats.direction, "read");
  assert.equal(stats.retransmits, 0);
  assert.equal(stats.peer, "127.0.0.1:50000");
  assert.deepEqual(stats.options, {});
  assert.match(
    h.lines[0].line,
    /\[INFO\] 127\.0\.0\.1:50000 RRQ "boot\.bin" octet$/,
  );
  assert.equal(summary(h).level, "info");
  assert.match(summary(h).line, /"boot\.bin" octet: ok, 1300 bytes in /);
});

Deno.test("session: read of an exact multiple ends with an empty block", async () => {
  const content = pattern(1024);
  const h = start("read", "f", new MemoryStorage({ f: content }));
  const t = h.transport;
  await t.waitForSent(1);
  ack(h, 1);
  await t.waitForSent(2);
  ack(h, 2);
  expectData((await t.waitForSent(3))[2], 3, new Uint8Array(0));
  ack(h, 3);
  const stats = await ended(h);
  assert.equal(stats.outcome, "ok");
  assert.equal(stats.bytes, 1024);
});

Deno.test("session: read of an empty file sends one empty block", async () => {
  const h = start("read", "empty", new MemoryStorage({ empty: "" }));
  expectData((await h.transport.waitForSent(1))[0], 1, new Uint8Array(0));
  ack(h, 1);
  const stats = await ended(h);
  assert.equal(stats.outcome, "ok");
  assert.equal(stats.bytes, 0);
});

Deno.test("session: read with OACK (blksize, tsize)", async () => {
  const content = pattern(1300);
  const h = start("read", "f", new MemoryStorage({ f: content }), {
    options: [["blksize", "1024"], ["tsize", "0"], ["unknown", "x"]],
  });
  const t = h.transport;
  expectOack((await t.waitForSent(1))[0], [["blksize", "1024"], [
    "tsize",
    "1300",
  ]]);
  await settle();
  assert.equal(t.sent.length, 1, "no DATA before ACK 0");
  ack(h, 0);
  expectData((await t.waitForSent(2))[1], 1, content.subarray(0, 1024));
  ack(h, 1);
  expectData((await t.waitForSent(3))[2], 2, content.subarray(1024));
  ack(h, 2);
  const stats = await ended(h);
  assert.equal(stats.outcome, "ok");
  assert.deepEqual(stats.options, { blksize: "1024", tsize: "1300" });
  assert.match(summary(h).line, /octet blksize=1024 tsize=1300: ok/);
});

Deno.test("session: windowed read with a mid-window ACK", async () => {
  const content = pattern(10 * 512 + 100);
  const h = start("read", "f", new MemoryStorage({ f: content }), {
    options: [["windowsize", "4"]],
  });
  const t = h.transport;
  expectOack((await t.waitForSent(1))[0], [["windowsize", "4"]]);
  ack(h, 0);
  assert.deepEqual(dataBlocks(await t.waitForSent(5, 1)), [1, 2, 3, 4]);
  // Blocks 3 and 4 were lost: the client ACKs 2.
  ack(h, 2);
  assert.deepEqual(dataBlocks(await t.waitForSent(9, 5)), [3, 4, 5, 6]);
  ack(h, 6);
  assert.deepEqual(dataBlocks(await t.waitForSent(13, 9)), [7, 8, 9, 10]);
  ack(h, 10);
  assert.deepEqual(dataBlocks(await t.waitForSent(14, 13)), [11]);
  ack(h, 11);
  const stats = await ended(h);
  assert.equal(stats.outcome, "ok");
  assert.equal(stats.bytes, content.length);
  assert.equal(t.sent.length, 14);
  // What a client keeping the last copy of each block would have.
  const blocks = new Map<number, Uint8Array>();
  for (const p of t.sent.map(pkt)) {
    if (p.op === Opcode.DATA) blocks.set(p.block, p.data);
  }
  const got = new Uint8Array(content.length);
  for (const [b, d] of blocks) got.set(d, (b - 1) * 512);
  assert.deepEqual(got, content);
});

Deno.test("session: duplicate ACKs produce no extra DATA", async () => {
  const content = pattern(2000);
  const h = start("read", "f", new MemoryStorage({ f: content }));
  const t = h.transport;
  await t.waitForSent(1);
  ack(h, 1);
  await t.waitForSent(2);
  for (let i = 0; i < 5; i++) ack(h, 1);
  ack(h, 0);
  ack(h, 9); // never sent
  await settle();
  assert.equal(t.sent.length, 2, "Sorcerer's Apprentice: no resend on dup ACK");
  for (let b = 2; b <= 3; b++) {
    ack(h, b);
    await t.waitForSent(b + 1);
  }
  assert.deepEqual(dataBlocks(t.sent), [1, 2, 3, 4]);
  ack(h, 4);
  const stats = await ended(h);
  assert.equal(stats.outcome, "ok");
  assert.equal(stats.retransmits, 0);
});

Deno.test("session: duplicate window ACKs produce no extra DATA", async () => {
  const h = start("read", "f", new MemoryStorage({ f: pattern(20 * 512) }), {
    options: [["windowsize", "8"]],
  });
  const t = h.transport;
  await t.waitForSent(1);
  ack(h, 0);
  await t.waitForSent(9);
  ack(h, 8);
  await t.waitForSent(17);
  ack(h, 8);
  ack(h, 8);
  ack(h, 0);
  await settle();
  assert.equal(t.sent.length, 17);
  assert.deepEqual(dataBlocks(t.sent.slice(9)), [
    9,
    10,
    11,
    12,
    13,
    14,
    15,
    16,
  ]);
  h.session.cancel();
  assert.equal((await ended(h)).outcome, "cancelled");
});

Deno.test("session: timeout retransmits the window", async () => {
  const content = pattern(6 * 512 + 1);
  const h = start("read", "f", new MemoryStorage({ f: content }), {
    options: [["windowsize", "4"]],
  });
  const t = h.transport;
  await t.waitForSent(1);
  // The OACK is lost: it is sent again after one interval (0.5 s).
  await elapse(h.clock, 499);
  assert.equal(t.sent.length, 1);
  await elapse(h.clock, 1);
  expectOack((await t.waitForSent(2))[1], [["windowsize", "4"]]);
  ack(h, 0);
  assert.deepEqual(dataBlocks(await t.waitForSent(6, 2)), [1, 2, 3, 4]);
  await elapse(h.clock, 500);
  assert.deepEqual(dataBlocks(await t.waitForSent(10, 6)), [1, 2, 3, 4]);
  ack(h, 3);
  assert.deepEqual(dataBlocks(await t.waitForSent(14, 10)), [4, 5, 6, 7]);
  await elapse(h.clock, 500);
  assert.deepEqual(dataBlocks(await t.waitForSent(18, 14)), [4, 5, 6, 7]);
  ack(h, 7);
  const stats = await ended(h);
  assert.equal(stats.outcome, "ok");
  assert.equal(stats.retransmits, 3);
  assert.equal(stats.bytes, content.length);
});

Deno.test("session: read gives up after maxRetries with a bounded number of datagrams", async () => {
  const h = start("read", "f", new MemoryStorage({ f: pattern(100 * 512) }), {
    options: [["windowsize", "4"]],
    config: { maxRetries: 2, connTimeout: 1000 },
  });
  const t = h.transport;
  await t.waitForSent(1);
  ack(h, 0);
  await t.waitForSent(5);
  await elapse(h.clock, 60_000);
  const stats = await ended(h);
  assert.equal(stats.outcome, "timeout");
  assert.equal(stats.retransmits, 2);
  // OACK + the window, then 2 resends of the window, nothing more.
  assert.equal(t.sent.length, 1 + 4 * 3);
  assert.deepEqual(dataBlocks(t.sent.slice(1)), [
    1,
    2,
    3,
    4,
    1,
    2,
    3,
    4,
    1,
    2,
    3,
    4,
  ]);
  assert.equal(summary(h).level, "warning");
  assert.match(summary(h).line, /: timeout \(no ACK from client\)/);
});

Deno.test("session: read gives up after the overall timeout with default settings", async () => {
  const h = start("read", "f", new MemoryStorage({ f: pattern(5000) }));
  const t = h.transport;
  await t.waitForSent(1);
  await elapse(h.clock, 60_000);
  const stats = await ended(h);
  assert.equal(stats.outcome, "timeout");
  // 3 s without progress at 0.5 s per retransmit, at most 5 retries.
  assert.deepEqual(dataBlocks(t.sent), [1, 1, 1, 1, 1, 1]);
});

Deno.test("session: the client's timeout option sets the retransmit interval", async () => {
  const h = start("read", "f", new MemoryStorage({ f: pattern(600) }), {
    options: [["timeout", "2"]],
  });
  const t = h.transport;
  expectOack((await t.waitForSent(1))[0], [["timeout", "2"]]);
  ack(h, 0);
  await t.waitForSent(2);
  await elapse(h.clock, 1999);
  assert.equal(t.sent.length, 2);
  await elapse(h.clock, 1);
  assert.deepEqual(dataBlocks(await t.waitForSent(3)), [-6, 1, 1]);
  ack(h, 1);
  await t.waitForSent(4);
  ack(h, 2);
  assert.equal((await ended(h)).outcome, "ok");
});

Deno.test("session: windowed read across block number rollover", async () => {
  // blksize 8, window 16 (a larger one starts paced: pacing_sender_test.ts):
  // 65537 full blocks and a short one.
  const blocks = 65538;
  const content = pattern(8 * (blocks - 1) + 3);
  const h = start("read", "big", new MemoryStorage({ big: content }), {
    options: [["blksize", "8"], ["windowsize", "16"]],
  });
  const t = h.transport;
  await t.waitForSent(1);
  ack(h, 0);
  let acked = 0;
  while (acked < blocks) {
    const top = Math.min(acked + 16, blocks);
    await t.waitForSent(1 + top);
    acked = top;
    ack(h, acked & 0xffff);
  }
  const stats = await ended(h);
  assert.equal(stats.outcome, "ok");
  assert.equal(stats.bytes, content.length);
  assert.equal(t.sent.length, 1 + blocks);
  // Sent in order, so packet i+1 is block i: check the wire numbers.
  const wireOf = (abs: number) => (pkt(t.sent[abs]) as { block: number }).block;
  assert.equal(wireOf(65535), 65535);
  assert.equal(wireOf(65536), 0);
  assert.equal(wireOf(65537), 1);
  assert.equal(wireOf(65538), 2);
  const got = new Uint8Array(content.length);
  for (let i = 1; i <= blocks; i++) {
    const p = pkt(t.sent[i]);
    assert.equal(p.op, Opcode.DATA);
    if (p.op === Opcode.DATA) got.set(p.data, (i - 1) * 8);
  }
  assert.deepEqual(got, content);
});
