/**
 * File storage's bounds and refusals, observed through the file-system
 * call seam (`src/storage/sys.ts`): how many calls a request costs (not
 * how long it takes), that special files are refused without blocking even
 * when swapped in after the check, that the case-insensitive index is
 * reused, invalidated and bounded, and what the start-up sweep removes.
 */

import assert from "node:assert/strict";
import { withRootAndOutside } from "../../testing/server.ts";
import { ErrorCode, TftpError } from "../../src/protocol/packet.ts";
import { DirIndex } from "../../src/storage/dir_index.ts";
import { FsStorage } from "../../src/storage/files.ts";
import { openRootStorage } from "../../src/storage/fs_root.ts";
import {
  removeStaleUploads,
  STALE_UPLOAD_MS,
} from "../../src/storage/sweep.ts";

const HOUR_MS = 3_600_000;
import { type FsCalls, realFsCalls } from "../../src/storage/sys.ts";
import { Logger } from "../../src/log.ts";

/** Real calls, counted by name. */
function countingCalls(): { calls: FsCalls; counts: Map<string, number> } {
  const real = realFsCalls();
  const counts = new Map<string, number>();
  const calls = {} as Record<string, unknown>;
  for (const [k, fn] of Object.entries(real)) {
    calls[k] = (...args: unknown[]) => {
      counts.set(k, (counts.get(k) ?? 0) + 1);
      return (fn as (...a: unknown[]) => unknown)(...args);
    };
  }
  return { calls: calls as unknown as FsCalls, counts };
}

function total(counts: Map<string, number>): number {
  return [...counts.values()].reduce((a, b) => a + b, 0);
}

async function code(p: Promise<unknown>): Promise<number | "ok"> {
  try {
    const h = await p as { close?: () => void; abort?: () => Promise<void> };
    h.close?.();
    await h.abort?.();
    return "ok";
  } catch (err) {
    assert.ok(err instanceof TftpError, String(err));
    return err.code;
  }
}

/** A time well in the past, so directory listings are trusted at once. */
const PAST = new Date(Date.now() - 3600_000);

Deno.test("FsStorage ignoreCase: misses in a 20,000-entry directory list it once", async () => {
  await withRootAndOutside(async (root) => {
    await Deno.mkdir(`${root}/big`);
    for (let i = 0; i < 20_000; i++) {
      Deno.writeTextFileSync(`${root}/big/file-${i}.bin`, "");
    }
    await Deno.utime(`${root}/big`, PAST, PAST);
    const { calls, counts } = countingCalls();
    const s = new FsStorage(root, { ignoreCase: true, calls });
    for (let i = 0; i < 100; i++) {
      assert.equal(await code(s.openRead(`big/NOPE-${i}.bin`)), 1);
    }
    assert.equal(counts.get("readDir"), 1, "one listing for 100 misses");
    assert.ok(total(counts) <= 100 * 8, `${total(counts)} calls`);
    counts.clear();
    const h = await s.openRead("BIG/FILE-19999.BIN");
    assert.equal(h.size, 0);
    h.close();
    assert.equal(counts.get("readDir") ?? 0, 1, "the root listed once");
  });
});

Deno.test("FsStorage ignoreCase: the work per request is linear in the segments", async () => {
  await withRootAndOutside(async (root) => {
    let dir = root;
    for (let i = 0; i < 31; i++) {
      dir += "/x";
      await Deno.mkdir(dir);
    }
    await Deno.writeTextFile(`${dir}/y`, "deep");
    for (let d = dir; d.length >= root.length; d = d.slice(0, -2)) {
      await Deno.utime(d, PAST, PAST);
    }
    const { calls, counts } = countingCalls();
    const s = new FsStorage(root, { ignoreCase: true, calls });
    const exact = "x/".repeat(31) + "y";
    const h = await s.openRead(exact);
    h.close();
    assert.ok(total(counts) <= 4 * 32 + 8, `${total(counts)} calls exact`);
    assert.equal(counts.get("readDir") ?? 0, 0);
    counts.clear();
    // Every segment in another case: one listing per directory, once.
    const folded = "X/".repeat(31) + "Y";
    for (let i = 0; i < 3; i++) (await s.openRead(folded)).close();
    assert.ok(
      (counts.get("readDir") ?? 0) <= 32,
      `${counts.get("readDir")} listings`,
    );
    assert.ok(total(counts) <= 3 * (6 * 32 + 8) + 32 * 2, `${total(counts)}`);
  });
});

