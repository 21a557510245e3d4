/**
 * The sending side of a transfer (src/protocol/send_transfer.ts) and its
 * peers: an ERROR from the peer, strangers and ERROR 5, a client's TID lock
 * and request phase. Each case is a script; see `machine_script.ts`.
 */

import {
  ack,
  type Case,
  CLIENT_OTHER,
  error,
  register,
  SERVER,
  SERVER_OTHER,
  SERVER_TID,
  type Step,
  STRANGER,
} from "./machine_script.ts";
import {
  client,
  DONE,
  END,
  FAST,
  NONE,
  REQUEST,
  SEND,
  server,
  STR,
  TO_STRANGER,
} from "./send_transfer_cases.ts";

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

register([
  ...peerError,
  ...strangers,
  ...clientLock,
  ...requestPhase,
]);
