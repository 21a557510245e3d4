/**
 * The congestion window (src/protocol/window.ts), one table per rule: each
 * case is a sequence of ACKs (blocks acknowledged of blocks in flight) and
 * the window after each; and the first window of a transfer whose port can
 * be guessed.
 */

import assert from "node:assert/strict";
import {
  guardedInitialWindow,
  WindowControl,
  type WindowOptions,
} from "../../src/protocol/window.ts";

interface Case {
  name: string;
  options: WindowOptions;
  /** The window before any ACK. */
  first: number;
  /** [acked, sent] of each ACK, and the window after it. */
  acks: [number, number, number][];
}

/** The first window: `initial`, within 1..windowsize. */
const first: Case[] = [
  {
    name: "WindowControl starts at the whole windowsize without `initial`",
    options: { windowsize: 16 },
    first: 16,
    acks: [],
  },
  {
    name: "WindowControl starts at `initial`",
    options: { windowsize: 16, initial: 2 },
    first: 2,
    acks: [],
  },
  {
    name: "WindowControl clamps `initial` to the windowsize",
    options: { windowsize: 4, initial: 9 },
    first: 4,
    acks: [],
  },
  {
    name: "WindowControl clamps `initial` to at least one block",
    options: { windowsize: 4, initial: 0 },
    first: 1,
    acks: [],
  },
  {
    name: "WindowControl takes a windowsize below 1 as lock-step",
    options: { windowsize: 0 },
    first: 1,
    acks: [[1, 1, 1]],
  },
];

/** Slow start: a window acknowledged whole doubles, up to the windowsize. */
const growth: Case[] = [
  {
    name: "WindowControl.onAcked() doubles after a window acknowledged whole",
    options: { windowsize: 64, initial: 1 },
    first: 1,
    acks: [[1, 1, 2], [2, 2, 4], [4, 4, 8], [8, 8, 16]],
  },
  {
    name: "WindowControl.onAcked() never grows past the windowsize",
    options: { windowsize: 12, initial: 4 },
    first: 4,
    acks: [[4, 4, 8], [8, 8, 12], [12, 12, 12]],
  },
  {
    name: "WindowControl.onAcked() does not grow on a partial ACK",
    options: { windowsize: 16, initial: 4 },
    first: 4,
    acks: [[3, 4, 4], [1, 4, 4], [4, 4, 8]],
  },
  {
    name:
      "WindowControl.onAcked() does not grow when fewer blocks than the window were in flight",
    options: { windowsize: 16, initial: 4 },
    // The end of the file: a short window acknowledged whole.
    first: 4,
    acks: [[2, 2, 4], [3, 3, 4]],
  },
  {
    name: "WindowControl.onAcked() never shrinks",
    options: { windowsize: 16, initial: 8 },
    first: 8,
    acks: [[0, 8, 8], [1, 8, 8]],
  },
];

for (const c of [...first, ...growth]) {
  Deno.test(c.name, () => {
    const w = new WindowControl(c.options);
    assert.equal(w.size, c.first, "first window");
    for (const [i, [acked, sent, size]] of c.acks.entries()) {
      w.onAcked(acked, sent);
      assert.equal(w.size, size, `after ACK ${i} (${acked} of ${sent})`);
    }
  });
}

/**
 * guardedInitialWindow: as many blocks as fit in 8 KiB (or `bytes`), at
 * least one, at most the windowsize.
 */
const guarded: {
  windowsize: number;
  blksize: number;
  bytes?: number;
  want: number;
}[] = [
  { windowsize: 64, blksize: 512, want: 16 },
  { windowsize: 64, blksize: 1024, want: 8 },
  { windowsize: 64, blksize: 1468, want: 5 },
  { windowsize: 64, blksize: 8192, want: 1 },
  { windowsize: 64, blksize: 8193, want: 1 },
  { windowsize: 64, blksize: 65464, want: 1 },
  { windowsize: 4, blksize: 512, want: 4 },
  { windowsize: 1, blksize: 8, want: 1 },
  { windowsize: 64, blksize: 512, bytes: 2048, want: 4 },
  { windowsize: 64, blksize: 512, bytes: 0, want: 1 },
];

for (const g of guarded) {
  const bytes = g.bytes === undefined ? "" : `, ${g.bytes} bytes`;
  Deno.test(
    `guardedInitialWindow(${g.windowsize}, ${g.blksize}${bytes}) is ${g.want}`,
    () => {
      const options = g.bytes === undefined ? {} : { bytes: g.bytes };
      assert.equal(
        guardedInitialWindow(g.windowsize, g.blksize, options),
        g.want,
      );
    },
  );
}
