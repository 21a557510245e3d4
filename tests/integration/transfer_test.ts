/**
 * Integration: whole transfers over 127.0.0.1 against an in-process server,
 * scripted packet by packet with a raw UDP client.
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
import { concat } from "../../testing/bytes.ts";
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

/** Receives one packet and checks it is DATA `block`; returns it. */
async function expectData(
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
async function expectError(
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
async function expectAck(
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

Deno.test("RRQ octet: exact bytes, 512-byte blocks, from a transfer port", async () => {
  const data = randomBytes(1300);
  await using srv = await startServer({ files: { "a.bin": data } });
  using client = RawClient.open();
  const r = await client.get(srv.addr, "a.bin");
  assert.equal(r.error, undefined);
  assert.deepEqual(r.data, data);
  assert.deepEqual(r.lengths, [512, 512, 276]);
  assert.equal(r.oack, undefined);
  assert.notEqual(r.tid!.port, srv.port);
  assert.equal(r.tid!.hostname, "127.0.0.1");
  assert.equal((await srv.waitForTransferEnd()).outcome, "ok");
});

Deno.test("WRQ octet: the file appears with exact bytes", async () => {
  const data = randomBytes(2000);
  await using srv = await startServer();
  using client = RawClient.open();
  const r = await client.put(srv.addr, "up.bin", { data });
  assert.equal(r.error, undefined);
  assert.deepEqual(r.lengths, [512, 512, 512, 464]);
  assert.notEqual(r.tid!.port, srv.port);
  // The final ACK is sent after the file is published.
  assert.deepEqual(await srv.readFile("up.bin"), data);
});

Deno.test("two transfers run on two different transfer ports", async () => {
  await using srv = await startServer({
    ackTimeout: 5,
    fixedInterval: true,
    files: { "a.bin": randomBytes(1000) },
  });
  using c1 = RawClient.open();
  using c2 = RawClient.open();
  await c1.send(encodeRequest(RRQ, "a.bin"), srv.addr);
  await c2.send(encodeRequest(RRQ, "a.bin"), srv.addr);
  const d1 = await expectData(c1, 1);
  const d2 = await expectData(c2, 1);
  assert.notEqual(d1.from.port, srv.port);
  assert.notEqual(d2.from.port, srv.port);
  assert.notEqual(d1.from.port, d2.from.port);
  await c1.send(encodeError(0, "done"), d1.from);
  await c2.send(encodeError(0, "done"), d2.from);
});

Deno.test("mode names are case-insensitive (OCTET, NetAscii)", async () => {
  const data = randomBytes(700);
  const local = "line one\nline two\n";
  await using srv = await startServer({
    files: { "a.bin": data, "t.txt": local },
  });
  const g = await getFile(srv.addr, "a.bin", { mode: "OCTET" });
  assert.equal(g.error, undefined);
  assert.deepEqual(g.data, data);
  const n = await getFile(srv.addr, "t.txt", { mode: "NetAscii" });
  assert.equal(n.error, undefined);
  assert.deepEqual(n.data, netasciiOf(local));
  const p = await putFile(srv.addr, "u.txt", {
    data: netasciiOf(local),
    mode: "NETASCII",
  });
  assert.equal(p.error, undefined);
  assert.equal(new TextDecoder().decode(await srv.readFile("u.txt")), local);
});

/**
 * Local text whose netascii form has a CR as the last byte of block 1 (its
 * LF opens block 2) and a bare CR as the last byte of block 2 (its NUL
 * opens block 3).
 */
function boundaryText(): string {
  return "a".repeat(511) + "\n" + "b".repeat(510) + "\r" + "tail\nend\n";
}

Deno.test("netascii RRQ: CR LF and CR NUL split across block boundaries", async () => {
  const local = boundaryText();
  const wire = netasciiOf(local);
  // The case under test really is built: CR ends blocks 1 and 2.
  assert.deepEqual([wire[511], wire[512]], [13, 10]);
  assert.deepEqual([wire[1023], wire[1024]], [13, 0]);
  await using srv = await startServer({ files: { "t.txt": local } });
  using client = RawClient.open();
  const r = await client.get(srv.addr, "t.txt", {
    mode: "netascii",
    options: { tsize: "0" },
  });
  assert.equal(r.error, undefined);
  assert.deepEqual(r.data, wire);
  // tsize in netascii is the converted size.
  assert.equal(r.oack?.get("tsize"), String(wire.length));
  assert.notEqual(wire.length, text.encode(local).length);
});

Deno.test("netascii WRQ: CR at the end of a block is joined with the next", async () => {
  const local = boundaryText();
  await using srv = await startServer();
  using client = RawClient.open();
  const r = await client.put(srv.addr, "t.txt", {
    data: netasciiOf(local),
    mode: "netascii",
  });
  assert.equal(r.error, undefined);
  assert.equal(r.blocks, 3);
  assert.deepEqual(await srv.readFile("t.txt"), text.encode(local));
});

Deno.test("mail and unknown modes: ERROR 4, no file", async () => {
  await using srv = await startServer({ files: { "a.bin": "hello" } });
  using client = RawClient.open();
  for (
    const [op, mode] of [[RRQ, "mail"], [WRQ, "mail"], [RRQ, "binary"], [
      WRQ,
      "image",
    ]] as const
  ) {
    const name = op === RRQ ? "a.bin" : `new-${mode}.bin`;
    await client.send(encodeRequest(op, name, { mode }), srv.addr);
    await expectError(client, ErrorCode.ILLEGAL_OPERATION);
  }
  assert.deepEqual(await client.drain(100), []);
  for (let i = 0; i < 4; i++) {
    await srv.waitForTransferEnd(() => true, { from: i });
  }
  assert.deepEqual(await srv.listFiles(), ["a.bin"]);
});

Deno.test("file not found: ERROR 1", async () => {
  await using srv = await startServer();
  using client = RawClient.open();
  const r = await client.get(srv.addr, "nope.bin");
  assert.equal(r.error?.code, ErrorCode.FILE_NOT_FOUND);
  assert.equal(r.dataPackets, 0);
  await srv.waitForLine(/RRQ "nope\.bin" octet: error \(ERROR 1: /);
});

Deno.test("datagram from another port to a transfer port: ERROR 5 to it, transfer goes on", async () => {
  const data = randomBytes(1100);
  await using srv = await startServer({
    ackTimeout: 5,
    fixedInterval: true,
    files: { "a.bin": data },
  });
  using client = RawClient.open();
  using intruder = RawClient.open();
  await client.send(encodeRequest(RRQ, "a.bin"), srv.addr);
  const d1 = await expectData(client, 1);
  const tid = d1.from;
  // The intruder acknowledges block 1 from its own port.
  await intruder.send(encodeAck(1), tid);
  const e = await expectError(intruder, ErrorCode.UNKNOWN_TID);
  assert.equal(e.from.port, tid.port);
  // The intruder's ACK did not move the transfer on.
  assert.equal(await client.receive(150), undefined);
  const got = [d1.payload.slice()];
  await client.send(encodeAck(1), tid);
  got.push((await expectData(client, 2)).payload.slice());
  await client.send(encodeAck(2), tid);
  got.push((await expectData(client, 3)).payload.slice());
  await client.send(encodeAck(3), tid);
  assert.deepEqual(concat(got), data);
  const stats = await srv.waitForTransferEnd();
  assert.equal(stats.outcome, "ok");
  assert.equal(stats.bytes, data.length);
  assert.deepEqual(await intruder.drain(100), []);
});

Deno.test("duplicate ACK does not cause a retransmit", async () => {
  const data = randomBytes(1600); // 512 512 512 64
  await using srv = await startServer({
    ackTimeout: 5,
    fixedInterval: true,
    files: { "a.bin": data },
  });
  using client = RawClient.open();
  await client.send(encodeRequest(RRQ, "a.bin"), srv.addr);
  const tid = (await expectData(client, 1)).from;
  await client.send(encodeAck(1), tid);
  await expectData(client, 2);
  await client.send(encodeAck(1), tid); // duplicates
  await client.send(encodeAck(1), tid);
  await client.send(encodeAck(2), tid);
  await expectData(client, 3); // not DATA 2 again
  await client.send(encodeAck(3), tid);
  await client.send(encodeAck(3), tid);
  await client.send(encodeAck(3), tid);
  await expectData(client, 4);
  await client.send(encodeAck(4), tid);
  const stats = await srv.waitForTransferEnd();
  assert.equal(stats.outcome, "ok");
  assert.equal(stats.retransmits, 0);
  assert.deepEqual(await client.drain(150), []);
});

Deno.test("RRQ never ACKed: DATA 1 sent exactly 1 + retries times, then give up", async () => {
  await using srv = await startServer({
    ackTimeout: 0.1,
    retries: 3,
    timeout: 10,
    files: { "a.bin": randomBytes(600) },
  });
  using client = RawClient.open();
  await client.send(encodeRequest(RRQ, "a.bin"), srv.addr);
  const stats = await srv.waitForTransferEnd();
  assert.equal(stats.outcome, "timeout");
  assert.equal(stats.retransmits, 3);
  const got = await client.drain(200);
  assert.equal(got.length, 4);
  for (const g of got) {
    assert.equal(g.packet.op, Opcode.DATA);
    if (g.packet.op === Opcode.DATA) assert.equal(g.packet.block, 1);
    assert.deepEqual(g.data, got[0].data);
  }
  await srv.waitForLine(/RRQ "a\.bin" octet: timeout/);
});

Deno.test("RRQ with options never ACKed: OACK sent 1 + retries times", async () => {
  await using srv = await startServer({
    ackTimeout: 0.1,
    retries: 2,
    timeout: 10,
    files: { "a.bin": randomBytes(600) },
  });
  using client = RawClient.open();
  await client.send(
    encodeRequest(RRQ, "a.bin", { options: new Map([["blksize", "100"]]) }),
    srv.addr,
  );
  assert.equal((await srv.waitForTransferEnd()).outcome, "timeout");
  const got = await client.drain(200);
  assert.deepEqual(got.map((g) => g.packet.op), [6, 6, 6]);
});

Deno.test("WRQ never followed by DATA: ACK 0 sent 1 + retries times, no file", async () => {
  await using srv = await startServer({
    ackTimeout: 0.1,
    retries: 3,
    timeout: 10,
  });
  using client = RawClient.open();
  await client.send(encodeRequest(WRQ, "up.bin"), srv.addr);
  assert.equal((await srv.waitForTransferEnd()).outcome, "timeout");
  const got = await client.drain(200);
  assert.equal(got.length, 4);
  for (const g of got) assert.deepEqual(g.data, encodeAck(0));
  assert.deepEqual(await srv.listFiles(), []);
});

Deno.test("server retransmits the unacknowledged block on its timer", async () => {
  const data = randomBytes(1000);
  await using srv = await startServer({
    ackTimeout: 0.1,
    retries: 5,
    files: { "a.bin": data },
  });
  using client = RawClient.open();
  /** Next DATA with a block number of at least `min` (skips resends). */
  const nextData = async (min: number) => {
    for (;;) {
      const r = await client.receive();
      assert.ok(r && r.packet.op === Opcode.DATA, "expected DATA");
      if (r.packet.op === Opcode.DATA && r.packet.block >= min) {
        return { ...r, block: r.packet.block };
      }
    }
  };
  await client.send(encodeRequest(RRQ, "a.bin"), srv.addr);
  const first = await nextData(1);
  assert.equal(first.block, 1);
  await client.send(encodeAck(1), first.from);
  const d2 = await nextData(2);
  assert.equal(d2.block, 2);
  // Say nothing: the same block comes again.
  const again = await nextData(2);
  assert.equal(again.block, 2);
  assert.deepEqual(again.data, d2.data);
  await client.send(encodeAck(2), first.from);
  const stats = await srv.waitForTransferEnd();
  assert.equal(stats.outcome, "ok");
  assert.ok(stats.retransmits >= 1);
});

Deno.test("client ERROR ends a download quietly", async () => {
  await using srv = await startServer({
    ackTimeout: 5,
    fixedInterval: true,
    files: { "a.bin": randomBytes(2000) },
  });
  using client = RawClient.open();
  await client.send(encodeRequest(RRQ, "a.bin"), srv.addr);
  const d1 = await expectData(client, 1);
  await client.send(encodeError(0, "user cancelled"), d1.from);
  const stats = await srv.waitForTransferEnd();
  assert.equal(stats.outcome, "aborted");
  assert.deepEqual(await client.drain(200), []); // no reply at all
  await srv.waitForLine(/RRQ "a\.bin" octet: aborted \(client sent ERROR 0/);
});

Deno.test("client ERROR ends an upload quietly and leaves no file", async () => {
  await using srv = await startServer({ ackTimeout: 5, fixedInterval: true });
  using client = RawClient.open();
  await client.send(encodeRequest(WRQ, "up.bin"), srv.addr);
  const a0 = await expectAck(client, 0);
  await client.send(encodeData(1, randomBytes(512)), a0.from);
  await expectAck(client, 1);
  assert.notDeepEqual(await srv.listFiles(), []); // the upload is under way
  await client.send(encodeError(3, "disk full"), a0.from);
  assert.equal((await srv.waitForTransferEnd()).outcome, "aborted");
  assert.deepEqual(await client.drain(200), []);
  assert.deepEqual(await srv.listFiles(), []);
});

// A probe ends at DEBUG on purpose (PXE firmware probes before every boot).
Deno.test("ERROR 8 right after the OACK is a probe, logged as such", async () => {
  await using srv = await startServer({
    verbose: true,
    ackTimeout: 5,
    fixedInterval: true,
    files: { "boot.efi": randomBytes(3000) },
  });
  using client = RawClient.open();
  const r = await client.get(srv.addr, "boot.efi", {
    options: { tsize: "0" },
    ackOack: false,
  });
  assert.equal(r.oack?.get("tsize"), "3000");
  await client.send(encodeError(8, "tsize only"), r.tid!);
  const stats = await srv.waitForTransferEnd();
  assert.equal(stats.outcome, "probe");
  await srv.waitForLine(/RRQ "boot\.efi" octet tsize=3000: probe/);
  assert.deepEqual(await client.drain(200), []);
});

Deno.test("after the final ACK of an upload, a retransmitted last DATA is re-ACKed", async () => {
  const data = randomBytes(700);
  await using srv = await startServer({ ackTimeout: 5, fixedInterval: true });
  using client = RawClient.open();
  const r = await client.put(srv.addr, "up.bin", { data });
  assert.equal(r.error, undefined);
  // Pretend the final ACK was lost: send the last block again, twice.
  const last = encodeData(2, data.subarray(512));
  for (let i = 0; i < 2; i++) {
    await client.send(last, r.tid!);
    const a = await expectAck(client, 2);
    assert.equal(a.from.port, r.tid!.port);
  }
  assert.deepEqual(await srv.readFile("up.bin"), data);
});

Deno.test("a repeated RRQ from the same address and port starts no second transfer", async () => {
  const data = randomBytes(100);
  await using srv = await startServer({
    ackTimeout: 5,
    fixedInterval: true,
    files: { "a.bin": data },
  });
  using client = RawClient.open();
  const rrq = encodeRequest(RRQ, "a.bin");
  await client.send(rrq, srv.addr);
  await client.send(rrq, srv.addr);
  await client.send(rrq, srv.addr);
  const d1 = await expectData(client, 1);
  assert.deepEqual(await client.drain(200), []); // one reply stream only
  await client.send(encodeAck(1), d1.from);
  assert.equal((await srv.waitForTransferEnd()).outcome, "ok");
  assert.equal(srv.transfers.length, 1);
  // Once it is over, the same client port may ask again.
  const again = await client.get(srv.addr, "a.bin");
  assert.deepEqual(again.data, data);
  assert.notEqual(again.tid!.port, d1.from.port);
});

Deno.test("a repeated WRQ from the same address and port starts no second transfer", async () => {
  await using srv = await startServer({ ackTimeout: 5, fixedInterval: true });
  using client = RawClient.open();
  const wrq = encodeRequest(WRQ, "up.bin");
  await client.send(wrq, srv.addr);
  await client.send(wrq, srv.addr);
  const a0 = await expectAck(client, 0);
  assert.deepEqual(await client.drain(200), []);
  await client.send(encodeData(1, text.encode("hi")), a0.from);
  await expectAck(client, 1);
  assert.equal(new TextDecoder().decode(await srv.readFile("up.bin")), "hi");
  assert.equal(
    srv.lines.filter((l) => /WRQ "up\.bin" octet$/.test(l)).length,
    1,
  );
});

Deno.test("a file that is a multiple of blksize ends with an empty DATA", async () => {
  const data = randomBytes(1024);
  await using srv = await startServer({ files: { "a.bin": data } });
  const g = await getFile(srv.addr, "a.bin");
  assert.deepEqual(g.lengths, [512, 512, 0]);
  assert.deepEqual(g.data, data);
  const g8 = await getFile(srv.addr, "a.bin", {
    options: { blksize: "256" },
  });
  assert.deepEqual(g8.lengths, [256, 256, 256, 256, 0]);
  const p = await putFile(srv.addr, "up.bin", { data });
  assert.equal(p.error, undefined);
  assert.deepEqual(p.lengths, [512, 512, 0]);
  assert.deepEqual(await srv.readFile("up.bin"), data);
  await srv.writeFile("empty.bin", new Uint8Array(0));
  const e = await getFile(srv.addr, "empty.bin");
  assert.deepEqual(e.lengths, [0]);
});

Deno.test("uploads whose last block is blksize-4 .. blksize-1 bytes complete", async () => {
  await using srv = await startServer();
  for (const blksize of [512, 1024]) {
    for (let tail = blksize - 4; tail < blksize; tail++) {
      const data = randomBytes(blksize * 2 + tail);
      const name = `up-${blksize}-${tail}.bin`;
      const r = await putFile(srv.addr, name, {
        data,
        options: blksize === 512 ? {} : { blksize: String(blksize) },
      });
      assert.equal(r.error, undefined, name);
      assert.deepEqual(r.lengths, [blksize, blksize, tail]);
      assert.deepEqual(await srv.readFile(name), data, name);
    }
  }
});

Deno.test("transfer log lines: start and end with peer, file, direction, options, bytes, outcome", async () => {
  const data = randomBytes(1300);
  // timeout 1: the upload's stats come after its 1 s linger.
  await using srv = await startServer({ timeout: 1, files: { "a.bin": data } });
  // Each transfer from its own port, as real clients do.
  using c1 = RawClient.open();
  using c2 = RawClient.open();
  using c3 = RawClient.open();
  const peer = (c: RawClient) => `127\\.0\\.0\\.1:${c.addr.port}`;
  await c1.get(srv.addr, "a.bin", { options: { blksize: "1024" } });
  await srv.waitForLine(
    new RegExp(`\\[INFO\\] ${peer(c1)} RRQ "a\\.bin" octet blksize=1024$`),
  );
  await srv.waitForLine(
    new RegExp(
      `\\[INFO\\] ${
        peer(c1)
      } RRQ "a\\.bin" octet blksize=1024: ok, 1300 bytes in [\\d.]+ s, 0 retransmits$`,
    ),
  );
  await c2.put(srv.addr, "up.bin", {
    data: data.subarray(0, 600),
    options: { tsize: "600" },
  });
  await srv.waitForLine(
    new RegExp(`\\[INFO\\] ${peer(c2)} WRQ "up\\.bin" octet tsize=600$`),
  );
  await srv.waitForLine(
    new RegExp(
      `\\[INFO\\] ${
        peer(c2)
      } WRQ "up\\.bin" octet tsize=600: ok, 600 bytes in `,
    ),
  );
  await c3.get(srv.addr, "missing.bin");
  await srv.waitForLine(
    new RegExp(
      `\\[WARNING\\] ${
        peer(c3)
      } RRQ "missing\\.bin" octet: error \\(ERROR 1: .*\\), 0 bytes`,
    ),
  );
  // The stats handed to onTransferEnd agree.
  const s = await srv.waitForTransferEnd((t) => t.direction === "write");
  assert.equal(s.peer, `127.0.0.1:${c2.addr.port}`);
  assert.equal(s.filename, "up.bin");
  assert.equal(s.bytes, 600);
  assert.deepEqual(s.options, { tsize: "600" });
  assert.equal(s.outcome, "ok");
});

// A finished transfer (or one lingering after an upload) must not block its
// peer: UEFI PXE probes and then asks again from the same port, and
// tftp-hpa's interactive client uses one port for all its commands.
Deno.test({
  name: "a PXE probe, then the real RRQ from the same port: it is served",
  fn: async () => {
    await using srv = await startServer({
      verbose: true,
      files: { "boot.efi": randomBytes(3000) },
    });
    using client = RawClient.open();
    const probe = await client.get(srv.addr, "boot.efi", {
      options: { tsize: "0" },
      ackOack: false,
    });
    await client.send(encodeError(8, "tsize only"), probe.tid!);
    await client.send(
      encodeRequest(RRQ, "boot.efi", {
        options: new Map([["blksize", "1468"]]),
      }),
      srv.addr,
    );
    const line = await srv.waitForLine(
      /RRQ "boot\.efi" octet blksize=1468$|repeated request ignored/,
    );
    assert.match(line, /RRQ "boot\.efi" octet blksize=1468$/);
  },
});

Deno.test({
  name:
    "a new RRQ right after a finished download from the same port is served",
  fn: async () => {
    await using srv = await startServer({
      verbose: true,
      files: { "a.bin": "abc", "b.bin": "def" },
    });
    using client = RawClient.open();
    const g = await client.get(srv.addr, "a.bin");
    assert.equal(g.error, undefined);
    await client.send(encodeRequest(RRQ, "b.bin"), srv.addr);
    const line = await srv.waitForLine(
      /RRQ "b\.bin" octet$|repeated request ignored/,
    );
    assert.match(line, /RRQ "b\.bin" octet$/);
  },
});

Deno.test({
  name:
    "a new request right after a finished upload from the same port is served",
  fn: async () => {
    await using srv = await startServer({
      verbose: true,
      files: { "a.bin": "abc" },
    });
    using client = RawClient.open();
    const p = await client.put(srv.addr, "up.bin", { data: randomBytes(10) });
    assert.equal(p.error, undefined);
    await client.send(encodeRequest(RRQ, "a.bin"), srv.addr);
    const line = await srv.waitForLine(
      /RRQ "a\.bin" octet$|repeated request ignored/,
    );
    assert.match(line, /RRQ "a\.bin" octet$/);
  },
});
