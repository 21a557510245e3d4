/**
 * Integration: option negotiation (RFC 2347/2348/2349/7440) as seen on the
 * wire over 127.0.0.1.
 */

import assert from "node:assert/strict";
import {
  encodeAck,
  encodeData,
  encodeError,
  encodeRequest,
  ErrorCode,
  Opcode,
} from "../../src/protocol/packet.ts";
import { startServer } from "../../testing/server.ts";
import { FakeClock, settle } from "../../testing/fake.ts";
import {
  getFile,
  netasciiOf,
  putFile,
  randomBytes,
  RawClient,
  type ReceivedPacket,
} from "../../testing/raw_client.ts";

const RRQ = Opcode.RRQ;
const WRQ = Opcode.WRQ;
const text = new TextEncoder();

/** Receives one packet, checks its opcode and returns it. */
async function expectOp(
  client: RawClient,
  op: number,
  timeoutMs = 2000,
): Promise<ReceivedPacket> {
  const r = await client.receive(timeoutMs);
  assert.ok(r, `expected opcode ${op}, got nothing`);
  assert.equal(r.packet.op, op, `got ${JSON.stringify(r.packet)}`);
  return r;
}

/** Receives `n` DATA packets and returns their block numbers. */
async function dataBlocks(client: RawClient, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = await expectOp(client, Opcode.DATA);
    if (r.packet.op === Opcode.DATA) out.push(r.packet.block);
  }
  return out;
}

/** An RRQ with options in this exact order (names as given). */
function rrq(name: string, options: [string, string][]): Uint8Array {
  return encodeRequest(RRQ, name, { options: new Map(options) });
}

Deno.test("OACK holds only accepted options; unknown ones are ignored", async () => {
  const data = randomBytes(3000);
  await using srv = await startServer({ files: { "a.bin": data } });
  const r = await getFile(srv.addr, "a.bin", {
    options: {
      "x-vendor": "1",
      blksize: "1024",
      foo: "bar",
      tsize: "0",
      multicast: ",,1",
    },
  });
  assert.equal(r.error, undefined);
  assert.deepEqual([...r.oack!], [["blksize", "1024"], ["tsize", "3000"]]);
  assert.deepEqual(r.lengths, [1024, 1024, 952]);
  assert.deepEqual(r.data, data);
});

Deno.test("only unknown options: no OACK, DATA 1 with 512 bytes", async () => {
  const data = randomBytes(600);
  await using srv = await startServer({ files: { "a.bin": data } });
  const r = await getFile(srv.addr, "a.bin", { options: { foo: "1" } });
  assert.equal(r.oack, undefined);
  assert.deepEqual(r.lengths, [512, 88]);
});

Deno.test("option names are case-insensitive (BLKSIZE, TSize)", async () => {
  const data = randomBytes(2100);
  await using srv = await startServer({ files: { "a.bin": data } });
  const r = await getFile(srv.addr, "a.bin", {
    options: { BLKSIZE: "1000", TSize: "0", WindowSize: "2" },
  });
  assert.equal(r.oack?.get("blksize"), "1000");
  assert.equal(r.oack?.get("tsize"), "2100");
  assert.equal(r.oack?.get("windowsize"), "2");
  assert.deepEqual(r.lengths, [1000, 1000, 100]);
  assert.deepEqual(r.data, data);
});

Deno.test("malformed option lists: served (options dropped) or ERROR 4, no crash", async () => {
  const data = randomBytes(600);
  await using srv = await startServer({
    ackTimeout: 5,
    fixedInterval: true,
    files: { "a.bin": data },
  });
  const head = [0, 1, ...text.encode("a.bin"), 0, ...text.encode("octet"), 0];
  const cases: [string, Uint8Array][] = [
    [
      "name without value",
      new Uint8Array([...head, ...text.encode("blksize"), 0]),
    ],
    [
      "value without NUL",
      new Uint8Array([...head, ...text.encode("blksize"), 0, 0x31, 0x30]),
    ],
    ["empty name", new Uint8Array([...head, 0, ...text.encode("1024"), 0])],
    ["non-numeric blksize", rrq("a.bin", [["blksize", "big"]])],
    ["negative blksize", rrq("a.bin", [["blksize", "-1024"]])],
    ["huge blksize", rrq("a.bin", [["blksize", "9".repeat(40)]])],
    ["fractional timeout", rrq("a.bin", [["timeout", "0.5"]])],
    ["zero windowsize", rrq("a.bin", [["windowsize", "0"]])],
    ["trailing NULs", new Uint8Array([...head, 0, 0, 0])],
  ];
  for (const [what, bytes] of cases) {
    using client = RawClient.open();
    await client.send(bytes, srv.addr);
    const r = await client.receive();
    assert.ok(r, `${what}: no answer`);
    const p = r.packet;
    if (p.op === Opcode.ERROR) {
      assert.equal(p.code, ErrorCode.ILLEGAL_OPERATION, what);
      continue;
    }
    // Served: the bad option is simply not granted.
    assert.equal(p.op, Opcode.DATA, `${what}: ${JSON.stringify(p)}`);
    if (p.op !== Opcode.DATA) continue;
    assert.equal(p.block, 1, what);
    assert.equal(p.data.length, 512, what);
    await client.send(encodeError(0, "enough"), r.from);
  }
  // Still serving normally.
  const ok = await getFile(srv.addr, "a.bin", { options: { blksize: "100" } });
  assert.deepEqual(ok.data, data);
  assert.equal(srv.lines.filter((l) => l.includes("[ERROR]")).length, 0);
});

