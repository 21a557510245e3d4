/**
 * A client that sends one request and never answers, for the tests of the
 * retransmit and give-up flags: what the server sends it, and when, until
 * the server logs the transfer's timeout.
 *
 * @module
 */

import {
  encodeRequest,
  Opcode,
  type Packet,
} from "../../src/protocol/packet.ts";
import type { ServerProcess } from "../../testing/process.ts";
import { RawClient, type ReceivedPacket } from "../../testing/raw_client.ts";
import { endpoint } from "./common.ts";

/** What a client that never answers saw of one transfer. */
export interface Silent {
  /** Every datagram the server sent, in order. */
  packets: ReceivedPacket[];
  /** When each arrived, in ms after the request was sent. */
  times: number[];
  /** The server's log line for the transfer's end. */
  line: string;
  /** When that line was read, in ms after the request. */
  endMs: number;
}

/**
 * Sends one request and never answers; collects what the server sends
 * until it logs the transfer's timeout (the signal), then what was already
 * queued.
 *
 * @param server The server process.
 * @param op RRQ or WRQ.
 * @param name File name (octet mode, no options).
 * @returns What the client saw.
 */
export async function silentTransfer(
  server: ServerProcess,
  op: typeof Opcode.RRQ | typeof Opcode.WRQ,
  name: string,
): Promise<Silent> {
  using client = RawClient.open();
  const verb = op === Opcode.RRQ ? "RRQ" : "WRQ";
  const from = server.lines.length;
  const t0 = performance.now();
  await client.send(encodeRequest(op, name), endpoint(server));
  let line: string | undefined;
  let failure: unknown;
  let endMs = 0;
  const ending = server.waitForLine(
    new RegExp(` ${verb} "${name}" octet: timeout`),
    { from, timeoutMs: 60_000 },
  ).then(
    (l) => {
      line = l;
      endMs = performance.now() - t0;
    },
    (err) => (failure = err),
  );
  const packets: ReceivedPacket[] = [];
  const times: number[] = [];
  for (let i = 0; i < 10_000 && line === undefined && !failure; i++) {
    const r = await client.receive(100);
    if (r) {
      packets.push(r);
      times.push(performance.now() - t0);
    }
  }
  await ending;
  if (failure) throw failure;
  // Whatever the server sent before logging is queued on our socket.
  for (let i = 0; i < 1000; i++) {
    const r = await client.receive(300);
    if (!r) break;
    packets.push(r);
    times.push(performance.now() - t0);
  }
  return { packets, times, line: line!, endMs };
}

/**
 * A packet as a short text (`DATA 1 (512)`, `ACK 0`, `ERROR 0 message`).
 *
 * @param p The packet.
 * @returns The text.
 */
export function describe(p: Packet): string {
  switch (p.op) {
    case Opcode.DATA:
      return `DATA ${p.block} (${p.data.length})`;
    case Opcode.ACK:
      return `ACK ${p.block}`;
    case Opcode.ERROR:
      return `ERROR ${p.code} ${p.message}`;
    default:
      return `opcode ${p.op}`;
  }
}
