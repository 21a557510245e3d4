/**
 * tftpPut on the fakes, against a scripted server: streaming from an async
 * source block by block, a source of unknown size, and windows moved by the
 * server's ACKs.
 */

import assert from "node:assert/strict";
import { tftpPut } from "../../src/client/client.ts";
import {
  decode,
  encodeAck,
  encodeOack,
  Opcode,
} from "../../src/protocol/packet.ts";
import type { ReadHandle } from "../../src/storage/types.ts";
import { settle } from "../../testing/fake.ts";
import { pattern, setup, TID, writeServer } from "./fake_clock_cases.ts";

/** A handle whose reads complete asynchronously, recording each offset. */
function asyncHandle(content: Uint8Array, o: { size?: boolean } = {}) {
  const reads: number[] = [];
  const handle: ReadHandle = {
    size: o.size === false ? undefined : content.length,
    read: async (offset, buf) => {
      reads.push(offset);
      await Promise.resolve();
      const part = content.subarray(offset, offset + buf.length);
      buf.set(part);
      return part.length;
    },
    close: () => {},
  };
  return { handle, reads };
}

Deno.test("tftpPut streams from an async source: each block is read when the window reaches it", async () => {
  const content = pattern(4 * 512 + 10);
  const { handle, reads } = asyncHandle(content);
  const { transport, opts } = setup();
  const progress: [number, number | undefined][] = [];
  const p = tftpPut("f", {
    ...opts,
    source: handle,
    onProgress: (n, total) => progress.push([n, total]),
  });
  await transport.waitForSent(1);
  assert.deepEqual(reads, [], "nothing read before the server answered");
  transport.inject(encodeAck(0), TID);
  for (let b = 1; b <= 5; b++) {
    const [d] = await transport.waitForSent(b + 1, b);
    assert.equal(decode(d.data).op, Opcode.DATA);
    assert.deepEqual(
      reads,
      [0, 512, 1024, 1536, 2048].slice(0, b),
      `after DATA ${b}`,
    );
    await settle();
    assert.equal(transport.sent.length, b + 1, "one block per ACK");
    transport.inject(encodeAck(b), TID);
  }
  const result = await p;
  assert.equal(result.bytes, content.length);
  const sent = transport.sent.slice(1).map((s) => decode(s.data));
  const joined = sent.flatMap((s) => s.op === Opcode.DATA ? [...s.data] : []);
  assert.deepEqual(new Uint8Array(joined), content);
  assert.deepEqual(progress, [
    [0, 2058],
    [512, 2058],
    [1024, 2058],
    [1536, 2058],
    [2048, 2058],
    [2058, 2058],
  ]);
});

Deno.test("tftpPut from a source of unknown size announces no tsize and reports what it read", async () => {
  const content = pattern(700);
  const { handle } = asyncHandle(content, { size: false });
  const server = writeServer();
  const { transport, opts } = setup(server.serve);
  const result = await tftpPut("f", { ...opts, source: handle, tsize: true });
  assert.equal(transport.wire[0], "WRQ f octet");
  assert.equal(result.bytes, 700);
  assert.equal(server.got.reduce((n, d) => n + d.length, 0), 700);
});

Deno.test("tftpPut in windows: the server's ACK of each window moves it, a partial ACK resends the rest", async () => {
  const content = pattern(6 * 512 + 1);
  const { transport, opts } = setup();
  const p = tftpPut("f", { ...opts, data: content, windowsize: 4 });
  await transport.waitForSent(1);
  transport.inject(encodeOack(new Map([["windowsize", "4"]])), TID);
  await transport.waitForSent(5);
  transport.inject(encodeAck(2), TID); // blocks 3 and 4 were lost
  await transport.waitForSent(9);
  transport.inject(encodeAck(6), TID);
  await transport.waitForSent(10);
  transport.inject(encodeAck(7), TID);
  await p;
  assert.deepEqual(transport.wire.slice(1).map((w) => w.split(" ")[1]), [
    "1",
    "2",
    "3",
    "4",
    "3",
    "4",
    "5",
    "6",
    "7",
  ]);
});
