/**
 * The receiving side of a transfer (src/protocol/receive_transfer.ts and
 * the Receiver it runs), both roles, one table per rule. Each case is a
 * script: datagram bytes from an endpoint at a time, timer firings, and for
 * each the Act bits, what the driver then does (writes, the commit, the
 * packets it sends; see `machine_script.ts`), and the read-only state. A
 * step that lists nothing must do nothing.
 */

import assert from "node:assert/strict";
import { Act } from "../../src/protocol/transfer.ts";
import {
  ReceiveTransfer,
  type ReceiveTransferOptions,
} from "../../src/protocol/receive_transfer.ts";
import {
  type Case,
  CLIENT,
  CLIENT_OTHER,
  data,
  error,
  oack,
  receiveModel,
  register,
  SERVER,
  SERVER_OTHER,
  SERVER_TID,
  type Step,
  STRANGER,
} from "./machine_script.ts";

const { NONE, SEND, DELIVER, FINAL, DONE, END, REQUEST } = Act;
const STR = Act.STRANGER;
const TO_STRANGER = ["ERROR 5 to stranger"];
/** A block in order that completes a window (or any block in lock-step). */
const IN = DELIVER | SEND;
/** The final block of a server without linger, or of a client. */
const LAST = DELIVER | FINAL | SEND | DONE;

/** A server answering a WRQ from CLIENT. */
function server(o: Partial<ReceiveTransferOptions> = {}) {
  return () => receiveModel({ role: "server", peer: CLIENT, ...o });
}

/** A client that sent an RRQ to SERVER asking for `asked`. */
function client(
  asked: Record<string, string> = {},
  o: Partial<ReceiveTransferOptions> = {},
) {
  return () =>
    receiveModel({
      role: "client",
      peer: SERVER,
      asked: new Map(Object.entries(asked)),
      ...o,
    });
}

const START: Step = { at: 0, start: true, act: SEND, sends: ["ACK 0"] };
const FAST = { rto: { initialMs: 100, fixed: true } };
const ADAPTIVE = { rto: { initialMs: 1000, minMs: 50 }, giveUpMs: 30_000 };
const OACK_BYTES = oack({ blksize: "512" });

/** Full blocks `from`..`to` in lock-step, each written and ACKed. */
function lockStep(from: number, to: number, blksize = 512): Step[] {
  const steps: Step[] = [];
  for (let b = from; b <= to; b++) {
    steps.push({
      at: 0,
      dg: data(b & 0xffff, blksize),
      act: IN,
      sends: [`write ${blksize}`, `ACK ${b & 0xffff}`],
    });
  }
  return steps;
}

/** Full blocks `from`..`to` in windows of `w` counted from block 1. */
function windows(from: number, to: number, w: number, blksize = 512): Step[] {
  const steps: Step[] = [];
  for (let b = from; b <= to; b++) {
    const end = b % w === 0;
    steps.push({
      at: 0,
      dg: data(b & 0xffff, blksize),
      act: end ? IN : DELIVER,
      sends: end
        ? [`write ${blksize}`, `ACK ${b & 0xffff}`]
        : [`write ${blksize}`],
    });
  }
  return steps;
}

/** In-order delivery in lock-step, and which block is the final one. */
const inOrder: Case[] = [
  {
    name:
      "ReceiveTransfer (server) sends ACK 0, then ACKs each block, final on a short one",
    make: server(),
    steps: [
      { ...START, state: { ackBlock: 0, established: false } },
      {
        at: 10,
        dg: data(1, 512),
        act: IN,
        sends: ["write 512", "ACK 1"],
        state: { ackBlock: 1, bytes: 512 },
      },
      { at: 20, dg: data(2, 512), act: IN, sends: ["write 512", "ACK 2"] },
      {
        at: 30,
        dg: data(3, 100),
        act: LAST,
        sends: ["write 100", "commit", "ACK 3"],
        state: {
          outcome: "ok",
          bytes: 1124,
          blocksReceived: 3,
          lingering: false,
        },
      },
    ],
  },
  {
    name:
      "ReceiveTransfer ends an exact multiple of blksize at the empty block",
    make: server(),
    steps: [
      START,
      ...lockStep(1, 3),
      {
        at: 1,
        dg: data(4, 0),
        act: LAST,
        sends: ["write 0", "commit", "ACK 4"],
        state: { bytes: 1536 },
      },
    ],
  },
  {
    name: "ReceiveTransfer does not take a block of exactly blksize as final",
    make: server(),
    steps: [
      START,
      {
        at: 1,
        dg: data(1, 512),
        act: IN,
        sends: ["write 512", "ACK 1"],
        state: { outcome: undefined },
      },
    ],
  },
  // py3tftp took lengths blksize-4..blksize-1 for full blocks.
  ...[8, 512, 1428].flatMap((blksize) =>
    [0, 1, blksize - 4, blksize - 3, blksize - 2, blksize - 1].map(
      (len): Case => ({
        name:
          `ReceiveTransfer takes a ${len}-byte block as final at blksize ${blksize}`,
        make: server({ blksize }),
        steps: [
          START,
          ...lockStep(1, 1, blksize),
          {
            at: 1,
            dg: data(2, len),
            act: LAST,
            sends: [`write ${len}`, "commit", "ACK 2"],
          },
        ],
      }),
    )
  ),
];

