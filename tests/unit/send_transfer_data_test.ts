/**
 * The sending side of a transfer (src/protocol/send_transfer.ts), both
 * roles, in the data phase: lock-step, duplicate ACKs, the 16-bit rollover,
 * `established`, and an ended transfer. Each case is a script; see
 * `machine_script.ts`. A step that lists no sends must send nothing.
 */

import {
  ack,
  type Case,
  CLIENT_OTHER,
  data,
  error,
  oack,
  register,
  type Step,
} from "./machine_script.ts";
import {
  BIG,
  blocks,
  DONE,
  END,
  FAST,
  NONE,
  SEND,
  server,
  STR,
  TO_STRANGER,
} from "./send_transfer_cases.ts";

/** The data phase in lock-step (RFC 1350). */
const lockStep: Case[] = [
  {
    name:
      "SendTransfer (server) sends one block per ACK, done on the ACK of the final block",
    make: server({}, 2 * 512 + 100),
    steps: [
      { at: 0, start: true, act: SEND, sends: ["DATA 1"], state: { base: 1 } },
      { at: 10, dg: ack(1), act: SEND, sends: ["DATA 2"] },
      { at: 20, dg: ack(2), act: SEND, sends: ["DATA 3"] },
      {
        at: 30,
        dg: ack(3),
        act: DONE,
        state: { outcome: "ok", error: undefined, blocksAcked: 3 },
      },
    ],
  },
  {
    name: "SendTransfer sends a file shorter than a block as one DATA",
    make: server({}, 100),
    steps: [
      { at: 0, start: true, act: SEND, sends: ["DATA 1"] },
      { at: 5, dg: ack(1), act: DONE, state: { outcome: "ok" } },
    ],
  },
  {
    name: "SendTransfer ends an exact multiple of blksize with an empty block",
    make: server({}, 1024),
    steps: [
      { at: 0, start: true, act: SEND, sends: ["DATA 1"] },
      { at: 1, dg: ack(1), act: SEND, sends: ["DATA 2"] },
      { at: 2, dg: ack(2), act: SEND, sends: ["DATA 3"] },
      { at: 3, dg: ack(3), act: DONE },
    ],
  },
  {
    name: "SendTransfer sends an empty file as one empty DATA",
    make: server({}, 0),
    steps: [
      { at: 0, start: true, act: SEND, sends: ["DATA 1"] },
      { at: 1, dg: ack(1), act: DONE },
    ],
  },
];

