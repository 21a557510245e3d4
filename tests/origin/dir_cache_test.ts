/**
 * The directory cache shared by processes: entries are published whole (a
 * reader never sees a partial or mixed entry while other processes replace
 * it), damaged entries are ignored, temporary files are never served and
 * are swept once old.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { DirCache } from "../../src/storage/origin/dir_cache.ts";
import { CHILD_ENV } from "../../testing/process.ts";
import { tempDir } from "./harness.ts";
import { versionBytes } from "./dir_cache_writer.ts";

const WRITER = fileURLToPath(new URL("./dir_cache_writer.ts", import.meta.url));
const policy = () => ({
  shared: true,
  freshUntil: Date.now() + 600_000,
  noCache: false,
});

async function readAll(
  handle: {
    size?: number;
    read(o: number, b: Uint8Array): number | Promise<number>;
  },
): Promise<Uint8Array> {
  const out = new Uint8Array(handle.size!);
  let off = 0;
  while (off < out.length) {
    const n = await handle.read(off, out.subarray(off, off + 4096));
    if (n === 0) break;
    off += n;
  }
  return out.subarray(0, off);
}

Deno.test("three processes replacing one entry: every read sees one whole version", async () => {
  const dir = await tempDir("tftpd-dircache-");
  try {
    const cache = await DirCache.open(dir, { maxBytes: 64 * 1024 * 1024 });
    const writers = [1, 2, 3].map((id) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--no-prompt",
          `--allow-read=${dir}`,
          `--allow-write=${dir}`,
          WRITER,
          dir,
          String(id),
          "40",
        ],
        env: CHILD_ENV,
        stdout: "null",
        stderr: "piped",
      }).output()
    );
    let running = true;
    const done = Promise.all(writers).finally(() => running = false);
    const seen = new Set<string>();
    let reads = 0;
    // Read as long as the writers run (they make 120 puts in all).
    for (let i = 0; i < 1_000_000 && (running || reads === 0); i++) {
      const hit = await cache.get("shared/entry");
      if (!hit) {
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      const body = await readAll(hit.handle);
      hit.handle.close();
      const view = new DataView(body.buffer, body.byteOffset);
      const writer = view.getUint32(0);
      const version = view.getUint32(4);
      assert.deepEqual(
        body,
        versionBytes(writer, version),
        `torn read of ${writer}/${version}`,
      );
      assert.equal(hit.size, body.length);
      seen.add(`${writer}/${version}`);
      reads++;
    }
    for (const out of await done) {
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
    }
    // Versions changed under the reader while it read (not one snapshot).
    assert.ok(seen.size > 1, `only ${[...seen]} seen in ${reads} reads`);
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assert.equal(names.length, 1, names.join());
    assert.match(names[0], /^[0-9a-f]{64}$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a truncated or foreign entry is a miss (and is removed)", async () => {
  const dir = await tempDir("tftpd-dircache-");
  try {
    const cache = await DirCache.open(dir, { maxBytes: 1 << 20 });
    await cache.put("a", policy(), new Uint8Array(1000).fill(7));
    const [name] = [...Deno.readDirSync(dir)].map((e) => e.name);
    const path = `${dir}/${name}`;
    const whole = await Deno.readFile(path);
    await Deno.writeFile(path, whole.subarray(0, whole.length - 1));
    assert.equal(await cache.get("a"), undefined);
    assert.equal([...Deno.readDirSync(dir)].length, 0);

    // An entry whose header names another key (what a hash collision or a
    // copied file would look like) is not served under this name.
    await cache.put("b", policy(), new Uint8Array(10));
    const [b] = [...Deno.readDirSync(dir)].map((e) => e.name);
    await cache.put("a", policy(), new Uint8Array(10));
    const aName = [...Deno.readDirSync(dir)].map((e) => e.name).find((n) =>
      n !== b
    )!;
    await Deno.copyFile(`${dir}/${b}`, `${dir}/${aName}`);
    assert.equal(await cache.get("a"), undefined);
    const hit = await cache.get("b");
    assert.equal(hit?.size, 10);
    hit?.handle.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("temporary files are never served, and are swept once old", async () => {
  const dir = await tempDir("tftpd-dircache-");
  try {
    const cache = await DirCache.open(dir, { maxBytes: 1 << 20 });
    const young = `${dir}/.tmp-young`;
    const old = `${dir}/.tmp-old`;
    await Deno.writeFile(young, new Uint8Array(100));
    await Deno.writeFile(old, new Uint8Array(100));
    const hourAgo = new Date(Date.now() - 3600_000);
    await Deno.utime(old, hourAgo, hourAgo);
    await cache.sweep();
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(names, [".tmp-young"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an entry whose policy is not one put writes is a miss (and is removed), not a crash or a bad conditional GET", async () => {
  const dir = await tempDir("tftpd-dircache-");
  try {
    const cache = await DirCache.open(dir, { maxBytes: 1 << 20 });
    await cache.put("a", policy(), new Uint8Array(3));
    const [name] = [...Deno.readDirSync(dir)].map((e) => e.name);
    const path = `${dir}/${name}`;
    const head = new TextDecoder().decode(await Deno.readFile(path))
      .split("\n")[0];
    const write = (p: unknown, size = 3) =>
      Deno.writeFile(
        path,
        new TextEncoder().encode(
          `${head}\n${JSON.stringify({ key: "a", id: "v", size, policy: p })}` +
            `\n${"x".repeat(Math.max(0, size))}`,
        ),
      );
    const good = policy();
    // The crafted file is read when its policy is whole.
    await write({ ...good, etag: '"v1"' });
    const hit = await cache.get("a");
    assert.equal(hit?.policy.etag, '"v1"');
    hit?.handle.close();
    const bad: [string, unknown][] = [
      ["null", null],
      ["a number", 7],
      ["not shared", { ...good, shared: false }],
      ["freshUntil a string", { ...good, freshUntil: "soon" }],
      ["freshUntil missing", { shared: true, noCache: false }],
      ["noCache missing", { shared: true, freshUntil: good.freshUntil }],
      ["an ETag with a line break", { ...good, etag: '"v"\r\nx-evil: 1' }],
      ["a Last-Modified number", { ...good, lastModified: 5 }],
    ];
    for (const [what, p] of bad) {
      await write(p);
      assert.equal(await cache.get("a"), undefined, what);
      assert.equal([...Deno.readDirSync(dir)].length, 0, `${what}: kept`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