/** Windows (RFC 7440): one ACK per window. */
const windowed: Case[] = [
  {
    name:
      "ReceiveTransfer ACKs once per window, and a short block ends one early",
    make: server({ windowsize: 4 }),
    steps: [
      START,
      ...windows(1, 8, 4),
      {
        at: 1,
        dg: data(9, 1),
        act: LAST,
        sends: ["write 1", "commit", "ACK 9"],
      },
    ],
  },
];

/** A duplicate DATA is never progress: at most a re-ACK. */
const duplicates: Case[] = [
  {
    name:
      "ReceiveTransfer re-ACKs every duplicate in lock-step, writing nothing",
    make: server(),
    steps: [
      START,
      ...lockStep(1, 2),
      ...[0, 1, 2, 3].map((): Step => ({
        at: 1,
        dg: data(2, 512),
        act: SEND,
        sends: ["ACK 2"],
        state: { blocksReceived: 2, bytes: 1024 },
      })),
      { at: 2, dg: data(1, 512), act: SEND, sends: ["ACK 2"] },
      {
        at: 3,
        dg: data(3, 5),
        act: LAST,
        sends: ["write 5", "commit", "ACK 3"],
      },
    ],
  },
  {
    name: "ReceiveTransfer answers a block 0 before block 1 with ACK 0",
    make: server(),
    steps: [
      START,
      {
        at: 1,
        dg: data(0, 512),
        act: SEND,
        sends: ["ACK 0"],
        state: { established: false },
      },
      ...lockStep(1, 1),
    ],
  },
  {
    name:
      "ReceiveTransfer answers a block 0 before block 1 with the OACK it sent",
    make: server({ oack: OACK_BYTES }),
    steps: [
      { at: 0, start: true, act: SEND, sends: ["OACK"] },
      { at: 1, dg: data(0, 512), act: SEND, sends: ["OACK"] },
      ...lockStep(1, 1),
    ],
  },
  {
    name: "ReceiveTransfer takes a block ahead in lock-step as a duplicate",
    make: server(),
    steps: [
      START,
      ...lockStep(1, 1),
      { at: 1, dg: data(3, 512), act: SEND, sends: ["ACK 1"] },
      {
        at: 2,
        dg: data(3, 512),
        act: SEND,
        sends: ["ACK 1"],
        state: { blocksReceived: 1 },
      },
    ],
  },
  {
    name:
      "ReceiveTransfer re-ACKs a resent window once, after progress and after a timer too",
    make: server({ windowsize: 4 }),
    steps: [
      START,
      ...windows(1, 4, 4),
      // Our ACK 4 was lost: the sender resends the window.
      { at: 0, dg: data(1, 512), act: SEND, sends: ["ACK 4"] },
      { at: 0, dg: data(2, 512), act: NONE },
      { at: 0, dg: data(3, 512), act: NONE },
      { at: 0, dg: data(4, 512), act: NONE, state: { blocksReceived: 4 } },
      ...windows(5, 8, 4),
      { at: 0, dg: data(6, 512), act: SEND, sends: ["ACK 8"] },
      { at: 0, dg: data(7, 512), act: NONE },
      { at: 1000, timer: true, act: SEND, sends: ["ACK 8"] },
      { at: 1001, dg: data(8, 512), act: SEND, sends: ["ACK 8"] },
    ],
  },
  {
    name:
      "ReceiveTransfer does not ACK a network duplicate of a block received since its last ACK",
    make: server({ windowsize: 4 }),
    steps: [
      START,
      ...windows(1, 2, 4),
      { at: 0, dg: data(1, 512), act: NONE },
      { at: 0, dg: data(2, 512), act: NONE, state: { blocksReceived: 2 } },
      ...windows(3, 4, 4),
    ],
  },
  {
    name:
      "ReceiveTransfer: a duplicate resets neither the retries nor the give-up clock",
    make: server({ ...FAST, giveUpMs: 3000 }),
    steps: [
      START,
      ...[100, 200, 300, 400, 500].map((at): Step => ({
        at,
        timer: true,
        act: SEND,
        sends: ["ACK 0"],
      })),
      {
        at: 550,
        dg: data(1, 512),
        act: IN,
        sends: ["write 512", "ACK 1"],
        state: { retries: 0, deadline: 650 },
      },
      ...[650, 750, 850, 950, 1050].map((at): Step => ({
        at,
        timer: true,
        act: SEND,
        sends: ["ACK 1"],
      })),
      {
        at: 1100,
        dg: data(1, 512),
        act: SEND,
        sends: ["ACK 1"],
        state: { retries: 5, blocksReceived: 1 },
      },
      { at: 1200, timer: true, act: NONE, state: { deadline: 3550 } },
      {
        at: 3550,
        timer: true,
        act: END,
        state: {
          outcome: "timeout",
          error: "no DATA from client",
          retransmits: 10,
          farewell: undefined,
        },
      },
    ],
  },
];

/** A gap in a window: ACK the last block in order once, so the sender resumes. */
const gaps: Case[] = [
  {
    name:
      "ReceiveTransfer ACKs a gap in a window once, then takes the resent window",
    make: server({ windowsize: 4 }),
    steps: [
      START,
      ...windows(1, 1, 4),
      // Block 2 lost.
      { at: 1, dg: data(3, 512), act: SEND, sends: ["ACK 1"] },
      { at: 1, dg: data(4, 512), act: NONE },
      { at: 1, dg: data(5, 512), act: NONE, state: { blocksReceived: 1 } },
      // The sender resumes at 2 with a whole window.
      { at: 2, dg: data(2, 512), act: DELIVER, sends: ["write 512"] },
      { at: 2, dg: data(3, 512), act: DELIVER, sends: ["write 512"] },
      { at: 2, dg: data(4, 512), act: DELIVER, sends: ["write 512"] },
      { at: 2, dg: data(5, 512), act: IN, sends: ["write 512", "ACK 5"] },
    ],
  },
];

