import assert from "node:assert/strict";
import {
  decode,
  encodeAck,
  encodeData,
  encodeError,
  ErrorCode,
  Opcode,
  type Packet,
  type RequestPacket,
} from "../../src/protocol/packet.ts";
import { NetasciiEncoder } from "../../src/protocol/netascii.ts";
import { Logger, type LogLevel } from "../../src/log.ts";
import { MemoryStorage } from "../../src/storage/memory.ts";
import { FsStorage } from "../../src/storage/files.ts";
import type { Storage, WriteHandle } from "../../src/storage/types.ts";
import {
  DEFAULT_SESSION_CONFIG,
  type Session,
  type SessionConfig,
  type TransferStats,
} from "../../src/server/session.ts";
import { ReadSession } from "../../src/server/read_session.ts";
import { WriteSession } from "../../src/server/write_session.ts";
import {
  elapse,
  FakeClock,
  FakeTransport,
  type SentDatagram,
  settle,
} from "../../testing/fake.ts";

const PEER: Deno.NetAddr = {
  transport: "udp",
  hostname: "127.0.0.1",
  port: 50000,
};
const te = new TextEncoder();

/** Deterministic test content. */
function pattern(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return out;
}

interface LogLine {
  line: string;
  level: LogLevel;
}

interface Harness {
  session: Session;
  transport: FakeTransport;
  clock: FakeClock;
  lines: LogLine[];
  run: Promise<TransferStats>;
}

interface StartOptions {
  mode?: string;
  options?: [string, string][];
  config?: Partial<SessionConfig>;
  verbose?: boolean;
}

