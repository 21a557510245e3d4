/**
 * Integration over 127.0.0.1 with a raw UDP client: a stranger on a transfer
 * port, duplicate ACKs, and the server's retransmits and giving up when its
 * peer goes silent.
 */

import assert from "node:assert/strict";
import {
  encodeAck,
  encodeRequest,
  ErrorCode,
  Opcode,
} from "../../src/protocol/packet.ts";
import { startServer } from "../../testing/server.ts";
import { concat } from "../../testing/bytes.ts";
import { randomBytes, RawClient } from "../../testing/raw_client.ts";
import { expectData, expectError, RRQ, WRQ } from "./transfer_cases.ts";

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
