/**
 * Integration: junk on the listen port and on a transfer port. The server
 * answers ERROR 4 where a reply makes sense, never crashes, and serves the
 * next valid request.
 */

import assert from "node:assert/strict";
import {
  encodeAck,
  encodeData,
  encodeError,
  encodeOack,
  encodeRequest,
  ErrorCode,
  Opcode,
} from "../../src/protocol/packet.ts";
import { startServer, type TestServer } from "../../testing/server.ts";
import { getFile, randomBytes, RawClient } from "../../testing/raw_client.ts";

const text = new TextEncoder();
const NAME = [...text.encode("a.bin")];
const OCTET = [...text.encode("octet")];

/** Largest UDP payload over IPv4. */
const MAX_DATAGRAM = 65507;

function bytes(...parts: (number | number[])[]): Uint8Array {
  return new Uint8Array(parts.flat());
}

/**
 * Sends `datagram` to the listen port from a fresh port; returns what comes
 * back: nothing, or the first reply and any others that follow it.
 */
async function probe(
  srv: TestServer,
  datagram: Uint8Array,
  opts: { expectReply: boolean },
) {
  using client = RawClient.open();
  await client.send(datagram, srv.addr);
  if (!opts.expectReply) return await client.drain(300, 5);
  const first = await client.receive(2000);
  return first ? [first, ...await client.drain(100, 5)] : [];
}

/** Checks the server still serves a normal download. */
async function stillServes(srv: TestServer, data: Uint8Array): Promise<void> {
  const r = await getFile(srv.addr, "a.bin");
  assert.equal(r.error, undefined);
  assert.deepEqual(r.data, data);
}

const ERROR4_CASES: [string, Uint8Array][] = [
  ["empty datagram", new Uint8Array(0)],
  ["1 byte", bytes(0)],
  ["opcode only, RRQ", bytes(0, 1)],
  ["opcode 0", bytes(0, 0, ...NAME, 0, ...OCTET, 0)],
  ["unknown opcode 9", bytes(0, 9, ...NAME, 0, ...OCTET, 0)],
  ["opcode 0x0101", bytes(1, 1, ...NAME, 0, ...OCTET, 0)],
  ["RRQ, name without NUL", bytes(0, 1, ...NAME)],
  ["RRQ, mode without NUL", bytes(0, 1, ...NAME, 0, ...OCTET)],
  ["WRQ, no mode", bytes(0, 2, ...NAME, 0)],
  ["RRQ, empty name", bytes(0, 1, 0, ...OCTET, 0)],
  ["RRQ, invalid UTF-8 name", bytes(0, 1, 0xff, 0xfe, 0xc3, 0, ...OCTET, 0)],
  ["RRQ, invalid UTF-8 mode", bytes(0, 1, ...NAME, 0, 0xc0, 0xaf, 0)],
  ["DATA on the listen port", encodeData(1, new Uint8Array(10))],
  ["ACK on the listen port", encodeAck(0)],
  ["OACK on the listen port", encodeOack(new Map([["blksize", "512"]]))],
  ["64 KiB of 0xff", new Uint8Array(MAX_DATAGRAM).fill(0xff)],
  [
    "64 KiB RRQ without NUL",
    new Uint8Array(MAX_DATAGRAM).fill(0x41).fill(0, 0, 1).fill(1, 1, 2),
  ],
];

Deno.test("malformed datagrams on the listen port: ERROR 4 each, then service as usual", async () => {
  const data = randomBytes(1000);
  await using srv = await startServer({ files: { "a.bin": data } });
  for (const [what, datagram] of ERROR4_CASES) {
    const got = await probe(srv, datagram, { expectReply: true });
    assert.equal(got.length, 1, `${what}: expected one reply`);
    const p = got[0].packet;
    assert.equal(p.op, Opcode.ERROR, what);
    if (p.op === Opcode.ERROR) {
      assert.equal(p.code, ErrorCode.ILLEGAL_OPERATION, what);
    }
    // Junk is answered from the listen port, and starts no transfer.
    assert.equal(got[0].from.port, srv.port, what);
    await stillServes(srv, data);
  }
  // Only the valid downloads became transfers.
  await srv.waitForTransferEnd(() => true, { from: ERROR4_CASES.length - 1 });
  assert.equal(srv.transfers.length, ERROR4_CASES.length);
  assert.ok(srv.transfers.every((t) => t.outcome === "ok"));
  assert.equal(srv.lines.filter((l) => l.includes("[ERROR]")).length, 0);
});

