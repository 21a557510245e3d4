/**
 * Block sources (`src/transport/block_source.ts`): the payload of DATA
 * block n, straight from the handle in octet mode, converted to netascii
 * and kept for retransmits in netascii mode; and `netasciiSize`, the tsize
 * of a netascii download, with its bound.
 *
 * Expected netascii bytes come from `netasciiOf` (testing/raw_client.ts), a
 * converter written independently of the server's.
 */

import assert from "node:assert/strict";
import {
  type BlockSource,
  NetasciiBlockSource,
  netasciiSize,
  OctetBlockSource,
} from "../../src/transport/block_source.ts";
import { BytesReadHandle } from "../../src/storage/memory.ts";
import type { ReadHandle } from "../../src/storage/types.ts";
import { concat } from "../../testing/bytes.ts";
import { netasciiOf } from "../../testing/raw_client.ts";
import { Rng } from "../../testing/rng.ts";

const te = new TextEncoder();
const td = new TextDecoder();

/** A handle over `bytes` that counts its reads; `async`: reads return promises. */
class TestHandle implements ReadHandle {
  readonly size?: number;
  readonly offsets: number[] = [];
  #inner: BytesReadHandle;
  #async: boolean;

  constructor(
    bytes: Uint8Array,
    opts: { async?: boolean; size?: number | null } = {},
  ) {
    this.#inner = new BytesReadHandle(bytes);
    this.#async = opts.async ?? false;
    this.size = opts.size === null ? undefined : opts.size ?? bytes.length;
  }

  read(offset: number, buf: Uint8Array): number | Promise<number> {
    this.offsets.push(offset);
    const n = this.#inner.read(offset, buf);
    // A macrotask, so that concurrent callers really interleave.
    if (this.#async) return new Promise((r) => setTimeout(() => r(n), 0));
    return n;
  }

  close(): void {}
}

/** Reads blocks 1, 2, ... up to and including the first short one. */
async function readAll(
  src: OctetBlockSource | NetasciiBlockSource,
  blksize: number,
): Promise<Uint8Array[]> {
  const blocks: Uint8Array[] = [];
  for (let block = 1; block <= 100_000; block++) {
    const buf = new Uint8Array(blksize);
    const n = await src.read(block, buf);
    blocks.push(buf.slice(0, n));
    if (n < blksize) return blocks;
  }
  throw new Error("no short block in 100000");
}

function pattern(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 0xff);
}

/** File sizes around each block boundary, and the block lengths they give. */
function octetCases(bs: number): [number, number[]][] {
  return [
    [0, [0]],
    [1, [1]],
    [bs - 1, [bs - 1]],
    [bs, [bs, 0]],
    [bs + 1, [bs, 1]],
    [2 * bs - 1, [bs, bs - 1]],
    [2 * bs, [bs, bs, 0]],
    [3 * bs, [bs, bs, bs, 0]],
    [3 * bs + 7, [bs, bs, bs, 7]],
  ];
}

for (const async of [false, true]) {
  const how = async ? " (a handle whose read returns a promise)" : "";
  Deno.test(`OctetBlockSource.read() gives block n as bytes (n-1)*blksize.. at every boundary${how}`, async () => {
    for (const bs of [8, 512, 1468, 65464]) {
      for (const [size, lengths] of octetCases(bs)) {
        const data = pattern(size);
        const handle = new TestHandle(data, { async });
        const blocks = await readAll(new OctetBlockSource(handle, bs), bs);
        const what = `size ${size}, blksize ${bs}`;
        assert.deepEqual(blocks.map((b) => b.length), lengths, what);
        assert.deepEqual(concat(blocks), data, what);
        assert.deepEqual(
          handle.offsets,
          lengths.map((_, i) => i * bs),
          `${what}: one read per block, at its offset`,
        );
      }
    }
  });
}

Deno.test("OctetBlockSource.read() returns the handle's promise as it is", async () => {
  const src = new OctetBlockSource(
    new TestHandle(pattern(10), { async: true }),
    8,
  );
  const r = src.read(2, new Uint8Array(8));
  assert.ok(r instanceof Promise);
  assert.equal(await r, 2);
});

Deno.test("OctetBlockSource.read() is random access; release() forgets nothing", async () => {
  const data = pattern(40);
  const src: BlockSource = new OctetBlockSource(new TestHandle(data), 8);
  const buf = new Uint8Array(8);
  assert.equal(await src.read(4, buf), 8);
  assert.deepEqual(buf, data.subarray(24, 32));
  src.release(5);
  assert.equal(await src.read(1, buf), 8);
  assert.deepEqual(buf, data.subarray(0, 8));
  assert.equal(await src.read(6, buf), 0);
});

