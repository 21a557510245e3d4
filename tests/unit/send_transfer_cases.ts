/**
 * Shared pieces of the send_transfer_*_test.ts tables (the sending side
 * of a transfer, src/protocol/send_transfer.ts): the Act bit names, the
 * machines under test, and their retry settings.
 *
 * @module
 */

import { Act } from "../../src/protocol/transfer.ts";
import type { SendTransferOptions } from "../../src/protocol/send_transfer.ts";
import { CLIENT, sendModel, SERVER } from "./machine_script.ts";

export const { NONE, SEND, DONE, END, REQUEST } = Act;
export const STR = Act.STRANGER;
export const TO_STRANGER = ["ERROR 5 to stranger"];

/** A server answering an RRQ from CLIENT, sending a file of `size` bytes. */
export function server(o: Partial<SendTransferOptions> = {}, size?: number) {
  return () => sendModel({ role: "server", peer: CLIENT, ...o }, { size });
}

/** A client that sent a WRQ to SERVER asking for `asked`. */
export function client(
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
export function blocks(from: number, to: number): string[] {
  const out: string[] = [];
  for (let b = from; b <= to; b++) out.push(`DATA ${b}`);
  return out;
}

/** Retry settings that make the timer steps short: 100 ms, fixed. */
export const FAST = { rto: { initialMs: 100, fixed: true } };
/** An adaptive interval, as the server runs it without a timeout option. */
export const ADAPTIVE = {
  rto: { initialMs: 1000, minMs: 50 },
  giveUpMs: 30_000,
};
export const BIG = 1_000_000;