Deno.test("hundreds of options: served", async () => {
  const data = randomBytes(1500);
  await using srv = await startServer({ files: { "a.bin": data } });
  const many: Record<string, string> = {};
  for (let i = 0; i < 400; i++) many[`opt${i}`] = String(i);
  const r = await getFile(srv.addr, "a.bin", {
    options: { blksize: "1024", ...many, tsize: "0" },
  });
  assert.equal(r.error, undefined);
  assert.deepEqual(r.data, data);
  // The first option is honoured; options past the parse limit are not.
  assert.equal(r.oack?.get("blksize"), "1024");
  assert.ok(![...r.oack!.keys()].some((k) => k.startsWith("opt")));
});

Deno.test("blksize is clamped to maxBlksize", async () => {
  const data = randomBytes(1300);
  await using srv = await startServer({
    maxBlksize: 1000,
    files: { "a.bin": data },
  });
  const r = await getFile(srv.addr, "a.bin", {
    options: { blksize: "1468" },
  });
  assert.equal(r.oack?.get("blksize"), "1000");
  assert.deepEqual(r.lengths, [1000, 300]);
  assert.deepEqual(r.data, data);
  const p = await putFile(srv.addr, "up.bin", {
    data,
    options: { blksize: "65464" },
  });
  assert.equal(p.oack?.get("blksize"), "1000");
  assert.deepEqual(p.lengths, [1000, 300]);
  assert.deepEqual(await srv.readFile("up.bin"), data);
});

Deno.test("blksize above 65464 is clamped to 65464", async () => {
  const data = randomBytes(70000);
  await using srv = await startServer({ files: { "a.bin": data } });
  const r = await getFile(srv.addr, "a.bin", {
    options: { blksize: "65500" },
  });
  assert.equal(r.oack?.get("blksize"), "65464");
  assert.deepEqual(r.lengths, [65464, 70000 - 65464]);
  assert.deepEqual(r.data, data);
});

Deno.test("blksize 7 is ignored: no OACK, DATA 1 has 512 bytes", async () => {
  const data = randomBytes(600);
  await using srv = await startServer({ files: { "a.bin": data } });
  const r = await getFile(srv.addr, "a.bin", { options: { blksize: "7" } });
  assert.equal(r.oack, undefined);
  assert.deepEqual(r.lengths, [512, 88]);
  const w = await putFile(srv.addr, "up.bin", {
    data,
    options: { blksize: "7" },
  });
  assert.equal(w.oack, undefined);
  assert.deepEqual(await srv.readFile("up.bin"), data);
});

/**
 * Waits until `clock` has `n` timers armed (each transfer arms one after
 * sending). A bounded wait for a state, not a sleep: every turn lets the
 * server's sends and reactions run.
 */
async function armed(clock: FakeClock, n: number): Promise<void> {
  const bound = performance.now() + 20_000;
  while (clock.pending !== n) {
    if (performance.now() > bound) {
      throw new Error(`${clock.pending} timers armed, expected ${n}`);
    }
    await settle();
  }
}

