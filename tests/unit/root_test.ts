import assert from "node:assert/strict";
import { ErrorCode, TftpError } from "../../src/protocol/packet.ts";
import { fsErrorToTftp, isInside } from "../../src/storage/root.ts";
import { FsStorage, TEMP_PREFIX } from "../../src/storage/files.ts";
import { MemoryStorage } from "../../src/storage/memory.ts";
import type {
  ReadHandle,
  RequestInfo,
  WriteHandle,
} from "../../src/storage/types.ts";

const te = new TextEncoder();
const info: RequestInfo = { hostname: "127.0.0.1", port: 50000, mode: "octet" };

function assertTftpError(err: unknown, code: number, what = ""): void {
  assert.ok(
    err instanceof TftpError,
    `${what}: expected TftpError, got ${err}`,
  );
  assert.equal(err.code, code, `${what}: ${err.message}`);
}

async function rejectsWith(
  p: Promise<unknown>,
  code: number,
  what: string,
): Promise<TftpError> {
  try {
    await p;
  } catch (err) {
    assertTftpError(err, code, what);
    return err as TftpError;
  }
  throw new Error(`${what}: expected TftpError ${code}, but it succeeded`);
}

/** Reads a whole handle through `read(offset, buf)` with a small buffer. */
async function readAll(h: ReadHandle, chunk = 7): Promise<Uint8Array> {
  const parts: number[] = [];
  const buf = new Uint8Array(chunk);
  for (let off = 0;;) {
    const n = await h.read(off, buf);
    if (n === 0) break;
    parts.push(...buf.subarray(0, n));
    off += n;
  }
  return new Uint8Array(parts);
}

async function writeAll(w: WriteHandle, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.length; off += 5) {
    await w.write(data.subarray(off, off + 5));
  }
}

/** Names in `dir` (not recursive). */
async function list(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** A temp dir with `root/` (served) and `outside/` next to it. */
async function withDirs(
  fn: (root: string, outside: string) => Promise<void>,
): Promise<void> {
  const base = await Deno.realPath(
    await Deno.makeTempDir({ prefix: "tftpd-root-test-" }),
  );
  const root = `${base}/root`;
  const outside = `${base}/outside`;
  await Deno.mkdir(root);
  await Deno.mkdir(outside);
  try {
    await fn(root, outside);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
}

// --- isInside ----------------------------------------------------------------

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
  const own = new TftpError(3, "full");
  assert.equal(fsErrorToTftp(own, "f"), own);
});

// --- FsStorage: reads --------------------------------------------------------

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

// --- FsStorage: writes -------------------------------------------------------

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

// --- MemoryStorage -----------------------------------------------------------

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