/** A duplicate or stray ACK is never progress and never causes a send. */
const duplicates: Case[] = [
  {
    name:
      "SendTransfer.onDatagram() ignores a duplicate ACK: no send, no progress",
    make: server(),
    steps: [
      { at: 0, start: true, act: SEND, sends: ["DATA 1"] },
      { at: 10, dg: ack(1), act: SEND, sends: ["DATA 2"] },
      ...[20, 30, 40, 50, 60].map((at): Step => ({
        at,
        dg: ack(1),
        act: NONE,
        state: { base: 2, retries: 0, retransmits: 0, deadline: 1010 },
      })),
      { at: 70, dg: ack(2), act: SEND, sends: ["DATA 3"] },
    ],
  },
  {
    name: "SendTransfer ignores a repeated window ACK and an older one",
    make: server({ windowsize: 4 }, BIG),
    steps: [
      { at: 0, start: true, act: SEND, sends: blocks(1, 4) },
      { at: 1, dg: ack(4), act: SEND, sends: blocks(5, 8) },
      { at: 2, dg: ack(4), act: NONE },
      { at: 3, dg: ack(3), act: NONE, state: { base: 5 } },
    ],
  },
  {
    name: "SendTransfer ignores ACK 0 when it sent no OACK",
    make: server({ windowsize: 4 }, BIG),
    steps: [
      { at: 0, start: true, act: SEND, sends: blocks(1, 4) },
      { at: 1, dg: ack(0), act: NONE, state: { base: 1 } },
    ],
  },
  {
    name: "SendTransfer ignores an ACK of a block beyond the highest sent",
    make: server({ windowsize: 4 }, BIG),
    steps: [
      { at: 0, start: true, act: SEND, sends: blocks(1, 4) },
      ...[5, 6, 100, 30000, 65534].map((n): Step => ({
        at: 1,
        dg: ack(n),
        act: NONE,
        state: { base: 1, deadline: 1000 },
      })),
      { at: 2, dg: ack(4), act: SEND, sends: blocks(5, 8) },
    ],
  },
  {
    name:
      "SendTransfer: a duplicate ACK resets neither the retries nor the give-up clock",
    make: server({ ...FAST, maxRetries: 1, giveUpMs: 1000 }),
    steps: [
      { at: 0, start: true, act: SEND, sends: ["DATA 1"] },
      { at: 0, dg: ack(1), act: SEND, sends: ["DATA 2"] },
      { at: 100, timer: true, act: SEND, sends: ["DATA 2"] },
      { at: 200, timer: true, act: NONE, state: { deadline: 1000 } },
      ...[300, 500, 700, 900, 999].map((at): Step => ({
        at,
        dg: ack(1),
        act: NONE,
        state: { retries: 1, deadline: 1000 },
      })),
      {
        at: 1000,
        timer: true,
        act: END,
        state: { outcome: "timeout", error: "no ACK from client" },
      },
    ],
  },
  {
    name:
      "SendTransfer ignores a malformed or unexpected datagram from its peer",
    make: server(),
    steps: [
      { at: 0, start: true, act: SEND, sends: ["DATA 1"] },
      ...[
        new Uint8Array(0),
        new Uint8Array([0]),
        new Uint8Array([0, 4, 0]),
        new Uint8Array([0, 5, 0]),
        new Uint8Array([0, 9, 0, 1]),
        new Uint8Array([0, 1, 97, 0, 111, 99, 116, 101, 116, 0]),
        data(1, 10),
        oack({ blksize: "512" }),
      ].map((dg): Step => ({
        at: 5,
        dg,
        act: NONE,
        state: { base: 1, outcome: undefined, deadline: 1000 },
      })),
      { at: 6, dg: ack(1), act: SEND, sends: ["DATA 2"] },
    ],
  },
];

/** Lock-step, then a rollover of the wire block number. */
function lockStepUpTo(last: number): Step[] {
  const steps: Step[] = [{ at: 0, start: true, act: SEND, sends: ["DATA 1"] }];
  for (let b = 1; b < last; b++) {
    steps.push({
      at: 0,
      dg: ack(b & 0xffff),
      act: SEND,
      sends: [`DATA ${b + 1}`],
    });
  }
  return steps;
}

/** Windows of 16 after the OACK, acknowledged whole, up to block `top`. */
function windowsUpTo(top: number): Step[] {
  const steps: Step[] = [
    { at: 0, start: true, act: SEND, sends: ["OACK"] },
    { at: 0, dg: ack(0), act: SEND, sends: blocks(1, 16) },
  ];
  for (let b = 16; b <= top; b += 16) {
    steps.push({
      at: 0,
      dg: ack(b & 0xffff),
      act: SEND,
      sends: blocks(b + 1, b + 16),
    });
  }
  return steps;
}

