/**
 * MemoryStorage: what it serves with a size, ERROR 1 and 2 for missing names
 * and `..`, and uploads only when writable, collected on commit.
 */

import assert from "node:assert/strict";
import { ErrorCode } from "../../src/protocol/packet.ts";
import { MemoryStorage } from "../../src/storage/memory.ts";
import type { RequestInfo } from "../../src/storage/types.ts";
import { info, readAll, rejectsWith, te } from "./root_cases.ts";

Deno.test("root: MemoryStorage serves strings, bytes and functions with a size", async () => {
  const calls: RequestInfo[] = [];
  const s = new MemoryStorage({
    "text.txt": "héllo\n",
    "/bin/blob": new Uint8Array([0, 1, 2, 255]),
    "gen.ipxe": (i) => {
      calls.push(i);
      return `#!ipxe\necho ${i.hostname}\n`;
    },
    "async.bin": () => Promise.resolve(new Uint8Array(600).fill(9)),
  });
  const text = await s.openRead("text.txt", info);
  assert.equal(text.size, te.encode("héllo\n").length);
  assert.deepEqual(await readAll(text), te.encode("héllo\n"));

  const blob = await s.openRead("bin/blob", info);
  assert.equal(blob.size, 4);
  assert.deepEqual(await readAll(blob, 3), new Uint8Array([0, 1, 2, 255]));

  const gen = await s.openRead("gen.ipxe", { ...info, hostname: "10.0.0.7" });
  const expected = te.encode("#!ipxe\necho 10.0.0.7\n");
  assert.equal(gen.size, expected.length);
  assert.deepEqual(await readAll(gen), expected);
  assert.equal(calls.length, 1);
  assert.equal(calls[0].hostname, "10.0.0.7");

  const asy = await s.openRead("async.bin", info);
  assert.equal(asy.size, 600);
  assert.deepEqual(await readAll(asy, 512), new Uint8Array(600).fill(9));
});

Deno.test("root: MemoryStorage missing name is ERROR 1, .. is ERROR 2", async () => {
  const s = new MemoryStorage({ a: "x" });
  await rejectsWith(s.openRead("b", info), ErrorCode.FILE_NOT_FOUND, "b");
  await rejectsWith(
    s.openRead("../a", info),
    ErrorCode.ACCESS_VIOLATION,
    "../a",
  );
});

Deno.test("root: MemoryStorage refuses uploads unless writable", async () => {
  const s = new MemoryStorage({});
  assert.equal(s.writable, false);
  await rejectsWith(s.openWrite("up"), ErrorCode.ACCESS_VIOLATION, "up");
  assert.equal(s.files.size, 0);
});

Deno.test("root: writable MemoryStorage collects uploads on commit only", async () => {
  const s = new MemoryStorage({ old: "x" }, { writable: true });
  await rejectsWith(s.openWrite("old"), ErrorCode.FILE_EXISTS, "old");

  const w = await s.openWrite("dir/new.bin");
  const chunk = new Uint8Array([1, 2, 3]);
  await w.write(chunk);
  chunk[0] = 99; // the caller may reuse its buffer
  await w.write(new Uint8Array([4]));
  assert.ok(!s.files.has("dir/new.bin"), "invisible before commit");
  await w.commit();
  assert.deepEqual(s.files.get("dir/new.bin"), new Uint8Array([1, 2, 3, 4]));
  const h = await s.openRead("dir/new.bin", info);
  assert.deepEqual(await readAll(h), new Uint8Array([1, 2, 3, 4]));

  const aborted = await s.openWrite("gone");
  await aborted.write(new Uint8Array([1]));
  await aborted.abort();
  assert.ok(!s.files.has("gone"));

  const racer = await s.openWrite("race");
  s.files.set("race", "theirs");
  await rejectsWith(racer.commit(), ErrorCode.FILE_EXISTS, "race");
  assert.equal(s.files.get("race"), "theirs");
});
