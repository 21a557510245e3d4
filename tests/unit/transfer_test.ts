/**
 * What both transfer machines share (src/protocol/transfer.ts): a client's
 * request phase (a sequence of timer firings, the verdict of each and the
 * next deadline) and a client's check of an OACK (asked, offered ->
 * accepted parameters or why not), one table per rule.
 */

import assert from "node:assert/strict";
import {
  type Accepted,
  acceptOack,
  Act,
  OACK_REFUSED,
  RequestPhase,
  type RetryOptions,
} from "../../src/protocol/transfer.ts";
import { ErrorCode } from "../../src/protocol/packet.ts";
import { MAX_BLKSIZE, MIN_BLKSIZE } from "../../src/protocol/options.ts";

interface RequestCase {
  name: string;
  options: RetryOptions;
  /** When the request went out (default 0). */
  start?: number;
  /** The deadline before any timer. */
  deadline: number;
  /** [time the timer fires, verdict, the deadline after it]. */
  timers: [number, "retransmit" | "wait" | "give-up", number][];
  /** Retransmits at the end. */
  retransmits: number;
}

/** The client's own retry settings: 100 ms, 2 retries, 300 ms in all. */
const CLIENT: RetryOptions = {
  maxRetries: 2,
  giveUpMs: 300,
  rto: { initialMs: 100, fixed: true },
};

/** The request is retransmitted on the rules of any packet, then abandoned. */
const requestPhase: RequestCase[] = [
  {
    name:
      "RequestPhase retransmits the request at each interval, then gives up",
    options: CLIENT,
    deadline: 100,
    timers: [
      [100, "retransmit", 200],
      [200, "retransmit", 300],
      [300, "give-up", 300],
    ],
    retransmits: 2,
  },
  {
    name: "RequestPhase defaults: a fixed 1000 ms interval and 3000 ms in all",
    options: {},
    deadline: 1000,
    timers: [
      [1000, "retransmit", 2000],
      [2000, "retransmit", 3000],
      [3000, "give-up", 3000],
    ],
    retransmits: 2,
  },
  {
    name:
      "RequestPhase waits in silence until giveUpMs once the retransmits are spent",
    options: {
      maxRetries: 1,
      giveUpMs: 5000,
      rto: { initialMs: 1000, fixed: true },
    },
    deadline: 1000,
    timers: [
      [1000, "retransmit", 2000],
      [2000, "wait", 5000],
      [5000, "give-up", 5000],
    ],
    retransmits: 1,
  },
  {
    name:
      "RequestPhase ends sooner with patienceMs once the retransmits are spent",
    options: {
      maxRetries: 1,
      giveUpMs: 5000,
      patienceMs: 1500,
      rto: { initialMs: 1000, fixed: true },
    },
    deadline: 1000,
    timers: [[1000, "retransmit", 1500], [1500, "give-up", 1500]],
    retransmits: 1,
  },
  {
    name: "RequestPhase counts from when the request went out",
    options: CLIENT,
    start: 7000,
    deadline: 7100,
    timers: [[7100, "retransmit", 7200]],
    retransmits: 1,
  },
  {
    name:
      "RequestPhase runs the interval from the (late) retransmit, not the schedule",
    options: CLIENT,
    deadline: 100,
    timers: [[150, "retransmit", 250], [250, "retransmit", 300]],
    retransmits: 2,
  },
  {
    name:
      "RequestPhase backs off an adaptive interval no further than initialMs",
    options: {
      maxRetries: 3,
      giveUpMs: 10_000,
      rto: { initialMs: 1000, minMs: 50 },
    },
    deadline: 1000,
    timers: [[1000, "retransmit", 2000], [2000, "retransmit", 3000]],
    retransmits: 2,
  },
];

for (const c of requestPhase) {
  Deno.test(c.name, () => {
    const r = new RequestPhase(c.options, c.start ?? 0);
    assert.equal(r.deadline, c.deadline, "first deadline");
    for (const [i, [now, verdict, deadline]] of c.timers.entries()) {
      assert.equal(r.onTimer(now), verdict, `timer ${i}`);
      assert.equal(r.deadline, deadline, `deadline after timer ${i}`);
    }
    assert.equal(r.retransmits, c.retransmits);
  });
}

