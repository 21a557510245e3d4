/**
 * Shared pieces of the receive_transfer_*_test.ts tables (the receiving
 * side of a transfer, src/protocol/receive_transfer.ts): the Act bit
 * names, the machines under test, and the block sequences they are fed.
 *
 * @module
 */

import { Act } from "../../src/protocol/transfer.ts";
import type { ReceiveTransferOptions } from "../../src/protocol/receive_transfer.ts";
import {
  CLIENT,
  data,
  oack,
  receiveModel,
  SERVER,
  type Step,
} from "./machine_script.ts";

export const { NONE, SEND, DELIVER, FINAL, DONE, END, REQUEST } = Act;
export const STR = Act.STRANGER;
export const TO_STRANGER = ["ERROR 5 to stranger"];
/** A block in order that completes a window (or any block in lock-step). */
export const IN = DELIVER | SEND;
/** The final block of a server without linger, or of a client. */
export const LAST = DELIVER | FINAL | SEND | DONE;

/** A server answering a WRQ from CLIENT. */
export function server(o: Partial<ReceiveTransferOptions> = {}) {
  return () => receiveModel({ role: "server", peer: CLIENT, ...o });
}

/** A client that sent an RRQ to SERVER asking for `asked`. */
export function client(
  asked: Record<string, string> = {},
  o: Partial<ReceiveTransferOptions> = {},
) {
  return () =>
    receiveModel({
      role: "client",
      peer: SERVER,
      asked: new Map(Object.entries(asked)),
      ...o,
    });
}

export const START: Step = { at: 0, start: true, act: SEND, sends: ["ACK 0"] };
export const FAST = { rto: { initialMs: 100, fixed: true } };
export const ADAPTIVE = {
  rto: { initialMs: 1000, minMs: 50 },
  giveUpMs: 30_000,
};
export const OACK_BYTES = oack({ blksize: "512" });

/** Full blocks `from`..`to` in lock-step, each written and ACKed. */
export function lockStep(from: number, to: number, blksize = 512): Step[] {
  const steps: Step[] = [];
  for (let b = from; b <= to; b++) {
    steps.push({
      at: 0,
      dg: data(b & 0xffff, blksize),
      act: IN,
      sends: [`write ${blksize}`, `ACK ${b & 0xffff}`],
    });
  }
  return steps;
}

/** Full blocks `from`..`to` in windows of `w` counted from block 1. */
export function windows(
  from: number,
  to: number,
  w: number,
  blksize = 512,
): Step[] {
  const steps: Step[] = [];
  for (let b = from; b <= to; b++) {
    const end = b % w === 0;
    steps.push({
      at: 0,
      dg: data(b & 0xffff, blksize),
      act: end ? IN : DELIVER,
      sends: end
        ? [`write ${blksize}`, `ACK ${b & 0xffff}`]
        : [`write ${blksize}`],
    });
  }
  return steps;
}