/** The timer: re-ACK, then silence, then give up; it restarts the window. */
const timer: Case[] = [
  {
    name:
      "ReceiveTransfer (server) resends ACK 0 on timeout, waits in silence, gives up",
    make: server({
      maxRetries: 2,
      giveUpMs: 3000,
      rto: { initialMs: 500, fixed: true },
    }),
    steps: [
      { ...START, state: { deadline: 500 } },
      { at: 500, timer: true, act: SEND, sends: ["ACK 0"] },
      {
        at: 1000,
        timer: true,
        act: SEND,
        sends: ["ACK 0"],
        state: { deadline: 1500 },
      },
      { at: 1500, timer: true, act: NONE, state: { deadline: 3000 } },
      {
        at: 3000,
        timer: true,
        act: END,
        state: {
          outcome: "timeout",
          error: "no DATA from client",
          retransmits: 2,
        },
      },
    ],
  },
  {
    name:
      "ReceiveTransfer gives up patienceMs after the last progress once out of re-ACKs",
    make: server({
      maxRetries: 1,
      giveUpMs: 10_000,
      patienceMs: 1200,
      rto: { initialMs: 500, fixed: true },
    }),
    steps: [
      START,
      { at: 500, timer: true, act: SEND, sends: ["ACK 0"] },
      { at: 1000, timer: true, act: NONE, state: { deadline: 1200 } },
      { at: 1200, timer: true, act: END, state: { outcome: "timeout" } },
    ],
  },
  {
    name:
      "ReceiveTransfer (server) resends the OACK while block 1 is awaited, then the ACK",
    make: server({ oack: OACK_BYTES }),
    steps: [
      { at: 0, start: true, act: SEND, sends: ["OACK"] },
      { at: 1000, timer: true, act: SEND, sends: ["OACK"] },
      { at: 1100, dg: data(1, 512), act: IN, sends: ["write 512", "ACK 1"] },
      { at: 2100, timer: true, act: SEND, sends: ["ACK 1"] },
    ],
  },
  {
    name: "ReceiveTransfer restarts the window count after a re-ACK",
    make: server({ windowsize: 4 }),
    steps: [
      START,
      ...windows(1, 2, 4),
      { at: 1000, timer: true, act: SEND, sends: ["ACK 2"] },
      // The sender resends a window of 4 from block 3.
      { at: 1001, dg: data(3, 512), act: DELIVER, sends: ["write 512"] },
      { at: 1001, dg: data(4, 512), act: DELIVER, sends: ["write 512"] },
      { at: 1001, dg: data(5, 512), act: DELIVER, sends: ["write 512"] },
      { at: 1001, dg: data(6, 512), act: IN, sends: ["write 512", "ACK 6"] },
    ],
  },
  {
    name:
      'ReceiveTransfer (client) gives up the data phase with "timed out waiting for DATA"',
    make: client({}, { ...FAST, maxRetries: 1, giveUpMs: 300 }),
    steps: [
      { at: 0, start: true, act: REQUEST, sends: ["request"] },
      { at: 10, dg: data(1, 512), act: IN, sends: ["write 512", "ACK 1"] },
      { at: 110, timer: true, act: SEND, sends: ["ACK 1"] },
      { at: 210, timer: true, act: NONE },
      {
        at: 310,
        timer: true,
        act: END,
        state: { outcome: "timeout", error: "timed out waiting for DATA" },
      },
    ],
  },
];

