/**
 * The client command as a process against a scripted fake server (raw
 * UDP): what it sends in answer to replies real servers make that ours
 * does not, such as an OACK with no options.
 */

import assert from "node:assert/strict";
import { encodeData, encodeOack, Opcode } from "../../src/protocol/packet.ts";
import { RawClient } from "../../testing/raw_client.ts";
import { randomBytes } from "../../testing/bytes.ts";
import { listDir, runTftp, workDir } from "./run_tftp.ts";

const EMPTY_OACK = encodeOack(new Map());

Deno.test("get: an empty OACK means no option accepted: ACK 0, 512-byte blocks, exit 0", async () => {
  using listen = RawClient.open();
  using tid = RawClient.open();
  await using cwd = await workDir();
  const data = randomBytes(700);
  const run = runTftp(["get", "-b", "1024", `127.0.0.1:${listen.port}`, "a"], {
    cwd: cwd.path,
  });
  const rrq = await listen.expect();
  assert.equal(rrq.packet.op, Opcode.RRQ);
  assert.deepEqual(EMPTY_OACK, new Uint8Array([0, 6]));
  await tid.send(EMPTY_OACK, rrq.from);
  for (
    const [block, part] of [[1, data.subarray(0, 512)], [
      2,
      data.subarray(512),
    ]] as const
  ) {
    const { packet } = await tid.expect();
    assert.deepEqual(packet, { op: Opcode.ACK, block: block - 1 });
    await tid.send(encodeData(block, part), rrq.from);
  }
  assert.deepEqual((await tid.expect()).packet, { op: Opcode.ACK, block: 2 });
  const r = await run;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, "");
  assert.deepEqual(await listDir(cwd.path), ["a"]);
  assert.deepEqual(await Deno.readFile(`${cwd.path}/a`), data);
  // Nothing went to the listen port after the request: no ERROR 5.
  assert.equal(await listen.receive(100), undefined);
});

Deno.test("put: an empty OACK means no option accepted: DATA 1 of 512 bytes, exit 0", async () => {
  using listen = RawClient.open();
  using tid = RawClient.open();
  await using cwd = await workDir();
  const data = randomBytes(700);
  await Deno.writeFile(`${cwd.path}/up`, data);
  const run = runTftp(["put", "-b", "1024", `127.0.0.1:${listen.port}`, "up"], {
    cwd: cwd.path,
  });
  const wrq = await listen.expect();
  assert.equal(wrq.packet.op, Opcode.WRQ);
  await tid.send(EMPTY_OACK, wrq.from);
  const got: Uint8Array[] = [];
  for (const block of [1, 2]) {
    const { packet } = await tid.expect();
    assert.equal(packet.op, Opcode.DATA);
    if (packet.op !== Opcode.DATA) return;
    assert.equal(packet.block, block);
    got.push(packet.data.slice());
    await tid.ack(wrq.from, block);
  }
  assert.deepEqual(got.map((g) => g.length), [512, 188]);
  const r = await run;
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(new Uint8Array([...got[0], ...got[1]]), data);
  assert.equal(await listen.receive(100), undefined);
});
