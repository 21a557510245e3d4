/**
 * The receiving side of a transfer (src/protocol/receive_transfer.ts), both
 * roles, under its timer: re-ACK, silence, give-up, and how timeouts back
 * off the retransmit interval. Each case is a script; see `machine_script.ts`.
 */

import { type Case, data, register } from "./machine_script.ts";
import {
  ADAPTIVE,
  client,
  DELIVER,
  END,
  FAST,
  IN,
  NONE,
  OACK_BYTES,
  REQUEST,
  SEND,
  server,
  START,
  windows,
} from "./receive_transfer_cases.ts";

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

register([...timer, ...interval]);
