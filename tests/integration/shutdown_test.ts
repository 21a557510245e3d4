/**
 * Integration over 127.0.0.1 with a raw UDP client: what a client in the
 * middle of a transfer sees when the server shuts down (an ERROR at once,
 * not silence until its retries run out), in every way a transfer can run.
 */

import assert from "node:assert/strict";
import {
  encodeData,
  encodeRequest,
  Opcode,
} from "../../src/protocol/packet.ts";
import { startServer, type TestServerOptions } from "../../testing/server.ts";
import {
  randomBytes,
  RawClient,
  type ReceivedPacket,
} from "../../testing/raw_client.ts";
import { expectAck, expectData, RRQ, WRQ } from "./transfer_cases.ts";

function assertShutdownError(r: ReceivedPacket | undefined, from: number) {
  assert.ok(r, "expected an ERROR, got nothing");
  assert.deepEqual(r.packet, {
    op: Opcode.ERROR,
    code: 0,
    message: "server shutdown",
  });
  assert.equal(r.from.port, from, "the ERROR comes from the transfer's port");
}

const settings: [string, TestServerOptions["server"]][] = [
  ["a port per transfer", {}],
  ["--single-port", { singlePort: true }],
];

for (const [name, server] of settings) {
  Deno.test(`shutdown: a client mid-download gets ERROR 0 (${name})`, async () => {
    await using srv = await startServer({
      ackTimeout: 5,
      fixedInterval: true,
      files: { "a.bin": randomBytes(5000) },
      server,
    });
    using client = RawClient.open();
    await client.send(encodeRequest(RRQ, "a.bin"), srv.addr);
    const d1 = await expectData(client, 1);
    await srv.server.close();
    assertShutdownError(await client.receive(), d1.from.port);
    assert.deepEqual(await client.drain(200), []);
    const s = await srv.waitForTransferEnd();
    assert.equal(s.outcome, "cancelled");
    assert.equal(s.error, "server shutdown");
  });

  Deno.test(`shutdown: a client mid-upload gets ERROR 0, no file (${name})`, async () => {
    await using srv = await startServer({
      ackTimeout: 5,
      fixedInterval: true,
      server,
    });
    using client = RawClient.open();
    await client.send(encodeRequest(WRQ, "up.bin"), srv.addr);
    const a0 = await expectAck(client, 0);
    await client.send(encodeData(1, randomBytes(512)), a0.from);
    await expectAck(client, 1);
    await srv.server.close();
    assertShutdownError(await client.receive(), a0.from.port);
    assert.equal((await srv.waitForTransferEnd()).outcome, "cancelled");
    assert.deepEqual(await srv.listFiles(), []);
  });
}

Deno.test("shutdown: a finished upload that waits for a repeated last block is not told", async () => {
  await using srv = await startServer({ ackTimeout: 5, fixedInterval: true });
  using client = RawClient.open();
  await client.send(encodeRequest(WRQ, "done.bin"), srv.addr);
  const a0 = await expectAck(client, 0);
  await client.send(encodeData(1, new Uint8Array([1, 2, 3])), a0.from);
  await expectAck(client, 1);
  assert.equal((await srv.waitForTransferEnd()).outcome, "ok");
  await srv.server.close();
  assert.deepEqual(await client.drain(200), []);
  assert.deepEqual(await srv.listFiles(), ["done.bin"]);
});

Deno.test("shutdown: a download in a worker thread gets ERROR 0", async () => {
  await using srv = await startServer({
    ackTimeout: 5,
    fixedInterval: true,
    files: { "w.bin": randomBytes(5000) },
    server: { workers: 1, workersStart: "listen" },
  });
  await srv.server.startWorkers();
  using client = RawClient.open();
  await client.send(encodeRequest(RRQ, "w.bin"), srv.addr);
  const d1 = await expectData(client, 1);
  await srv.server.close();
  assertShutdownError(await client.receive(), d1.from.port);
  assert.equal((await srv.waitForTransferEnd()).outcome, "cancelled");
});
