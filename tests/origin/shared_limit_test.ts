/**
 * The request limit a server's threads share (`shared_limit.ts`), here
 * with several handles on one buffer in one thread: each handle counts as
 * a thread would. The cross-thread run is in `workers_bound_test.ts`.
 */

import assert from "node:assert/strict";
import {
  reclaimSlots,
  SharedLimiter,
  sharedSlots,
} from "../../src/storage/origin/shared_limit.ts";

/** Handles on one new limit of `max`, for threads 0 to `threads`. */
function limits(max: number, threads: number): SharedLimiter[] {
  const slots = sharedSlots(max, threads);
  return Array.from(
    { length: threads + 1 },
    (_, thread) => new SharedLimiter({ ...slots, thread }),
  );
}

Deno.test("SharedLimiter: the bound counts every thread's holders, and any thread's release lets a waiter in", async () => {
  const [a, b, c] = limits(2, 2);
  const ra = await a.acquire();
  const rb = await b.acquire();
  assert.equal(c.active, 2);
  let got = false;
  const waiting = c.acquire().then((r) => (got = true, r));
  assert.equal(a.waiting, 1);
  // Nothing frees a slot yet: the waiter is still waiting after its
  // handle has had every chance to run.
  await Promise.resolve();
  assert.equal(got, false);
  rb();
  rb(); // a second call does nothing
  const rc = await waiting;
  assert.equal(a.active, 2);
  assert.equal(a.waiting, 0);
  ra();
  rc();
  assert.equal(b.active, 0);
});

Deno.test("SharedLimiter: an aborted wait rejects with its reason, and the next waiter still gets the freed slot", async () => {
  const [a, b, c] = limits(1, 2);
  const held = await a.acquire();
  const ac = new AbortController();
  const gaveUp = b.acquire(ac.signal);
  const next = c.acquire();
  assert.equal(a.waiting, 2);
  ac.abort(new Error("no response within 5 ms"));
  await assert.rejects(gaveUp, /no response within 5 ms/);
  assert.equal(a.waiting, 1);
  await assert.rejects(b.acquire(ac.signal), /no response within 5 ms/);
  held();
  const release = await next;
  assert.equal(a.active, 1);
  release();
  assert.equal(a.active, 0);
  assert.equal(a.waiting, 0);
});

Deno.test("SharedLimiter: a dead thread's slots are reclaimed, and a waiter gets one", async () => {
  const slots = sharedSlots(2, 2);
  const dead = new SharedLimiter({ ...slots, thread: 2 });
  const live = new SharedLimiter(slots);
  await dead.acquire();
  await dead.acquire();
  const mine = live.acquire();
  assert.equal(live.waiting, 1);
  assert.equal(reclaimSlots(slots, 2), 2);
  assert.equal(reclaimSlots(slots, 2), 0);
  (await mine)();
  assert.equal(live.active, 0);
});

Deno.test("SharedLimiter: arrival() resolves when a wait starts in any thread", async () => {
  const [a, b] = limits(1, 1);
  const held = await a.acquire();
  const seen = a.arrivals;
  let arrived = false;
  const watch = a.arrival(seen).then(() => arrived = true);
  await Promise.resolve();
  assert.equal(arrived, false);
  const wait = b.acquire();
  await watch;
  assert.notEqual(a.arrivals, seen);
  held();
  (await wait)();
});

Deno.test("sharedSlots: refuses a bound below 1 and a thread it has no word for", () => {
  assert.throws(() => sharedSlots(0, 1), /invalid limit 0/);
  assert.throws(
    () => new SharedLimiter({ ...sharedSlots(1, 1), thread: 2 }),
    /no thread 2/,
  );
});
