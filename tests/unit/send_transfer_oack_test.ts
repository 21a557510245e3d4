/**
 * The sending side of a transfer (src/protocol/send_transfer.ts) and the
 * OACK: a server's OACK goes alone as block 0, ERROR 8 in answer to it (a
 * size probe or an abort), and a client's check of the OACK. Each case is a
 * script; see `machine_script.ts`.
 */

import {
  ack,
  type Case,
  error,
  oack,
  register,
  type Step,
} from "./machine_script.ts";
import {
  BIG,
  blocks,
  client,
  DONE,
  END,
  NONE,
  REQUEST,
  SEND,
  server,
} from "./send_transfer_cases.ts";

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
    name: "SendTransfer (server) ignores an OACK from its client, even empty",
    make: server({ windowsize: 2, oack: true }, BIG),
    steps: [
      { at: 0, start: true, act: SEND, sends: ["OACK"] },
      { at: 1, dg: oack({}), act: NONE, state: { awaitingOack: true } },
      { at: 1, dg: oack({ blksize: "8" }), act: NONE },
      { at: 2, dg: ack(0), act: SEND, sends: blocks(1, 2) },
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
      "SendTransfer (client) takes an empty OACK as no option accepted: DATA 1 of 512 bytes, lock-step",
    make: client({ blksize: "1024", windowsize: "4" }, {}, BIG),
    steps: [
      { at: 0, start: true, act: REQUEST, sends: ["request"] },
      {
        at: 5,
        dg: oack({}),
        act: SEND,
        sends: ["DATA 1"],
        state: {
          blksize: 512,
          windowsize: 1,
          offered: {},
          established: true,
          outcome: undefined,
        },
      },
      { at: 6, dg: ack(1), act: SEND, sends: ["DATA 2"] },
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

register([...oackFirst, ...probe, ...clientOack]);
