/**
 * Reads confined to the root: isInside and fsErrorToTftp, and FsStorage
 * serving files, refusing missing names, directories and `..`, and symlinks
 * that lead outside.
 */

import assert from "node:assert/strict";
import { ErrorCode, TftpError } from "../../src/protocol/packet.ts";
import { fsErrorToTftp, isInside } from "../../src/storage/root.ts";
import { FsStorage } from "../../src/storage/files.ts";
import { ReadAheadPool } from "../../src/storage/handles.ts";
import { list, readAll, rejectsWith, te, withDirs } from "./root_cases.ts";

Deno.test("root: isInside accepts the root and paths below it", () => {
  assert.ok(isInside("/srv/tftp", "/srv/tftp"));
  assert.ok(isInside("/srv/tftp", "/srv/tftp/a"));
  assert.ok(isInside("/srv/tftp", "/srv/tftp/a/b/c"));
  assert.ok(isInside("/srv/tftp/", "/srv/tftp/a"));
  assert.ok(isInside("/", "/etc/passwd"));
});

Deno.test("root: isInside is not fooled by a shared prefix", () => {
  assert.ok(!isInside("/srv/tftp", "/srv/tftpx"));
  assert.ok(!isInside("/srv/tftp", "/srv/tftpx/a"));
  assert.ok(!isInside("/srv/tftp", "/srv/tft"));
  assert.ok(!isInside("/srv/tftp", "/srv"));
  assert.ok(!isInside("/srv/tftp", "/etc/passwd"));
});

Deno.test("root: fsErrorToTftp maps file-system errors to TFTP codes", () => {
  assert.equal(fsErrorToTftp(new Deno.errors.NotFound("x"), "f").code, 1);
  assert.equal(fsErrorToTftp(new Deno.errors.AlreadyExists("x"), "f").code, 6);
  assert.equal(
    fsErrorToTftp(new Deno.errors.PermissionDenied("x"), "f").code,
    2,
  );
  assert.equal(fsErrorToTftp(new Deno.errors.NotCapable("x"), "f").code, 2);
  assert.equal(fsErrorToTftp(new Error("boom"), "f").code, 0);
  const coded = (code: string) => Object.assign(new Error(code), { code });
  assert.equal(fsErrorToTftp(coded("ENOSPC"), "f").code, 3);
  assert.equal(fsErrorToTftp(coded("EDQUOT"), "f").code, 3);
  assert.deepEqual(
    { ...fsErrorToTftp(coded("EROFS"), "f") },
    { ...new TftpError(2, "f: read-only file system") },
  );
  const own = new TftpError(3, "full");
  assert.equal(fsErrorToTftp(own, "f"), own);
});
Deno.test("root: FsStorage.open refuses a missing root or a file", async () => {
  await withDirs(async (root) => {
    await Deno.writeTextFile(`${root}/f`, "x");
    await assert.rejects(FsStorage.open(`${root}/f`));
    await assert.rejects(FsStorage.open(`${root}/missing`));
    const s = await FsStorage.open(root);
    assert.equal(s.root, root);
    assert.equal(s.writable, true);
  });
});

Deno.test("root: FsStorage reads a file with its size", async () => {
  await withDirs(async (root) => {
    const content = new Uint8Array(1000).map((_, i) => (i * 7) & 0xff);
    await Deno.mkdir(`${root}/sub`);
    await Deno.writeFile(`${root}/sub/file.bin`, content);
    const s = await FsStorage.open(root);
    for (const name of ["sub/file.bin"]) {
      const h = await s.openRead(name);
      try {
        assert.equal(h.size, 1000);
        assert.deepEqual(await readAll(h), content);
        // Random access: the same offset twice, then backwards.
        const buf = new Uint8Array(10);
        assert.equal(await h.read(990, buf), 10);
        assert.deepEqual(buf, content.subarray(990));
        assert.equal(await h.read(5, buf), 10);
        assert.deepEqual(buf, content.subarray(5, 15));
        assert.equal(await h.read(1000, buf), 0);
      } finally {
        h.close();
      }
    }
  });
});

Deno.test("root: FsStorage reads an empty file", async () => {
  await withDirs(async (root) => {
    await Deno.writeFile(`${root}/empty`, new Uint8Array(0));
    const h = await (await FsStorage.open(root)).openRead("empty");
    assert.equal(h.size, 0);
    assert.equal(await h.read(0, new Uint8Array(512)), 0);
    h.close();
  });
});

Deno.test("root: FsStorage read of a missing file is ERROR 1", async () => {
  await withDirs(async (root) => {
    const s = await FsStorage.open(root);
    await rejectsWith(
      s.openRead("nope"),
      ErrorCode.FILE_NOT_FOUND,
      "nope",
    );
    await rejectsWith(
      s.openRead("nodir/nope"),
      ErrorCode.FILE_NOT_FOUND,
      "nodir/nope",
    );
  });
});

Deno.test("root: FsStorage read through a file as a directory is ERROR 1", async () => {
  await withDirs(async (root) => {
    await Deno.writeTextFile(`${root}/f`, "x");
    const s = await FsStorage.open(root);
    await rejectsWith(s.openRead("f/x"), ErrorCode.FILE_NOT_FOUND, "f/x");
  });
});