/** Block numbers roll over from 65535 to 0 (absolute numbers go on). */
const rollover: Case[] = [
  {
    name:
      "SendTransfer rolls block 65535 over to 0 in lock-step, a repeated ACK 65535 is a duplicate",
    make: server({ blksize: 8 }, 65536 * 8 + 3),
    steps: [
      ...lockStepUpTo(65535),
      {
        at: 0,
        dg: ack(65535),
        act: SEND,
        sends: ["DATA 65536"],
        state: { base: 65536 },
      },
      { at: 0, dg: ack(65535), act: NONE },
      { at: 0, dg: ack(0), act: SEND, sends: ["DATA 65537"] },
      { at: 0, dg: ack(0), act: NONE },
      { at: 0, dg: ack(2), act: NONE },
      { at: 0, dg: ack(1), act: DONE, state: { blocksAcked: 65537 } },
    ],
  },
  {
    name: "SendTransfer moves a window of 16 across the rollover",
    make: server({ blksize: 8, windowsize: 16, oack: true }, 70000 * 8),
    steps: [
      ...windowsUpTo(65520),
      // A mid-window ACK: the next window straddles the wrap.
      { at: 0, dg: ack(65525), act: SEND, sends: blocks(65526, 65541) },
      // ACK of wire 65535, inside the window: go on at 65536 (wire 0).
      {
        at: 0,
        dg: ack(65535),
        act: SEND,
        sends: blocks(65536, 65551),
        state: { base: 65536 },
      },
      { at: 0, dg: ack(65535), act: NONE },
      { at: 0, dg: ack(65552 & 0xffff), act: NONE },
      // Wire 3 is block 65539.
      {
        at: 0,
        dg: ack(3),
        act: SEND,
        sends: blocks(65540, 65555),
        state: { base: 65540 },
      },
      {
        at: 0,
        dg: ack(65555 & 0xffff),
        act: SEND,
        sends: blocks(65556, 65571),
        state: { base: 65556 },
      },
    ],
  },
];

/** `established`: the peer has shown it is there. */
const established: Case[] = [
  {
    name:
      "SendTransfer (server, no OACK) is established by the ACK of block 1, nothing else",
    make: server(),
    steps: [
      {
        at: 0,
        start: true,
        act: SEND,
        sends: ["DATA 1"],
        state: { established: false },
      },
      { at: 1, dg: ack(0), act: NONE, state: { established: false } },
      { at: 2, dg: ack(5), act: NONE, state: { established: false } },
      {
        at: 3,
        dg: ack(1),
        from: CLIENT_OTHER,
        act: STR,
        sends: TO_STRANGER,
        state: { established: false },
      },
      {
        at: 1000,
        timer: true,
        act: SEND,
        sends: ["DATA 1"],
        state: { established: false },
      },
      {
        at: 1001,
        dg: ack(1),
        act: SEND,
        sends: ["DATA 2"],
        state: { established: true },
      },
    ],
  },
  {
    name: "SendTransfer (server, OACK) is established by ACK 0",
    make: server({ oack: true }),
    steps: [
      {
        at: 0,
        start: true,
        act: SEND,
        sends: ["OACK"],
        state: { established: false },
      },
      { at: 1, dg: ack(1), act: NONE, state: { established: false } },
      {
        at: 2,
        dg: ack(0),
        act: SEND,
        sends: ["DATA 1"],
        state: { established: true },
      },
    ],
  },
];

/** An ended transfer does nothing more. */
const ended: Case[] = [
  {
    name:
      "SendTransfer does nothing once done: datagrams, timers and end() are NONE",
    make: server({}, 10),
    steps: [
      { at: 0, start: true, act: SEND, sends: ["DATA 1"] },
      { at: 1, dg: ack(1), act: DONE },
      { at: 2, dg: ack(1), act: NONE },
      { at: 3, dg: error(0), act: NONE, state: { peerError: undefined } },
      { at: 1000, timer: true, act: NONE },
      { at: 1001, end: "cancelled", act: NONE, state: { outcome: "ok" } },
    ],
  },
  {
    name:
      "SendTransfer.end() ends a running transfer from outside, with no farewell",
    make: server(),
    steps: [
      { at: 0, start: true, act: SEND, sends: ["DATA 1"] },
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
      { at: 2, dg: ack(1), act: NONE },
      { at: 1000, timer: true, act: NONE },
    ],
  },
];

register([
  ...lockStep,
  ...duplicates,
  ...rollover,
  ...established,
  ...ended,
]);