/** Timeouts back off the adaptive interval; a fixed one never changes. */
const interval: Case[] = [
  {
    name:
      "ReceiveTransfer backs off the adaptive re-ACK interval on each timeout",
    make: server(ADAPTIVE),
    steps: [
      START,
      {
        at: 100,
        dg: data(1, 512),
        act: IN,
        sends: ["write 512", "ACK 1"],
        state: { intervalMs: 300, deadline: 400 },
      },
      {
        at: 400,
        timer: true,
        act: SEND,
        sends: ["ACK 1"],
        state: { intervalMs: 600, deadline: 1000 },
      },
      {
        at: 1000,
        timer: true,
        act: SEND,
        sends: ["ACK 1"],
        state: { intervalMs: 1000 },
      },
    ],
  },
  {
    name:
      "ReceiveTransfer measures no round trip from the answer to a re-ACK (Karn's rule)",
    make: server(ADAPTIVE),
    steps: [
      START,
      {
        at: 100,
        dg: data(1, 512),
        act: IN,
        sends: ["write 512", "ACK 1"],
        state: { intervalMs: 300 },
      },
      {
        at: 400,
        timer: true,
        act: SEND,
        sends: ["ACK 1"],
        state: { intervalMs: 600 },
      },
      // 50 ms after the re-ACK: it would say 150, if it were measured.
      {
        at: 450,
        dg: data(2, 512),
        act: IN,
        sends: ["write 512", "ACK 2"],
        state: { intervalMs: 600, deadline: 1050 },
      },
      // Answered once: measured again (100 ms: srtt 100, rttvar 37.5).
      {
        at: 550,
        dg: data(3, 512),
        act: IN,
        sends: ["write 512", "ACK 3"],
        state: { intervalMs: 250 },
      },
    ],
  },
  {
    name:
      "ReceiveTransfer measures a window's round trip from its first block only",
    make: server({ ...ADAPTIVE, windowsize: 4 }),
    steps: [
      START,
      {
        at: 100,
        dg: data(1, 512),
        act: DELIVER,
        sends: ["write 512"],
        state: { intervalMs: 300 },
      },
      {
        at: 400,
        dg: data(2, 512),
        act: DELIVER,
        sends: ["write 512"],
        state: { intervalMs: 300 },
      },
      { at: 400, dg: data(3, 512), act: DELIVER, sends: ["write 512"] },
      {
        at: 400,
        dg: data(4, 512),
        act: IN,
        sends: ["write 512", "ACK 4"],
        state: { intervalMs: 300 },
      },
      {
        at: 500,
        dg: data(5, 512),
        act: DELIVER,
        sends: ["write 512"],
        state: { intervalMs: 250 },
      },
    ],
  },
  {
    name: "ReceiveTransfer never changes a fixed (client-requested) interval",
    make: server({
      rto: { initialMs: 2000, minMs: 50, fixed: true },
      giveUpMs: 20_000,
    }),
    steps: [
      START,
      {
        at: 100,
        dg: data(1, 512),
        act: IN,
        sends: ["write 512", "ACK 1"],
        state: { intervalMs: 2000, deadline: 2100 },
      },
      {
        at: 2100,
        timer: true,
        act: SEND,
        sends: ["ACK 1"],
        state: { intervalMs: 2000, deadline: 4100 },
      },
      {
        at: 4100,
        timer: true,
        act: SEND,
        sends: ["ACK 1"],
        state: { intervalMs: 2000 },
      },
    ],
  },
];

/** Windows of 16 from block 1 up to 65535 (the last ACK is at 65520). */
const UP_TO_65535_IN_16 = windows(1, 65535, 16, 8);

/** Block numbers roll over from 65535 to 0; to 1 is taken in lock-step only. */
const rollover: Case[] = [
  {
    name: "ReceiveTransfer rolls block 65535 over to 0 in lock-step",
    make: server({ blksize: 8 }),
    steps: [
      START,
      ...lockStep(1, 65535, 8),
      { at: 0, dg: data(0, 8), act: IN, sends: ["write 8", "ACK 0"] },
      { at: 0, dg: data(0, 8), act: SEND, sends: ["ACK 0"] },
      { at: 0, dg: data(1, 8), act: IN, sends: ["write 8", "ACK 1"] },
      {
        at: 0,
        dg: data(2, 3),
        act: LAST,
        sends: ["write 3", "commit", "ACK 2"],
        state: { blocksReceived: 65538 },
      },
    ],
  },
  {
    name: "ReceiveTransfer takes a rollover from 65535 to 1 in lock-step",
    make: server({ blksize: 8 }),
    steps: [
      START,
      ...lockStep(1, 65535, 8),
      { at: 0, dg: data(1, 8), act: IN, sends: ["write 8", "ACK 1"] },
      { at: 0, dg: data(1, 8), act: SEND, sends: ["ACK 1"] },
      { at: 0, dg: data(2, 8), act: IN, sends: ["write 8", "ACK 2"] },
      {
        at: 0,
        dg: data(3, 0),
        act: LAST,
        sends: ["write 0", "commit", "ACK 3"],
        state: { blocksReceived: 65538 },
      },
    ],
  },
  {
    name: "ReceiveTransfer in a window rolls over through 0, never to 1",
    make: server({ blksize: 8, windowsize: 16 }),
    steps: [
      START,
      ...UP_TO_65535_IN_16,
      // Wire 1 here is a gap (wire 0 is missing), not a rollover to 1.
      {
        at: 0,
        dg: data(1, 8),
        act: SEND,
        sends: ["ACK 65535"],
        state: { blocksReceived: 65535 },
      },
      {
        at: 0,
        dg: data(0, 8),
        act: DELIVER,
        sends: ["write 8"],
        state: { ackBlock: 0 },
      },
      {
        at: 0,
        dg: data(1, 8),
        act: DELIVER,
        sends: ["write 8"],
        state: { ackBlock: 1 },
      },
    ],
  },
];

