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
import { ErrorCode, TftpError } from "../../src/protocol/packet.ts";

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
      reads: 4, // four windows: reads stop at the size, no look past it
    },
    { what: "two readers share", readers: 2, block: 512, reads: 4 },
    { what: "ten readers share", readers: 10, block: 1468, reads: 4 },
    { what: "blocks that straddle chunks", readers: 3, block: 1000, reads: 4 },
    {
      what: "changed within the last second: each reads its own",
      readers: 3,
      block: 1468,
      stamp: (st) => ({ ...st, mtimeMs: Date.now(), ctimeMs: Date.now() }),
      reads: 3 * 4, // private read-ahead windows start at a block, not a chunk
    },
    {
      what: "a status change (ctime) alone also counts as recent",
      readers: 2,
      block: 1468,
      stamp: (st) => ({ ...st, mtimeMs: 5, ctimeMs: Date.now() }),
      reads: 2 * 4,
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

Deno.test("a file that shrinks or grows while read: reads stop at its size at open, and a shrink fails the read with ERROR 0 (not a short, complete-looking file)", async (t) => {
  const data = randomBytes(130 * KiB);
  for (const readers of [1, 2]) {
    await t.step(`${readers} reader(s), shrunk`, async () => {
      await withStorage({ "f.bin": data }, async (s) => {
        const handles: ReadHandle[] = [];
        for (let i = 0; i < readers; i++) {
          handles.push(await s.openRead("f.bin"));
        }
        await Deno.truncate(`${s.root}/f.bin`, 70 * KiB);
        const buf = new Uint8Array(1468);
        let off = 0;
        let failed: unknown;
        try {
          for (; off < data.length; off += buf.length) {
            for (const h of handles) {
              const n = h.read(off, buf) as number;
              assert.equal(
                firstDifference(
                  buf.subarray(0, n),
                  data.subarray(off, off + n),
                ),
                undefined,
              );
            }
          }
        } catch (err) {
          failed = err;
        }
        for (const h of handles) h.close();
        assert.ok(failed instanceof TftpError, String(failed));
        assert.equal(failed.code, ErrorCode.NOT_DEFINED);
        assert.equal(failed.message, "file changed during the transfer");
        // Before the end: no reader saw a short last block (a read-ahead
        // window may reach past what is left a chunk early).
        assert.ok(off >= 6 * KiB && off < 70 * KiB, `${off}`);
      });
    });
  }
  await t.step("grown", async () => {
    await withStorage({ "f.bin": data }, async (s) => {
      const h = await s.openRead("f.bin");
      const f = await Deno.open(`${s.root}/f.bin`, { append: true });
      await f.write(randomBytes(5000));
      f.close();
      const [got] = readInStep([h], 1468);
      assert.equal(h.read(data.length, new Uint8Array(1468)), 0);
      h.close();
      assert.equal(firstDifference(got, data), undefined);
    });
  });
});