Deno.test("DirIndex: reused while the directory is unchanged, read again after a change", async () => {
  await withRootAndOutside(async (root) => {
    await Deno.writeTextFile(`${root}/A.txt`, "a");
    await Deno.utime(root, PAST, PAST);
    const { calls, counts } = countingCalls();
    const s = new FsStorage(root, { ignoreCase: true, calls });
    assert.equal(await code(s.openRead("a.txt")), "ok");
    assert.equal(await code(s.openRead("b.txt")), 1);
    assert.equal(counts.get("readDir"), 1);
    await Deno.writeTextFile(`${root}/B.txt`, "b");
    assert.equal(await code(s.openRead("b.txt")), "ok", "new name found");
    assert.equal(counts.get("readDir"), 2);
  });
});

Deno.test("DirIndex: a listing as new as the directory is used once, not kept", () => {
  const dir = {
    dev: 1,
    ino: 2,
    mtimeMs: 1000,
    ctimeMs: 1000,
    size: 0,
    isFile: false,
    isDirectory: true,
    isSymlink: false,
  };
  let lists = 0;
  const calls = {
    stat: () => dir,
    readDir: () => {
      lists++;
      return [{ name: "BCD", isFile: true, isDirectory: false }];
    },
  } as unknown as FsCalls;
  let now = 1500;
  const index = new DirIndex(calls, { now: () => now });
  assert.deepEqual(index.lookup("bcd"), { kind: "found", name: "BCD" });
  assert.deepEqual(index.lookup("bcd"), { kind: "found", name: "BCD" });
  assert.equal(lists, 2, "racy listing not kept");
  now = 5000;
  index.lookup("bcd");
  index.lookup("x");
  assert.equal(lists, 3, "kept once the directory is older");
});

Deno.test("DirIndex: bounded in directories and entries (least recently used dropped)", () => {
  let ino = 0;
  const names = (n: number) =>
    Array.from({ length: n }, (_, i) => ({
      name: `F${i}`,
      isFile: true,
      isDirectory: false,
    }));
  let entries = names(10);
  const calls = {
    stat: () => ({
      dev: 1,
      ino,
      mtimeMs: 0,
      ctimeMs: 0,
      size: 0,
      isFile: false,
      isDirectory: true,
      isSymlink: false,
    }),
    readDir: () => entries,
  } as unknown as FsCalls;
  const index = new DirIndex(calls, {
    limits: { maxDirs: 3, maxEntries: 25, maxDirEntries: 15 },
  });
  for (ino = 1; ino <= 5; ino++) index.lookup("f1");
  assert.deepEqual(index.size, { dirs: 2, entries: 20 });
  entries = names(16);
  ino = 9;
  assert.deepEqual(index.lookup("f1"), { kind: "too-large" });
  entries = names(1);
  for (ino = 20; ino < 30; ino++) index.lookup("f0");
  assert.ok(index.size.dirs <= 3 && index.size.entries <= 25);
});

Deno.test("FsStorage: a FIFO, a socket or a directory is refused at once with ERROR 2", async () => {
  await withRootAndOutside(async (root) => {
    const mk = new Deno.Command("mkfifo", { args: [`${root}/fifo`] });
    assert.equal((await mk.output()).code, 0);
    const listener = Deno.listen({ transport: "unix", path: `${root}/sock` });
    await Deno.mkdir(`${root}/dir`);
    try {
      const s = await FsStorage.open(root);
      for (const name of ["fifo", "sock", "dir"]) {
        const err = await s.openRead(name).then(() => undefined, (e) => e);
        assert.ok(err instanceof TftpError, name);
        assert.equal(err.code, ErrorCode.ACCESS_VIOLATION, name);
        assert.equal(err.message, `${name}: not a regular file`);
      }
      assert.equal(await code(s.openWrite("fifo")), ErrorCode.FILE_EXISTS);
    } finally {
      listener.close();
    }
  });
});