/** After the final ACK a server lingers, to re-ACK a repeated final block. */
const linger: Case[] = [
  {
    name:
      "ReceiveTransfer (server) lingers after the final ACK, re-ACKs a repeated final block, then is done",
    make: server({ lingerMs: 3000 }),
    steps: [
      START,
      { at: 10, dg: data(1, 512), act: IN, sends: ["write 512", "ACK 1"] },
      {
        at: 20,
        dg: data(2, 10),
        act: DELIVER | FINAL | SEND,
        sends: ["write 10", "commit", "ACK 2"],
        state: { lingering: true, outcome: undefined, deadline: 3020 },
      },
      {
        at: 30,
        dg: data(2, 10),
        act: SEND,
        sends: ["ACK 2"],
        state: { bytes: 522 },
      },
      { at: 40, dg: data(1, 512), act: NONE },
      { at: 50, dg: data(3, 512), act: NONE, state: { blocksReceived: 2 } },
      { at: 3019, timer: true, act: NONE },
      { at: 3020, timer: true, act: DONE, state: { outcome: "ok" } },
    ],
  },
  {
    name:
      "ReceiveTransfer counts the linger from the first final ACK: a repeated final block does not extend it",
    make: server({ lingerMs: 3000 }),
    steps: [
      START,
      {
        at: 20,
        dg: data(1, 10),
        act: DELIVER | FINAL | SEND,
        sends: ["write 10", "commit", "ACK 1"],
        state: { deadline: 3020 },
      },
      {
        at: 2000,
        dg: data(1, 10),
        act: SEND,
        sends: ["ACK 1"],
        state: { deadline: 3020 },
      },
      {
        at: 3000,
        dg: data(1, 10),
        act: SEND,
        sends: ["ACK 1"],
        state: { deadline: 3020 },
      },
      { at: 3020, timer: true, act: DONE },
    ],
  },
  {
    name:
      "ReceiveTransfer starts the linger only when the final ACK is out, after the commit",
    make: server({ lingerMs: 3000 }),
    steps: [
      START,
      {
        at: 20,
        dg: data(1, 10),
        ackLater: true,
        act: DELIVER | FINAL | SEND,
        sends: ["write 10", "commit"],
        state: { deadline: Infinity, lingering: true },
      },
      // The commit takes long: no timer ends the transfer meanwhile.
      { at: 5000, timer: true, act: NONE, state: { outcome: undefined } },
      {
        at: 6000,
        ackNow: true,
        act: NONE,
        sends: ["ACK 1"],
        state: { deadline: 9000 },
      },
      { at: 8999, timer: true, act: NONE },
      { at: 9000, timer: true, act: DONE },
    ],
  },
  {
    name:
      "ReceiveTransfer takes an ERROR during the linger as the end of a stored upload",
    make: server({ lingerMs: 3000 }),
    steps: [
      START,
      {
        at: 1,
        dg: data(1, 0),
        act: DELIVER | FINAL | SEND,
        sends: ["write 0", "commit", "ACK 1"],
      },
      {
        at: 2,
        dg: error(0, "bye"),
        act: DONE,
        state: { outcome: "ok", error: undefined, peerError: undefined },
      },
    ],
  },
  {
    name:
      "ReceiveTransfer (server) without lingerMs is done at the final block",
    make: server({ lingerMs: 0 }),
    steps: [
      START,
      {
        at: 1,
        dg: data(1, 0),
        act: LAST,
        sends: ["write 0", "commit", "ACK 1"],
        state: { lingering: false },
      },
    ],
  },
  {
    name: "ReceiveTransfer (client) is done at the final block, never lingers",
    make: client({}, { lingerMs: 3000 }),
    steps: [
      { at: 0, start: true, act: REQUEST, sends: ["request"] },
      {
        at: 1,
        dg: data(1, 100),
        act: LAST,
        sends: ["write 100", "commit", "ACK 1"],
        state: { lingering: false, outcome: "ok" },
      },
    ],
  },
];

/**
 * Without a linger the transfer is complete once the final ACK is out:
 * until then the driver writes and publishes, and a failure there ends it.
 */
const completion: Case[] = [
  {
    name: "ReceiveTransfer (client) is ok only once the final ACK is out",
    make: client(),
    steps: [
      { at: 0, start: true, act: REQUEST, sends: ["request"] },
      {
        at: 1,
        dg: data(1, 100),
        ackLater: true,
        act: LAST,
        sends: ["write 100", "commit"],
        state: { outcome: undefined },
      },
      {
        at: 2,
        ackNow: true,
        act: NONE,
        sends: ["ACK 1"],
        state: { outcome: "ok" },
      },
    ],
  },
  {
    name:
      "ReceiveTransfer (client) ends as an error when publishing the final block fails",
    make: client(),
    steps: [
      { at: 0, start: true, act: REQUEST, sends: ["request"] },
      {
        at: 1,
        dg: data(1, 100),
        ackLater: true,
        act: LAST,
        sends: ["write 100", "commit"],
      },
      {
        at: 2,
        end: "error",
        act: END,
        state: { outcome: "error", error: "ended from outside" },
      },
    ],
  },
  {
    name:
      "ReceiveTransfer (server without linger) ends as an error when publishing the final block fails",
    make: server(),
    steps: [
      START,
      {
        at: 1,
        dg: data(1, 100),
        ackLater: true,
        act: LAST,
        sends: ["write 100", "commit"],
        state: { outcome: undefined },
      },
      { at: 2, end: "error", act: END, state: { outcome: "error" } },
    ],
  },
];

