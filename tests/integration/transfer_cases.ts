/**
 * Shared pieces of the integration transfer_*_test.ts suites (whole
 * transfers over 127.0.0.1 against an in-process server, scripted with a raw
 * UDP client): the request opcodes and checks that the next packet received
 * is the DATA, ERROR or ACK expected.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Opcode } from "../../src/protocol/packet.ts";
import type { RawClient, ReceivedPacket } from "../../testing/raw_client.ts";

export const RRQ = Opcode.RRQ;
export const WRQ = Opcode.WRQ;
export const text = new TextEncoder();

/** Receives one packet and checks it is DATA `block`; returns it. */
export async function expectData(
  client: RawClient,
  block: number,
  timeoutMs = 2000,
): Promise<ReceivedPacket & { payload: Uint8Array }> {
  const r = await client.receive(timeoutMs);
  assert.ok(r, `expected DATA ${block}, got nothing`);
  assert.equal(r.packet.op, Opcode.DATA, `expected DATA ${block}`);
  if (r.packet.op !== Opcode.DATA) throw new Error();
  assert.equal(r.packet.block, block);
  return { ...r, payload: r.packet.data };
}

/** Receives one packet and checks it is ERROR `code`. */
export async function expectError(
  client: RawClient,
  code: number,
): Promise<ReceivedPacket> {
  const r = await client.receive();
  assert.ok(r, `expected ERROR ${code}, got nothing`);
  assert.equal(r.packet.op, Opcode.ERROR, `expected ERROR ${code}`);
  if (r.packet.op !== Opcode.ERROR) throw new Error();
  assert.equal(r.packet.code, code, `ERROR message: ${r.packet.message}`);
  return r;
}

/** Receives one packet and checks it is ACK `block`. */
export async function expectAck(
  client: RawClient,
  block: number,
): Promise<ReceivedPacket> {
  const r = await client.receive();
  assert.ok(r, `expected ACK ${block}, got nothing`);
  assert.equal(r.packet.op, Opcode.ACK, `expected ACK ${block}`);
  if (r.packet.op !== Opcode.ACK) throw new Error();
  assert.equal(r.packet.block, block);
  return r;
}
