/**
 * The sending side of a transfer (src/protocol/send_transfer.ts) in windows
 * (RFC 7440): how an ACK moves the window, how the first window grows, and
 * the nextBlock / setLast contract the driver relies on. Each case is a
 * script; see `machine_script.ts`.
 */

import assert from "node:assert/strict";
import { SendTransfer } from "../../src/protocol/send_transfer.ts";
import { guardedInitialWindow } from "../../src/protocol/window.ts";
import { ack, type Case, CLIENT, register, SERVER } from "./machine_script.ts";
import {
  BIG,
  blocks,
  DONE,
  NONE,
  REQUEST,
  SEND,
  server,
} from "./send_transfer_cases.ts";

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

register([...windowed, ...growth]);

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