/** maxBytes (ERROR 3) and an oversized DATA (ERROR 4), with their farewells. */
const limits: Case[] = [
  {
    name:
      "ReceiveTransfer refuses the block that passes maxBytes with ERROR 3, writing none of it",
    make: server({ maxBytes: 1000 }),
    steps: [
      START,
      ...lockStep(1, 1),
      {
        at: 1,
        dg: data(2, 512),
        act: END,
        sends: ["ERROR 3"],
        state: {
          outcome: "error",
          error: "ERROR 3: upload exceeds the limit of 1000 bytes",
          farewell: {
            code: 3,
            message: "upload exceeds the limit of 1000 bytes",
          },
          bytes: 512,
        },
      },
      { at: 2, dg: data(2, 488), act: NONE },
      { at: 5000, timer: true, act: NONE },
    ],
  },
  {
    name: "ReceiveTransfer takes an upload of exactly maxBytes",
    make: server({ maxBytes: 1000 }),
    steps: [
      START,
      ...lockStep(1, 1),
      {
        at: 1,
        dg: data(2, 488),
        act: LAST,
        sends: ["write 488", "commit", "ACK 2"],
        state: { bytes: 1000 },
      },
    ],
  },
  {
    name: "ReceiveTransfer with maxBytes 0 takes an empty upload",
    make: server({ maxBytes: 0 }),
    steps: [START, {
      at: 1,
      dg: data(1, 0),
      act: LAST,
      sends: ["write 0", "commit", "ACK 1"],
    }],
  },
  {
    name: "ReceiveTransfer with maxBytes 0 refuses one byte with ERROR 3",
    make: server({ maxBytes: 0 }),
    steps: [START, { at: 1, dg: data(1, 1), act: END, sends: ["ERROR 3"] }],
  },
  {
    name: "ReceiveTransfer refuses a DATA larger than blksize with ERROR 4",
    make: server(),
    steps: [
      START,
      {
        at: 1,
        dg: data(1, 513),
        act: END,
        sends: ["ERROR 4"],
        state: {
          outcome: "error",
          error: "ERROR 4: DATA block 1 larger than blksize 512",
          farewell: {
            code: 4,
            message: "DATA block 1 larger than blksize 512",
          },
          bytes: 0,
        },
      },
      { at: 2, dg: data(1, 512), act: NONE },
    ],
  },
  {
    name:
      "ReceiveTransfer (client) refuses a DATA larger than the blksize of the OACK with ERROR 4",
    make: client({ blksize: "1024" }),
    steps: [
      { at: 0, start: true, act: REQUEST, sends: ["request"] },
      { at: 1, dg: oack({ blksize: "1024" }), act: SEND, sends: ["ACK 0"] },
      { at: 2, dg: data(1, 1025), act: END, sends: ["ERROR 4"] },
    ],
  },
];

/** An ERROR from the peer ends the transfer, and is never answered. */
const peerError: Case[] = [
  {
    name: "ReceiveTransfer ends on its peer's ERROR and sends nothing back",
    make: server(),
    steps: [
      START,
      ...lockStep(1, 1),
      {
        at: 2,
        dg: error(0, "cancelled"),
        act: END,
        state: {
          outcome: "aborted",
          error: 'client sent ERROR 0: "cancelled"',
          peerError: { code: 0, message: "cancelled" },
          farewell: undefined,
        },
      },
      { at: 3, dg: data(2, 512), act: NONE },
      { at: 5000, timer: true, act: NONE },
    ],
  },
  {
    name:
      "ReceiveTransfer (server) takes ERROR 8 after its OACK as an abort: an upload has no probe",
    make: server({ oack: OACK_BYTES }),
    steps: [
      { at: 0, start: true, act: SEND, sends: ["OACK"] },
      { at: 1, dg: error(8, "no"), act: END, state: { outcome: "aborted" } },
    ],
  },
  {
    name:
      "ReceiveTransfer (client) ends on the server's ERROR in the request phase",
    make: client(),
    steps: [
      { at: 0, start: true, act: REQUEST, sends: ["request"] },
      {
        at: 1,
        dg: error(1, "File not found"),
        act: END,
        state: {
          outcome: "error",
          error: 'server error 1: "File not found"',
          peerError: { code: 1, message: "File not found" },
          farewell: undefined,
        },
      },
    ],
  },
  {
    name: "ReceiveTransfer ignores a malformed datagram from its peer",
    make: server(),
    steps: [
      START,
      ...[
        new Uint8Array(0),
        new Uint8Array([0]),
        new Uint8Array([0, 3, 0]),
        new Uint8Array([0, 5, 0]),
        new Uint8Array([0, 4, 0, 0]),
        new Uint8Array([0, 9, 0, 1]),
        OACK_BYTES,
      ].map((dg): Step => ({
        at: 1,
        dg,
        act: NONE,
        state: { outcome: undefined, deadline: 1000, blocksReceived: 0 },
      })),
      ...lockStep(1, 1),
    ],
  },
];

/** A stranger gets ERROR 5, rate-limited, never for an ERROR, and no say. */
const strangers: Case[] = [
  {
    name:
      "ReceiveTransfer answers a stranger's DATA with ERROR 5 and writes nothing",
    make: server(),
    steps: [
      START,
      {
        at: 10,
        dg: data(1, 512),
        from: CLIENT_OTHER,
        act: STR,
        sends: TO_STRANGER,
        state: { blocksReceived: 0, established: false, deadline: 1000 },
      },
      {
        at: 11,
        dg: data(1, 512),
        from: STRANGER,
        act: STR,
        sends: TO_STRANGER,
      },
      ...lockStep(1, 1),
    ],
  },
  {
    name: "ReceiveTransfer never answers a stranger's ERROR, and goes on",
    make: server(),
    steps: [
      START,
      {
        at: 1,
        dg: error(0),
        from: CLIENT_OTHER,
        act: NONE,
        state: { outcome: undefined },
      },
      ...lockStep(1, 1),
    ],
  },
  {
    name:
      "ReceiveTransfer answers at most 4 strangers at once, one more per 250 ms",
    make: server(),
    steps: [
      START,
      ...[1, 2, 3, 4].map((): Step => ({
        at: 0,
        dg: data(1, 512),
        from: STRANGER,
        act: STR,
        sends: TO_STRANGER,
      })),
      { at: 0, dg: data(1, 512), from: STRANGER, act: NONE },
      {
        at: 250,
        dg: data(1, 512),
        from: STRANGER,
        act: STR,
        sends: TO_STRANGER,
      },
      { at: 250, dg: data(1, 512), from: STRANGER, act: NONE },
    ],
  },
];

