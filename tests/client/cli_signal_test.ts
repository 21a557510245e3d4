/**
 * SIGINT, SIGTERM and SIGHUP while `tftp get` or `tftp put` runs, sent by
 * PID to the client process once a raw fake server has seen the transfer
 * under way: the server gets one ERROR 0 from the transfer's socket, the
 * command removes its own temporary file (never the target), prints one
 * line and exits 130, 143 or 129.
 */

import assert from "node:assert/strict";
import { encodeData, ErrorCode, Opcode } from "../../src/protocol/packet.ts";
import { RawClient } from "../../testing/raw_client.ts";
import { randomBytes } from "../../testing/bytes.ts";
import { listDir, spawnTftp, workDir } from "./run_tftp.ts";

const SIGNALS = [
  ["SIGINT", 130],
  ["SIGTERM", 143],
  ["SIGHUP", 129],
] as const;

/** Expects the one ERROR 0 a cancelled transfer sends, and nothing after. */
async function expectCancelError(tid: RawClient): Promise<void> {
  const { packet } = await tid.expect();
  assert.equal(packet.op, Opcode.ERROR, `got opcode ${packet.op}`);
  if (packet.op !== Opcode.ERROR) return;
  assert.equal(packet.code, ErrorCode.NOT_DEFINED);
  assert.equal(packet.message, "transfer cancelled");
}

for (const [signal, status] of SIGNALS) {
  Deno.test(`${signal} during get: ERROR 0 to the server, .part- file removed, target untouched, exit ${status}`, async () => {
    using listen = RawClient.open();
    using tid = RawClient.open();
    await using cwd = await workDir();
    await Deno.writeTextFile(`${cwd.path}/a`, "old");
    const run = spawnTftp(["get", `127.0.0.1:${listen.port}`, "a", "a"], {
      cwd: cwd.path,
    });
    const rrq = await listen.expect();
    assert.equal(rrq.packet.op, Opcode.RRQ);
    await tid.send(encodeData(1, randomBytes(512)), rrq.from);
    // ACK 1 comes after block 1 went into the temporary file.
    assert.deepEqual((await tid.expect()).packet, { op: Opcode.ACK, block: 1 });
    const during = await listDir(cwd.path);
    assert.equal(during.length, 2, during.join());
    assert.match(during[1], /^a\.part-\d+$/);
    Deno.kill(run.pid, signal);
    await expectCancelError(tid);
    const r = await run.done;
    assert.equal(r.code, status, r.stderr);
    assert.equal(r.stderr, `tftp: ${signal} received: transfer cancelled\n`);
    assert.deepEqual(await listDir(cwd.path), ["a"]);
    assert.equal(await Deno.readTextFile(`${cwd.path}/a`), "old");
    assert.equal(await tid.receiveRaw(100), undefined, "one ERROR only");
    assert.equal(await listen.receiveRaw(100), undefined);
  });

  Deno.test(`${signal} during put: ERROR 0 to the server, local file untouched, exit ${status}`, async () => {
    using listen = RawClient.open();
    using tid = RawClient.open();
    await using cwd = await workDir();
    const data = randomBytes(5000);
    await Deno.writeFile(`${cwd.path}/up`, data);
    const run = spawnTftp(["put", `127.0.0.1:${listen.port}`, "up"], {
      cwd: cwd.path,
    });
    const wrq = await listen.expect();
    assert.equal(wrq.packet.op, Opcode.WRQ);
    await tid.ack(wrq.from, 0);
    const first = await tid.expect();
    assert.equal(first.packet.op, Opcode.DATA);
    Deno.kill(run.pid, signal);
    await expectCancelError(tid);
    const r = await run.done;
    assert.equal(r.code, status, r.stderr);
    assert.equal(r.stderr, `tftp: ${signal} received: transfer cancelled\n`);
    assert.deepEqual(await listDir(cwd.path), ["up"]);
    assert.deepEqual(await Deno.readFile(`${cwd.path}/up`), data);
  });
}

Deno.test("SIGINT before the server answered: nothing but the request is sent, no file left, exit 130", async () => {
  using listen = RawClient.open();
  await using cwd = await workDir();
  const run = spawnTftp(["get", `127.0.0.1:${listen.port}`, "a"], {
    cwd: cwd.path,
  });
  assert.equal((await listen.expect()).packet.op, Opcode.RRQ);
  Deno.kill(run.pid, "SIGINT");
  const r = await run.done;
  assert.equal(r.code, 130, r.stderr);
  assert.equal(r.stderr, "tftp: SIGINT received: transfer cancelled\n");
  assert.deepEqual(await listDir(cwd.path), []);
  // The process is gone: whatever it sent is queued, and it is at most a
  // retransmitted request, never an ERROR to the listen port.
  for (const { packet } of await listen.drain(100, 10)) {
    assert.equal(packet.op, Opcode.RRQ);
  }
});