/**
 * Local text, blksize 4, and the netascii blocks on the wire: CR LF and
 * CR NUL pairs split across block boundaries wherever they can.
 */
const NETASCII_BLOCKS: [string, string[]][] = [
  ["", [""]],
  ["abc", ["abc"]],
  ["abcd", ["abcd", ""]],
  ["abc\n", ["abc\r", "\n"]], // CR | LF
  ["abc\r", ["abc\r", "\0"]], // CR | NUL
  ["ab\nc", ["ab\r\n", "c"]], // pair ends the block
  ["ab\n", ["ab\r\n", ""]], // pair fills the last block exactly
  ["abcd\n", ["abcd", "\r\n"]], // pair starts a block
  ["\n\n", ["\r\n\r\n", ""]],
  ["a\r\n", ["a\r\0\r", "\n"]], // local CR LF is CR NUL CR LF
  ["\r\r\r", ["\r\0\r\0", "\r\0"]],
  ["abc\n\n\n", ["abc\r", "\n\r\n\r", "\n"]],
  ["abc\ndefg\r", ["abc\r", "\ndef", "g\r\0"]],
];

for (const async of [false, true]) {
  const how = async ? " (a handle whose read returns a promise)" : "";
  Deno.test(`NetasciiBlockSource.read() cuts the converted stream into blocks, pairs split across blocks${how}`, async () => {
    for (const [text, want] of NETASCII_BLOCKS) {
      const handle = new TestHandle(te.encode(text), { async });
      const blocks = await readAll(new NetasciiBlockSource(handle, 4), 4);
      assert.deepEqual(
        blocks.map((b) => td.decode(b)),
        want,
        JSON.stringify(text),
      );
      assert.deepEqual(concat(blocks), netasciiOf(text), JSON.stringify(text));
    }
  });
}

Deno.test("NetasciiBlockSource.read() converts line ends that fall on the edges of its read chunks", async () => {
  // The source reads max(blksize, 4096) local bytes at a time: put LF and
  // CR last in a chunk, first in the next, and on both sides of a block
  // boundary.
  const text = "a".repeat(4095) + "\n" + "\r" + "b".repeat(4094) + "\r\n" +
    "c".repeat(8190) + "\n\r" + "d".repeat(100);
  for (const bs of [8, 511, 512, 1468, 4096, 4097, 8192, 65464]) {
    for (const async of [false, true]) {
      const handle = new TestHandle(te.encode(text), { async });
      const blocks = await readAll(new NetasciiBlockSource(handle, bs), bs);
      const want = netasciiOf(text);
      const what = `blksize ${bs}${async ? ", async" : ""}`;
      assert.deepEqual(concat(blocks), want, what);
      assert.equal(blocks.length, Math.floor(want.length / bs) + 1, what);
      for (const b of blocks.slice(0, -1)) assert.equal(b.length, bs, what);
    }
  }
});

Deno.test("NetasciiBlockSource.read() matches the reference converter on random text", async () => {
  const rng = new Rng(16_2);
  for (let round = 0; round < 200; round++) {
    const len = rng.int(3 * 4096 + 50);
    let text = "";
    for (let i = 0; i < len; i++) text += "ab\r\n"[rng.int(4)];
    const bs = [8, 9, 512, 4095, 4096, 4097][rng.int(6)];
    const handle = new TestHandle(te.encode(text), { async: rng.chance(0.5) });
    const blocks = await readAll(new NetasciiBlockSource(handle, bs), bs);
    const want = netasciiOf(text);
    assert.deepEqual(concat(blocks), want, `round ${round}`);
    assert.equal(blocks.length, Math.floor(want.length / bs) + 1);
  }
});

Deno.test("NetasciiBlockSource.read() gives a block again until it is released (retransmits)", async () => {
  const text = "one\ntwo\rthree\n";
  const src = new NetasciiBlockSource(new TestHandle(te.encode(text)), 4);
  const wire = netasciiOf(text);
  const block = async (n: number) => {
    const buf = new Uint8Array(4);
    return td.decode(buf.subarray(0, await src.read(n, buf)));
  };
  const expect = (n: number) => td.decode(wire.subarray((n - 1) * 4, n * 4));
  // A window of 3, then the same window again, then one further.
  for (const n of [1, 2, 3, 1, 2, 3, 4, 2]) {
    assert.equal(await block(n), expect(n), `block ${n}`);
  }
  src.release(3);
  for (const n of [3, 4, 5, 3]) {
    assert.equal(await block(n), expect(n), `block ${n}`);
  }
});

