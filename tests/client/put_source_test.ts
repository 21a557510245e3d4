/**
 * `tftpPut` with a read handle as its source, against our in-process
 * server: the bytes arrive identical, and the source is read in bounded
 * chunks as the upload goes, never ahead of what the server has received
 * by more than a window of blocks plus one read-ahead chunk. Bounds are
 * counted in bytes by the handle and the server's storage, not timed and
 * not taken from the process's memory.
 */

import assert from "node:assert/strict";
import { type ClientOptions, tftpPut } from "../../src/client/client.ts";
import { TftpServer } from "../../src/server/server.ts";
import { BytesReadHandle, MemoryStorage } from "../../src/storage/memory.ts";
import type {
  ReadHandle,
  Storage,
  WriteHandle,
} from "../../src/storage/types.ts";
import { Logger } from "../../src/log.ts";
import { randomBytes, sha256 } from "../../testing/bytes.ts";

/** Largest chunk any block source reads at once (a netascii chunk, a block). */
const CHUNK = 65536;

/** Memory storage that counts the upload's bytes as the server writes them. */
class CountingStorage implements Storage {
  readonly inner = new MemoryStorage({}, { writable: true });
  received = 0;

  openRead(name: string, info: Parameters<Storage["openRead"]>[1]) {
    return this.inner.openRead(name, info);
  }

  async openWrite(name: string): Promise<WriteHandle> {
    const w = await this.inner.openWrite(name);
    return {
      write: (d) => {
        this.received += d.length;
        return w.write(d);
      },
      commit: () => w.commit(),
      abort: () => w.abort(),
    };
  }
}

/**
 * A source that records its largest read and how far its reads run ahead
 * of what the server has received (what the client may be holding).
 */
class RecordingHandle implements ReadHandle {
  readonly size: number;
  largestRead = 0;
  largestLead = 0;
  bytesRead = 0;
  #inner: BytesReadHandle;
  #storage: CountingStorage;

  constructor(bytes: Uint8Array, storage: CountingStorage) {
    this.#inner = new BytesReadHandle(bytes);
    this.size = bytes.length;
    this.#storage = storage;
  }

  read(offset: number, buf: Uint8Array): number {
    const n = this.#inner.read(offset, buf);
    this.largestRead = Math.max(this.largestRead, buf.length);
    this.bytesRead += n;
    const lead = offset + n - this.#storage.received;
    this.largestLead = Math.max(this.largestLead, lead);
    return n;
  }

  close(): void {}
}

async function withServer(
  fn: (port: number, storage: CountingStorage) => Promise<void>,
): Promise<void> {
  const storage = new CountingStorage();
  const server = new TftpServer({
    host: "127.0.0.1",
    port: 0,
    storage,
    logger: new Logger({ stderr: false }),
  });
  const { port } = await server.listen();
  try {
    await fn(port, storage);
  } finally {
    await server.close();
  }
}

/** Local text with LF and CR at and around every 4 KiB and 64 KiB edge. */
function edgyText(size: number): Uint8Array {
  const out = randomBytes(size).map((b) => 32 + (b % 95));
  for (let edge = 4096; edge < size; edge += 4096) {
    const at = edge - 1 - (edge / 4096 % 3);
    out[at] = 13;
    out[at + 1] = 10;
    out[at + 2] = edge % 8192 === 0 ? 13 : 10;
  }
  return out;
}

const SIZE = 3 * 1024 * 1024 + 77;

Deno.test("put from a read handle: identical at the server, read in bounded chunks, never far ahead of the wire", async (t) => {
  const cases: (ClientOptions & { name: string })[] = [
    { name: "lock-step 512" },
    { name: "blksize 1468 window 8", blksize: 1468, windowsize: 8 },
    { name: "blksize 65464 window 2", blksize: 65464, windowsize: 2 },
    { name: "netascii window 16", mode: "netascii", windowsize: 16 },
    {
      name: "netascii 8192 x 4",
      mode: "netascii",
      blksize: 8192,
      windowsize: 4,
    },
  ];
  for (const { name, ...opts } of cases) {
    await t.step(name, () =>
      withServer(async (port, storage) => {
        const data = opts.mode === "netascii"
          ? edgyText(SIZE)
          : randomBytes(SIZE);
        const source = new RecordingHandle(data, storage);
        const result = await tftpPut("up.bin", {
          host: "127.0.0.1",
          port,
          retransmitMs: 2000,
          ...opts,
          source,
        });
        assert.equal(result.bytes, SIZE);
        const stored = storage.inner.files.get("up.bin");
        assert.ok(stored instanceof Uint8Array);
        assert.equal(sha256(stored), sha256(data));
        const blksize = opts.blksize ?? 512;
        const window = blksize * (opts.windowsize ?? 1);
        assert.ok(
          source.largestRead <= Math.max(blksize, CHUNK),
          `largest read ${source.largestRead}`,
        );
        assert.ok(
          source.largestLead <= window + CHUNK,
          `read ${source.largestLead} bytes ahead of the server`,
        );
        // Read once (loopback loses nothing), not once per block size.
        assert.ok(source.bytesRead < 2 * SIZE, `${source.bytesRead} read`);
      }));
  }
});

Deno.test("put netascii with tsize: the size pass reads in bounded chunks too", async () => {
  await withServer(async (port, storage) => {
    const data = edgyText(SIZE);
    const source = new RecordingHandle(data, storage);
    const result = await tftpPut("t.txt", {
      host: "127.0.0.1",
      port,
      mode: "netascii",
      tsize: true,
      windowsize: 8,
      source,
    });
    assert.equal(result.bytes, SIZE);
    const crlf = data.filter((b) => b === 10 || b === 13).length;
    assert.equal(result.options.get("tsize"), String(SIZE + crlf));
    assert.equal(
      sha256(storage.inner.files.get("t.txt") as Uint8Array),
      sha256(data),
    );
    assert.ok(
      source.largestRead <= CHUNK,
      `largest read ${source.largestRead}`,
    );
  });
});
