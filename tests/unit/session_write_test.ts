/**
 * A WriteSession over a fake transport and clock: lock-step and windowed
 * writes, timeouts, duplicates, aborts that leave nothing stored, refusals
 * (ERROR 2, 3, 4, 6), and the block number rollover.
 */

import assert from "node:assert/strict";
import { encodeError, ErrorCode } from "../../src/protocol/packet.ts";
import { MemoryStorage } from "../../src/storage/memory.ts";
import { FsStorage } from "../../src/storage/files.ts";
import type { Storage, WriteHandle } from "../../src/storage/types.ts";
import { elapse } from "../../testing/fake.ts";
import {
  data,
  ended,
  expectAck,
  expectError,
  expectOack,
  pattern,
  PEER,
  start,
  summary,
} from "./session_cases.ts";

Deno.test("session: lock-step write with a final block, published on completion", async () => {
  const storage = new MemoryStorage({}, { writable: true });
  const content = pattern(612);
  const h = start("write", "up.bin", storage);
  const t = h.transport;
  expectAck((await t.waitForSent(1))[0], 0);
  data(h, 1, content.subarray(0, 512));
  expectAck((await t.waitForSent(2))[1], 1);
  assert.ok(!storage.files.has("up.bin"), "not visible before the end");
  data(h, 2, content.subarray(512));
  expectAck((await t.waitForSent(3))[2], 2);
  const stats = await h.session.stats;
  assert.equal(stats.outcome, "ok");
  assert.equal(stats.bytes, 612);
  assert.equal(stats.direction, "write");
  assert.deepEqual(storage.files.get("up.bin"), content);
  assert.match(
    summary(h).line,
    /\[INFO\] .*WRQ "up\.bin" octet: ok, 612 bytes/,
  );

  // Lingering: our last ACK was lost, the client sends block 2 again.
  assert.equal(t.closed, false);
  data(h, 2, content.subarray(512));
  expectAck((await t.waitForSent(4))[3], 2);
  await elapse(h.clock, 3000);
  await ended(h);
  assert.equal(t.sent.length, 4);
  assert.equal(
    h.lines.filter((l) => /: ok/.test(l.line)).length,
    1,
    "one summary",
  );
});

Deno.test("session: write of an exact multiple ends with an empty block", async () => {
  const storage = new MemoryStorage({}, { writable: true });
  const content = pattern(1024);
  const h = start("write", "x", storage);
  const t = h.transport;
  await t.waitForSent(1);
  data(h, 1, content.subarray(0, 512));
  await t.waitForSent(2);
  data(h, 2, content.subarray(512));
  await t.waitForSent(3);
  assert.ok(!storage.files.has("x"), "a full block is not the end");
  data(h, 3, new Uint8Array(0));
  expectAck((await t.waitForSent(4))[3], 3);
  assert.deepEqual(storage.files.get("x"), content);
  await elapse(h.clock, 3000);
  assert.equal((await ended(h)).outcome, "ok");
});

Deno.test("session: write with OACK and a window", async () => {
  const storage = new MemoryStorage({}, { writable: true });
  const content = pattern(8 * 10 + 5);
  const h = start("write", "w", storage, {
    options: [["blksize", "8"], ["windowsize", "4"], [
      "tsize",
      String(content.length),
    ]],
  });
  const t = h.transport;
  expectOack((await t.waitForSent(1))[0], [
    ["blksize", "8"],
    ["windowsize", "4"],
    ["tsize", "85"],
  ]);
  for (let b = 1; b <= 11; b++) {
    data(h, b, content.subarray((b - 1) * 8, b * 8));
  }
  const acks = await t.waitForSent(4, 1);
  expectAck(acks[0], 4);
  expectAck(acks[1], 8);
  expectAck(acks[2], 11);
  assert.deepEqual(storage.files.get("w"), content);
  await elapse(h.clock, 3000);
  assert.equal((await ended(h)).outcome, "ok");
  assert.equal(t.sent.length, 4);
});

Deno.test("session: write timeout resends ACK 0 (or the OACK) and gives up", async () => {
  const storage = new MemoryStorage({}, { writable: true });
  const h = start("write", "x", storage, {
    config: { maxRetries: 3, connTimeout: 100 },
  });
  await h.transport.waitForSent(1);
  await elapse(h.clock, 60_000);
  const stats = await ended(h);
  assert.equal(stats.outcome, "timeout");
  assert.equal(h.transport.sent.length, 4);
  for (const d of h.transport.sent) expectAck(d, 0);
  assert.equal(storage.files.size, 0);

  const h2 = start("write", "y", storage, { options: [["blksize", "1024"]] });
  await h2.transport.waitForSent(1);
  await elapse(h2.clock, 60_000);
  assert.equal((await ended(h2)).outcome, "timeout");
  assert.equal(h2.transport.sent.length, 6, "defaults: 3 s at 0.5 s");
  for (const d of h2.transport.sent) expectOack(d, [["blksize", "1024"]]);
});

Deno.test("session: write re-ACKs duplicates and the ACK resets the timer", async () => {
  const storage = new MemoryStorage({}, { writable: true });
  const h = start("write", "x", storage);
  const t = h.transport;
  await t.waitForSent(1);
  data(h, 1, pattern(512));
  await t.waitForSent(2);
  data(h, 1, pattern(512));
  data(h, 1, pattern(512));
  const dups = await t.waitForSent(4, 2);
  expectAck(dups[0], 1);
  expectAck(dups[1], 1);
  data(h, 2, pattern(10));
  await t.waitForSent(5);
  assert.deepEqual(
    storage.files.get("x"),
    new Uint8Array([...pattern(512), ...pattern(10)]),
  );
  await elapse(h.clock, 3000);
  await ended(h);
});

