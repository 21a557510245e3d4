/**
 * The sending side of a transfer (src/protocol/send_transfer.ts and the
 * Sender it runs), both roles, one table per rule. Each case is a script:
 * datagram bytes from an endpoint at a time, timer firings, and for each
 * the Act bits, what the driver then sends (see `machine_script.ts`), and
 * the read-only state. A step that lists no sends must send nothing.
 */

import assert from "node:assert/strict";
import { Act } from "../../src/protocol/transfer.ts";
import {
  SendTransfer,
  type SendTransferOptions,
} from "../../src/protocol/send_transfer.ts";
import { guardedInitialWindow } from "../../src/protocol/window.ts";
import {
  ack,
  type Case,
  CLIENT,
  CLIENT_OTHER,
  data,
  error,
  oack,
  register,
  sendModel,
  SERVER,
  SERVER_OTHER,
  SERVER_TID,
  type Step,
  STRANGER,
} from "./machine_script.ts";

const { NONE, SEND, DONE, END, REQUEST } = Act;
const STR = Act.STRANGER;
const TO_STRANGER = ["ERROR 5 to stranger"];

/** A server answering an RRQ from CLIENT, sending a file of `size` bytes. */
function server(o: Partial<SendTransferOptions> = {}, size?: number) {
  return () => sendModel({ role: "server", peer: CLIENT, ...o }, { size });
}

/** A client that sent a WRQ to SERVER asking for `asked`. */
function client(
  asked: Record<string, string> = {},
  o: Partial<SendTransferOptions> = {},
  size?: number,
) {
  return () =>
    sendModel({
      role: "client",
      peer: SERVER,
      asked: new Map(Object.entries(asked)),
      ...o,
    }, { size });
}

/** `DATA from` .. `DATA to`. */
function blocks(from: number, to: number): string[] {
  const out: string[] = [];
  for (let b = from; b <= to; b++) out.push(`DATA ${b}`);
  return out;
}

/** Retry settings that make the timer steps short: 100 ms, fixed. */
const FAST = { rto: { initialMs: 100, fixed: true } };
/** An adaptive interval, as the server runs it without a timeout option. */
const ADAPTIVE = { rto: { initialMs: 1000, minMs: 50 }, giveUpMs: 30_000 };
const BIG = 1_000_000;

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