Deno.test("root: FsStorage read of a directory is ERROR 2", async () => {
  await withDirs(async (root) => {
    await Deno.mkdir(`${root}/dir`);
    const s = await FsStorage.open(root);
    await rejectsWith(
      s.openRead("dir"),
      ErrorCode.ACCESS_VIOLATION,
      "dir",
    );
    await rejectsWith(s.openRead("/"), ErrorCode.ACCESS_VIOLATION, "/");
  });
});

Deno.test("root: FsStorage refuses .. with ERROR 2", async () => {
  await withDirs(async (root, outside) => {
    await Deno.writeTextFile(`${outside}/secret`, "secret");
    const s = await FsStorage.open(root);
    for (
      const name of [
        "../outside/secret",
        "a/../../outside/secret",
      ]
    ) {
      await rejectsWith(
        s.openRead(name),
        ErrorCode.ACCESS_VIOLATION,
        name,
      );
      await rejectsWith(
        s.openWrite(name),
        ErrorCode.ACCESS_VIOLATION,
        name,
      );
    }
    assert.deepEqual(await list(outside), ["secret"]);
  });
});

Deno.test("root: FsStorage answers a symlink leading outside exactly like a missing file", async () => {
  await withDirs(async (root, outside) => {
    await Deno.writeTextFile(`${outside}/secret`, "secret");
    await Deno.symlink(`${outside}/secret`, `${root}/leak`);
    await Deno.symlink(`${outside}/nothing`, `${root}/dangling`);
    await Deno.symlink("../outside", `${root}/outdir`);
    const s = await FsStorage.open(root);
    const answer = async (name: string) => {
      const err = await s.openRead(name).then(() => undefined, (e) => e);
      assert.ok(err instanceof TftpError, `${name}: ${err}`);
      return [err.code, err.message.replace(name, "NAME")];
    };
    const missing = await answer("no-such-file");
    assert.deepEqual(missing, [
      ErrorCode.FILE_NOT_FOUND,
      "NAME: file not found",
    ]);
    for (
      const name of [
        "leak",
        "dangling",
        "outdir/secret",
        "outdir/nothing",
        "outdir/x/y",
      ]
    ) {
      assert.deepEqual(await answer(name), missing, name);
    }
    // Nor may an upload go through a directory symlink leading out; it is
    // answered like a missing directory.
    await Deno.mkdir(`${root}/real`);
    const up = async (name: string) => {
      const err = await s.openWrite(name).then(() => undefined, (e) => e);
      assert.ok(err instanceof TftpError, `${name}: ${err}`);
      return [err.code, err.message.replace(name, "NAME")];
    };
    const noDir = await up("nodir/new");
    assert.equal(noDir[0], ErrorCode.ACCESS_VIOLATION);
    assert.deepEqual(await up("outdir/new"), noDir);
    assert.deepEqual(await list(outside), ["secret"]);
  });
});

Deno.test("root: FsStorage follows a symlink that stays inside the root", async () => {
  await withDirs(async (root) => {
    await Deno.mkdir(`${root}/real`);
    await Deno.writeTextFile(`${root}/real/file.txt`, "hello");
    await Deno.symlink("real/file.txt", `${root}/alias`);
    await Deno.symlink("real", `${root}/dirlink`);
    const s = await FsStorage.open(root);
    for (const name of ["alias", "dirlink/file.txt"]) {
      const h = await s.openRead(name);
      assert.equal(h.size, 5);
      assert.deepEqual(await readAll(h), te.encode("hello"));
      h.close();
    }
  });
});

Deno.test("root: FsStorage serves from a root reached through a symlink", async () => {
  await withDirs(async (root, outside) => {
    await Deno.writeTextFile(`${root}/f`, "via link");
    const link = `${outside}/rootlink`;
    await Deno.symlink(root, link);
    const s = await FsStorage.open(link);
    assert.equal(s.root, root, "the root is resolved");
    const h = await s.openRead("f");
    assert.deepEqual(await readAll(h), te.encode("via link"));
    h.close();
  });
});

Deno.test("root: a read-ahead buffer handed on from a closed file never shows its bytes", async () => {
  await withDirs(async (root) => {
    await Deno.writeFile(`${root}/big.bin`, new Uint8Array(70000).fill(0xaa));
    await Deno.writeFile(`${root}/small.bin`, new Uint8Array(100).fill(0x55));
    const s = await FsStorage.open(root);
    const block = new Uint8Array(512);
    const big = await s.openRead("big.bin");
    assert.equal(await big.read(0, block), 512);
    big.close();
    for (let i = 0; i < 3; i++) {
      const small = await s.openRead("small.bin");
      block.fill(0);
      assert.equal(await small.read(0, block), 100);
      assert.deepEqual(block.subarray(0, 100), new Uint8Array(100).fill(0x55));
      assert.deepEqual(block.subarray(100), new Uint8Array(412));
      assert.equal(await small.read(100, block), 0);
      small.close();
    }
  });
});

Deno.test("root: ReadAheadPool hands back given buffers and keeps at most 16", () => {
  const pool = new ReadAheadPool();
  const taken = Array.from({ length: 20 }, () => pool.take());
  assert.equal(new Set(taken).size, 20);
  assert.ok(taken.every((b) => b.length === 65536));
  for (const b of taken) pool.give(b);
  const again = Array.from({ length: 20 }, () => pool.take());
  const reused = again.filter((b) => taken.includes(b));
  assert.equal(reused.length, 16);
});