interface OackCase {
  name: string;
  asked: Record<string, string>;
  offered: Record<string, string>;
  /** The accepted parameters, or a pattern of the refusal. */
  want: Accepted | RegExp;
}

/** What the client asks for unless a case says otherwise. */
const ASKED = {
  blksize: "1468",
  windowsize: "16",
  timeout: "3",
  tsize: "0",
};

/** No options, or only some, leave RFC 1350's defaults. */
const defaults: OackCase[] = [
  {
    name: "acceptOack() of an empty OACK keeps 512-byte blocks in lock-step",
    asked: ASKED,
    offered: {},
    want: { blksize: 512, windowsize: 1 },
  },
  {
    name: "acceptOack() takes every option the server answers",
    asked: ASKED,
    offered: { blksize: "1468", windowsize: "16", timeout: "3", tsize: "99" },
    want: { blksize: 1468, windowsize: 16, tsize: 99 },
  },
];

/** blksize: only lowered, and within RFC 2348's 8..65464. */
const blksize: OackCase[] = [
  {
    name: "acceptOack() takes a blksize equal to the request",
    asked: ASKED,
    offered: { blksize: "1468" },
    want: { blksize: 1468, windowsize: 1 },
  },
  {
    name: "acceptOack() takes a lower blksize",
    asked: ASKED,
    offered: { blksize: "1024" },
    want: { blksize: 1024, windowsize: 1 },
  },
  {
    name: `acceptOack() takes the smallest blksize, ${MIN_BLKSIZE}`,
    asked: ASKED,
    offered: { blksize: String(MIN_BLKSIZE) },
    want: { blksize: MIN_BLKSIZE, windowsize: 1 },
  },
  {
    name: `acceptOack() refuses a blksize below ${MIN_BLKSIZE}`,
    asked: ASKED,
    offered: { blksize: String(MIN_BLKSIZE - 1) },
    want: /^blksize 7 out of range$/,
  },
  {
    name: "acceptOack() refuses a blksize of 0",
    asked: ASKED,
    offered: { blksize: "0" },
    want: /^blksize 0 out of range$/,
  },
  {
    name: "acceptOack() refuses a blksize above the request",
    asked: ASKED,
    offered: { blksize: "1469" },
    want: /^blksize 1469 out of range$/,
  },
  {
    name: `acceptOack() takes ${MAX_BLKSIZE} when more was asked`,
    asked: { blksize: "70000" },
    offered: { blksize: String(MAX_BLKSIZE) },
    want: { blksize: MAX_BLKSIZE, windowsize: 1 },
  },
  {
    name: `acceptOack() refuses a blksize above ${MAX_BLKSIZE} even when asked`,
    asked: { blksize: "70000" },
    offered: { blksize: String(MAX_BLKSIZE + 1) },
    want: /^blksize 65465 out of range$/,
  },
];

/** windowsize: only lowered, at least 1. */
const windowsize: OackCase[] = [
  {
    name: "acceptOack() takes a windowsize equal to the request",
    asked: ASKED,
    offered: { windowsize: "16" },
    want: { blksize: 512, windowsize: 16 },
  },
  {
    name: "acceptOack() takes a windowsize of 1",
    asked: ASKED,
    offered: { windowsize: "1" },
    want: { blksize: 512, windowsize: 1 },
  },
  {
    name: "acceptOack() refuses a windowsize of 0",
    asked: ASKED,
    offered: { windowsize: "0" },
    want: /^windowsize 0 out of range$/,
  },
  {
    name: "acceptOack() refuses a windowsize above the request",
    asked: ASKED,
    offered: { windowsize: "17" },
    want: /^windowsize 17 out of range$/,
  },
];

/** timeout: RFC 2349 lets the server only echo it. */
const timeout: OackCase[] = [
  {
    name: "acceptOack() takes a timeout equal to the request",
    asked: ASKED,
    offered: { timeout: "3" },
    want: { blksize: 512, windowsize: 1 },
  },
  {
    name: "acceptOack() refuses a lower timeout",
    asked: ASKED,
    offered: { timeout: "2" },
    want: /^timeout 2 differs from the request$/,
  },
  {
    name: "acceptOack() refuses a higher timeout",
    asked: ASKED,
    offered: { timeout: "4" },
    want: /^timeout 4 differs from the request$/,
  },
];