/** Windows (RFC 7440): an ACK moves the window to the block after it. */
const windowed: Case[] = [
  {
    name: "SendTransfer sends a whole window per ACK of its last block",
    make: server({ windowsize: 4 }, 12 * 512 - 1),
    steps: [
      { at: 0, start: true, act: SEND, sends: blocks(1, 4) },
      { at: 1, dg: ack(4), act: SEND, sends: blocks(5, 8) },
      { at: 2, dg: ack(8), act: SEND, sends: blocks(9, 12) },
      { at: 3, dg: ack(12), act: DONE },
    ],
  },
  {
    name:
      "SendTransfer continues from the block after an ACK inside the window",
    make: server({ windowsize: 4 }, BIG),
    steps: [
      { at: 0, start: true, act: SEND, sends: blocks(1, 4) },
      { at: 1, dg: ack(2), act: SEND, sends: blocks(3, 6), state: { base: 3 } },
      { at: 2, dg: ack(3), act: SEND, sends: blocks(4, 7) },
      { at: 3, dg: ack(7), act: SEND, sends: blocks(8, 11) },
    ],
  },
  {
    name: "SendTransfer stops a window, and a resend, at the final block",
    make: server({ windowsize: 8 }, 2 * 512 + 10),
    steps: [
      { at: 0, start: true, act: SEND, sends: blocks(1, 3) },
      { at: 10, dg: ack(2), act: SEND, sends: ["DATA 3"] },
      { at: 1010, timer: true, act: SEND, sends: ["DATA 3"] },
      { at: 1020, dg: ack(4), act: NONE, state: { outcome: undefined } },
      { at: 1030, dg: ack(3), act: DONE },
    ],
  },
  {
    name:
      "SendTransfer resends the window from the first unacknowledged block on timeout",
    make: server({ windowsize: 4 }, BIG),
    steps: [
      { at: 0, start: true, act: SEND, sends: blocks(1, 4) },
      { at: 1000, timer: true, act: SEND, sends: blocks(1, 4) },
      { at: 1100, dg: ack(2), act: SEND, sends: blocks(3, 6) },
      {
        at: 2100,
        timer: true,
        act: SEND,
        sends: blocks(3, 6),
        state: { retransmits: 2 },
      },
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

/** The retry count and the give-up clock reset only on progress. */
const progress: Case[] = [
  {
    name: "SendTransfer: a new ACK resets the retries and the give-up clock",
    make: server({ ...FAST, maxRetries: 2, giveUpMs: 1000 }),
    steps: [
      { at: 0, start: true, act: SEND, sends: ["DATA 1"] },
      { at: 100, timer: true, act: SEND, sends: ["DATA 1"] },
      { at: 200, timer: true, act: SEND, sends: ["DATA 1"] },
      {
        at: 250,
        dg: ack(1),
        act: SEND,
        sends: ["DATA 2"],
        state: { retries: 0, retransmits: 2, deadline: 350 },
      },
      { at: 350, timer: true, act: SEND, sends: ["DATA 2"] },
      { at: 450, timer: true, act: SEND, sends: ["DATA 2"] },
      { at: 550, timer: true, act: NONE, state: { deadline: 1250 } },
      { at: 1250, timer: true, act: END, state: { retransmits: 4 } },
    ],
  },
];

/** Once the retransmits are spent: silence, until patience runs out. */
const silence: Case[] = [
  {
    name:
      "SendTransfer resends maxRetries times, waits in silence, gives up at giveUpMs",
    make: server({
      windowsize: 2,
      maxRetries: 3,
      giveUpMs: 3000,
      rto: { initialMs: 500, fixed: true },
    }, BIG),
    steps: [
      { at: 0, start: true, act: SEND, sends: blocks(1, 2) },
      { at: 500, timer: true, act: SEND, sends: blocks(1, 2) },
      { at: 1000, timer: true, act: SEND, sends: blocks(1, 2) },
      { at: 1500, timer: true, act: SEND, sends: blocks(1, 2) },
      { at: 2000, timer: true, act: NONE, state: { deadline: 3000 } },
      { at: 2999, timer: true, act: NONE, state: { deadline: 3000 } },
      {
        at: 3000,
        timer: true,
        act: END,
        state: {
          outcome: "timeout",
          error: "no ACK from client",
          retransmits: 3,
          farewell: undefined,
        },
      },
    ],
  },
  {
    name:
      "SendTransfer gives up patienceMs after the last progress once out of resends",
    make: server({
      maxRetries: 1,
      giveUpMs: 10_000,
      patienceMs: 2000,
      rto: { initialMs: 500, fixed: true },
    }),
    steps: [
      { at: 0, start: true, act: SEND, sends: ["DATA 1"] },
      { at: 500, timer: true, act: SEND, sends: ["DATA 1"] },
      { at: 1000, timer: true, act: NONE, state: { deadline: 2000 } },
      { at: 2000, timer: true, act: END, state: { outcome: "timeout" } },
    ],
  },
  {
    name:
      "SendTransfer defaults to a fixed 1000 ms interval, gone 3000 ms after the last progress",
    make: server(),
    steps: [
      { at: 0, start: true, act: SEND, sends: ["DATA 1"] },
      { at: 1000, timer: true, act: SEND, sends: ["DATA 1"] },
      { at: 2000, timer: true, act: SEND, sends: ["DATA 1"] },
      { at: 3000, timer: true, act: END, state: { retransmits: 2 } },
    ],
  },
  {
    name:
      "SendTransfer defaults to 5 resends, then silence until 3000 ms after the last progress",
    make: server(FAST),
    steps: [
      { at: 0, start: true, act: SEND, sends: ["DATA 1"] },
      ...[100, 200, 300, 400, 500].map((at): Step => ({
        at,
        timer: true,
        act: SEND,
        sends: ["DATA 1"],
      })),
      { at: 600, timer: true, act: NONE, state: { deadline: 3000 } },
      { at: 3000, timer: true, act: END, state: { retransmits: 5 } },
    ],
  },
  {
    name:
      'SendTransfer (client) gives up the data phase with "timed out waiting for ACK"',
    make: client({}, { ...FAST, maxRetries: 1, giveUpMs: 300 }),
    steps: [
      { at: 0, start: true, act: REQUEST, sends: ["request"] },
      { at: 10, dg: ack(0), act: SEND, sends: ["DATA 1"] },
      { at: 110, timer: true, act: SEND, sends: ["DATA 1"] },
      { at: 210, timer: true, act: NONE },
      {
        at: 310,
        timer: true,
        act: END,
        state: { outcome: "timeout", error: "timed out waiting for ACK" },
      },
    ],
  },
];

/** Timeouts back off the adaptive interval; a fixed one never changes. */
const interval: Case[] = [
  {
    name:
      "SendTransfer backs off the adaptive interval on each timeout, up to its ceiling",
    make: server(ADAPTIVE),
    steps: [
      { at: 0, start: true, act: SEND, sends: ["DATA 1"] },
      {
        at: 100,
        dg: ack(1),
        act: SEND,
        sends: ["DATA 2"],
        state: { intervalMs: 300, deadline: 400 },
      },
      {
        at: 400,
        timer: true,
        act: SEND,
        sends: ["DATA 2"],
        state: { intervalMs: 600, deadline: 1000 },
      },
      {
        at: 1000,
        timer: true,
        act: SEND,
        sends: ["DATA 2"],
        state: { intervalMs: 1000, deadline: 2000 },
      },
      {
        at: 2000,
        timer: true,
        act: SEND,
        sends: ["DATA 2"],
        state: { intervalMs: 1000 },
      },
    ],
  },
  {
    name: "SendTransfer never changes a fixed (client-requested) interval",
    make: server({
      rto: { initialMs: 2000, minMs: 50, fixed: true },
      giveUpMs: 20_000,
    }),
    steps: [
      { at: 0, start: true, act: SEND, sends: ["DATA 1"] },
      {
        at: 100,
        dg: ack(1),
        act: SEND,
        sends: ["DATA 2"],
        state: { intervalMs: 2000, deadline: 2100 },
      },
      {
        at: 2100,
        timer: true,
        act: SEND,
        sends: ["DATA 2"],
        state: { intervalMs: 2000, deadline: 4100 },
      },
      {
        at: 4100,
        timer: true,
        act: SEND,
        sends: ["DATA 2"],
        state: { intervalMs: 2000 },
      },
    ],
  },
  {
    name:
      "SendTransfer measures no round trip from a resent block (Karn's rule)",
    make: server(ADAPTIVE),
    steps: [
      { at: 0, start: true, act: SEND, sends: ["DATA 1"] },
      {
        at: 100,
        dg: ack(1),
        act: SEND,
        sends: ["DATA 2"],
        state: { intervalMs: 300 },
      },
      {
        at: 400,
        timer: true,
        act: SEND,
        sends: ["DATA 2"],
        state: { intervalMs: 600 },
      },
      // 50 ms after the resend: it would say 150, if it were measured.
      {
        at: 450,
        dg: ack(2),
        act: SEND,
        sends: ["DATA 3"],
        state: { intervalMs: 600, deadline: 1050 },
      },
      // Sent once: measured again (100 ms: srtt 100, rttvar 37.5).
      {
        at: 550,
        dg: ack(3),
        act: SEND,
        sends: ["DATA 4"],
        state: { intervalMs: 250 },
      },
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

/** A server's OACK is block 0: it goes alone, and only ACK 0 answers it. */
const oackFirst: Case[] = [
  {
    name: "SendTransfer (server) sends the OACK first, as block 0 and alone",
    make: server({ windowsize: 8, oack: true }, BIG),
    steps: [
      {
        at: 0,
        start: true,
        act: SEND,
        sends: ["OACK"],
        state: { awaitingOack: true, base: 0, blocksAcked: 0 },
      },
      {
        at: 1,
        dg: ack(0),
        act: SEND,
        sends: blocks(1, 8),
        state: { awaitingOack: false, base: 1 },
      },
    ],
  },
  {
    name: "SendTransfer takes only ACK 0 while the OACK is outstanding",
    make: server({ windowsize: 4, oack: true }, BIG),
    steps: [
      { at: 0, start: true, act: SEND, sends: ["OACK"] },
      ...[1, 2, 4, 65535].map((n): Step => ({
        at: 1,
        dg: ack(n),
        act: NONE,
        state: { awaitingOack: true },
      })),
      { at: 2, dg: ack(0), act: SEND, sends: blocks(1, 4) },
    ],
  },
  {
    name: "SendTransfer resends the OACK on timeout",
    make: server({ windowsize: 4, oack: true }, BIG),
    steps: [
      { at: 0, start: true, act: SEND, sends: ["OACK"] },
      { at: 1000, timer: true, act: SEND, sends: ["OACK"] },
      { at: 1100, dg: ack(0), act: SEND, sends: blocks(1, 4) },
    ],
  },
  {
    name: "SendTransfer ignores a repeated ACK 0 after the OACK",
    make: server({ oack: true }),
    steps: [
      { at: 0, start: true, act: SEND, sends: ["OACK"] },
      { at: 1, dg: ack(0), act: SEND, sends: ["DATA 1"] },
      { at: 2, dg: ack(0), act: NONE, state: { base: 1 } },
    ],
  },
];

/** ERROR 8 in answer to the OACK: a server's size probe (UEFI), else an abort. */
const probe: Case[] = [
  {
    name:
      "SendTransfer (server) takes ERROR 8 in answer to its OACK as a size probe",
    make: server({ oack: true }),
    steps: [
      { at: 0, start: true, act: SEND, sends: ["OACK"] },
      {
        at: 5,
        dg: error(8, "tsize only"),
        act: END,
        state: {
          outcome: "probe",
          error: 'client ended after OACK (ERROR 8: "tsize only")',
          peerError: { code: 8, message: "tsize only" },
          farewell: undefined,
        },
      },
    ],
  },
  {
    name: "SendTransfer (server) takes ERROR 8 after ACK 0 as an abort",
    make: server({ oack: true }),
    steps: [
      { at: 0, start: true, act: SEND, sends: ["OACK"] },
      { at: 1, dg: ack(0), act: SEND, sends: ["DATA 1"] },
      {
        at: 2,
        dg: error(8, "changed my mind"),
        act: END,
        state: { outcome: "aborted", error: /^client sent ERROR 8: / },
      },
    ],
  },
  {
    name:
      "SendTransfer (server) takes another ERROR in answer to its OACK as an abort",
    make: server({ oack: true }),
    steps: [
      { at: 0, start: true, act: SEND, sends: ["OACK"] },
      { at: 1, dg: error(0, "no"), act: END, state: { outcome: "aborted" } },
    ],
  },
  {
    name: "SendTransfer (server) without an OACK takes ERROR 8 as an abort",
    make: server(),
    steps: [
      { at: 0, start: true, act: SEND, sends: ["DATA 1"] },
      { at: 1, dg: error(8, "no"), act: END, state: { outcome: "aborted" } },
    ],
  },
  {
    name:
      "SendTransfer (client) takes ERROR 8 from the server as an error, not a probe",
    make: client({ blksize: "1024" }),
    steps: [
      { at: 0, start: true, act: REQUEST, sends: ["request"] },
      {
        at: 1,
        dg: error(8, "blksize"),
        act: END,
        state: { outcome: "error", error: 'server error 8: "blksize"' },
      },
    ],
  },
];

/** An ERROR from the peer ends the transfer, and is never answered. */
const peerError: Case[] = [
  {
    name: "SendTransfer ends on its peer's ERROR and sends nothing back",
    make: server(),
    steps: [
      { at: 0, start: true, act: SEND, sends: ["DATA 1"] },
      { at: 1, dg: ack(1), act: SEND, sends: ["DATA 2"] },
      {
        at: 2,
        dg: error(3, "disk full"),
        act: END,
        state: {
          outcome: "aborted",
          error: 'client sent ERROR 3: "disk full"',
          peerError: { code: 3, message: "disk full" },
          farewell: undefined,
        },
      },
      { at: 3, dg: ack(2), act: NONE },
      { at: 5000, timer: true, act: NONE, state: { outcome: "aborted" } },
    ],
  },
  {
    name:
      "SendTransfer quotes its peer's ERROR text escaped and cut at 100 characters",
    // (The sender's encodeError already cut the text at 200.)
    make: server(),
    steps: [
      { at: 0, start: true, act: SEND, sends: ["DATA 1"] },
      {
        at: 1,
        dg: error(0, "a\nb" + "x".repeat(200)),
        act: END,
        state: {
          error: `client sent ERROR 0: "a\\nb${"x".repeat(97)}"...(+100 chars)`,
        },
      },
    ],
  },
  {
    name:
      "SendTransfer (client) ends on the server's ERROR in the request phase",
    make: client(),
    steps: [
      { at: 0, start: true, act: REQUEST, sends: ["request"] },
      {
        at: 3,
        dg: error(1, "File not found"),
        act: END,
        state: {
          outcome: "error",
          error: 'server error 1: "File not found"',
          peerError: { code: 1, message: "File not found" },
          farewell: undefined,
        },
      },
      { at: 1000, timer: true, act: NONE },
    ],
  },
];

/** A stranger gets ERROR 5, rate-limited, never for an ERROR, and no say. */
const strangers: Case[] = [
  {
    name:
      "SendTransfer answers a stranger's ACK with ERROR 5 and takes no progress from it",
    make: server(),
    steps: [
      { at: 0, start: true, act: SEND, sends: ["DATA 1"] },
      {
        at: 10,
        dg: ack(1),
        from: CLIENT_OTHER,
        act: STR,
        sends: TO_STRANGER,
        state: { base: 1, deadline: 1000, established: false },
      },
      { at: 20, dg: ack(1), from: STRANGER, act: STR, sends: TO_STRANGER },
      { at: 30, dg: ack(1), act: SEND, sends: ["DATA 2"] },
    ],
  },
  {
    name: "SendTransfer never answers a stranger's ERROR, and goes on",
    make: server(),
    steps: [
      { at: 0, start: true, act: SEND, sends: ["DATA 1"] },
      {
        at: 10,
        dg: error(5, "unknown transfer ID"),
        from: CLIENT_OTHER,
        act: NONE,
        state: { outcome: undefined, peerError: undefined },
      },
      { at: 20, dg: ack(1), act: SEND, sends: ["DATA 2"] },
    ],
  },
  {
    name:
      "SendTransfer answers at most 4 strangers at once, one more per 250 ms",
    make: server(),
    steps: [
      { at: 0, start: true, act: SEND, sends: ["DATA 1"] },
      ...[1, 2, 3, 4].map((port): Step => ({
        at: 0,
        dg: ack(1),
        from: { hostname: "10.6.6.6", port },
        act: STR,
        sends: TO_STRANGER,
      })),
      { at: 0, dg: ack(1), from: STRANGER, act: NONE },
      { at: 249, dg: ack(1), from: STRANGER, act: NONE },
      { at: 250, dg: ack(1), from: STRANGER, act: STR, sends: TO_STRANGER },
      { at: 250, dg: ack(1), from: STRANGER, act: NONE },
      { at: 251, dg: ack(1), act: SEND, sends: ["DATA 2"] },
    ],
  },
  {
    name:
      "SendTransfer takes its budget of replies to strangers from `strangers`",
    make: server({ strangers: { burst: 1, refillMs: 1000 } }),
    steps: [
      { at: 0, start: true, act: SEND, sends: ["DATA 1"] },
      { at: 0, dg: ack(1), from: STRANGER, act: STR, sends: TO_STRANGER },
      { at: 999, dg: ack(1), from: STRANGER, act: NONE },
      { at: 1000, dg: ack(1), from: STRANGER, act: STR, sends: TO_STRANGER },
    ],
  },
  {
    name:
      "SendTransfer takes the IPv4-mapped form of its peer's address as its peer",
    make: server(),
    steps: [
      { at: 0, start: true, act: SEND, sends: ["DATA 1"] },
      {
        at: 1,
        dg: ack(1),
        from: { hostname: "::ffff:10.0.0.9", port: 2000 },
        act: SEND,
        sends: ["DATA 2"],
      },
    ],
  },
  {
    name: "SendTransfer answers no stranger once it has ended",
    make: server({}, 10),
    steps: [
      { at: 0, start: true, act: SEND, sends: ["DATA 1"] },
      { at: 1, dg: ack(1), act: DONE },
      { at: 2, dg: ack(1), from: STRANGER, act: NONE },
    ],
  },
];

/** A client locks onto the port of the server's first reply. */
const clientLock: Case[] = [
  {
    name:
      "SendTransfer (client) locks onto the port of the server's first reply",
    make: client(),
    steps: [
      {
        at: 0,
        start: true,
        act: REQUEST,
        sends: ["request"],
        state: { peerPort: 69, established: false },
      },
      {
        at: 5,
        dg: ack(0),
        from: SERVER_TID,
        act: SEND,
        sends: ["DATA 1"],
        state: { peerPort: 50001, established: true, blksize: 512 },
      },
      {
        at: 6,
        dg: ack(1),
        from: SERVER_OTHER,
        act: STR,
        sends: TO_STRANGER,
        state: { base: 1, peerPort: 50001 },
      },
      { at: 7, dg: ack(1), from: SERVER, act: STR, sends: TO_STRANGER },
      { at: 8, dg: ack(1), from: SERVER_TID, act: SEND, sends: ["DATA 2"] },
    ],
  },
  {
    name: "SendTransfer (client) does not lock onto a reply from another host",
    make: client(),
    steps: [
      { at: 0, start: true, act: REQUEST, sends: ["request"] },
      {
        at: 5,
        dg: ack(0),
        from: STRANGER,
        act: STR,
        sends: TO_STRANGER,
        state: { peerPort: 69, established: false, deadline: 1000 },
      },
      { at: 6, dg: error(0), from: STRANGER, act: NONE },
      {
        at: 7,
        dg: ack(0),
        from: SERVER_TID,
        act: SEND,
        sends: ["DATA 1"],
        state: { peerPort: 50001 },
      },
    ],
  },
];

/** A client retransmits its request, then gives up. */
const requestPhase: Case[] = [
  {
    name:
      'SendTransfer (client) retransmits the WRQ, then gives up "timed out waiting for the server"',
    make: client({}, { ...FAST, maxRetries: 2, giveUpMs: 300 }),
    steps: [
      {
        at: 0,
        start: true,
        act: REQUEST,
        sends: ["request"],
        state: { deadline: 100, established: false },
      },
      {
        at: 100,
        timer: true,
        act: REQUEST,
        sends: ["request"],
        state: { deadline: 200 },
      },
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
  {
    name: "SendTransfer (client) runs its request phase on `request` settings",
    make: client({}, { request: { maxRetries: 0, giveUpMs: 50 } }),
    steps: [
      {
        at: 0,
        start: true,
        act: REQUEST,
        sends: ["request"],
        state: { deadline: 50 },
      },
      { at: 50, timer: true, act: END, state: { outcome: "timeout" } },
    ],
  },
  {
    name:
      "SendTransfer (client) ignores a malformed OACK: the request stays due",
    make: client({ blksize: "1024" }),
    steps: [
      { at: 0, start: true, act: REQUEST, sends: ["request"] },
      {
        at: 5,
        dg: new Uint8Array([0, 6, 98, 108, 107]),
        act: NONE,
        state: { deadline: 1000, outcome: undefined, established: false },
      },
      { at: 1000, timer: true, act: REQUEST, sends: ["request"] },
    ],
  },
];

/** A client checks the OACK: accepted, or refused with ERROR 8. */
const clientOack: Case[] = [
  {
    name:
      "SendTransfer (client) accepts an OACK within its request and sends at the new sizes",
    make: client(
      { blksize: "1024", windowsize: "2", tsize: "2500" },
      {},
      2500,
    ),
    steps: [
      { at: 0, start: true, act: REQUEST, sends: ["request"] },
      {
        at: 5,
        dg: oack({ blksize: "1024", windowsize: "2", tsize: "2500" }),
        act: SEND,
        sends: blocks(1, 2),
        state: {
          blksize: 1024,
          windowsize: 2,
          tsize: 2500,
          offered: { blksize: "1024", windowsize: "2", tsize: "2500" },
          established: true,
        },
      },
      { at: 6, dg: ack(2), act: SEND, sends: ["DATA 3"] },
      { at: 7, dg: ack(3), act: DONE, state: { outcome: "ok" } },
    ],
  },
  {
    name: "SendTransfer (client) ignores an OACK once the data phase runs",
    make: client({ blksize: "1024" }, {}, BIG),
    steps: [
      { at: 0, start: true, act: REQUEST, sends: ["request"] },
      { at: 5, dg: oack({ blksize: "1024" }), act: SEND, sends: ["DATA 1"] },
      { at: 6, dg: oack({ blksize: "1024" }), act: NONE, state: { base: 1 } },
    ],
  },
  {
    name:
      "SendTransfer (client) takes ACK 0 as a server without options: 512 bytes, lock-step",
    make: client({ blksize: "1024", windowsize: "4" }, {}, BIG),
    steps: [
      { at: 0, start: true, act: REQUEST, sends: ["request"] },
      {
        at: 5,
        dg: ack(0),
        act: SEND,
        sends: ["DATA 1"],
        state: { blksize: 512, windowsize: 1, offered: {}, tsize: undefined },
      },
    ],
  },
  {
    name:
      "SendTransfer (client) refuses an OACK beyond its request with ERROR 8",
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
          peerError: undefined,
        },
      },
      { at: 1000, timer: true, act: NONE },
    ],
  },
  {
    name:
      "SendTransfer (client) refuses an OACK with an option it did not ask for",
    make: client({ blksize: "1024" }),
    steps: [
      { at: 0, start: true, act: REQUEST, sends: ["request"] },
      {
        at: 5,
        dg: oack({ windowsize: "8" }),
        act: END,
        sends: ["ERROR 8"],
        state: { error: /option windowsize was not requested$/ },
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

/**
 * The first window (small for guessable transfer ports) grows only when a
 * window is acknowledged whole.
 */
const growth: Case[] = [
  {
    name:
      "SendTransfer starts at initialWindow and doubles on each window acknowledged whole",
    make: server({ windowsize: 16, initialWindow: 2 }, BIG),
    steps: [
      {
        at: 0,
        start: true,
        act: SEND,
        sends: blocks(1, 2),
        state: { window: 2 },
      },
      {
        at: 1,
        dg: ack(2),
        act: SEND,
        sends: blocks(3, 6),
        state: { window: 4 },
      },
      {
        at: 2,
        dg: ack(6),
        act: SEND,
        sends: blocks(7, 14),
        state: { window: 8 },
      },
      {
        at: 3,
        dg: ack(14),
        act: SEND,
        sends: blocks(15, 30),
        state: { window: 16 },
      },
      {
        at: 4,
        dg: ack(30),
        act: SEND,
        sends: blocks(31, 46),
        state: { window: 16 },
      },
    ],
  },
  {
    name: "SendTransfer does not grow the window on a partial ACK",
    make: server({ windowsize: 16, initialWindow: 4 }, BIG),
    steps: [
      { at: 0, start: true, act: SEND, sends: blocks(1, 4) },
      {
        at: 1,
        dg: ack(2),
        act: SEND,
        sends: blocks(3, 6),
        state: { window: 4 },
      },
      {
        at: 2,
        dg: ack(6),
        act: SEND,
        sends: blocks(7, 14),
        state: { window: 8 },
      },
    ],
  },
  {
    name: "SendTransfer does not grow the window on the ACK of the OACK",
    make: server({ windowsize: 16, initialWindow: 2, oack: true }, BIG),
    steps: [
      { at: 0, start: true, act: SEND, sends: ["OACK"] },
      {
        at: 1,
        dg: ack(0),
        act: SEND,
        sends: blocks(1, 2),
        state: { window: 2 },
      },
      {
        at: 2,
        dg: ack(2),
        act: SEND,
        sends: blocks(3, 6),
        state: { window: 4 },
      },
    ],
  },
  {
    name:
      "SendTransfer with a guarded first window at blksize 65464 sends one block first",
    make: server({
      windowsize: 64,
      blksize: 65464,
      initialWindow: guardedInitialWindow(64, 65464),
    }, 10 * 65464),
    steps: [
      {
        at: 0,
        start: true,
        act: SEND,
        sends: ["DATA 1"],
        state: { window: 1 },
      },
      {
        at: 1,
        dg: ack(1),
        act: SEND,
        sends: blocks(2, 3),
        state: { window: 2 },
      },
    ],
  },
  {
    name:
      "SendTransfer with a guarded first window at blksize 512 sends 16 blocks first",
    make: server({
      windowsize: 64,
      initialWindow: guardedInitialWindow(64, 512),
    }, BIG),
    steps: [
      {
        at: 0,
        start: true,
        act: SEND,
        sends: blocks(1, 16),
        state: { window: 16 },
      },
    ],
  },
  {
    name:
      "SendTransfer keeps the window across a resend, and grows it on the resent window's ACK",
    make: server({ windowsize: 8, initialWindow: 2 }, BIG),
    steps: [
      { at: 0, start: true, act: SEND, sends: blocks(1, 2) },
      {
        at: 1000,
        timer: true,
        act: SEND,
        sends: blocks(1, 2),
        state: { window: 2 },
      },
      {
        at: 1100,
        dg: ack(2),
        act: SEND,
        sends: blocks(3, 6),
        state: { window: 4 },
      },
    ],
  },
];

register([
  ...lockStep,
  ...windowed,
  ...duplicates,
  ...progress,
  ...silence,
  ...interval,
  ...rollover,
  ...oackFirst,
  ...probe,
  ...peerError,
  ...strangers,
  ...clientLock,
  ...requestPhase,
  ...clientOack,
  ...established,
  ...ended,
  ...growth,
]);

/** The nextBlock / setLast contract the driver relies on. */
function yielded(t: SendTransfer): number[] {
  const out: number[] = [];
  for (let b = t.nextBlock(); b >= 0; b = t.nextBlock()) out.push(b);
  return out;
}

Deno.test("SendTransfer.setLast() below the next block pulls the window back", () => {
  const t = new SendTransfer(
    { role: "server", peer: CLIENT, windowsize: 8 },
    0,
  );
  assert.deepEqual(yielded(t), [1, 2, 3, 4, 5, 6, 7, 8]);
  t.setLast(5);
  assert.deepEqual(yielded(t), []);
  assert.equal(t.onDatagram(ack(4), CLIENT, 1), SEND);
  assert.deepEqual(yielded(t), [5]);
  assert.equal(t.onDatagram(ack(5), CLIENT, 2), DONE);
  assert.deepEqual(yielded(t), []);
});

Deno.test("SendTransfer ignores an ACK of a block not yet yielded in a partly sent window", () => {
  const t = new SendTransfer(
    { role: "server", peer: CLIENT, windowsize: 4 },
    0,
  );
  assert.equal(t.nextBlock(), 1);
  assert.equal(t.nextBlock(), 2);
  assert.equal(t.onDatagram(ack(3), CLIENT, 1), NONE);
  assert.equal(t.onDatagram(ack(2), CLIENT, 2), SEND);
  assert.deepEqual(yielded(t), [3, 4, 5, 6]);
});

Deno.test("SendTransfer.nextBlock() yields nothing during a client's request phase", () => {
  const t = new SendTransfer({ role: "client", peer: SERVER }, 0);
  assert.equal(t.start(0), REQUEST);
  assert.equal(t.nextBlock(), -1);
  assert.equal(t.sender, undefined);
  assert.equal(t.blocksAcked, 0);
});