/** A client locks onto the port of the server's first reply. */
const clientLock: Case[] = [
  {
    name:
      "ReceiveTransfer (client) locks onto the port of the server's first DATA",
    make: client(),
    steps: [
      {
        at: 0,
        start: true,
        act: REQUEST,
        sends: ["request"],
        state: { peerPort: 69, established: false, maxDatagram: 65468 },
      },
      {
        at: 5,
        dg: data(1, 512),
        from: SERVER_TID,
        act: IN,
        sends: ["write 512", "ACK 1"],
        state: {
          peerPort: 50001,
          established: true,
          blksize: 512,
          offered: {},
        },
      },
      {
        at: 6,
        dg: data(2, 512),
        from: SERVER_OTHER,
        act: STR,
        sends: TO_STRANGER,
        state: { blocksReceived: 1 },
      },
      { at: 7, dg: data(2, 512), from: SERVER, act: STR, sends: TO_STRANGER },
      {
        at: 8,
        dg: data(2, 100),
        from: SERVER_TID,
        act: LAST,
        sends: ["write 100", "commit", "ACK 2"],
      },
    ],
  },
  {
    name:
      "ReceiveTransfer (client) does not lock onto a reply from another host",
    make: client({}, { ...FAST }),
    steps: [
      { at: 0, start: true, act: REQUEST, sends: ["request"] },
      {
        at: 5,
        dg: data(1, 512),
        from: STRANGER,
        act: STR,
        sends: TO_STRANGER,
        state: { peerPort: 69, blocksReceived: undefined },
      },
      { at: 100, timer: true, act: REQUEST, sends: ["request"] },
      {
        at: 105,
        dg: data(1, 512),
        from: SERVER_TID,
        act: IN,
        sends: ["write 512", "ACK 1"],
      },
    ],
  },
];

/** A client retransmits its request, then gives up. */
const requestPhase: Case[] = [
  {
    name:
      'ReceiveTransfer (client) retransmits the RRQ, then gives up "timed out waiting for the server"',
    make: client({}, { ...FAST, maxRetries: 2, giveUpMs: 300 }),
    steps: [
      {
        at: 0,
        start: true,
        act: REQUEST,
        sends: ["request"],
        state: { deadline: 100 },
      },
      { at: 100, timer: true, act: REQUEST, sends: ["request"] },
      {
        at: 200,
        timer: true,
        act: REQUEST,
        sends: ["request"],
        state: { deadline: 300 },
      },
      {
        at: 300,
        timer: true,
        act: END,
        state: {
          outcome: "timeout",
          error: "timed out waiting for the server",
          retransmits: 2,
          farewell: undefined,
        },
      },
    ],
  },
];

/** A client checks the OACK: accepted (ACK 0), or refused with ERROR 8. */
const clientOack: Case[] = [
  {
    name:
      "ReceiveTransfer (client) accepts an OACK within its request, ACKs 0 and receives at the new sizes",
    make: client({ blksize: "1024", windowsize: "2", tsize: "0" }),
    steps: [
      { at: 0, start: true, act: REQUEST, sends: ["request"] },
      {
        at: 5,
        dg: oack({ blksize: "1024", windowsize: "2", tsize: "3000" }),
        act: SEND,
        sends: ["ACK 0"],
        state: {
          tsize: 3000,
          blksize: 1024,
          windowsize: 2,
          maxDatagram: 1028,
          offered: { blksize: "1024", windowsize: "2", tsize: "3000" },
          peerPort: 50001,
          established: false,
        },
      },
      {
        at: 6,
        dg: data(1, 1024),
        act: DELIVER,
        sends: ["write 1024"],
        state: { established: true },
      },
      { at: 6, dg: data(2, 1024), act: IN, sends: ["write 1024", "ACK 2"] },
      {
        at: 7,
        dg: data(3, 952),
        act: LAST,
        sends: ["write 952", "commit", "ACK 3"],
      },
    ],
  },
  {
    name: "ReceiveTransfer (client) re-ACKs 0 after the OACK on timeout",
    make: client({ blksize: "1024" }),
    steps: [
      { at: 0, start: true, act: REQUEST, sends: ["request"] },
      {
        at: 5,
        dg: oack({ blksize: "1024" }),
        act: SEND,
        sends: ["ACK 0"],
        state: { deadline: 1005 },
      },
      { at: 1005, timer: true, act: SEND, sends: ["ACK 0"] },
    ],
  },
  {
    name:
      "ReceiveTransfer (client) takes DATA 1 as a server without options: 512 bytes, lock-step",
    make: client({ blksize: "1024", windowsize: "4" }),
    steps: [
      { at: 0, start: true, act: REQUEST, sends: ["request"] },
      {
        at: 5,
        dg: data(1, 512),
        act: IN,
        sends: ["write 512", "ACK 1"],
        state: { blksize: 512, windowsize: 1, offered: {}, tsize: undefined },
      },
    ],
  },
  {
    name:
      "ReceiveTransfer (client) refuses an OACK beyond its request with ERROR 8",
    make: client({ blksize: "1024" }),
    steps: [
      { at: 0, start: true, act: REQUEST, sends: ["request"] },
      {
        at: 5,
        dg: oack({ blksize: "2048" }),
        act: END,
        sends: ["ERROR 8"],
        state: {
          outcome: "error",
          error: "server sent an unacceptable OACK: blksize 2048 out of range",
          farewell: { code: 8, message: "bad OACK" },
        },
      },
      { at: 6, dg: data(1, 512), act: NONE },
    ],
  },
  {
    name:
      "ReceiveTransfer (client) refuses an OACK with tsize it did not ask for",
    make: client({ blksize: "1024" }),
    steps: [
      { at: 0, start: true, act: REQUEST, sends: ["request"] },
      { at: 5, dg: oack({ tsize: "10" }), act: END, sends: ["ERROR 8"] },
    ],
  },
];

