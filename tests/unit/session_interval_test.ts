/**
 * The adaptive retransmit interval of a session: how it adapts, backs off
 * and is capped at ack-timeout, Karn's rule, and the fixed interval of
 * minRtoMs 0.
 */

import assert from "node:assert/strict";
import { MemoryStorage } from "../../src/storage/memory.ts";
import { elapse, settle } from "../../testing/fake.ts";
import {
  ack,
  data,
  dataBlocks,
  ended,
  expectAck,
  pattern,
  start,
} from "./session_cases.ts";

Deno.test({
  name: "session: read retransmit interval follows the measured round trip",
  fn: async () => {
    const h = start("read", "f", new MemoryStorage({ f: pattern(5 * 512) }));
    const t = h.transport;
    await t.waitForSent(1);
    await settle();
    h.clock.advance(20); // a 20 ms round trip
    ack(h, 1);
    await t.waitForSent(2);
    // srtt 20, rttvar 10: interval 20 + 4 * 10 = 60 ms.
    await elapse(h.clock, 59);
    assert.equal(t.sent.length, 2, "not before 60 ms");
    await elapse(h.clock, 1);
    assert.deepEqual(dataBlocks(await t.waitForSent(3)), [1, 2, 2]);
    // Backoff doubles it: 120 ms, then 240 ms.
    await elapse(h.clock, 119);
    assert.equal(t.sent.length, 3);
    await elapse(h.clock, 1);
    await t.waitForSent(4);
    await elapse(h.clock, 239);
    assert.equal(t.sent.length, 4);
    await elapse(h.clock, 1);
    assert.deepEqual(dataBlocks(await t.waitForSent(5)), [1, 2, 2, 2, 2]);
    h.session.cancel();
    await ended(h);
  },
});

Deno.test({
  name: "session: write re-ACK interval follows the measured round trip",
  fn: async () => {
    const storage = new MemoryStorage({}, { writable: true });
    const h = start("write", "x", storage);
    const t = h.transport;
    await t.waitForSent(1);
    await settle();
    h.clock.advance(20);
    data(h, 1, pattern(512));
    expectAck((await t.waitForSent(2))[1], 1);
    await elapse(h.clock, 59);
    assert.equal(t.sent.length, 2, "not before 60 ms");
    await elapse(h.clock, 1);
    expectAck((await t.waitForSent(3))[2], 1);
    h.session.cancel();
    await ended(h);
  },
});

Deno.test("session: the interval backs off and is capped at ack-timeout", async () => {
  // Measures the gaps between retransmits after a 20 ms round trip: they
  // grow (backoff) and end at the ack-timeout cap.
  const h = start("read", "f", new MemoryStorage({ f: pattern(5 * 512) }), {
    config: { maxRetries: 10, connTimeout: 100 },
  });
  const t = h.transport;
  await t.waitForSent(1);
  await settle();
  h.clock.advance(20);
  ack(h, 1);
  await t.waitForSent(2);
  const t0 = h.clock.now();
  const times: number[] = [];
  for (let i = 0; i < 6; i++) {
    const n = t.sent.length;
    // Step 10 ms at a time until the next retransmit.
    for (let step = 0; step < 100 && t.sent.length === n; step++) {
      await elapse(h.clock, 10);
    }
    assert.equal(t.sent.length, n + 1, `retransmit ${i + 1}`);
    times.push(h.clock.now() - t0);
  }
  const gaps = times.map((x, i) => x - (i ? times[i - 1] : 0)).slice(1);
  // Each gap is at least as long as the one before, and never above 500 ms.
  for (let i = 1; i < gaps.length; i++) {
    assert.ok(gaps[i] >= gaps[i - 1], `${gaps}`);
  }
  for (const g of gaps) assert.ok(g <= 500, `${gaps}`);
  assert.equal(gaps[gaps.length - 1], 500, `capped: ${gaps}`);
  h.session.cancel();
  await ended(h);
});

Deno.test("session: no RTT sample from a retransmitted block (Karn's rule)", async () => {
  const h = start("read", "f", new MemoryStorage({ f: pattern(5 * 512) }));
  const t = h.transport;
  await t.waitForSent(1);
  await elapse(h.clock, 500);
  await t.waitForSent(2); // DATA 1 again
  await settle();
  h.clock.advance(20);
  ack(h, 1);
  await t.waitForSent(3);
  // No sample: the interval is still the full ack-timeout.
  await elapse(h.clock, 499);
  assert.equal(t.sent.length, 3);
  await elapse(h.clock, 1);
  assert.deepEqual(dataBlocks(await t.waitForSent(4)), [1, 1, 2, 2]);
  h.session.cancel();
  await ended(h);
});

Deno.test("session: minRtoMs 0 keeps the fixed ack-timeout", async () => {
  const h = start("read", "f", new MemoryStorage({ f: pattern(5 * 512) }), {
    config: { minRtoMs: 0 },
  });
  const t = h.transport;
  await t.waitForSent(1);
  await settle();
  h.clock.advance(20);
  ack(h, 1);
  await t.waitForSent(2);
  await elapse(h.clock, 499);
  assert.equal(t.sent.length, 2);
  await elapse(h.clock, 1);
  await t.waitForSent(3);
  await elapse(h.clock, 499);
  assert.equal(t.sent.length, 3, "no backoff below ack-timeout either");
  await elapse(h.clock, 1);
  assert.deepEqual(dataBlocks(await t.waitForSent(4)), [1, 2, 2, 2]);
  h.session.cancel();
  await ended(h);
});
