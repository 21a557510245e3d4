/**
 * Integration: whole transfers over 127.0.0.1 against an in-process server,
 * scripted with a raw UDP client: octet and netascii both ways, mode names,
 * refused modes (ERROR 4) and a missing file (ERROR 1).
 */

import assert from "node:assert/strict";
import {
  encodeError,
  encodeRequest,
  ErrorCode,
} from "../../src/protocol/packet.ts";
import { startServer } from "../../testing/server.ts";
import {
  getFile,
  netasciiOf,
  putFile,
  randomBytes,
  RawClient,
} from "../../testing/raw_client.ts";
import { expectData, expectError, RRQ, text, WRQ } from "./transfer_cases.ts";

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
