/**
 * How long a server transfer keeps trying, from its flags and the client's
 * `timeout` option: the schedule `serverRetry` gives the transfer machines
 * (sans IO, over a grid of flags), and the same rule seen from a session's
 * socket.
 */

import assert from "node:assert/strict";
import {
  RequestPhase,
  serverRetry,
  type ServerTiming,
} from "../../src/protocol/transfer.ts";
import { MemoryStorage } from "../../src/storage/memory.ts";
import { elapse } from "../../testing/fake.ts";
import { ack, type Harness, pattern, start } from "./session_cases.ts";

interface Schedule {
  resends: number[];
  giveUp: number;
}

/** Runs the timer of a transfer that never hears back, bounded in steps. */
function schedule(timing: ServerTiming, clientTimeout?: number): Schedule {
  const phase = new RequestPhase(serverRetry(timing, clientTimeout), 0);
  const resends: number[] = [];
  for (let i = 0; i < 1000; i++) {
    const at = phase.deadline;
    const verdict = phase.onTimer(at);
    if (verdict === "give-up") return { resends, giveUp: at };
    if (verdict === "retransmit") resends.push(at);
  }
  throw new Error("no give-up in 1000 timer events");
}

const GRID: ServerTiming[] = [];
for (const ackTimeout of [0.1, 0.5, 1, 5]) {
  for (const connTimeout of [0.5, 1, 3, 10, 60]) {
    for (const maxRetries of [0, 1, 5, 100]) {
      for (const maxIdle of [1, 2, 30]) {
        GRID.push({
          ackTimeout,
          connTimeout,
          maxRetries,
          maxIdle,
          minRtoMs: 0,
        });
      }
    }
  }
}

Deno.test("serverRetry: no flags and no option outlast --max-idle or --retries", () => {
  for (const timing of GRID) {
    for (const t of [undefined, 1, 2, 5, 255]) {
      const s = schedule(timing, t);
      const label = JSON.stringify({ timing, t, s });
      assert.ok(s.giveUp <= timing.maxIdle! * 1000, label);
      assert.ok(s.resends.length <= timing.maxRetries, label);
      // Every resend happens before the give-up, none after.
      assert.ok(s.resends.every((r) => r < s.giveUp), label);
      const bound = Math.min(timing.connTimeout, timing.maxIdle!) * 1000;
      if (t === undefined) {
        const interval = timing.ackTimeout * 1000;
        // Out of retransmits, waiting ends one interval after the last.
        const patience = interval * (timing.maxRetries + 1);
        assert.equal(s.giveUp, Math.min(bound, patience), label);
      } else {
        // The option's interval, exactly.
        s.resends.forEach((r, i) => assert.equal(r, (i + 1) * t * 1000, label));
        // A longer timer never shortens the time a client is given.
        const patience = t * 1000 * (timing.maxRetries + 1);
        assert.ok(s.giveUp >= Math.min(bound, patience), label);
      }
    }
  }
});

Deno.test("serverRetry: a client's timeout option scales --timeout, not --retries", () => {
  const flags = { ackTimeout: 1, connTimeout: 1, maxRetries: 100, maxIdle: 30 };
  // The hostile review's case: 30 s and 29 resends before the fix.
  assert.deepEqual(schedule(flags, 1), { resends: [], giveUp: 1000 });
  const half = { ...flags, ackTimeout: 0.5 };
  assert.deepEqual(schedule(half, 1), { resends: [1000], giveUp: 2000 });
});

Deno.test("serverRetry: the defaults give a firmware's timer its resends", () => {
  const d: ServerTiming = {
    ackTimeout: 0.5,
    connTimeout: 3,
    maxRetries: 5,
    maxIdle: 30,
    minRtoMs: 50,
  };
  // U-Boot asks timeout 5: five resends 5 s apart, then 30 s in all.
  assert.deepEqual(schedule(d, 5), {
    resends: [5000, 10_000, 15_000, 20_000, 25_000],
    giveUp: 30_000,
  });
  assert.deepEqual(schedule(d, 1).giveUp, 6000);
  assert.deepEqual(schedule(d, 2).giveUp, 12_000);
  assert.deepEqual(schedule(d, 255).resends, []);
  assert.deepEqual(schedule(d, 255).giveUp, 30_000);
  // No option: 3 s, a resend every 0.5 s until the retries are spent.
  assert.deepEqual(schedule(d), {
    resends: [500, 1000, 1500, 2000, 2500],
    giveUp: 3000,
  });
});

Deno.test("serverRetry: --max-idle below --timeout is the bound", () => {
  const flags = { ackTimeout: 0.5, connTimeout: 3, maxRetries: 5, maxIdle: 2 };
  assert.equal(schedule(flags).giveUp, 2000);
  assert.equal(schedule(flags, 1).giveUp, 2000);
});

/** Steps a session's clock until its socket closes: when, and what it sent. */
async function lifetime(h: Harness, limitMs: number) {
  const t0 = h.clock.now();
  const sends: number[] = [];
  for (let t = 0; t < limitMs && !h.transport.closed; t += 50) {
    const before = h.transport.sent.length;
    await elapse(h.clock, 50);
    for (let i = before; i < h.transport.sent.length; i++) {
      sends.push(h.clock.now() - t0);
    }
  }
  const stats = await h.run;
  return { sends, closedBy: h.clock.now() - t0, outcome: stats.outcome };
}

Deno.test("session: a client's timeout 1 ends at --timeout times 1 / --ack-timeout", async () => {
  const h = start("read", "f", new MemoryStorage({ f: pattern(5000) }), {
    options: [["timeout", "1"]],
    config: { connTimeout: 1, maxRetries: 100 },
  });
  await h.transport.waitForSent(1);
  const r = await lifetime(h, 40_000);
  // The OACK, resent once a second later, then nothing: over by 2 s.
  assert.equal(r.outcome, "timeout");
  assert.deepEqual(r.sends, [1000]);
  assert.equal(r.closedBy, 2000);
});

Deno.test("session: --max-idle ends a transfer before a longer --timeout", async () => {
  for (const options of [[], [["timeout", "1"]]] as [string, string][][]) {
    const h = start("read", "f", new MemoryStorage({ f: pattern(5000) }), {
      options,
      config: { maxIdle: 2 },
    });
    await h.transport.waitForSent(1);
    if (options.length) ack(h, 0);
    const r = await lifetime(h, 40_000);
    assert.equal(r.outcome, "timeout");
    assert.equal(r.closedBy, 2000, JSON.stringify(options));
  }
});
