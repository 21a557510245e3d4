/**
 * The busy-poll controller: how long a lone transfer spins before each
 * receive, learned from whether replies were already there.
 */

import assert from "node:assert/strict";
import { BusyPoll, spin } from "../../src/transport/busy_poll.ts";

Deno.test("hits shorten the spin to 1 µs, misses lengthen it up to the maximum", () => {
  const poll = new BusyPoll({ maxUs: 20, startUs: 10, hitUs: 5 });
  assert.equal(poll.spinUs, 10);
  poll.record(2);
  assert.equal(poll.spinUs, 9);
  for (let i = 0; i < 20; i++) poll.record(1);
  assert.equal(poll.spinUs, 1);
  poll.record(80);
  assert.equal(poll.spinUs, 4);
  for (let i = 0; i < 10; i++) poll.record(80);
  assert.equal(poll.spinUs, 20);
  assert.equal(poll.spins, 32);
  assert.equal(poll.hits, 21);
});

Deno.test("it settles where about three replies in four are already there", () => {
  // Replies arrive 12 µs after the send: a spin of 12 µs or more hits.
  const poll = new BusyPoll({ maxUs: 50, startUs: 2, hitUs: 5 });
  for (let i = 0; i < 1000; i++) {
    poll.record(poll.spinUs >= 12 ? 1 : 40);
  }
  assert.ok(poll.spinUs >= 10 && poll.spinUs <= 15, `spin ${poll.spinUs}`);
  assert.ok(poll.hits / poll.spins > 0.7, `${poll.hits}/${poll.spins}`);
});

Deno.test("a far client pauses spinning, which is tried again later", () => {
  const poll = new BusyPoll({
    maxUs: 10,
    startUs: 10,
    giveUpAfter: 4,
    pauseFor: 8,
  });
  for (let i = 0; i < 4; i++) poll.record(300);
  assert.equal(poll.spinUs, 0, "paused after 4 misses at the maximum");
  for (let i = 0; i < 7; i++) poll.record(300);
  assert.equal(poll.spinUs, 0);
  poll.record(300);
  assert.equal(poll.spinUs, 10, "tried again after 8 receives");
  assert.equal(poll.spins, 4, "receives while paused are not spins");
});

Deno.test("maxUs 0 turns it off for good", () => {
  const poll = new BusyPoll({ maxUs: 0 });
  assert.equal(poll.enabled, false);
  assert.equal(poll.spinUs, 0);
  for (let i = 0; i < 1000; i++) poll.record(1);
  assert.equal(poll.spinUs, 0);
});

Deno.test("spin waits on the given clock", () => {
  let t = 0;
  let reads = 0;
  spin(5, () => {
    reads++;
    return (t += 0.001); // 1 µs per read
  });
  assert.ok(reads >= 5 && reads <= 7, `${reads} clock reads`);
  spin(0, () => {
    throw new Error("must not read the clock");
  });
});
