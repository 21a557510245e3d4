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
import { firstDifference, randomBytes } from "../../testing/bytes.ts";

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
    {
      what: "one reader keeps its own read-ahead (nothing cached)",
      readers: 1,
      block: 512,
      reads: 5, // four windows, and the look past the end
    },
    { what: "two readers share", readers: 2, block: 512, reads: 4 },
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
        for (const g of got) assert.equal(firstDifference(g, big), undefined);
        assert.equal(io.reads(), c.reads);
      });
    });
  }
});

Deno.test("shared reads: two versions of one file never mix, and a version's chunks go with its last reader", async () => {
  const a = randomBytes(100 * KiB);
  const b = randomBytes(100 * KiB);
  await withStorage({ "f.bin": a }, async (s, io) => {
    const two =
      async () => [await s.openRead("f.bin"), await s.openRead("f.bin")];
    const first = await two();
    for (const got of readInStep(first, 1468)) {
      assert.equal(firstDifference(got, a), undefined);
    }
    // The same size rewritten in place, seen as a newer version, while the
    // first version's readers (and its chunks) are still there.
    await Deno.writeFile(`${s.root}/f.bin`, b);
    io.stamp((st) => ({ ...st, mtimeMs: 7, ctimeMs: 7 }));
    const second = await two();
    for (const got of readInStep(second, 1468)) {
      assert.equal(firstDifference(got, b), undefined);
    }
    for (const h of [...first, ...second]) h.close();
    // The first version's stamp again, once its readers are gone: read from
    // the file, not from what they saw.
    io.stamp((st) => ({ ...st, mtimeMs: 5, ctimeMs: 5 }));
    const before = io.reads();
    const third = await two();
    for (const got of readInStep(third, 1468)) {
      assert.equal(firstDifference(got, b), undefined);
    }
    for (const h of third) h.close();
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
    assert.equal(
      firstDifference(g1.subarray(0, 70 * KiB), data.subarray(0, 70 * KiB)),
      undefined,
    );
    assert.equal(
      firstDifference(g2.subarray(0, 70 * KiB), data.subarray(0, 70 * KiB)),
      undefined,
    );
    assert.ok(g1.subarray(70 * KiB).every((x) => x === 0));
    assert.equal(io.reads(), 1 + 2 * 2);
  });
});