Deno.test("FsStorage: a FIFO swapped in after the check is opened without blocking and refused", async () => {
  await withRootAndOutside(async (root) => {
    await Deno.writeTextFile(`${root}/plain`, "x");
    const mk = new Deno.Command("mkfifo", { args: [`${root}/f`] });
    assert.equal((await mk.output()).code, 0);
    const real = realFsCalls();
    // The check sees a regular file; the open meets the FIFO.
    const calls: FsCalls = {
      ...real,
      lstat: (p) => real.lstat(p === "f" ? "plain" : p),
    };
    const s = new FsStorage(root, { calls });
    const err = await s.openRead("f").then(() => undefined, (e) => e);
    assert.ok(err instanceof TftpError, String(err));
    assert.equal(err.code, ErrorCode.ACCESS_VIOLATION);
    assert.match(err.message, /not a regular file/);
  });
});

Deno.test("FsStorage: an upload whose working directory is moved by someone else meanwhile leaves no file anywhere", async () => {
  await withRootAndOutside(async (root, outside) => {
    await Deno.mkdir(`${root}/d`);
    const real = realFsCalls();
    // Someone outside the lock (another isolate of the process) changes
    // the working directory just before the temporary file is made.
    const calls: FsCalls = {
      ...real,
      createNew: (p) => {
        Deno.chdir(outside);
        return real.createNew(p);
      },
    };
    const home = Deno.cwd();
    const s = new FsStorage(root, { calls, writable: true });
    try {
      const err = await s.openWrite("d/up.bin").then(() => undefined, (e) => e);
      assert.ok(err instanceof TftpError, String(err));
      assert.equal(err.code, ErrorCode.NOT_DEFINED);
      assert.match(err.message, /working directory changed/);
    } finally {
      Deno.chdir(home);
    }
    const left = async (dir: string) =>
      (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
    assert.deepEqual(await left(outside), []);
    assert.deepEqual(await left(`${root}/d`), []);
  });
});

Deno.test("FsStorage: a working directory moved outside before it is checked by identity is refused, reads and uploads alike", async () => {
  await withRootAndOutside(async (root, outside) => {
    await Deno.mkdir(`${root}/d`);
    await Deno.writeTextFile(`${root}/d/secret.txt`, "INSIDE\n");
    await Deno.writeTextFile(`${outside}/secret.txt`, "OUTSIDE\n");
    const real = realFsCalls();
    const home = Deno.cwd();
    // The move comes after the path check on the way in and before the
    // identity of "." is taken, so only a second look at the path sees it.
    const calls: FsCalls = {
      ...real,
      canWrite: (p) => {
        Deno.chdir(outside);
        return real.canWrite(p);
      },
      lstat: (p) => {
        if (p === "secret.txt") Deno.chdir(outside);
        return real.lstat(p);
      },
    };
    const s = new FsStorage(root, { calls, writable: true });
    const refused = async (p: Promise<unknown>) => {
      const err = await p.then(() => undefined, (e) => e);
      Deno.chdir(home);
      assert.ok(err instanceof TftpError, String(err));
      assert.equal(err.code, ErrorCode.NOT_DEFINED);
    };
    try {
      await refused(s.openRead("d/secret.txt"));
      await refused(s.openWrite("d/up.bin"));
    } finally {
      Deno.chdir(home);
    }
    const names = (await Array.fromAsync(Deno.readDir(outside))).map((e) =>
      e.name
    );
    assert.deepEqual(names, ["secret.txt"]);
  });
});

Deno.test("FsStorage: an upload whose temporary file is not found again under its name is refused and leaves no temporary file", async () => {
  await withRootAndOutside(async (root) => {
    await Deno.mkdir(`${root}/d`);
    await Deno.writeTextFile(`${root}/d/other`, "x");
    const real = realFsCalls();
    let looks = 0;
    // The first look at the new name after the create finds another file
    // (as a flip would); later looks find it again.
    const calls: FsCalls = {
      ...real,
      lstat: (p) =>
        real.lstat(
          p.startsWith(".tftp-upload-") && looks++ === 0 ? "other" : p,
        ),
    };
    const s = new FsStorage(root, { calls, writable: true });
    const err = await s.openWrite("d/up.bin").then(() => undefined, (e) => e);
    assert.ok(err instanceof TftpError, String(err));
    assert.equal(err.code, ErrorCode.NOT_DEFINED);
    assert.match(err.message, /changed while being opened/);
    const left = (await Array.fromAsync(Deno.readDir(`${root}/d`))).map((e) =>
      e.name
    );
    assert.deepEqual(left, ["other"]);
  });
});

Deno.test("removeStaleUploads(): old temporary files of exactly our name, inside the root only, never through a symlink", async () => {
  await withRootAndOutside(async (root, outside) => {
    const t = ".tftp-upload-0123456789abcdef";
    await Deno.mkdir(`${root}/sub/deeper`, { recursive: true });
    await Deno.mkdir(`${root}/.tftp-upload-dir`);
    for (
      const f of [t, `sub/${t}`, `sub/deeper/.TFTP-UPLOAD-x`, "keep.txt"]
    ) {
      await Deno.writeTextFile(`${root}/${f}`, "x");
    }
    await Deno.writeTextFile(`${outside}/${t}`, "outside");
    await Deno.symlink(outside, `${root}/link`);
    await Deno.symlink(`${outside}/${t}`, `${root}/.tftp-upload-link`);
    const removed: string[] = [];
    const r = removeStaleUploads(root, {
      calls: realFsCalls(),
      onRemove: (p) => removed.push(p),
      now: Date.now() + HOUR_MS,
    });
    assert.deepEqual(removed.sort(), [t, `sub/${t}`].sort());
    // Not a name this server makes: an operator's file, kept.
    assert.ok((await Deno.stat(`${root}/sub/deeper/.TFTP-UPLOAD-x`)).isFile);
    assert.deepEqual(r.removed.sort(), removed);
    assert.equal(r.truncated, false);
    assert.equal(await Deno.readTextFile(`${outside}/${t}`), "outside");
    assert.ok((await Deno.lstat(`${root}/.tftp-upload-link`)).isSymlink);
    assert.ok((await Deno.stat(`${root}/.tftp-upload-dir`)).isDirectory);
    assert.equal(await Deno.readTextFile(`${root}/keep.txt`), "x");
  });
});

Deno.test("removeStaleUploads(): the walk is bounded in entries and depth", async () => {
  await withRootAndOutside(async (root) => {
    await Deno.mkdir(`${root}/a/b/c`, { recursive: true });
    await Deno.writeTextFile(
      `${root}/a/b/c/.tftp-upload-0000000000000001`,
      "x",
    );
    const deep = removeStaleUploads(root, {
      calls: realFsCalls(),
      limits: { maxDepth: 2 },
      now: Date.now() + HOUR_MS,
    });
    assert.deepEqual(deep.removed, []);
    assert.equal(deep.truncated, true);
    for (let i = 0; i < 50; i++) await Deno.writeTextFile(`${root}/f${i}`, "");
    const { calls, counts } = countingCalls();
    const few = removeStaleUploads(root, { calls, limits: { maxEntries: 10 } });
    assert.equal(few.truncated, true);
    assert.ok(few.entries <= 11);
    assert.equal(counts.get("readDir"), 1);
  });
});

Deno.test("removeStaleUploads(): a recent temporary file is another server's upload in progress, kept", async () => {
  await withRootAndOutside(async (root) => {
    const t = `${root}/.tftp-upload-0123456789abcdef`;
    await Deno.writeTextFile(t, "in progress");
    const r = removeStaleUploads(root, { calls: realFsCalls() });
    assert.deepEqual(r.removed, []);
    const old = new Date(Date.now() - STALE_UPLOAD_MS - 60_000);
    await Deno.utime(t, old, old);
    assert.deepEqual(
      removeStaleUploads(root, { calls: realFsCalls() }).removed,
      [".tftp-upload-0123456789abcdef"],
    );
  });
});

Deno.test("openRootStorage() sweeps leftovers at start and logs each removal", async () => {
  await withRootAndOutside(async (root) => {
    const left = `${root}/.tftp-upload-00000000000000ab`;
    await Deno.writeTextFile(left, "half an upload");
    const old = new Date(Date.now() - STALE_UPLOAD_MS - 60_000);
    await Deno.utime(left, old, old);
    const lines: string[] = [];
    const log = new Logger({ stderr: false, sink: (l) => lines.push(l) });
    await openRootStorage({ root }, log);
    assert.deepEqual([...Deno.readDirSync(root)], []);
    assert.ok(
      lines.some((l) => l.includes('removed ".tftp-upload-00000000000000ab"')),
      lines.join("\n"),
    );
    // Worker threads (no logger) and read-only servers do not sweep.
    await Deno.writeTextFile(`${root}/.tftp-upload-00000000000000cd`, "x");
    const older = new Date(Date.now() - STALE_UPLOAD_MS - 60_000);
    await Deno.utime(`${root}/.tftp-upload-00000000000000cd`, older, older);
    await openRootStorage({ root });
    await openRootStorage({ root, readOnly: true }, log);
    assert.equal([...Deno.readDirSync(root)].length, 1);
  });
});

Deno.test("FsStorage: a read whose name keeps changing is busy (try again), whatever changes; a long chain of links inside the root is read", async (t) => {
  const cases: {
    what: string;
    set(root: string): Promise<Partial<FsCalls>>;
    code?: number;
  }[] = [
    {
      what: "keeps turning into a symlink at the open",
      set: () =>
        Promise.resolve({
          openRead: () => {
            throw new Deno.errors.FilesystemLoop("ELOOP");
          },
        }),
      code: ErrorCode.NOT_DEFINED,
    },
    {
      what: "is replaced by another file between the look and the open",
      set: async (root) => {
        await Deno.writeTextFile(`${root}/other`, "x");
        const real = realFsCalls();
        return { openRead: (p) => real.openRead(p === "f" ? "other" : p) };
      },
      code: ErrorCode.NOT_DEFINED,
    },
    {
      what: "is a symlink again each time it is looked at",
      set: () => {
        const real = realFsCalls();
        return Promise.resolve({
          lstat: (p) => ({ ...real.lstat(p), isSymlink: true, isFile: false }),
        });
      },
      code: ErrorCode.NOT_DEFINED,
    },
    {
      what: "is a chain of ten links inside the root (read)",
      set: async (root) => {
        await Deno.rename(`${root}/f`, `${root}/l10`);
        for (let i = 9; i >= 1; i--) {
          await Deno.symlink(`l${i + 1}`, `${root}/l${i}`);
        }
        await Deno.symlink("l1", `${root}/f`);
        return {};
      },
    },
  ];
  for (const c of cases) {
    await t.step(c.what, async () => {
      await withRootAndOutside(async (root) => {
        await Deno.writeTextFile(`${root}/f`, "INSIDE");
        const calls = { ...realFsCalls(), ...await c.set(root) };
        const s = new FsStorage(root, { calls });
        const got = await s.openRead("f").then(
          async (h) => {
            const buf = new Uint8Array(16);
            const n = await h.read(0, buf);
            h.close();
            return new TextDecoder().decode(buf.subarray(0, n));
          },
          (e) => e,
        );
        if (c.code === undefined) return assert.equal(got, "INSIDE");
        assert.ok(got instanceof TftpError, String(got));
        assert.equal(got.code, c.code, got.message);
        assert.match(got.message, /^f: changed while being opened, try again$/);
      });
    });
  }
});
