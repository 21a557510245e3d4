/**
 * Integration over 127.0.0.1 with a raw UDP client: how transfers end: a
 * client's ERROR or probe, the re-ACK after an upload's final ACK, repeated
 * requests, and final blocks of every short length.
 */

import assert from "node:assert/strict";
import {
  encodeAck,
  encodeData,
  encodeError,
  encodeRequest,
} from "../../src/protocol/packet.ts";
import { startServer } from "../../testing/server.ts";
import {
  getFile,
  putFile,
  randomBytes,
  RawClient,
} from "../../testing/raw_client.ts";
import { expectAck, expectData, RRQ, text, WRQ } from "./transfer_cases.ts";

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