Deno.test("session: write aborted by the client leaves nothing in the storage", async () => {
  const storage = new MemoryStorage({}, { writable: true });
  const h = start("write", "up.bin", storage);
  const t = h.transport;
  await t.waitForSent(1);
  data(h, 1, pattern(512));
  await t.waitForSent(2);
  t.inject(encodeError(ErrorCode.NOT_DEFINED, "user cancelled"), PEER);
  const stats = await ended(h);
  assert.equal(stats.outcome, "aborted");
  assert.equal(storage.files.size, 0);
  assert.equal(t.sent.length, 2);
  assert.equal(summary(h).level, "warning");
});

Deno.test("session: aborted write calls abort, never commit", async () => {
  const calls: string[] = [];
  const inner: Storage = new MemoryStorage({}, { writable: true });
  const storage: Storage = {
    openRead: (n, i) => inner.openRead(n, i),
    async openWrite(name, i): Promise<WriteHandle> {
      const w = await inner.openWrite(name, i);
      return {
        write: (d) => {
          calls.push(`write ${d.length}`);
          return w.write(d);
        },
        commit: () => {
          calls.push("commit");
          return w.commit();
        },
        abort: () => {
          calls.push("abort");
          return w.abort();
        },
      };
    },
  };
  const h = start("write", "x", storage);
  await h.transport.waitForSent(1);
  data(h, 1, pattern(512));
  await h.transport.waitForSent(2);
  h.session.cancel();
  assert.equal((await ended(h)).outcome, "cancelled");
  assert.deepEqual(calls, ["write 512", "abort"]);
});

Deno.test("session: aborted write on the file system leaves no file and no temp file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tftpd-session-test-" });
  try {
    const fs: Storage = await FsStorage.open(dir);
    // The file system does real I/O: wait for the upload to be opened (a
    // signal) before expecting the ACK, which then follows in microtasks.
    let opened!: () => void;
    const isOpen = new Promise<void>((r) => opened = r);
    const storage: Storage = {
      openRead: (n, i) => fs.openRead(n, i),
      openWrite: (n, i) => fs.openWrite(n, i).finally(opened),
    };
    const h = start("write", "up.bin", storage);
    await isOpen;
    await h.transport.waitForSent(1);
    data(h, 1, pattern(512));
    await h.transport.waitForSent(2);
    h.transport.inject(encodeError(0, "bye"), PEER);
    assert.equal((await h.run).outcome, "aborted");
    await ended(h);
    const names: string[] = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assert.deepEqual(names, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("session: write to an existing name is ERROR 6, read-only is ERROR 2", async () => {
  const h = start(
    "write",
    "taken",
    new MemoryStorage({ taken: "x" }, { writable: true }),
  );
  await h.run;
  expectError(h.transport.sent[0], ErrorCode.FILE_EXISTS);
  await ended(h);
  const r = start("write", "new", new MemoryStorage({}));
  await r.run;
  expectError(r.transport.sent[0], ErrorCode.ACCESS_VIOLATION);
  await ended(r);
});

Deno.test("session: oversized DATA is ERROR 4 and nothing is stored", async () => {
  const storage = new MemoryStorage({}, { writable: true });
  const h = start("write", "x", storage);
  await h.transport.waitForSent(1);
  data(h, 1, pattern(513));
  const stats = await h.run;
  assert.equal(stats.outcome, "error");
  expectError(h.transport.sent[1], ErrorCode.ILLEGAL_OPERATION);
  assert.equal(storage.files.size, 0);
  await ended(h);
});

Deno.test("session: uploads over maxUpload are refused with ERROR 3", async () => {
  const storage = new MemoryStorage({}, { writable: true });
  // Announced too large in tsize: refused before any data.
  const a = start("write", "a", storage, {
    options: [["tsize", "2000"]],
    config: { maxUpload: 1000 },
  });
  await a.run;
  assert.equal(a.transport.sent.length, 1);
  expectError(a.transport.sent[0], ErrorCode.DISK_FULL);
  await ended(a);
  // Not announced: refused when the data goes past the limit.
  const b = start("write", "b", storage, { config: { maxUpload: 1000 } });
  await b.transport.waitForSent(1);
  data(b, 1, pattern(512));
  await b.transport.waitForSent(2);
  data(b, 2, pattern(512));
  await b.run;
  expectError(b.transport.sent[2], ErrorCode.DISK_FULL);
  await ended(b);
  assert.equal(storage.files.size, 0);
});

Deno.test("session: windowed write across block number rollover", async () => {
  const storage = new MemoryStorage({}, { writable: true });
  const blocks = 65538;
  const content = pattern(8 * (blocks - 1) + 3, 5);
  const h = start("write", "big", storage, {
    options: [["blksize", "8"], ["windowsize", "64"]],
  });
  const t = h.transport;
  await t.waitForSent(1);
  let sent = 0;
  let acks = 0;
  while (sent < blocks) {
    const top = Math.min(sent + 64, blocks);
    for (let b = sent + 1; b <= top; b++) {
      data(h, b & 0xffff, content.subarray((b - 1) * 8, b * 8));
    }
    sent = top;
    acks++;
    const [a] = await t.waitForSent(1 + acks, acks);
    expectAck(a, sent & 0xffff);
  }
  assert.deepEqual(storage.files.get("big"), content);
  await elapse(h.clock, 3000);
  assert.equal((await ended(h)).outcome, "ok");
});