function start(
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
async function ended(h: Harness): Promise<TransferStats> {
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

function pkt(d: SentDatagram): Packet {
  return decode(d.data);
}

function expectData(d: SentDatagram, block: number, payload?: Uint8Array) {
  const p = pkt(d);
  assert.equal(p.op, Opcode.DATA, `expected DATA ${block}, got op ${p.op}`);
  if (p.op !== Opcode.DATA) return;
  assert.equal(p.block, block);
  if (payload) assert.deepEqual(p.data, payload);
  assert.deepEqual(d.addr, PEER);
}

function dataBlocks(sent: SentDatagram[]): number[] {
  return sent.map(pkt).map((p) => (p.op === Opcode.DATA ? p.block : -p.op));
}

function expectAck(d: SentDatagram, block: number) {
  assert.deepEqual(pkt(d), { op: Opcode.ACK, block });
  assert.deepEqual(d.addr, PEER);
}

function expectOack(d: SentDatagram, options: [string, string][]) {
  const p = pkt(d);
  assert.equal(p.op, Opcode.OACK, `expected OACK, got op ${p.op}`);
  if (p.op === Opcode.OACK) assert.deepEqual([...p.options], options);
  assert.deepEqual(d.addr, PEER);
}

function expectError(d: SentDatagram, code: number, to: Deno.NetAddr = PEER) {
  const p = pkt(d);
  assert.equal(p.op, Opcode.ERROR, `expected ERROR ${code}, got op ${p.op}`);
  if (p.op === Opcode.ERROR) assert.equal(p.code, code, p.message);
  assert.deepEqual(d.addr, to);
}

function ack(h: Harness, block: number, from: Deno.NetAddr = PEER) {
  assert.ok(h.transport.inject(encodeAck(block), from), "socket open");
}

function data(h: Harness, block: number, payload: Uint8Array) {
  assert.ok(
    h.transport.inject(encodeData(block, payload), PEER),
    "socket open",
  );
}

/** The final log line (the transfer summary). */
function summary(h: Harness): LogLine {
  const l = h.lines[h.lines.length - 1];
  assert.ok(l, "a summary line was logged");
  return l;
}

// --- reads -------------------------------------------------------------------

Deno.test("session: lock-step read of a whole file", async () => {
  const content = pattern(1300);
  const h = start(
    "read",
    "boot.bin",
    new MemoryStorage({ "boot.bin": content }),
  );
  const t = h.transport;
  expectData((await t.waitForSent(1))[0], 1, content.subarray(0, 512));
  ack(h, 1);
  expectData((await t.waitForSent(2))[1], 2, content.subarray(512, 1024));
  ack(h, 2);
  expectData((await t.waitForSent(3))[2], 3, content.subarray(1024));
  ack(h, 3);
  const stats = await ended(h);
  assert.equal(t.sent.length, 3);
  assert.equal(stats.outcome, "ok");
  assert.equal(stats.bytes, 1300);
  assert.equal(stats.direction, "read");
  assert.equal(stats.retransmits, 0);
  assert.equal(stats.peer, "127.0.0.1:50000");
  assert.deepEqual(stats.options, {});
  assert.match(
    h.lines[0].line,
    /\[INFO\] 127\.0\.0\.1:50000 RRQ "boot\.bin" octet$/,
  );
  assert.equal(summary(h).level, "info");
  assert.match(summary(h).line, /"boot\.bin" octet: ok, 1300 bytes in /);
});

Deno.test("session: read of an exact multiple ends with an empty block", async () => {
  const content = pattern(1024);
  const h = start("read", "f", new MemoryStorage({ f: content }));
  const t = h.transport;
  await t.waitForSent(1);
  ack(h, 1);
  await t.waitForSent(2);
  ack(h, 2);
  expectData((await t.waitForSent(3))[2], 3, new Uint8Array(0));
  ack(h, 3);
  const stats = await ended(h);
  assert.equal(stats.outcome, "ok");
  assert.equal(stats.bytes, 1024);
});

Deno.test("session: read of an empty file sends one empty block", async () => {
  const h = start("read", "empty", new MemoryStorage({ empty: "" }));
  expectData((await h.transport.waitForSent(1))[0], 1, new Uint8Array(0));
  ack(h, 1);
  const stats = await ended(h);
  assert.equal(stats.outcome, "ok");
  assert.equal(stats.bytes, 0);
});

Deno.test("session: read with OACK (blksize, tsize)", async () => {
  const content = pattern(1300);
  const h = start("read", "f", new MemoryStorage({ f: content }), {
    options: [["blksize", "1024"], ["tsize", "0"], ["unknown", "x"]],
  });
  const t = h.transport;
  expectOack((await t.waitForSent(1))[0], [["blksize", "1024"], [
    "tsize",
    "1300",
  ]]);
  await settle();
  assert.equal(t.sent.length, 1, "no DATA before ACK 0");
  ack(h, 0);
  expectData((await t.waitForSent(2))[1], 1, content.subarray(0, 1024));
  ack(h, 1);
  expectData((await t.waitForSent(3))[2], 2, content.subarray(1024));
  ack(h, 2);
  const stats = await ended(h);
  assert.equal(stats.outcome, "ok");
  assert.deepEqual(stats.options, { blksize: "1024", tsize: "1300" });
  assert.match(summary(h).line, /octet blksize=1024 tsize=1300: ok/);
});

Deno.test("session: windowed read with a mid-window ACK", async () => {
  const content = pattern(10 * 512 + 100);
  const h = start("read", "f", new MemoryStorage({ f: content }), {
    options: [["windowsize", "4"]],
  });
  const t = h.transport;
  expectOack((await t.waitForSent(1))[0], [["windowsize", "4"]]);
  ack(h, 0);
  assert.deepEqual(dataBlocks(await t.waitForSent(5, 1)), [1, 2, 3, 4]);
  // Blocks 3 and 4 were lost: the client ACKs 2.
  ack(h, 2);
  assert.deepEqual(dataBlocks(await t.waitForSent(9, 5)), [3, 4, 5, 6]);
  ack(h, 6);
  assert.deepEqual(dataBlocks(await t.waitForSent(13, 9)), [7, 8, 9, 10]);
  ack(h, 10);
  assert.deepEqual(dataBlocks(await t.waitForSent(14, 13)), [11]);
  ack(h, 11);
  const stats = await ended(h);
  assert.equal(stats.outcome, "ok");
  assert.equal(stats.bytes, content.length);
  assert.equal(t.sent.length, 14);
  // What a client keeping the last copy of each block would have.
  const blocks = new Map<number, Uint8Array>();
  for (const p of t.sent.map(pkt)) {
    if (p.op === Opcode.DATA) blocks.set(p.block, p.data);
  }
  const got = new Uint8Array(content.length);
  for (const [b, d] of blocks) got.set(d, (b - 1) * 512);
  assert.deepEqual(got, content);
});

Deno.test("session: duplicate ACKs produce no extra DATA", async () => {
  const content = pattern(2000);
  const h = start("read", "f", new MemoryStorage({ f: content }));
  const t = h.transport;
  await t.waitForSent(1);
  ack(h, 1);
  await t.waitForSent(2);
  for (let i = 0; i < 5; i++) ack(h, 1);
  ack(h, 0);
  ack(h, 9); // never sent
  await settle();
  assert.equal(t.sent.length, 2, "Sorcerer's Apprentice: no resend on dup ACK");
  for (let b = 2; b <= 3; b++) {
    ack(h, b);
    await t.waitForSent(b + 1);
  }
  assert.deepEqual(dataBlocks(t.sent), [1, 2, 3, 4]);
  ack(h, 4);
  const stats = await ended(h);
  assert.equal(stats.outcome, "ok");
  assert.equal(stats.retransmits, 0);
});

Deno.test("session: duplicate window ACKs produce no extra DATA", async () => {
  const h = start("read", "f", new MemoryStorage({ f: pattern(20 * 512) }), {
    options: [["windowsize", "8"]],
  });
  const t = h.transport;
  await t.waitForSent(1);
  ack(h, 0);
  await t.waitForSent(9);
  ack(h, 8);
  await t.waitForSent(17);
  ack(h, 8);
  ack(h, 8);
  ack(h, 0);
  await settle();
  assert.equal(t.sent.length, 17);
  assert.deepEqual(dataBlocks(t.sent.slice(9)), [
    9,
    10,
    11,
    12,
    13,
    14,
    15,
    16,
  ]);
  h.session.cancel();
  assert.equal((await ended(h)).outcome, "cancelled");
});

Deno.test("session: timeout retransmits the window", async () => {
  const content = pattern(6 * 512 + 1);
  const h = start("read", "f", new MemoryStorage({ f: content }), {
    options: [["windowsize", "4"]],
  });
  const t = h.transport;
  await t.waitForSent(1);
  // The OACK is lost: it is sent again after one interval (0.5 s).
  await elapse(h.clock, 499);
  assert.equal(t.sent.length, 1);
  await elapse(h.clock, 1);
  expectOack((await t.waitForSent(2))[1], [["windowsize", "4"]]);
  ack(h, 0);
  assert.deepEqual(dataBlocks(await t.waitForSent(6, 2)), [1, 2, 3, 4]);
  await elapse(h.clock, 500);
  assert.deepEqual(dataBlocks(await t.waitForSent(10, 6)), [1, 2, 3, 4]);
  ack(h, 3);
  assert.deepEqual(dataBlocks(await t.waitForSent(14, 10)), [4, 5, 6, 7]);
  await elapse(h.clock, 500);
  assert.deepEqual(dataBlocks(await t.waitForSent(18, 14)), [4, 5, 6, 7]);
  ack(h, 7);
  const stats = await ended(h);
  assert.equal(stats.outcome, "ok");
  assert.equal(stats.retransmits, 3);
  assert.equal(stats.bytes, content.length);
});

Deno.test("session: read gives up after maxRetries with a bounded number of datagrams", async () => {
  const h = start("read", "f", new MemoryStorage({ f: pattern(100 * 512) }), {
    options: [["windowsize", "4"]],
    config: { maxRetries: 2, connTimeout: 1000 },
  });
  const t = h.transport;
  await t.waitForSent(1);
  ack(h, 0);
  await t.waitForSent(5);
  await elapse(h.clock, 60_000);
  const stats = await ended(h);
  assert.equal(stats.outcome, "timeout");
  assert.equal(stats.retransmits, 2);
  // OACK + the window, then 2 resends of the window, nothing more.
  assert.equal(t.sent.length, 1 + 4 * 3);
  assert.deepEqual(dataBlocks(t.sent.slice(1)), [
    1,
    2,
    3,
    4,
    1,
    2,
    3,
    4,
    1,
    2,
    3,
    4,
  ]);
  assert.equal(summary(h).level, "warning");
  assert.match(summary(h).line, /: timeout \(no ACK from client\)/);
});

Deno.test("session: read gives up after the overall timeout with default settings", async () => {
  const h = start("read", "f", new MemoryStorage({ f: pattern(5000) }));
  const t = h.transport;
  await t.waitForSent(1);
  await elapse(h.clock, 60_000);
  const stats = await ended(h);
  assert.equal(stats.outcome, "timeout");
  // 3 s without progress at 0.5 s per retransmit, at most 5 retries.
  assert.deepEqual(dataBlocks(t.sent), [1, 1, 1, 1, 1, 1]);
});

Deno.test("session: the client's timeout option sets the retransmit interval", async () => {
  const h = start("read", "f", new MemoryStorage({ f: pattern(600) }), {
    options: [["timeout", "2"]],
  });
  const t = h.transport;
  expectOack((await t.waitForSent(1))[0], [["timeout", "2"]]);
  ack(h, 0);
  await t.waitForSent(2);
  await elapse(h.clock, 1999);
  assert.equal(t.sent.length, 2);
  await elapse(h.clock, 1);
  assert.deepEqual(dataBlocks(await t.waitForSent(3)), [-6, 1, 1]);
  ack(h, 1);
  await t.waitForSent(4);
  ack(h, 2);
  assert.equal((await ended(h)).outcome, "ok");
});

Deno.test("session: datagram from another port gets ERROR 5 and the transfer goes on", async () => {
  const content = pattern(700);
  const h = start("read", "f", new MemoryStorage({ f: content }));
  const t = h.transport;
  await t.waitForSent(1);
  const stranger = { ...PEER, port: 50001 };
  ack(h, 1, stranger);
  expectError((await t.waitForSent(2))[1], ErrorCode.UNKNOWN_TID, stranger);
  const otherHost = { ...PEER, hostname: "127.0.0.2" };
  ack(h, 1, otherHost);
  expectError((await t.waitForSent(3))[2], ErrorCode.UNKNOWN_TID, otherHost);
  assert.equal(t.closed, false);
  // The real client (seen through a dual-stack socket) carries on.
  ack(h, 1, { ...PEER, hostname: "::ffff:127.0.0.1" });
  expectData((await t.waitForSent(4))[3], 2, content.subarray(512));
  ack(h, 2);
  const stats = await ended(h);
  assert.equal(stats.outcome, "ok");
  assert.equal(stats.bytes, 700);
});

Deno.test("session: malformed datagrams from the peer are ignored", async () => {
  const h = start("read", "f", new MemoryStorage({ f: pattern(100) }));
  const t = h.transport;
  await t.waitForSent(1);
  t.inject(new Uint8Array([0]), PEER);
  t.inject(new Uint8Array([0, 9, 1, 2]), PEER);
  t.inject(encodeData(1, new Uint8Array(3)), PEER); // DATA during a read
  await settle();
  assert.equal(t.sent.length, 1);
  assert.equal(t.closed, false);
  ack(h, 1);
  assert.equal((await ended(h)).outcome, "ok");
});

Deno.test("session: ERROR 8 after the OACK is a probe, logged at debug", async () => {
  const h = start("read", "f", new MemoryStorage({ f: pattern(4096) }), {
    options: [["tsize", "0"]],
    verbose: true,
  });
  const t = h.transport;
  expectOack((await t.waitForSent(1))[0], [["tsize", "4096"]]);
  t.inject(encodeError(ErrorCode.OPTION_REFUSED, "tsize only"), PEER);
  const stats = await ended(h);
  assert.equal(stats.outcome, "probe");
  assert.equal(t.sent.length, 1, "no ERROR sent back");
  assert.equal(summary(h).level, "debug");
  assert.match(summary(h).line, /\[DEBUG\] .*: probe/);
  assert.deepEqual(
    h.lines.filter((l) => l.level === "warning" || l.level === "error"),
    [],
  );
});

Deno.test("session: a probe is silent at the default log level", async () => {
  const h = start("read", "f", new MemoryStorage({ f: "x" }), {
    options: [["tsize", "0"]],
  });
  await h.transport.waitForSent(1);
  h.transport.inject(encodeError(ErrorCode.OPTION_REFUSED, "ok"), PEER);
  assert.equal((await ended(h)).outcome, "probe");
  assert.equal(h.lines.length, 1, "only the RRQ line");
  assert.match(h.lines[0].line, /RRQ "f" octet tsize=0$/);
});

Deno.test("session: client ERROR during a read aborts with a warning", async () => {
  const h = start("read", "f", new MemoryStorage({ f: pattern(2000) }), {
    options: [["tsize", "0"]],
  });
  const t = h.transport;
  await t.waitForSent(1);
  ack(h, 0);
  await t.waitForSent(2);
  t.inject(encodeError(ErrorCode.OPTION_REFUSED, "changed my mind"), PEER);
  const stats = await ended(h);
  assert.equal(stats.outcome, "aborted");
  assert.equal(t.sent.length, 2, "no reply to an ERROR");
  assert.equal(summary(h).level, "warning");
  assert.match(summary(h).line, /ERROR 8: "changed my mind"/);
});

Deno.test("session: read of a missing file sends ERROR 1", async () => {
  const h = start("read", "nope", new MemoryStorage({}));
  const stats = await h.run;
  expectError(h.transport.sent[0], ErrorCode.FILE_NOT_FOUND);
  assert.equal(h.transport.sent.length, 1);
  assert.equal(stats.outcome, "error");
  assert.match(stats.error ?? "", /ERROR 1/);
  await ended(h);
});

Deno.test("session: unsupported mode is refused with ERROR 4", async () => {
  for (const kind of ["read", "write"] as const) {
    const h = start(
      kind,
      "f",
      new MemoryStorage({ f: "x" }, { writable: true }),
      {
        mode: "mail",
      },
    );
    const stats = await h.run;
    assert.equal(h.transport.sent.length, 1);
    expectError(h.transport.sent[0], ErrorCode.ILLEGAL_OPERATION);
    assert.equal(stats.outcome, "error");
    await ended(h);
  }
});

Deno.test("session: cancel stops a read", async () => {
  const h = start("read", "f", new MemoryStorage({ f: pattern(5000) }));
  await h.transport.waitForSent(1);
  h.session.cancel();
  const stats = await ended(h);
  assert.equal(stats.outcome, "cancelled");
  assert.equal(h.transport.sent.length, 1);
});

Deno.test("session: windowed read across block number rollover", async () => {
  // blksize 8, window 64: 65537 full blocks and a short one.
  const blocks = 65538;
  const content = pattern(8 * (blocks - 1) + 3);
  const h = start("read", "big", new MemoryStorage({ big: content }), {
    options: [["blksize", "8"], ["windowsize", "64"]],
  });
  const t = h.transport;
  await t.waitForSent(1);
  ack(h, 0);
  let acked = 0;
  while (acked < blocks) {
    const top = Math.min(acked + 64, blocks);
    await t.waitForSent(1 + top);
    acked = top;
    ack(h, acked & 0xffff);
  }
  const stats = await ended(h);
  assert.equal(stats.outcome, "ok");
  assert.equal(stats.bytes, content.length);
  assert.equal(t.sent.length, 1 + blocks);
  // Sent in order, so packet i+1 is block i: check the wire numbers.
  const wireOf = (abs: number) => (pkt(t.sent[abs]) as { block: number }).block;
  assert.equal(wireOf(65535), 65535);
  assert.equal(wireOf(65536), 0);
  assert.equal(wireOf(65537), 1);
  assert.equal(wireOf(65538), 2);
  const got = new Uint8Array(content.length);
  for (let i = 1; i <= blocks; i++) {
    const p = pkt(t.sent[i]);
    assert.equal(p.op, Opcode.DATA);
    if (p.op === Opcode.DATA) got.set(p.data, (i - 1) * 8);
  }
  assert.deepEqual(got, content);
});

// --- writes ------------------------------------------------------------------

Deno.test("session: lock-step write with a final block, published on completion", async () => {
  const storage = new MemoryStorage({}, { writable: true });
  const content = pattern(612);
  const h = start("write", "up.bin", storage);
  const t = h.transport;
  expectAck((await t.waitForSent(1))[0], 0);
  data(h, 1, content.subarray(0, 512));
  expectAck((await t.waitForSent(2))[1], 1);
  assert.ok(!storage.files.has("up.bin"), "not visible before the end");
  data(h, 2, content.subarray(512));
  expectAck((await t.waitForSent(3))[2], 2);
  const stats = await h.session.stats;
  assert.equal(stats.outcome, "ok");
  assert.equal(stats.bytes, 612);
  assert.equal(stats.direction, "write");
  assert.deepEqual(storage.files.get("up.bin"), content);
  assert.match(
    summary(h).line,
    /\[INFO\] .*WRQ "up\.bin" octet: ok, 612 bytes/,
  );

  // Lingering: our last ACK was lost, the client sends block 2 again.
  assert.equal(t.closed, false);
  data(h, 2, content.subarray(512));
  expectAck((await t.waitForSent(4))[3], 2);
  await elapse(h.clock, 3000);
  await ended(h);
  assert.equal(t.sent.length, 4);
  assert.equal(
    h.lines.filter((l) => /: ok/.test(l.line)).length,
    1,
    "one summary",
  );
});

Deno.test("session: write of an exact multiple ends with an empty block", async () => {
  const storage = new MemoryStorage({}, { writable: true });
  const content = pattern(1024);
  const h = start("write", "x", storage);
  const t = h.transport;
  await t.waitForSent(1);
  data(h, 1, content.subarray(0, 512));
  await t.waitForSent(2);
  data(h, 2, content.subarray(512));
  await t.waitForSent(3);
  assert.ok(!storage.files.has("x"), "a full block is not the end");
  data(h, 3, new Uint8Array(0));
  expectAck((await t.waitForSent(4))[3], 3);
  assert.deepEqual(storage.files.get("x"), content);
  await elapse(h.clock, 3000);
  assert.equal((await ended(h)).outcome, "ok");
});

Deno.test("session: write with OACK and a window", async () => {
  const storage = new MemoryStorage({}, { writable: true });
  const content = pattern(8 * 10 + 5);
  const h = start("write", "w", storage, {
    options: [["blksize", "8"], ["windowsize", "4"], [
      "tsize",
      String(content.length),
    ]],
  });
  const t = h.transport;
  expectOack((await t.waitForSent(1))[0], [
    ["blksize", "8"],
    ["windowsize", "4"],
    ["tsize", "85"],
  ]);
  for (let b = 1; b <= 11; b++) {
    data(h, b, content.subarray((b - 1) * 8, b * 8));
  }
  const acks = await t.waitForSent(4, 1);
  expectAck(acks[0], 4);
  expectAck(acks[1], 8);
  expectAck(acks[2], 11);
  assert.deepEqual(storage.files.get("w"), content);
  await elapse(h.clock, 3000);
  assert.equal((await ended(h)).outcome, "ok");
  assert.equal(t.sent.length, 4);
});

Deno.test("session: write timeout resends ACK 0 (or the OACK) and gives up", async () => {
  const storage = new MemoryStorage({}, { writable: true });
  const h = start("write", "x", storage, {
    config: { maxRetries: 3, connTimeout: 100 },
  });
  await h.transport.waitForSent(1);
  await elapse(h.clock, 60_000);
  const stats = await ended(h);
  assert.equal(stats.outcome, "timeout");
  assert.equal(h.transport.sent.length, 4);
  for (const d of h.transport.sent) expectAck(d, 0);
  assert.equal(storage.files.size, 0);

  const h2 = start("write", "y", storage, { options: [["blksize", "1024"]] });
  await h2.transport.waitForSent(1);
  await elapse(h2.clock, 60_000);
  assert.equal((await ended(h2)).outcome, "timeout");
  assert.equal(h2.transport.sent.length, 6, "defaults: 3 s at 0.5 s");
  for (const d of h2.transport.sent) expectOack(d, [["blksize", "1024"]]);
});

Deno.test("session: write re-ACKs duplicates and the ACK resets the timer", async () => {
  const storage = new MemoryStorage({}, { writable: true });
  const h = start("write", "x", storage);
  const t = h.transport;
  await t.waitForSent(1);
  data(h, 1, pattern(512));
  await t.waitForSent(2);
  data(h, 1, pattern(512));
  data(h, 1, pattern(512));
  const dups = await t.waitForSent(4, 2);
  expectAck(dups[0], 1);
  expectAck(dups[1], 1);
  data(h, 2, pattern(10));
  await t.waitForSent(5);
  assert.deepEqual(
    storage.files.get("x"),
    new Uint8Array([...pattern(512), ...pattern(10)]),
  );
  await elapse(h.clock, 3000);
  await ended(h);
});

Deno.test("session: write aborted by the client leaves nothing in the storage", async () => {
  const storage = new MemoryStorage({}, { writable: true });
  const h = start("write", "up.bin", storage);
  const t = h.transport;
  await t.waitForSent(1);
  data(h, 1, pattern(512));
  await t.waitForSent(2);
  t.inject(encodeError(ErrorCode.NOT_DEFINED, "user cancelled"), PEER);
  const stats = await ended(h);
  assert.equal(stats.outcome, "aborted");
  assert.equal(storage.files.size, 0);
  assert.equal(t.sent.length, 2);
  assert.equal(summary(h).level, "warning");
});

Deno.test("session: aborted write calls abort, never commit", async () => {
  const calls: string[] = [];
  const inner: Storage = new MemoryStorage({}, { writable: true });
  const storage: Storage = {
    openRead: (n, i) => inner.openRead(n, i),
    async openWrite(name, i): Promise<WriteHandle> {
      const w = await inner.openWrite(name, i);
      return {
        write: (d) => {
          calls.push(`write ${d.length}`);
          return w.write(d);
        },
        commit: () => {
          calls.push("commit");
          return w.commit();
        },
        abort: () => {
          calls.push("abort");
          return w.abort();
        },
      };
    },
  };
  const h = start("write", "x", storage);
  await h.transport.waitForSent(1);
  data(h, 1, pattern(512));
  await h.transport.waitForSent(2);
  h.session.cancel();
  assert.equal((await ended(h)).outcome, "cancelled");
  assert.deepEqual(calls, ["write 512", "abort"]);
});

Deno.test("session: aborted write on the file system leaves no file and no temp file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tftpd-session-test-" });
  try {
    const fs: Storage = await FsStorage.open(dir);
    // The file system does real I/O: wait for the upload to be opened (a
    // signal) before expecting the ACK, which then follows in microtasks.
    let opened!: () => void;
    const isOpen = new Promise<void>((r) => opened = r);
    const storage: Storage = {
      openRead: (n, i) => fs.openRead(n, i),
      openWrite: (n, i) => fs.openWrite(n, i).finally(opened),
    };
    const h = start("write", "up.bin", storage);
    await isOpen;
    await h.transport.waitForSent(1);
    data(h, 1, pattern(512));
    await h.transport.waitForSent(2);
    h.transport.inject(encodeError(0, "bye"), PEER);
    assert.equal((await h.run).outcome, "aborted");
    await ended(h);
    const names: string[] = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assert.deepEqual(names, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("session: write to an existing name is ERROR 6, read-only is ERROR 2", async () => {
  const h = start(
    "write",
    "taken",
    new MemoryStorage({ taken: "x" }, { writable: true }),
  );
  await h.run;
  expectError(h.transport.sent[0], ErrorCode.FILE_EXISTS);
  await ended(h);
  const r = start("write", "new", new MemoryStorage({}));
  await r.run;
  expectError(r.transport.sent[0], ErrorCode.ACCESS_VIOLATION);
  await ended(r);
});

Deno.test("session: oversized DATA is ERROR 4 and nothing is stored", async () => {
  const storage = new MemoryStorage({}, { writable: true });
  const h = start("write", "x", storage);
  await h.transport.waitForSent(1);
  data(h, 1, pattern(513));
  const stats = await h.run;
  assert.equal(stats.outcome, "error");
  expectError(h.transport.sent[1], ErrorCode.ILLEGAL_OPERATION);
  assert.equal(storage.files.size, 0);
  await ended(h);
});

Deno.test("session: uploads over maxUpload are refused with ERROR 3", async () => {
  const storage = new MemoryStorage({}, { writable: true });
  // Announced too large in tsize: refused before any data.
  const a = start("write", "a", storage, {
    options: [["tsize", "2000"]],
    config: { maxUpload: 1000 },
  });
  await a.run;
  assert.equal(a.transport.sent.length, 1);
  expectError(a.transport.sent[0], ErrorCode.DISK_FULL);
  await ended(a);
  // Not announced: refused when the data goes past the limit.
  const b = start("write", "b", storage, { config: { maxUpload: 1000 } });
  await b.transport.waitForSent(1);
  data(b, 1, pattern(512));
  await b.transport.waitForSent(2);
  data(b, 2, pattern(512));
  await b.run;
  expectError(b.transport.sent[2], ErrorCode.DISK_FULL);
  await ended(b);
  assert.equal(storage.files.size, 0);
});

Deno.test("session: windowed write across block number rollover", async () => {
  const storage = new MemoryStorage({}, { writable: true });
  const blocks = 65538;
  const content = pattern(8 * (blocks - 1) + 3, 5);
  const h = start("write", "big", storage, {
    options: [["blksize", "8"], ["windowsize", "64"]],
  });
  const t = h.transport;
  await t.waitForSent(1);
  let sent = 0;
  let acks = 0;
  while (sent < blocks) {
    const top = Math.min(sent + 64, blocks);
    for (let b = sent + 1; b <= top; b++) {
      data(h, b & 0xffff, content.subarray((b - 1) * 8, b * 8));
    }
    sent = top;
    acks++;
    const [a] = await t.waitForSent(1 + acks, acks);
    expectAck(a, sent & 0xffff);
  }
  assert.deepEqual(storage.files.get("big"), content);
  await elapse(h.clock, 3000);
  assert.equal((await ended(h)).outcome, "ok");
});

// --- netascii ----------------------------------------------------------------

Deno.test("session: netascii read converts line ends, tsize counts wire bytes", async () => {
  const text = "abcdefg\nhij\rk\n";
  const wire = new NetasciiEncoder().encode(te.encode(text));
  assert.equal(wire.length, 17);
  const h = start("read", "t.txt", new MemoryStorage({ "t.txt": text }), {
    mode: "netascii",
    options: [["blksize", "8"], ["tsize", "0"]],
    config: { minRtoMs: 0 }, // a fixed 0.5 s retransmit interval
  });
  const t = h.transport;
  expectOack((await t.waitForSent(1))[0], [["blksize", "8"], ["tsize", "17"]]);
  ack(h, 0);
  // The CR LF of the first line end is split across blocks 1 and 2.
  expectData((await t.waitForSent(2))[1], 1, te.encode("abcdefg\r"));
  ack(h, 1);
  expectData((await t.waitForSent(3))[2], 2, te.encode("\nhij\r\0k\r"));
  // A lost ACK: block 2 comes again, identical.
  await elapse(h.clock, 500);
  expectData((await t.waitForSent(4))[3], 2, te.encode("\nhij\r\0k\r"));
  ack(h, 2);
  expectData((await t.waitForSent(5))[4], 3, te.encode("\n"));
  ack(h, 3);
  const stats = await ended(h);
  assert.equal(stats.outcome, "ok");
  assert.equal(stats.bytes, 17);
});

Deno.test("session: netascii read of a wire length that is a multiple of blksize", async () => {
  // "abc\n" is 5 bytes on the wire; 3 lines = 15... use blksize 10 and 2 lines.
  const h = start("read", "t", new MemoryStorage({ t: "abc\nabc\n" }), {
    mode: "netascii",
    options: [["blksize", "10"]],
  });
  const t = h.transport;
  await t.waitForSent(1);
  ack(h, 0);
  expectData((await t.waitForSent(2))[1], 1, te.encode("abc\r\nabc\r\n"));
  ack(h, 1);
  expectData((await t.waitForSent(3))[2], 2, new Uint8Array(0));
  ack(h, 2);
  assert.equal((await ended(h)).outcome, "ok");
});

Deno.test("session: netascii write converts line ends back, across blocks", async () => {
  const storage = new MemoryStorage({}, { writable: true });
  const h = start("write", "n.txt", storage, {
    mode: "netascii",
    options: [["blksize", "8"]],
  });
  const t = h.transport;
  expectOack((await t.waitForSent(1))[0], [["blksize", "8"]]);
  data(h, 1, te.encode("abcdefg\r"));
  await t.waitForSent(2);
  data(h, 2, te.encode("\nxy\r\0z\r"));
  await t.waitForSent(3);
  assert.deepEqual(storage.files.get("n.txt"), te.encode("abcdefg\nxy\rz\r"));
  await elapse(h.clock, 3000);
  assert.equal((await ended(h)).outcome, "ok");
});

Deno.test("session: netascii write whose last byte is CR keeps it", async () => {
  const storage = new MemoryStorage({}, { writable: true });
  const h = start("write", "cr", storage, { mode: "netascii" });
  await h.transport.waitForSent(1);
  data(h, 1, te.encode("line\r\nend\r"));
  await h.transport.waitForSent(2);
  assert.deepEqual(storage.files.get("cr"), te.encode("line\nend\r"));
  await elapse(h.clock, 3000);
  await ended(h);
});

Deno.test("session: netascii windowed read resends identical blocks after a mid-window ACK and a timeout", async () => {
  const text = "a\nb\rc\n".repeat(40);
  const wire = new NetasciiEncoder().encode(te.encode(text));
  const h = start("read", "t", new MemoryStorage({ t: text }), {
    mode: "netascii",
    options: [["blksize", "16"], ["windowsize", "4"]],
  });
  const t = h.transport;
  await t.waitForSent(1);
  ack(h, 0);
  await t.waitForSent(5);
  ack(h, 2);
  await t.waitForSent(9);
  await elapse(h.clock, 500);
  await t.waitForSent(13);
  const lastBlock = Math.floor(wire.length / 16) + 1;
  let top = 6;
  while (top < lastBlock) {
    ack(h, top);
    const next = Math.min(top + 4, lastBlock);
    await t.waitForSent(t.sent.length + (next - top));
    top = next;
  }
  ack(h, lastBlock);
  const stats = await ended(h);
  assert.equal(stats.outcome, "ok");
  assert.equal(stats.bytes, wire.length);
  // Every copy of a block carries the same bytes, and together they are the
  // netascii text.
  const blocks = new Map<number, Uint8Array>();
  for (const p of t.sent.map(pkt)) {
    if (p.op !== Opcode.DATA) continue;
    const seen = blocks.get(p.block);
    if (seen) assert.deepEqual(p.data, seen, `block ${p.block} changed`);
    blocks.set(p.block, p.data.slice());
  }
  const got: number[] = [];
  for (let b = 1; b <= lastBlock; b++) got.push(...blocks.get(b)!);
  assert.deepEqual(new Uint8Array(got), wire);
});

// --- adaptive retransmit interval ----------------------------------------------

Deno.test({
  name: "session: read retransmit interval follows the measured round trip",
  fn: async () => {
    const h = start("read", "f", new MemoryStorage({ f: pattern(5 * 512) }));
    const t = h.transport;
    await t.waitForSent(1);
    await settle();
    h.clock.advance(20); // a 20 ms round trip
    ack(h, 1);
    await t.waitForSent(2);
    // srtt 20, rttvar 10: interval 20 + 4 * 10 = 60 ms.
    await elapse(h.clock, 59);
    assert.equal(t.sent.length, 2, "not before 60 ms");
    await elapse(h.clock, 1);
    assert.deepEqual(dataBlocks(await t.waitForSent(3)), [1, 2, 2]);
    // Backoff doubles it: 120 ms, then 240 ms.
    await elapse(h.clock, 119);
    assert.equal(t.sent.length, 3);
    await elapse(h.clock, 1);
    await t.waitForSent(4);
    await elapse(h.clock, 239);
    assert.equal(t.sent.length, 4);
    await elapse(h.clock, 1);
    assert.deepEqual(dataBlocks(await t.waitForSent(5)), [1, 2, 2, 2, 2]);
    h.session.cancel();
    await ended(h);
  },
});

Deno.test({
  name: "session: write re-ACK interval follows the measured round trip",
  fn: async () => {
    const storage = new MemoryStorage({}, { writable: true });
    const h = start("write", "x", storage);
    const t = h.transport;
    await t.waitForSent(1);
    await settle();
    h.clock.advance(20);
    data(h, 1, pattern(512));
    expectAck((await t.waitForSent(2))[1], 1);
    await elapse(h.clock, 59);
    assert.equal(t.sent.length, 2, "not before 60 ms");
    await elapse(h.clock, 1);
    expectAck((await t.waitForSent(3))[2], 1);
    h.session.cancel();
    await ended(h);
  },
});

Deno.test("session: the interval backs off and is capped at ack-timeout", async () => {
  // Measures the gaps between retransmits after a 20 ms round trip: they
  // grow (backoff) and end at the ack-timeout cap.
  const h = start("read", "f", new MemoryStorage({ f: pattern(5 * 512) }), {
    config: { maxRetries: 10, connTimeout: 100 },
  });
  const t = h.transport;
  await t.waitForSent(1);
  await settle();
  h.clock.advance(20);
  ack(h, 1);
  await t.waitForSent(2);
  const t0 = h.clock.now();
  const times: number[] = [];
  for (let i = 0; i < 6; i++) {
    const n = t.sent.length;
    // Step 10 ms at a time until the next retransmit.
    for (let step = 0; step < 100 && t.sent.length === n; step++) {
      await elapse(h.clock, 10);
    }
    assert.equal(t.sent.length, n + 1, `retransmit ${i + 1}`);
    times.push(h.clock.now() - t0);
  }
  const gaps = times.map((x, i) => x - (i ? times[i - 1] : 0)).slice(1);
  // Each gap is at least as long as the one before, and never above 500 ms.
  for (let i = 1; i < gaps.length; i++) {
    assert.ok(gaps[i] >= gaps[i - 1], `${gaps}`);
  }
  for (const g of gaps) assert.ok(g <= 500, `${gaps}`);
  assert.equal(gaps[gaps.length - 1], 500, `capped: ${gaps}`);
  h.session.cancel();
  await ended(h);
});

Deno.test("session: no RTT sample from a retransmitted block (Karn's rule)", async () => {
  const h = start("read", "f", new MemoryStorage({ f: pattern(5 * 512) }));
  const t = h.transport;
  await t.waitForSent(1);
  await elapse(h.clock, 500);
  await t.waitForSent(2); // DATA 1 again
  await settle();
  h.clock.advance(20);
  ack(h, 1);
  await t.waitForSent(3);
  // No sample: the interval is still the full ack-timeout.
  await elapse(h.clock, 499);
  assert.equal(t.sent.length, 3);
  await elapse(h.clock, 1);
  assert.deepEqual(dataBlocks(await t.waitForSent(4)), [1, 1, 2, 2]);
  h.session.cancel();
  await ended(h);
});

Deno.test("session: minRtoMs 0 keeps the fixed ack-timeout", async () => {
  const h = start("read", "f", new MemoryStorage({ f: pattern(5 * 512) }), {
    config: { minRtoMs: 0 },
  });
  const t = h.transport;
  await t.waitForSent(1);
  await settle();
  h.clock.advance(20);
  ack(h, 1);
  await t.waitForSent(2);
  await elapse(h.clock, 499);
  assert.equal(t.sent.length, 2);
  await elapse(h.clock, 1);
  await t.waitForSent(3);
  await elapse(h.clock, 499);
  assert.equal(t.sent.length, 3, "no backoff below ack-timeout either");
  await elapse(h.clock, 1);
  assert.deepEqual(dataBlocks(await t.waitForSent(4)), [1, 2, 2, 2]);
  h.session.cancel();
  await ended(h);
});