/** `established`: the peer has sent data in order. */
const established: Case[] = [
  {
    name:
      "ReceiveTransfer (server) is established by the first block in order, nothing else",
    make: server({ windowsize: 4 }),
    steps: [
      { ...START, state: { established: false } },
      {
        at: 1,
        dg: data(0, 512),
        act: SEND,
        sends: ["ACK 0"],
        state: { established: false },
      },
      {
        at: 2,
        dg: data(2, 512),
        act: SEND,
        sends: ["ACK 0"],
        state: { established: false },
      },
      {
        at: 3,
        dg: data(1, 512),
        from: CLIENT_OTHER,
        act: STR,
        sends: TO_STRANGER,
        state: { established: false },
      },
      {
        at: 1000,
        timer: true,
        act: SEND,
        sends: ["ACK 0"],
        state: { established: false },
      },
      {
        at: 1001,
        dg: data(1, 512),
        act: DELIVER,
        sends: ["write 512"],
        state: { established: true },
      },
    ],
  },
];

/** An ended transfer does nothing more. */
const ended: Case[] = [
  {
    name:
      "ReceiveTransfer does nothing once done: datagrams, timers and end() are NONE",
    make: server(),
    steps: [
      START,
      {
        at: 1,
        dg: data(1, 5),
        act: LAST,
        sends: ["write 5", "commit", "ACK 1"],
      },
      { at: 2, dg: data(1, 5), act: NONE },
      { at: 3, dg: error(0), act: NONE },
      { at: 1000, timer: true, act: NONE },
      { at: 1001, end: "cancelled", act: NONE, state: { outcome: "ok" } },
    ],
  },
  {
    name:
      "ReceiveTransfer.end() ends a running transfer from outside, with no farewell",
    make: server(),
    steps: [
      START,
      {
        at: 1,
        end: "cancelled",
        act: END,
        state: {
          outcome: "cancelled",
          error: "ended from outside",
          farewell: undefined,
        },
      },
      { at: 2, dg: data(1, 512), act: NONE },
    ],
  },
];

register([
  ...inOrder,
  ...windowed,
  ...duplicates,
  ...gaps,
  ...timer,
  ...interval,
  ...rollover,
  ...linger,
  ...completion,
  ...limits,
  ...peerError,
  ...strangers,
  ...clientLock,
  ...requestPhase,
  ...clientOack,
  ...established,
  ...ended,
]);

Deno.test("ReceiveTransfer takes every length below blksize as final, and blksize as not", () => {
  for (let len = 0; len <= 512; len++) {
    const t = new ReceiveTransfer({ role: "server", peer: CLIENT }, 0);
    t.start(0);
    const act = t.onDatagram(data(1, len), CLIENT, 1);
    assert.equal(act, len < 512 ? DELIVER | FINAL | SEND | DONE : IN, `${len}`);
  }
});

Deno.test("ReceiveTransfer.control is the OACK until block 1, then the ACK of the last block in order", () => {
  const bytes = oack({ blksize: "512" });
  const t = new ReceiveTransfer(
    { role: "server", peer: CLIENT, oack: bytes },
    0,
  );
  assert.equal(t.start(0), SEND);
  assert.deepEqual(t.control, bytes);
  t.onDatagram(data(1, 512), CLIENT, 1);
  assert.deepEqual(t.control, new Uint8Array([0, 4, 0, 1]));
  t.onDatagram(data(2, 512), CLIENT, 2);
  assert.deepEqual(t.control, new Uint8Array([0, 4, 0, 2]));
});

Deno.test("ReceiveTransfer (client) locks its TID only on a reply a server can send first", async () => {
  const { ReceiveTransfer } = await import(
    "../../src/protocol/receive_transfer.ts"
  );
  const { Act } = await import("../../src/protocol/transfer.ts");
  const server = { hostname: "10.0.0.1", port: 69 };
  for (const junk of [[0], [0, 3], [0, 4, 0], [0, 1, 0, 0], [0, 9, 0, 0]]) {
    const t = new ReceiveTransfer({ role: "client", peer: server }, 0);
    t.start(0);
    t.onDatagram(new Uint8Array(junk), { hostname: "10.0.0.1", port: 5000 }, 1);
    const data = new Uint8Array([0, 3, 0, 1, 65]);
    const act = t.onDatagram(data, { hostname: "10.0.0.1", port: 6000 }, 2);
    assert.ok(act & Act.DELIVER, `after ${junk}: DATA 1 from the real TID`);
    assert.equal(t.peer.port, 6000, `after ${junk}`);
  }
});
