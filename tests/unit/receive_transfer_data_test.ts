/**
 * The receiving side of a transfer (src/protocol/receive_transfer.ts), both
 * roles, in the data phase: in-order blocks, windows, duplicates, gaps, the
 * 16-bit rollover, and `established`. Each case is a script; see
 * `machine_script.ts`. A step that lists nothing must do nothing.
 */

import assert from "node:assert/strict";
import { ReceiveTransfer } from "../../src/protocol/receive_transfer.ts";
import {
  type Case,
  CLIENT,
  CLIENT_OTHER,
  data,
  oack,
  register,
  type Step,
} from "./machine_script.ts";
import {
  DELIVER,
  DONE,
  END,
  FAST,
  FINAL,
  IN,
  LAST,
  lockStep,
  NONE,
  OACK_BYTES,
  SEND,
  server,
  START,
  STR,
  TO_STRANGER,
  windows,
} from "./receive_transfer_cases.ts";

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

register([
  ...inOrder,
  ...windowed,
  ...duplicates,
  ...gaps,
  ...rollover,
  ...established,
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
