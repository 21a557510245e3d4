/**
 * The sending side of a transfer (src/protocol/send_transfer.ts) under its
 * timer: retries and the give-up clock reset only on progress, silence once
 * retransmits are spent, and the backoff of the retransmit interval. Each
 * case is a script; see `machine_script.ts`.
 */

import { ack, type Case, register, type Step } from "./machine_script.ts";
import {
  ADAPTIVE,
  BIG,
  blocks,
  client,
  END,
  FAST,
  NONE,
  REQUEST,
  SEND,
  server,
} from "./send_transfer_cases.ts";

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

register([...progress, ...silence, ...interval]);
