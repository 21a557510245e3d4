/**
 * How the receiving side of a transfer (src/protocol/receive_transfer.ts)
 * ends: the server's linger, completion, size limits, an ERROR from the
 * peer, and an ended transfer doing nothing more. Each case is a script; see
 * `machine_script.ts`.
 */

import {
  type Case,
  data,
  error,
  oack,
  register,
  type Step,
} from "./machine_script.ts";
import {
  client,
  DELIVER,
  DONE,
  END,
  FINAL,
  IN,
  LAST,
  lockStep,
  NONE,
  OACK_BYTES,
  REQUEST,
  SEND,
  server,
  START,
} from "./receive_transfer_cases.ts";

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
      {
        at: 1,
        dg: error(8, "no"),
        act: END,
        state: {
          outcome: "aborted",
          error: 'client refused the OACK (ERROR 8: "no")',
        },
      },
    ],
  },
  {
    name:
      "ReceiveTransfer (server) names ERROR 8 a refused OACK only before block 1",
    make: server({ oack: OACK_BYTES }),
    steps: [
      { at: 0, start: true, act: SEND, sends: ["OACK"] },
      ...lockStep(1, 1),
      {
        at: 2,
        dg: error(8, "no"),
        act: END,
        state: { outcome: "aborted", error: 'client sent ERROR 8: "no"' },
      },
    ],
  },
  {
    name: "ReceiveTransfer (server) without an OACK takes ERROR 8 as any abort",
    make: server(),
    steps: [
      START,
      {
        at: 1,
        dg: error(8, "no"),
        act: END,
        state: { outcome: "aborted", error: 'client sent ERROR 8: "no"' },
      },
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
  ...linger,
  ...completion,
  ...limits,
  ...peerError,
  ...ended,
]);