Deno.test("timeout option: echoed, and the retransmit interval of that transfer", async () => {
  // The server's own interval is 0.1 s; one client asks for 2 s, another
  // for nothing. The server runs on a fake clock that the test moves from
  // one due timer to the next, so the order of the resends is the order
  // of their deadlines whatever the load.
  const clock = new FakeClock();
  await using srv = await startServer({
    ackTimeout: 0.1,
    retries: 4,
    timeout: 10,
    files: { "a.bin": randomBytes(600) },
    server: { clock },
  });
  using slow = RawClient.open();
  using ref = RawClient.open();
  const start = clock.now();
  await slow.send(rrq("a.bin", [["timeout", "2"]]), srv.addr);
  const oack = await expectOp(slow, Opcode.OACK);
  if (oack.packet.op === Opcode.OACK) {
    assert.deepEqual([...oack.packet.options], [["timeout", "2"]]);
  }
  await ref.send(rrq("a.bin", []), srv.addr);
  await expectOp(ref, Opcode.DATA);
  await armed(clock, 2);
  // Neither acknowledges. The reference resends four times, then gives up,
  // all before the 2 s transfer's first resend is due.
  for (let resend = 1; resend <= 4; resend++) {
    clock.advance(clock.nextAt()! - clock.now());
    await expectOp(ref, Opcode.DATA);
    await armed(clock, 2);
    assert.equal(clock.now() - start, 100 * resend);
  }
  clock.advance(clock.nextAt()! - clock.now());
  const refEnd = await srv.waitForTransferEnd((s) =>
    s.options.timeout === undefined
  );
  assert.equal(refEnd.outcome, "timeout");
  assert.equal(refEnd.retransmits, 4);
  await armed(clock, 1);
  assert.equal(clock.now() - start, 500);
  // The next timer due is the 2 s transfer's, at 2 s.
  clock.advance(clock.nextAt()! - clock.now());
  const again = await expectOp(slow, Opcode.OACK);
  assert.equal(clock.now() - start, 2000);
  assert.deepEqual(again.data, oack.data);
  assert.deepEqual(await ref.drain(50), [], "the reference sent more");
  await slow.send(encodeError(0, "enough"), again.from);
  const s = await srv.waitForTransferEnd((s) => s.options.timeout === "2");
  assert.equal(s.outcome, "aborted");
  assert.equal(s.retransmits, 1);
});

Deno.test("tsize on RRQ returns the file size (octet) and the converted size (netascii)", async () => {
  const local = "one\ntwo\r\nthree\n";
  await using srv = await startServer({ files: { "t.txt": local } });
  const o = await getFile(srv.addr, "t.txt", { options: { tsize: "0" } });
  assert.equal(o.oack?.get("tsize"), String(text.encode(local).length));
  const n = await getFile(srv.addr, "t.txt", {
    mode: "netascii",
    options: { tsize: "0" },
  });
  const wire = netasciiOf(local);
  assert.equal(n.oack?.get("tsize"), String(wire.length));
  assert.deepEqual(n.data, wire);
});

Deno.test("WRQ tsize is echoed", async () => {
  const data = randomBytes(1234);
  await using srv = await startServer();
  const r = await putFile(srv.addr, "up.bin", {
    data,
    options: { tsize: "1234" },
  });
  assert.deepEqual([...r.oack!], [["tsize", "1234"]]);
  assert.deepEqual(await srv.readFile("up.bin"), data);
});

Deno.test("WRQ tsize over maxUpload: ERROR 3, no file", async () => {
  await using srv = await startServer({ maxUpload: 1000 });
  const r = await putFile(srv.addr, "up.bin", {
    data: randomBytes(1001),
    options: { tsize: "1001" },
  });
  assert.equal(r.error?.code, ErrorCode.DISK_FULL);
  assert.equal(r.dataPackets, 0);
  await srv.waitForTransferEnd();
  assert.deepEqual(await srv.listFiles(), []);
  // At the limit is fine.
  const ok = await putFile(srv.addr, "ok.bin", {
    data: randomBytes(1000),
    options: { tsize: "1000" },
  });
  assert.equal(ok.error, undefined);
});

Deno.test("upload exceeding maxUpload without tsize: ERROR 3, no file", async () => {
  await using srv = await startServer({ maxUpload: 1000 });
  const r = await putFile(srv.addr, "up.bin", { data: randomBytes(1500) });
  assert.equal(r.error?.code, ErrorCode.DISK_FULL);
  assert.ok(r.dataPackets <= 2);
  const s = await srv.waitForTransferEnd();
  assert.equal(s.outcome, "error");
  assert.deepEqual(await srv.listFiles(), []);
});

