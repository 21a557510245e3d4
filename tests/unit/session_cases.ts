/**
 * Shared pieces of the session_*_test.ts suites (ReadSession and
 * WriteSession over a fake transport and clock): the harness that starts a
 * session, the check that it ended cleanly, and the packet expectations.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  decode,
  encodeAck,
  encodeData,
  Opcode,
  type Packet,
  type RequestPacket,
} from "../../src/protocol/packet.ts";
import { Logger, type LogLevel } from "../../src/log.ts";
import type { Storage } from "../../src/storage/types.ts";
import {
  DEFAULT_SESSION_CONFIG,
  type Session,
  type SessionConfig,
  type TransferStats,
} from "../../src/server/session.ts";
import { ReadSession } from "../../src/server/read_session.ts";
import { WriteSession } from "../../src/server/write_session.ts";
import {
  FakeClock,
  FakeTransport,
  type SentDatagram,
  settle,
} from "../../testing/fake.ts";

export const PEER: Deno.NetAddr = {
  transport: "udp",
  hostname: "127.0.0.1",
  port: 50000,
};
export const te = new TextEncoder();

/** Deterministic test content. */
export function pattern(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return out;
}

export interface LogLine {
  line: string;
  level: LogLevel;
}

export interface Harness {
  session: Session;
  transport: FakeTransport;
  clock: FakeClock;
  lines: LogLine[];
  run: Promise<TransferStats>;
}

export interface StartOptions {
  mode?: string;
  options?: [string, string][];
  config?: Partial<SessionConfig>;
  verbose?: boolean;
}

export function start(
  kind: "read" | "write",
  filename: string,
  storage: Storage,
  opts: StartOptions = {},
): Harness {
  const request: RequestPacket = {
    op: kind === "read" ? Opcode.RRQ : Opcode.WRQ,
    filename,
    mode: opts.mode ?? "octet",
    options: new Map(opts.options ?? []),
  };
  const transport = new FakeTransport();
  const clock = new FakeClock();
  const lines: LogLine[] = [];
  const log = new Logger({
    stderr: false,
    verbose: opts.verbose ?? false,
    sink: (line, level) => lines.push({ line, level }),
  });
  const Kind = kind === "read" ? ReadSession : WriteSession;
  const session = new Kind({
    request,
    peer: PEER,
    transport,
    storage,
    config: { ...DEFAULT_SESSION_CONFIG, ...opts.config },
    log,
    clock,
  });
  return { session, transport, clock, lines, run: session.run() };
}

/** Resolves with the stats, or fails if the session has not ended. */
export async function ended(h: Harness): Promise<TransferStats> {
  const pending = Symbol("pending");
  const r = await Promise.race([h.run, settle().then(() => pending)]);
  if (r === pending) throw new Error("the session is still running");
  const stats = r as TransferStats;
  assert.equal(h.transport.closed, true, "socket closed at the end");
  assert.equal(h.clock.pending, 0, "no timer left behind");
  assert.equal(h.transport.sendsAfterClose, 0, "no send after close");
  assert.deepEqual(h.transport.violations, []);
  return stats;
}

export function pkt(d: SentDatagram): Packet {
  return decode(d.data);
}

export function expectData(
  d: SentDatagram,
  block: number,
  payload?: Uint8Array,
) {
  const p = pkt(d);
  assert.equal(p.op, Opcode.DATA, `expected DATA ${block}, got op ${p.op}`);
  if (p.op !== Opcode.DATA) return;
  assert.equal(p.block, block);
  if (payload) assert.deepEqual(p.data, payload);
  assert.deepEqual(d.addr, PEER);
}

export function dataBlocks(sent: SentDatagram[]): number[] {
  return sent.map(pkt).map((p) => (p.op === Opcode.DATA ? p.block : -p.op));
}

export function expectAck(d: SentDatagram, block: number) {
  assert.deepEqual(pkt(d), { op: Opcode.ACK, block });
  assert.deepEqual(d.addr, PEER);
}

export function expectOack(d: SentDatagram, options: [string, string][]) {
  const p = pkt(d);
  assert.equal(p.op, Opcode.OACK, `expected OACK, got op ${p.op}`);
  if (p.op === Opcode.OACK) assert.deepEqual([...p.options], options);
  assert.deepEqual(d.addr, PEER);
}

export function expectError(
  d: SentDatagram,
  code: number,
  to: Deno.NetAddr = PEER,
) {
  const p = pkt(d);
  assert.equal(p.op, Opcode.ERROR, `expected ERROR ${code}, got op ${p.op}`);
  if (p.op === Opcode.ERROR) assert.equal(p.code, code, p.message);
  assert.deepEqual(d.addr, to);
}

export function ack(h: Harness, block: number, from: Deno.NetAddr = PEER) {
  assert.ok(h.transport.inject(encodeAck(block), from), "socket open");
}

export function data(h: Harness, block: number, payload: Uint8Array) {
  assert.ok(
    h.transport.inject(encodeData(block, payload), PEER),
    "socket open",
  );
}

/** The final log line (the transfer summary). */
export function summary(h: Harness): LogLine {
  const l = h.lines[h.lines.length - 1];
  assert.ok(l, "a summary line was logged");
  return l;
}
