/**
 * The receiving side of a transfer (src/protocol/receive_transfer.ts) and
 * its peers: strangers get ERROR 5, and a client's request phase, TID lock
 * and OACK check. Each case is a script; see `machine_script.ts`.
 */

import assert from "node:assert/strict";
import {
  type Case,
  CLIENT_OTHER,
  data,
  error,
  oack,
  register,
  SERVER,
  SERVER_OTHER,
  SERVER_TID,
  type Step,
  STRANGER,
} from "./machine_script.ts";
import {
  client,
  DELIVER,
  END,
  FAST,
  IN,
  LAST,
  lockStep,
  NONE,
  REQUEST,
  SEND,
  server,
  START,
  STR,
  TO_STRANGER,
} from "./receive_transfer_cases.ts";

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
      "ReceiveTransfer (client) takes an empty OACK as no option accepted: ACK 0, 512 bytes, lock-step",
    make: client({ blksize: "1024", windowsize: "4", tsize: "0" }),
    steps: [
      { at: 0, start: true, act: REQUEST, sends: ["request"] },
      {
        at: 5,
        dg: oack({}),
        act: SEND,
        sends: ["ACK 0"],
        state: {
          blksize: 512,
          windowsize: 1,
          offered: {},
          tsize: undefined,
          peerPort: 50001,
          outcome: undefined,
        },
      },
      { at: 6, dg: data(1, 512), act: IN, sends: ["write 512", "ACK 1"] },
      {
        at: 7,
        dg: data(2, 0),
        act: LAST,
        sends: ["write 0", "commit", "ACK 2"],
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

register([
  ...strangers,
  ...clientLock,
  ...requestPhase,
  ...clientOack,
]);

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
