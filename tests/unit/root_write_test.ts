/**
 * FsStorage uploads: invisible until commit, never overwriting (ERROR 6),
 * never creating directories, leaving nothing behind on abort, and refused
 * when read-only.
 */

import assert from "node:assert/strict";
import { ErrorCode } from "../../src/protocol/packet.ts";
import { FsStorage, TEMP_PREFIX } from "../../src/storage/files.ts";
import {
  exists,
  list,
  rejectsWith,
  te,
  withDirs,
  writeAll,
} from "./root_cases.ts";

Deno.test("root: FsStorage upload is invisible until commit, then published", async () => {
  await withDirs(async (root) => {
    const s = await FsStorage.open(root);
    const data = te.encode("uploaded content\n".repeat(20));
    const w = await s.openWrite("new.txt");
    await writeAll(w, data);
    assert.ok(!(await exists(`${root}/new.txt`)), "not visible before commit");
    await w.commit();
    assert.deepEqual(await Deno.readFile(`${root}/new.txt`), data);
    assert.deepEqual(await list(root), ["new.txt"], "no temp file left");
  });
});

Deno.test("root: FsStorage upload into an existing subdirectory", async () => {
  await withDirs(async (root) => {
    await Deno.mkdir(`${root}/sub`);
    const s = await FsStorage.open(root);
    const w = await s.openWrite("sub/up.bin");
    await w.write(new Uint8Array([1, 2, 3]));
    await w.commit();
    assert.deepEqual(
      await Deno.readFile(`${root}/sub/up.bin`),
      new Uint8Array([1, 2, 3]),
    );
    assert.deepEqual(await list(`${root}/sub`), ["up.bin"]);
  });
});

Deno.test("root: FsStorage empty upload publishes an empty file", async () => {
  await withDirs(async (root) => {
    const s = await FsStorage.open(root);
    const w = await s.openWrite("empty");
    await w.commit();
    assert.equal((await Deno.stat(`${root}/empty`)).size, 0);
    assert.deepEqual(await list(root), ["empty"]);
  });
});

Deno.test("root: FsStorage refuses to overwrite an existing file (ERROR 6)", async () => {
  await withDirs(async (root) => {
    await Deno.writeTextFile(`${root}/taken`, "original");
    const s = await FsStorage.open(root);
    await rejectsWith(
      s.openWrite("taken"),
      ErrorCode.FILE_EXISTS,
      "taken",
    );
    assert.equal(await Deno.readTextFile(`${root}/taken`), "original");
    assert.deepEqual(await list(root), ["taken"]);
  });
});

Deno.test("root: FsStorage refuses to write through a dangling symlink (ERROR 6)", async () => {
  await withDirs(async (root, outside) => {
    await Deno.symlink(`${outside}/created`, `${root}/dangling`);
    const s = await FsStorage.open(root);
    await rejectsWith(
      s.openWrite("dangling"),
      ErrorCode.FILE_EXISTS,
      "dangling",
    );
    assert.deepEqual(await list(outside), [], "nothing created outside");
    assert.deepEqual(await list(root), ["dangling"]);
  });
});

Deno.test("root: FsStorage upload to a missing directory is ERROR 2, no dir created", async () => {
  await withDirs(async (root) => {
    const s = await FsStorage.open(root);
    const err = await rejectsWith(
      s.openWrite("newdir/file"),
      ErrorCode.ACCESS_VIOLATION,
      "newdir/file",
    );
    assert.match(err.message, /director/);
    await rejectsWith(
      s.openWrite("a/b/c/file"),
      ErrorCode.ACCESS_VIOLATION,
      "a/b/c/file",
    );
    assert.deepEqual(await list(root), []);
  });
});

Deno.test("root: FsStorage abort leaves nothing behind", async () => {
  await withDirs(async (root) => {
    await Deno.mkdir(`${root}/sub`);
    const s = await FsStorage.open(root);
    const w = await s.openWrite("sub/partial.bin");
    await writeAll(w, new Uint8Array(4096).fill(1));
    await w.abort();
    assert.deepEqual(await list(`${root}/sub`), []);
    // Abort twice is harmless.
    await w.abort();
    assert.deepEqual(await list(root), ["sub"]);
  });
});

Deno.test("root: FsStorage commit when the target appeared meanwhile is ERROR 6", async () => {
  await withDirs(async (root) => {
    const s = await FsStorage.open(root);
    const w = await s.openWrite("race.txt");
    await w.write(te.encode("mine"));
    await Deno.writeTextFile(`${root}/race.txt`, "theirs");
    await rejectsWith(w.commit(), ErrorCode.FILE_EXISTS, "race.txt");
    assert.equal(await Deno.readTextFile(`${root}/race.txt`), "theirs");
    assert.deepEqual(await list(root), ["race.txt"], "no temp file left");
  });
});

Deno.test("root: FsStorage temporary names are neither readable nor writable", async () => {
  await withDirs(async (root) => {
    const s = await FsStorage.open(root);
    const w = await s.openWrite("x");
    const [tmp] = (await list(root)).filter((n) => n.startsWith(TEMP_PREFIX));
    assert.ok(tmp, "a temp file exists during the upload");
    // The name pipeline answers reads of reserved names like missing
    // files; storage itself refuses what the pipeline never gives it.
    await rejectsWith(s.openRead(tmp), ErrorCode.ACCESS_VIOLATION, tmp);
    await rejectsWith(
      s.openWrite(`${TEMP_PREFIX}y`),
      ErrorCode.ACCESS_VIOLATION,
      "reserved",
    );
    await w.abort();
    assert.deepEqual(await list(root), []);
  });
});

Deno.test("root: read-only FsStorage refuses uploads with ERROR 2", async () => {
  await withDirs(async (root) => {
    const s = await FsStorage.open(root, { writable: false });
    assert.equal(s.writable, false);
    await rejectsWith(s.openWrite("f"), ErrorCode.ACCESS_VIOLATION, "f");
    assert.deepEqual(await list(root), []);
  });
});
