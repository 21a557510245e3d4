/**
 * Readers of one file version share its chunks (one read and one buffer
 * per chunk), never across versions, never for a file changed within the
 * last second, and nothing stays once the last reader has closed.
 *
 * @module
 */

import assert from "node:assert/strict";
import { FsStorage } from "../../src/storage/files.ts";
import type { ReadHandle } from "../../src/storage/types.ts";
import {
  type FsCalls,
  type FsStat,
  realFsCalls,
} from "../../src/storage/sys.ts";
import { randomBytes } from "../../testing/bytes.ts";

const KiB = 1024;

/** Storage over a temp root whose fstat is rewritten, counting reads. */
async function withStorage(
  files: Record<string, Uint8Array>,
  fn: (
    s: FsStorage,
    io: { reads: () => number; stamp: (f: (st: FsStat) => FsStat) => void },
  ) => Promise<void>,
): Promise<void> {
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "sr-" }));
  try {
    for (const [name, data] of Object.entries(files)) {
      await Deno.writeFile(`${root}/${name}`, data);
    }
    const real = realFsCalls();
    let reads = 0;
    // Old enough to share unless a step says otherwise.
    let stamp = (st: FsStat): FsStat => ({ ...st, mtimeMs: 5, ctimeMs: 5 });
    const calls: FsCalls = {
      ...real,
      fstat: (fd) => stamp(real.fstat(fd)),
      read: (fd, buf, pos) => {
        reads++;
        return real.read(fd, buf, pos);
      },
    };
    await fn(new FsStorage(root, { calls }), {
      reads: () => reads,
      stamp: (f) => stamp = f,
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

/** Reads a whole handle in `block`-byte reads, `rounds` handles in step. */
function readInStep(handles: ReadHandle[], block: number): Uint8Array[] {
  const out = handles.map((h) => new Uint8Array(h.size ?? 0));
  const buf = new Uint8Array(block);
  for (let off = 0; off < out[0].length; off += block) {
    handles.forEach((h, i) => {
      const n = h.read(off, buf) as number;
      out[i].set(buf.subarray(0, n), off);
    });
  }
  return out;
}

Deno.test("shared reads: what many readers of one file get, and how many reads it costs", async (t) => {
  const big = randomBytes(200 * KiB + 17); // 4 chunks, the last one short
  const cases: {
    what: string;
    readers: number;
    block: number;
    stamp?: (st: FsStat) => FsStat;
    reads: number;
  }[] = [
    { what: "one reader, 512-byte blocks", readers: 1, block: 512, reads: 4 },
    { what: "ten readers share", readers: 10, block: 1468, reads: 4 },
    { what: "blocks that straddle chunks", readers: 3, block: 1000, reads: 4 },
    {
      what: "changed within the last second: each reads its own",
      readers: 3,
      block: 1468,
      stamp: (st) => ({ ...st, mtimeMs: Date.now(), ctimeMs: Date.now() }),
      reads: 3 * 5, // private read-ahead windows start at a block, not a chunk
    },
    {
      what: "a status change (ctime) alone also counts as recent",
      readers: 2,
      block: 1468,
      stamp: (st) => ({ ...st, mtimeMs: 5, ctimeMs: Date.now() }),
      reads: 2 * 5,
    },
  ];
  for (const c of cases) {
    await t.step(c.what, async () => {
      await withStorage({ "f.bin": big }, async (s, io) => {
        if (c.stamp) io.stamp(c.stamp);
        const handles: ReadHandle[] = [];
        for (let i = 0; i < c.readers; i++) {
          handles.push(await s.openRead("f.bin"));
        }
        const got = readInStep(handles, c.block);
        for (const h of handles) h.close();
        for (const g of got) assert.deepEqual(g, big);
        assert.equal(io.reads(), c.reads);
      });
    });
  }
});

Deno.test("shared reads: two versions of one file never mix, and nothing is kept once all readers close", async () => {
  const a = randomBytes(100 * KiB);
  const b = randomBytes(100 * KiB);
  await withStorage({ "f.bin": a }, async (s, io) => {
    const first = await s.openRead("f.bin");
    const [gotA] = readInStep([first], 1468);
    assert.deepEqual(gotA, a);
    // The same size rewritten in place, seen as a newer version.
    await Deno.writeFile(`${s.root}/f.bin`, b);
    io.stamp((st) => ({ ...st, mtimeMs: 7, ctimeMs: 7 }));
    const second = await s.openRead("f.bin");
    const [gotB] = readInStep([second], 1468);
    assert.deepEqual(gotB, b);
    first.close();
    second.close();
    // The same stamp as the first version, after every reader closed: read
    // again from the file, not from what the first reader saw.
    io.stamp((st) => ({ ...st, mtimeMs: 5, ctimeMs: 5 }));
    const before = io.reads();
    const third = await s.openRead("f.bin");
    const [gotC] = readInStep([third], 1468);
    third.close();
    assert.deepEqual(gotC, b);
    assert.equal(io.reads() - before, 2);
  });
});

Deno.test("shared reads: a file that shrank while read ends short for that reader and is not shared", async () => {
  const data = randomBytes(130 * KiB);
  await withStorage({ "f.bin": data }, async (s, io) => {
    const h1 = await s.openRead("f.bin");
    const h2 = await s.openRead("f.bin");
    await Deno.truncate(`${s.root}/f.bin`, 70 * KiB);
    const [g1, g2] = readInStep([h1, h2], 1468);
    h1.close();
    h2.close();
    // Chunk 0 was whole and shared; chunk 1 came up short, so each reader
    // read it itself; chunk 2 was past the end.
    assert.deepEqual(g1.subarray(0, 70 * KiB), data.subarray(0, 70 * KiB));
    assert.deepEqual(g2.subarray(0, 70 * KiB), data.subarray(0, 70 * KiB));
    assert.ok(g1.subarray(70 * KiB).every((x) => x === 0));
    assert.equal(io.reads(), 1 + 2 * 2);
  });
});
