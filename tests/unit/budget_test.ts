/**
 * The retry count and give-up clock (src/protocol/budget.ts), one table per
 * rule: each case is a sequence of timer firings and progress, with the
 * verdict of each timer and the state after each event.
 */

import assert from "node:assert/strict";
import {
  RetryBudget,
  type RetryBudgetOptions,
  type TimerVerdict,
} from "../../src/protocol/budget.ts";

type Step =
  | { timer: number; verdict: TimerVerdict; state?: State }
  | { progress: number; state?: State };

interface State {
  retries?: number;
  retransmits?: number;
  giveUpAt?: number;
}

interface Case {
  name: string;
  options: RetryBudgetOptions;
  /** When the budget is created (default 0). */
  start?: number;
  steps: Step[];
}

function check(c: Case): void {
  const b = new RetryBudget(c.options, c.start ?? 0);
  for (const [i, step] of c.steps.entries()) {
    const where = `step ${i}`;
    if ("timer" in step) {
      assert.equal(b.onTimer(step.timer), step.verdict, `${where} verdict`);
    } else {
      b.progress(step.progress);
    }
    const got = {
      retries: b.retries,
      retransmits: b.retransmits,
      giveUpAt: b.giveUpAt,
    };
    for (const [k, v] of Object.entries(step.state ?? {})) {
      assert.equal(got[k as keyof State], v, `${where} ${k}`);
    }
  }
}

/** Retransmit while the count lasts, then wait, then give up. */
const exhaustion: Case[] = [
  {
    name:
      "RetryBudget.onTimer() retransmits maxRetries times, waits, gives up at giveUpMs",
    options: { maxRetries: 2, giveUpMs: 3000 },
    steps: [
      { timer: 500, verdict: "retransmit", state: { retries: 1 } },
      { timer: 1000, verdict: "retransmit", state: { retries: 2 } },
      { timer: 1500, verdict: "wait", state: { retries: 2, giveUpAt: 3000 } },
      { timer: 2999, verdict: "wait" },
      { timer: 3000, verdict: "give-up", state: { retransmits: 2 } },
    ],
  },
  {
    name:
      "RetryBudget.onTimer() gives up at giveUpMs even with retransmits left",
    options: { maxRetries: 5, giveUpMs: 1000 },
    steps: [
      { timer: 1000, verdict: "give-up", state: { retransmits: 0 } },
    ],
  },
  {
    name: "RetryBudget.onTimer() counts from the budget's creation",
    options: { maxRetries: 1, giveUpMs: 1000 },
    start: 5000,
    steps: [
      { timer: 5999, verdict: "retransmit", state: { giveUpAt: 6000 } },
      { timer: 6000, verdict: "give-up" },
    ],
  },
  {
    name: "RetryBudget with maxRetries 0 never retransmits: it only waits",
    options: { maxRetries: 0, giveUpMs: 1000 },
    steps: [
      { timer: 100, verdict: "wait", state: { retransmits: 0 } },
      { timer: 1000, verdict: "give-up" },
    ],
  },
  {
    name: "RetryBudget takes a negative maxRetries as 0",
    options: { maxRetries: -3, giveUpMs: 1000 },
    steps: [{ timer: 100, verdict: "wait", state: { retries: 0 } }],
  },
];

/** Once out of retransmits, patience (not giveUpMs) bounds the silence. */
const patience: Case[] = [
  {
    name:
      "RetryBudget.giveUpAt moves to patienceMs once the retransmits are spent",
    options: { maxRetries: 2, giveUpMs: 3000, patienceMs: 1500 },
    steps: [
      { timer: 500, verdict: "retransmit", state: { giveUpAt: 3000 } },
      { timer: 1000, verdict: "retransmit", state: { giveUpAt: 1500 } },
      { timer: 1499, verdict: "wait" },
      { timer: 1500, verdict: "give-up" },
    ],
  },
  {
    name: "RetryBudget caps patienceMs at giveUpMs",
    options: { maxRetries: 1, giveUpMs: 2000, patienceMs: 10_000 },
    steps: [
      { timer: 500, verdict: "retransmit", state: { giveUpAt: 2000 } },
      { timer: 1999, verdict: "wait" },
      { timer: 2000, verdict: "give-up" },
    ],
  },
  {
    name:
      "RetryBudget.onTimer() still retransmits when a timer fires late, while the count lasts",
    options: { maxRetries: 2, giveUpMs: 3000, patienceMs: 1000 },
    steps: [
      { timer: 1900, verdict: "retransmit" },
      { timer: 2900, verdict: "retransmit", state: { giveUpAt: 1000 } },
      { timer: 2901, verdict: "give-up" },
    ],
  },
];

/** Only progress resets the count and the clock. */
const progress: Case[] = [
  {
    name:
      "RetryBudget.progress() resets the retries and the clock, not the total",
    options: { maxRetries: 2, giveUpMs: 3000 },
    steps: [
      { timer: 500, verdict: "retransmit" },
      { timer: 1000, verdict: "retransmit" },
      {
        progress: 1200,
        state: { retries: 0, retransmits: 2, giveUpAt: 4200 },
      },
      { timer: 4199, verdict: "retransmit", state: { retransmits: 3 } },
      { timer: 4200, verdict: "give-up" },
    ],
  },
  {
    name:
      "RetryBudget.progress() after the silence started lets it retransmit again",
    options: { maxRetries: 1, giveUpMs: 3000, patienceMs: 1500 },
    steps: [
      { timer: 500, verdict: "retransmit" },
      { timer: 1000, verdict: "wait", state: { giveUpAt: 1500 } },
      { progress: 1400, state: { giveUpAt: 4400 } },
      { timer: 2000, verdict: "retransmit", state: { giveUpAt: 2900 } },
      { timer: 2900, verdict: "give-up" },
    ],
  },
];

for (const c of [...exhaustion, ...patience, ...progress]) {
  Deno.test(c.name, () => check(c));
}

Deno.test("RetryBudget.exclude: time our side kept the peer waiting is left out of the give-up clock, and the retransmits still run out", () => {
  const b = new RetryBudget({ maxRetries: 2, giveUpMs: 1000 }, 0);
  b.exclude(5000); // a storage wait before the block went out
  assert.equal(b.onTimer(3000), "retransmit");
  assert.equal(b.onTimer(4000), "retransmit");
  // Out of retransmits: waits in silence, and gives up 1000 ms after the
  // excluded time (a later wait moves that by its own length only).
  assert.equal(b.onTimer(5500), "wait");
  b.exclude(100);
  assert.equal(b.onTimer(6050), "wait");
  assert.equal(b.onTimer(6100), "give-up");
  assert.equal(b.retransmits, 2);
  b.exclude(-50); // a clock that stepped back adds nothing
  assert.equal(b.onTimer(6100), "give-up");
});
