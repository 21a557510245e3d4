/**
 * The retransmit interval (src/protocol/rto.ts), one table per rule: each
 * case is a sequence of samples and timeouts and the interval after each.
 */

import assert from "node:assert/strict";
import { Rto, type RtoOptions } from "../../src/protocol/rto.ts";

/** A round trip measured (ms), or a timeout. */
type Event = number | "timeout";

interface Case {
  name: string;
  options: RtoOptions;
  /** Events, each with the interval after it. */
  steps: [Event, number][];
  /** Whether a round trip counts as measured at the end. */
  measured: boolean;
}

const ADAPTIVE: RtoOptions = { initialMs: 1000, minMs: 50 };

function check(c: Case): void {
  const rto = new Rto(c.options);
  assert.equal(rto.ms, c.options.initialMs, "before any event");
  assert.equal(rto.measured, false, "before any event");
  for (const [i, [event, ms]] of c.steps.entries()) {
    if (event === "timeout") rto.backoff();
    else rto.sample(event);
    assert.equal(rto.ms, ms, `after event ${i} (${event})`);
  }
  assert.equal(rto.measured, c.measured);
}

/** The adaptive interval: RFC 6298's estimate, clamped to [minMs, initialMs]. */
const estimate: Case[] = [
  {
    name:
      "Rto.sample() makes the first interval srtt + 4 * (rtt / 2), three round trips",
    options: ADAPTIVE,
    steps: [[100, 300]],
    measured: true,
  },
  {
    name: "Rto.sample() smooths later samples (rttvar 3/4, srtt 7/8)",
    options: ADAPTIVE,
    // Second: rttvar 0.75 * 50 = 37.5, srtt 100: 250. Third: rttvar
    // 0.75 * 37.5 + 0.25 * 100 = 53.125, srtt 87.5 + 25 = 112.5: 325.
    steps: [[100, 300], [100, 250], [200, 325]],
    measured: true,
  },
  {
    name: "Rto.sample() never goes below minMs",
    options: ADAPTIVE,
    steps: [[2, 50], [1, 50]],
    measured: true,
  },
  {
    name: "Rto.sample() never goes above initialMs",
    options: ADAPTIVE,
    steps: [[400, 1000], [5000, 1000]],
    measured: true,
  },
  {
    name: "Rto.sample() replaces a backed-off interval with the estimate",
    options: ADAPTIVE,
    steps: [[100, 300], ["timeout", 600], [100, 250]],
    measured: true,
  },
];

/** Timeouts double the adaptive interval, up to initialMs. */
const backoff: Case[] = [
  {
    name: "Rto.backoff() doubles the adaptive interval on each timeout",
    options: ADAPTIVE,
    steps: [[20, 60], ["timeout", 120], ["timeout", 240], ["timeout", 480]],
    measured: true,
  },
  {
    name: "Rto.backoff() stops at initialMs",
    options: ADAPTIVE,
    steps: [[100, 300], ["timeout", 600], ["timeout", 1000], [
      "timeout",
      1000,
    ]],
    measured: true,
  },
  {
    name: "Rto.backoff() before any sample stays at initialMs",
    options: ADAPTIVE,
    steps: [["timeout", 1000], ["timeout", 1000]],
    measured: false,
  },
];

/** A fixed interval (the client's timeout option, or minMs 0) never changes. */
const fixed: Case[] = [
  {
    name: "Rto with fixed: true ignores samples and timeouts",
    options: { initialMs: 2000, minMs: 50, fixed: true },
    steps: [[100, 2000], ["timeout", 2000], [3, 2000], ["timeout", 2000]],
    measured: false,
  },
  {
    name: "Rto with minMs 0 keeps initialMs (no floor means no adaptation)",
    options: { initialMs: 500, minMs: 0 },
    steps: [[100, 500], ["timeout", 500]],
    measured: false,
  },
  {
    name: "Rto without minMs keeps initialMs",
    options: { initialMs: 500 },
    steps: [[10, 500], ["timeout", 500]],
    measured: false,
  },
];

for (const c of [...estimate, ...backoff, ...fixed]) {
  Deno.test(c.name, () => check(c));
}
