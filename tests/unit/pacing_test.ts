/**
 * Pacing (src/protocol/pacing.ts): how a windowed sender tells a receiver
 * that drops bursts from random loss, one table per rule. Each case feeds
 * the Pacer a sequence of events (a mid-window ACK after `got` blocks, a
 * timeout, a window acknowledged whole with its ACK's lag) and checks
 * whether it paces, its burst and its gap after each. How the Sender
 * applies it, and the cautious start: pacing_sender_test.ts.
 */

import assert from "node:assert/strict";
import { Pacer } from "../../src/protocol/pacing.ts";
import { PACING_DEFAULTS } from "../../src/defaults.ts";

/** The starting gap at blksize 1468: 1538 bytes on a 100 Mb/s wire, +5%. */
const G = PACING_DEFAULTS.margin * 1538 * 8 / 100_000;

type Event =
  | { partial: number }
  | { timeout: true }
  | { rtt: number }
  | { whole: number; last: number };

interface Expect {
  paced: boolean;
  burst?: number;
  /** The gap per packet, in starting gaps. */
  gap?: number;
}

interface Case {
  name: string;
  steps: [Event, Expect][];
}

const OFF: Expect = { paced: false };

/** The same step `n` times in a row. */
function times(n: number, step: [Event, Expect]): [Event, Expect][] {
  return Array.from({ length: n }, () => step);
}

function feed(p: Pacer, e: Event): void {
  if ("partial" in e) p.onPartial(e.partial);
  else if ("timeout" in e) p.onTimeout();
  else if ("rtt" in e) p.onRoundTrip(e.rtt);
  else p.onWindow(e.whole, e.last);
}

function runCase(c: Case): void {
  const p = new Pacer({ blksize: 1468 });
  c.steps.forEach(([event, want], i) => {
    feed(p, event);
    const where = `step ${i} (${JSON.stringify(event)})`;
    assert.equal(p.paced, want.paced, `${where}: paced`);
    if (!want.paced) {
      assert.equal(p.burst, Infinity, `${where}: burst`);
      assert.equal(p.pauseMs, 0, `${where}: pause`);
      return;
    }
    if (want.burst !== undefined) {
      assert.equal(p.burst, want.burst, `${where}: burst`);
    }
    if (want.gap !== undefined) {
      assert.ok(
        Math.abs(p.gapMs - want.gap * G) < 1e-9,
        `${where}: gap ${p.gapMs / G} starting gaps, want ${want.gap}`,
      );
    }
    assert.ok(Math.abs(p.pauseMs - p.burst * p.gapMs) < 1e-12, where);
  });
}

/** Mid-window ACKs: where they land tells random loss from a small queue. */
const partials: Case[] = [
  {
    name: "Pacer: mid-window ACKs at varying counts (random loss) never pace",
    steps: [18, 56, 59, 30, 1, 22, 24, 11, 16, 30, 14, 47, 13].map((
      got,
    ) => [{ partial: got }, OFF]),
  },
  {
    name:
      "Pacer: four mid-window ACKs in a row at about the same count pace at half of it",
    steps: [
      [{ partial: 33 }, OFF],
      [{ partial: 35 }, OFF],
      [{ partial: 34 }, OFF],
      [{ partial: 32 }, { paced: true, burst: 16, gap: 1 }],
    ],
  },
  {
    name: "Pacer: counts more than 2 apart do not agree",
    steps: [
      [{ partial: 20 }, OFF],
      [{ partial: 22 }, OFF],
      [{ partial: 25 }, OFF], // 3 from 22: the run starts again here
      [{ partial: 24 }, OFF],
      [{ partial: 23 }, OFF],
      [{ partial: 25 }, { paced: true, burst: 12 }],
    ],
  },
  {
    name: "Pacer: a window acknowledged whole breaks the run of agreeing ACKs",
    steps: [
      [{ partial: 10 }, OFF],
      [{ partial: 10 }, OFF],
      [{ partial: 10 }, OFF],
      [{ whole: 0.1, last: 64 }, OFF],
      [{ partial: 10 }, OFF],
      [{ partial: 10 }, OFF],
      [{ partial: 10 }, OFF],
      [{ partial: 10 }, { paced: true, burst: 5 }],
    ],
  },
  {
    name: "Pacer: the burst is at most 32 and at least 1",
    steps: [
      [{ partial: 1 }, OFF],
      [{ partial: 1 }, OFF],
      [{ partial: 0 }, OFF],
      [{ partial: 1 }, { paced: true, burst: 1 }],
    ],
  },
];