Deno.test("windowsize on RRQ: window of 4, mid-window ACK moves the window", async () => {
  const data = randomBytes(10 * 512 + 100); // 11 blocks
  await using srv = await startServer({
    ackTimeout: 5,
    fixedInterval: true,
    files: { "a.bin": data },
  });
  using client = RawClient.open();
  await client.send(rrq("a.bin", [["windowsize", "4"]]), srv.addr);
  const oack = await expectOp(client, Opcode.OACK);
  const tid = oack.from;
  if (oack.packet.op === Opcode.OACK) {
    assert.deepEqual([...oack.packet.options], [["windowsize", "4"]]);
  }
  await client.send(encodeAck(0), tid);
  assert.deepEqual(await dataBlocks(client, 4), [1, 2, 3, 4]);
  assert.deepEqual(await client.drain(150), []); // the window is full
  await client.send(encodeAck(2), tid); // mid-window
  assert.deepEqual(await dataBlocks(client, 4), [3, 4, 5, 6]);
  await client.send(encodeAck(6), tid);
  assert.deepEqual(await dataBlocks(client, 4), [7, 8, 9, 10]);
  await client.send(encodeAck(10), tid);
  assert.deepEqual(await dataBlocks(client, 1), [11]);
  await client.send(encodeAck(11), tid);
  const s = await srv.waitForTransferEnd();
  assert.equal(s.outcome, "ok");
  assert.equal(s.bytes, data.length);
  assert.deepEqual(await client.drain(150), []);
});

Deno.test("windowsize on WRQ: ACK per window, a gap is ACKed mid-window", async () => {
  const data = randomBytes(6 * 512 + 10); // 7 blocks
  const block = (n: number) =>
    encodeData(n, data.subarray((n - 1) * 512, n * 512));
  await using srv = await startServer({ ackTimeout: 5, fixedInterval: true });
  using client = RawClient.open();
  await client.send(
    encodeRequest(WRQ, "up.bin", {
      options: new Map([["windowsize", "4"]]),
    }),
    srv.addr,
  );
  const oack = await expectOp(client, Opcode.OACK);
  const tid = oack.from;
  for (const n of [1, 2, 4]) await client.send(block(n), tid); // 3 lost
  const gap = await expectOp(client, Opcode.ACK);
  assert.deepEqual(gap.data, encodeAck(2));
  for (const n of [3, 4, 5, 6]) await client.send(block(n), tid);
  const full = await expectOp(client, Opcode.ACK);
  assert.deepEqual(full.data, encodeAck(6));
  await client.send(block(7), tid);
  const last = await expectOp(client, Opcode.ACK);
  assert.deepEqual(last.data, encodeAck(7));
  assert.deepEqual(await client.drain(150), []);
  assert.deepEqual(await srv.readFile("up.bin"), data);
});

Deno.test("windowsize is clamped to maxWindowsize", async () => {
  const data = randomBytes(6 * 512 + 1);
  await using srv = await startServer({
    ackTimeout: 5,
    fixedInterval: true,
    maxWindowsize: 4,
    files: { "a.bin": data },
  });
  using client = RawClient.open();
  await client.send(rrq("a.bin", [["windowsize", "16"]]), srv.addr);
  const oack = await expectOp(client, Opcode.OACK);
  if (oack.packet.op === Opcode.OACK) {
    assert.equal(oack.packet.options.get("windowsize"), "4");
  }
  await client.send(encodeAck(0), oack.from);
  assert.deepEqual(await dataBlocks(client, 4), [1, 2, 3, 4]);
  assert.deepEqual(await client.drain(150), []); // never more than 4
  await client.send(encodeAck(4), oack.from);
  assert.deepEqual(await dataBlocks(client, 3), [5, 6, 7]);
  await client.send(encodeAck(7), oack.from);
  assert.equal((await srv.waitForTransferEnd()).outcome, "ok");
  // A windowed get of the same file with the helper gives the same bytes.
  const g = await getFile(srv.addr, "a.bin", {
    options: { windowsize: "64" },
  });
  assert.equal(g.oack?.get("windowsize"), "4");
  assert.deepEqual(g.data, data);
  assert.equal(g.duplicates, 0);
});

Deno.test("windowed transfers both ways, whole files", async () => {
  const data = randomBytes(100 * 1000 + 7);
  await using srv = await startServer({ files: { "a.bin": data } });
  const g = await getFile(srv.addr, "a.bin", {
    options: { blksize: "1000", windowsize: "8" },
    ackEarly: new Set([13, 50]),
  });
  assert.deepEqual(g.data, data);
  const p = await putFile(srv.addr, "up.bin", {
    data,
    options: { blksize: "1000", windowsize: "8" },
    drop: new Set([5, 40, 101]),
  });
  assert.equal(p.error, undefined);
  assert.deepEqual(await srv.readFile("up.bin"), data);
});