Deno.test("a request whose name is not UTF-8 is refused with a warning; junk only at debug", async () => {
  await using srv = await startServer({ files: { "a.bin": randomBytes(10) } });
  const legacy = bytes(
    0,
    1,
    0x62,
    0xe9,
    0x2e,
    0x62,
    0x69,
    0x6e,
    0,
    ...OCTET,
    0,
  );
  const got = await probe(srv, legacy, { expectReply: true });
  assert.equal(got[0]?.packet.op, Opcode.ERROR);
  await probe(srv, bytes(0, 9, ...NAME, 0), { expectReply: true });
  const warned = srv.lines.filter((l) => /\[WARNING\].*malformed/.test(l));
  assert.equal(warned.length, 1, srv.lines.join("\n"));
  assert.match(warned[0], /filename is not valid UTF-8/);
  assert.ok(!srv.lines.some((l) => /opcode 9/.test(l)), srv.lines.join("\n"));
});

Deno.test("ERROR on the listen port gets no reply", async () => {
  const data = randomBytes(100);
  await using srv = await startServer({ files: { "a.bin": data } });
  const quiet = { expectReply: false };
  assert.deepEqual(await probe(srv, encodeError(0, "hello"), quiet), []);
  assert.deepEqual(await probe(srv, bytes(0, 5, 0, 1), quiet), []);
  await stillServes(srv, data);
});

Deno.test("a request with 500 options is served", async () => {
  const data = randomBytes(1000);
  await using srv = await startServer({ files: { "a.bin": data } });
  const options = new Map<string, string>();
  for (let i = 0; i < 500; i++) options.set(`x${i}`, "y".repeat(i % 7));
  const datagram = encodeRequest(Opcode.RRQ, "a.bin", { options });
  assert.ok(datagram.length > 3000);
  using client = RawClient.open();
  await client.send(datagram, srv.addr);
  const r = await client.receive();
  assert.ok(r);
  assert.equal(r.packet.op, Opcode.DATA);
  if (r.packet.op === Opcode.DATA) {
    assert.equal(r.packet.block, 1);
    assert.deepEqual(r.packet.data, data.subarray(0, 512));
  }
  await client.send(encodeError(0, "enough"), r.from);
  await stillServes(srv, data);
});

Deno.test("a burst of junk does not disturb a transfer in progress", async () => {
  const data = randomBytes(3000);
  await using srv = await startServer({ files: { "a.bin": data } });
  const junk = ERROR4_CASES.map(([, d]) => d);
  using noisy = RawClient.open();
  // Junk and the download interleave.
  const [r] = await Promise.all([
    getFile(srv.addr, "a.bin", { options: { blksize: "100" } }),
    (async () => {
      for (const d of junk) await noisy.send(d, srv.addr);
    })(),
  ]);
  assert.deepEqual(r.data, data);
  for (let i = 0; i < junk.length; i++) {
    const reply = await noisy.receive();
    assert.ok(reply, `reply ${i + 1} of ${junk.length} missing`);
    assert.equal(reply.packet.op, Opcode.ERROR);
  }
  assert.deepEqual(await noisy.drain(100), []);
});

Deno.test("malformed datagrams from the client on its transfer port are ignored", async () => {
  const data = randomBytes(1000);
  await using srv = await startServer({
    ackTimeout: 5,
    fixedInterval: true,
    files: { "a.bin": data },
  });
  using client = RawClient.open();
  await client.send(encodeRequest(Opcode.RRQ, "a.bin"), srv.addr);
  const d1 = await client.receive();
  assert.ok(d1 && d1.packet.op === Opcode.DATA);
  const tid = d1.from;
  for (
    const junk of [
      new Uint8Array(0),
      bytes(0),
      bytes(0, 4, 0), // short ACK
      bytes(0, 9, 0, 1),
      new Uint8Array(2000).fill(0xff),
      encodeRequest(Opcode.RRQ, "a.bin"),
    ]
  ) {
    await client.send(junk, tid);
  }
  assert.deepEqual(await client.drain(150), []);
  await client.send(encodeAck(1), tid);
  const d2 = await client.receive();
  assert.ok(d2 && d2.packet.op === Opcode.DATA);
  if (d2.packet.op === Opcode.DATA) {
    assert.equal(d2.packet.block, 2);
    assert.deepEqual(d2.packet.data, data.subarray(512));
  }
  await client.send(encodeAck(2), tid);
  assert.equal((await srv.waitForTransferEnd()).outcome, "ok");
});

Deno.test("an oversized DATA block in an upload: ERROR 4, no file", async () => {
  await using srv = await startServer({ ackTimeout: 5, fixedInterval: true });
  using client = RawClient.open();
  await client.send(encodeRequest(Opcode.WRQ, "up.bin"), srv.addr);
  const a0 = await client.receive();
  assert.ok(a0 && a0.packet.op === Opcode.ACK);
  await client.send(encodeData(1, new Uint8Array(513)), a0.from);
  const e = await client.receive();
  assert.ok(e);
  assert.equal(e.packet.op, Opcode.ERROR);
  if (e.packet.op === Opcode.ERROR) {
    assert.equal(e.packet.code, ErrorCode.ILLEGAL_OPERATION);
  }
  await srv.waitForTransferEnd();
  assert.deepEqual(await srv.listFiles(), []);
});