/** tsize: any size the server announces, up to 15 digits. */
const tsize: OackCase[] = [
  {
    name: "acceptOack() takes tsize 0 (an empty file)",
    asked: ASKED,
    offered: { tsize: "0" },
    want: { blksize: 512, windowsize: 1, tsize: 0 },
  },
  {
    name:
      "acceptOack() takes a tsize larger than asked (the client asks with 0)",
    asked: ASKED,
    offered: { tsize: "123456789012345" },
    want: { blksize: 512, windowsize: 1, tsize: 123456789012345 },
  },
  {
    name: "acceptOack() refuses a tsize of 16 digits",
    asked: ASKED,
    offered: { tsize: "1234567890123456" },
    want: /^bad tsize value$/,
  },
];

/** RFC 2347: a server answers only what was asked. */
const unrequested: OackCase[] = [
  {
    name: "acceptOack() refuses a known option the client did not ask for",
    asked: { blksize: "1468" },
    offered: { windowsize: "4" },
    want: /^option windowsize was not requested$/,
  },
  {
    name: "acceptOack() refuses tsize when it was not asked",
    asked: { blksize: "1468" },
    offered: { blksize: "1468", tsize: "5" },
    want: /^option tsize was not requested$/,
  },
  {
    name: "acceptOack() refuses an unknown option the client did not ask for",
    asked: ASKED,
    offered: { foo: "1" },
    want: /^option foo was not requested$/,
  },
  {
    name:
      "acceptOack() passes an extra option the client asked for, whatever its value",
    asked: { ...ASKED, foo: "bar" },
    offered: { foo: "something else" },
    want: { blksize: 512, windowsize: 1 },
  },
];

/** Numeric options must be plain decimal digits. */
const nonNumeric: OackCase[] = [
  ...["abc", "", "-1", "1.5", "1e3", " 512", "512 ", "0x200", "+512", "５１２"]
    .map((value) => ({
      name: `acceptOack() refuses blksize ${JSON.stringify(value)}`,
      asked: ASKED,
      offered: { blksize: value },
      want: /^bad blksize value$/,
    })),
  ...(["windowsize", "timeout", "tsize"] as const).map((name) => ({
    name: `acceptOack() refuses a non-numeric ${name}`,
    asked: ASKED,
    offered: { [name]: "x1" },
    want: new RegExp(`^bad ${name} value$`),
  })),
  {
    name: "acceptOack() reads leading zeros as decimal",
    asked: ASKED,
    offered: { blksize: "0512", windowsize: "08" },
    want: { blksize: 512, windowsize: 8 },
  },
];

const oackCases = [
  ...defaults,
  ...blksize,
  ...windowsize,
  ...timeout,
  ...tsize,
  ...unrequested,
  ...nonNumeric,
];

for (const c of oackCases) {
  Deno.test(c.name, () => {
    const got = acceptOack(
      new Map(Object.entries(c.asked)),
      new Map(Object.entries(c.offered)),
    );
    if (c.want instanceof RegExp) {
      assert.equal(typeof got, "string", `accepted: ${JSON.stringify(got)}`);
      assert.match(got as string, c.want);
    } else {
      assert.deepEqual(got, c.want);
    }
  });
}

Deno.test("OACK_REFUSED is ERROR 8, the farewell of a refused OACK", () => {
  assert.deepEqual(OACK_REFUSED, {
    code: ErrorCode.OPTION_REFUSED,
    message: "bad OACK",
  });
});

Deno.test("Act bits are distinct powers of two, NONE is 0", () => {
  const bits = Object.entries(Act).filter(([k]) => k !== "NONE");
  assert.equal(Act.NONE, 0);
  let seen = 0;
  for (const [name, v] of bits) {
    assert.equal(v & (v - 1), 0, `${name} is one bit`);
    assert.equal(seen & v, 0, `${name} is not shared`);
    seen |= v;
  }
});