Deno.test("NetasciiBlockSource.read() far ahead converts the blocks in between and keeps them", async () => {
  const text = "x\n".repeat(20);
  const src = new NetasciiBlockSource(new TestHandle(te.encode(text)), 8);
  const wire = netasciiOf(text);
  const buf = new Uint8Array(8);
  assert.equal(await src.read(5, buf), 8);
  assert.deepEqual(buf, wire.subarray(32, 40));
  for (let n = 1; n <= 4; n++) {
    assert.equal(await src.read(n, buf), 8);
    assert.deepEqual(buf, wire.subarray((n - 1) * 8, n * 8), `block ${n}`);
  }
});

Deno.test("NetasciiBlockSource.read() of a released block rejects with 'netascii block N was released'", async () => {
  const src = new NetasciiBlockSource(
    new TestHandle(te.encode("a\n".repeat(10))),
    4,
  );
  const buf = new Uint8Array(4);
  for (let n = 1; n <= 3; n++) await src.read(n, buf);
  src.release(3);
  for (const n of [1, 2]) {
    await assert.rejects(
      () => src.read(n, buf),
      (err: unknown) =>
        err instanceof Error &&
        err.message === `netascii block ${n} was released`,
    );
  }
  assert.equal(await src.read(3, buf), 4);
  src.release(100);
  await assert.rejects(() => src.read(3, buf), /netascii block 3 was released/);
});

Deno.test("NetasciiBlockSource.read() called for a whole window at once, with a promise handle, gives each block once and in order", async () => {
  const text = "abcdefgh\nijklmnop\r" + "q".repeat(30);
  const wire = netasciiOf(text);
  const bs = 4;
  const count = Math.floor(wire.length / bs) + 1;
  const handle = new TestHandle(te.encode(text), { async: true });
  const src = new NetasciiBlockSource(handle, bs);
  const bufs = Array.from({ length: count }, () => new Uint8Array(bs));
  const lengths = await Promise.all(bufs.map((b, i) => src.read(i + 1, b)));
  const blocks = bufs.map((b, i) => b.slice(0, lengths[i]));
  assert.deepEqual(concat(blocks), wire);
  assert.equal(lengths.at(-1), wire.length % bs);
});

/** Local text and its netascii size. */
const SIZES: [string, number][] = [
  ["", 0],
  ["abc", 3],
  ["a\nb", 4],
  ["\r", 2],
  ["\r\n", 4],
  ["\n\n\n", 6],
  // Across the 64 KiB buffer netasciiSize reads with.
  ["a".repeat(65535) + "\n\r" + "b".repeat(65535) + "\n", 65535 * 2 + 6],
];

Deno.test("netasciiSize() counts the bytes the netascii stream will have", async () => {
  for (const async of [false, true]) {
    for (const [text, want] of SIZES) {
      const handle = new TestHandle(te.encode(text), { async });
      assert.equal(
        await netasciiSize(handle),
        want,
        JSON.stringify(text).slice(0, 40),
      );
      assert.equal(want, netasciiOf(text).length, "test bug");
    }
  }
});

Deno.test("netasciiSize() is undefined, without reading, when the size is unknown", async () => {
  const handle = new TestHandle(te.encode("a\nb"), { size: null });
  assert.equal(await netasciiSize(handle), undefined);
  assert.deepEqual(handle.offsets, []);
});

Deno.test("netasciiSize() is undefined, without reading, above its limit; at the limit it counts", async () => {
  const data = te.encode("0123456789\n");
  const above = new TestHandle(data);
  assert.equal(await netasciiSize(above, data.length - 1), undefined);
  assert.deepEqual(above.offsets, []);
  assert.equal(await netasciiSize(new TestHandle(data), data.length), 12);
  // The default limit is 64 MiB.
  const huge = new TestHandle(data, { size: 64 * 1024 * 1024 + 1 });
  assert.equal(await netasciiSize(huge), undefined);
  assert.deepEqual(huge.offsets, []);
  const big = new TestHandle(data, { size: 64 * 1024 * 1024 });
  assert.equal(await netasciiSize(big), 12);
});

Deno.test("netasciiSize() gives up once it has read past its limit (a file that grows while it is read)", async () => {
  // Claims 10 bytes, then never ends: the work must stay bounded.
  let reads = 0;
  const endless: ReadHandle = {
    size: 10,
    read(_offset, buf) {
      if (++reads > 1000) throw new Error("read 1000 times: unbounded");
      buf.fill(0x0a);
      return buf.length;
    },
    close() {},
  };
  assert.equal(await netasciiSize(endless, 1_000_000), undefined);
  assert.ok(reads <= Math.ceil(1_000_000 / 65536) + 1, `${reads} reads`);
});