/** Timeouts: one is a random loss; two in a row on one window pace. */
const timeouts: Case[] = [
  {
    name: "Pacer: one timeout does not pace, and an ACK resets the count",
    steps: [
      [{ timeout: true }, OFF],
      [{ partial: 40 }, OFF],
      [{ timeout: true }, OFF],
      [{ whole: 0.1, last: 64 }, OFF],
      [{ timeout: true }, OFF],
    ],
  },
  {
    name:
      "Pacer: the second timeout in a row paces the resend; an ACK before its end (random loss) ends it",
    steps: [
      [{ timeout: true }, OFF],
      [{ timeout: true }, { paced: true, burst: 2, gap: 1 }],
      [{ partial: 63 }, OFF],
    ],
  },
  {
    name:
      "Pacer: the second timeout in a row paces the resend; its whole ACK keeps pacing, the burst grows by one",
    steps: [
      [{ timeout: true }, OFF],
      [{ timeout: true }, { paced: true, burst: 2, gap: 1 }],
      [{ whole: 0.6, last: 2 }, { paced: true, burst: 3, gap: 1 }],
      [{ whole: 0.6, last: 1 }, { paced: true, burst: 4, gap: 1 }],
    ],
  },
];

/** Paced: the gap follows the receiver, a loss slows it. */
const paced: Case[] = [
  {
    name:
      "Pacer: while the receiver's lag per packet is at least half the gap, the gap holds",
    steps: [
      [{ rtt: 0.1 }, OFF],
      [{ timeout: true }, OFF],
      [{ timeout: true }, { paced: true, gap: 1 }],
      // 4 blocks in the last burst: 3 beyond the round trip, each taking
      // the gap: the receiver sets the pace.
      [{ whole: 0.1 + 3 * G, last: 4 }, { paced: true, burst: 3, gap: 1 }],
      [{ whole: 0.1 + 3 * G, last: 4 }, { paced: true, burst: 4, gap: 1 }],
    ],
  },
  {
    name:
      "Pacer: a receiver that idles between bursts halves the gap, and pacing ends below 50 us a packet",
    steps: [
      [{ rtt: 0.1 }, OFF],
      [{ timeout: true }, OFF],
      [{ timeout: true }, { paced: true, gap: 1 }],
      [{ whole: 0.11, last: 2 }, { paced: true, gap: 0.5 }],
      [{ whole: 0.11, last: 3 }, OFF], // 0.25 starting gaps: 32 us
    ],
  },
  {
    name:
      "Pacer: once the receiver set the pace, it takes two idle windows in a row to speed up",
    steps: [
      [{ rtt: 0.1 }, OFF],
      [{ timeout: true }, OFF],
      [{ timeout: true }, { paced: true, gap: 1 }],
      [{ whole: 0.1 + G, last: 2 }, { paced: true, gap: 1 }], // busy
      [{ whole: 0.1, last: 2 }, { paced: true, gap: 1 }], // idle once
      [{ whole: 0.1 + G, last: 2 }, { paced: true, gap: 1 }], // busy
      [{ whole: 0.1, last: 2 }, { paced: true, gap: 1 }],
      [{ whole: 0.1, last: 2 }, { paced: true, gap: 0.5 }],
    ],
  },
  {
    name:
      "Pacer: a last burst of one block, or a lag below the round trip, says nothing",
    steps: [
      [{ rtt: 0.5 }, OFF],
      [{ timeout: true }, OFF],
      [{ timeout: true }, { paced: true, gap: 1 }],
      [{ whole: 0.6, last: 1 }, { paced: true, gap: 1 }],
      [{ whole: 0.2, last: 4 }, { paced: true, gap: 1 }],
      // Neither settled the pace, so one idle window speeds it up.
      [{ whole: 0.5, last: 3 }, { paced: true, gap: 0.5 }],
    ],
  },
  {
    name:
      "Pacer: a burst of 2 is judged on its whole lag, so a cold round trip cannot make a busy receiver look idle",
    steps: [
      // The OACK's round trip, measured cold; later ones are ~0.05 ms.
      [{ rtt: 0.234 }, OFF],
      [{ timeout: true }, OFF],
      [{ timeout: true }, { paced: true, burst: 2, gap: 1 }],
      [{ whole: 0.38, last: 2 }, { paced: true, burst: 3, gap: 1 }],
      [{ timeout: true }, { paced: true, burst: 2, gap: 1.25 }],
      // A receiver that holds 4 packets and takes 0.12 ms a packet: 0.03
      // ms beyond that round trip, yet busy.
      [{ whole: 0.267, last: 2 }, { paced: true, burst: 2, gap: 1.25 }],
      [{ whole: 0.258, last: 2 }, { paced: true, burst: 2, gap: 1.25 }],
      [{ whole: 0.262, last: 2 }, { paced: true, burst: 2, gap: 1.25 }],
      // A fast one still goes full speed: five fast windows of six.
      ...times(4, [{ whole: 0.05, last: 2 }, {
        paced: true,
        burst: 2,
        gap: 1.25,
      }]),
      [{ whole: 0.05, last: 2 }, OFF],
    ],
  },
  {
    name:
      "Pacer: a timeout while paced halves the burst, slows the gap by 1.25, and the burst never grows past it again",
    steps: [
      [{ partial: 16 }, OFF],
      [{ partial: 16 }, OFF],
      [{ partial: 16 }, OFF],
      [{ partial: 16 }, { paced: true, burst: 8, gap: 1 }],
      [{ timeout: true }, { paced: true, burst: 4, gap: 1.25 }],
      [{ whole: 10, last: 4 }, { paced: true, burst: 4, gap: 1.25 }],
    ],
  },
  {
    name:
      "Pacer: while paced, a mid-window ACK at the same count slows it; one elsewhere (random) does not",
    steps: [
      [{ partial: 16 }, OFF],
      [{ partial: 16 }, OFF],
      [{ partial: 16 }, OFF],
      [{ partial: 16 }, { paced: true, burst: 8, gap: 1 }],
      [{ partial: 40 }, { paced: true, burst: 8, gap: 1 }],
      [{ partial: 41 }, { paced: true, burst: 4, gap: 1.25 }],
      // Never again past a burst that lost.
      [{ whole: 10, last: 4 }, { paced: true, burst: 4, gap: 1.25 }],
    ],
  },
  {
    name: "Pacer: the gap is bounded at 64 starting gaps",
    steps: [
      [{ rtt: 0.1 }, OFF],
      [{ timeout: true }, OFF],
      [{ timeout: true }, { paced: true }],
      [{ whole: 10, last: 2 }, { paced: true }],
      ...times(30, [{ timeout: true }, { paced: true, burst: 2 }]),
      [{ timeout: true }, { paced: true, burst: 2, gap: 64 }],
      // Still judged: an idle receiver speeds it up again.
      [{ whole: 0.1, last: 2 }, { paced: true, burst: 2, gap: 64 }],
      [{ whole: 0.1, last: 2 }, { paced: true, burst: 2, gap: 32 }],
    ],
  },
];

for (const c of [...partials, ...timeouts, ...paced]) {
  Deno.test(c.name, () => runCase(c));
}
