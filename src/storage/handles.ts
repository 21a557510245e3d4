/**
 * Read and write handles over files opened by {@linkcode Confined}.
 *
 * @module
 */

import { ErrorCode, TftpError } from "../protocol/packet.ts";
import { CHUNK_BYTES, type ChunkCache } from "./chunk_cache.ts";
import type { Confined } from "./confined.ts";
import type { UploadSlot } from "./confined_types.ts";
import type { FsCalls } from "./sys.ts";
import type { ReadHandle, WriteHandle } from "./types.ts";

/** Bytes read at once by {@linkcode FileReadHandle} for small blocks. */
const READ_AHEAD = CHUNK_BYTES;
/** Bytes gathered by {@linkcode FileWriteHandle} before one write. */
const WRITE_BUFFER = 65536;

/** Free read-ahead buffers a {@linkcode ReadAheadPool} keeps at most. */
const POOL_KEEP = 16;

/**
 * Read-ahead buffers handed from closed files to new ones. A fresh 64 KiB
 * buffer per transfer cost about 45 us (zeroing, page faults, GC of the
 * external memory) of a short transfer's ~250 us open; a storm opens the
 * same few files again and again. At most {@linkcode POOL_KEEP} free
 * buffers (1 MiB) are kept.
 *
 * @example
 * ```ts
 * import { ReadAheadPool } from "./handles.ts";
 * const pool = new ReadAheadPool();
 * const a = pool.take();
 * pool.give(a);
 * if (pool.take() !== a) throw new Error();
 * ```
 */
export class ReadAheadPool {
  #free: Uint8Array[] = [];

  /**
   * A buffer of the read-ahead size (contents undefined).
   *
   * @returns The buffer, owned by the caller until given back.
   */
  take(): Uint8Array {
    return this.#free.pop() ?? new Uint8Array(READ_AHEAD);
  }

  /**
   * Gives a buffer back (dropped when enough are kept).
   *
   * @param buf A buffer from {@linkcode ReadAheadPool.take}.
   */
  give(buf: Uint8Array): void {
    if (this.#free.length < POOL_KEEP) this.#free.push(buf);
  }
}

/** A regular file opened for reading, read synchronously into caller buffers. */
export class FileReadHandle implements ReadHandle {
  /** File size in bytes at open time. */
  readonly size: number;
  #fd: number | undefined;
  #calls: Pick<FsCalls, "read" | "close">;
  #pool: ReadAheadPool | undefined;
  #ahead: Uint8Array | undefined;
  #aheadStart = 0;
  #aheadLen = 0;
  #shared: { cache: ChunkCache; key: string } | undefined;
  #chunk: Uint8Array | undefined;
  #chunkIndex = -1;

  /**
   * Wraps a descriptor opened by storage.
   *
   * @param fd Open descriptor (owned from now on).
   * @param opts Its size, the calls to read it with, where its read-ahead
   * buffer comes from and goes back to, and `shared`: the cache whose
   * chunks it shares with other readers of the same file version (see
   * `contentKey` in chunk_cache.ts).
   */
  constructor(
    fd: number,
    opts: {
      size: number;
      calls: Pick<FsCalls, "read" | "close">;
      pool?: ReadAheadPool;
      shared?: { cache: ChunkCache; key: string };
    },
  ) {
    this.#fd = fd;
    this.size = opts.size;
    this.#calls = opts.calls;
    this.#pool = opts.pool;
    this.#shared = opts.shared;
    this.#shared?.cache.open(this.#shared.key);
  }

  /**
   * Fills `buf` from `offset`. Small reads are served from a 64 KiB
   * read-ahead buffer, so a 512-byte lock-step transfer costs one read op
   * per 128 blocks instead of one per block (ops, not bytes, are what cost
   * in Deno).
   *
   * @param offset Byte offset.
   * @param buf Destination.
   * @returns Bytes copied; fewer than `buf.length` only at the end.
   */
  read(offset: number, buf: Uint8Array): number {
    if (buf.length > READ_AHEAD / 2) return this.#readAt(offset, buf);
    const shared = this.#shared;
    // Alone, a reader keeps its own buffer: nobody would use its chunks.
    if (shared && shared.cache.readers(shared.key) > 1) {
      return this.#readShared(offset, buf);
    }
    let start = offset - this.#aheadStart;
    if (
      !this.#ahead || start < 0 ||
      (start + buf.length > this.#aheadLen &&
        this.#aheadStart + this.#aheadLen < this.size)
    ) {
      this.#ahead ??= this.#pool?.take() ?? new Uint8Array(READ_AHEAD);
      this.#aheadStart = offset;
      this.#aheadLen = this.#readAt(offset, this.#ahead);
      start = 0;
    }
    const n = Math.max(0, Math.min(buf.length, this.#aheadLen - start));
    buf.set(this.#ahead.subarray(start, start + n));
    return n;
  }

  #readShared(offset: number, buf: Uint8Array): number {
    let n = 0;
    while (n < buf.length && offset + n < this.size) {
      const pos = offset + n;
      const index = Math.floor(pos / CHUNK_BYTES);
      const chunk = this.#chunkAt(index);
      const from = pos - index * CHUNK_BYTES;
      if (from >= chunk.length) break;
      const take = Math.min(buf.length - n, chunk.length - from);
      buf.set(chunk.subarray(from, from + take), n);
      n += take;
    }
    return n;
  }

  #chunkAt(index: number): Uint8Array {
    if (this.#chunk && this.#chunkIndex === index) return this.#chunk;
    const { cache, key } = this.#shared!;
    let chunk = cache.get(key, index);
    if (!chunk) {
      const start = index * CHUNK_BYTES;
      const want = Math.min(CHUNK_BYTES, this.size - start);
      chunk = new Uint8Array(want);
      this.#readAt(start, chunk);
      cache.put(key, index, chunk);
    }
    this.#chunk = chunk;
    this.#chunkIndex = index;
    return chunk;
  }

  // Reads stop at the size of the file at open, which the client may have
  // been told (tsize): a file that grows since is served as it was, and
  // one that shrinks (rewritten in place, `cp new old`) fails the transfer
  // rather than end it early as if complete.
  #readAt(offset: number, buf: Uint8Array): number {
    if (this.#fd === undefined) throw new Error("file already closed");
    const want = Math.max(0, Math.min(buf.length, this.size - offset));
    let n = 0;
    while (n < want) {
      const got = this.#calls.read(
        this.#fd,
        buf.subarray(n, want),
        offset + n,
      );
      if (got === 0) {
        throw new TftpError(
          ErrorCode.NOT_DEFINED,
          "file changed during the transfer",
          { detail: `shorter than its ${this.size} bytes at open` },
        );
      }
      n += got;
    }
    return n;
  }

  /** Closes the file. */
  close(): void {
    if (this.#ahead) this.#pool?.give(this.#ahead);
    this.#ahead = undefined;
    this.#chunk = undefined;
    this.#shared?.cache.release(this.#shared.key);
    this.#shared = undefined;
    const fd = this.#fd;
    this.#fd = undefined;
    if (fd === undefined) return;
    try {
      this.#calls.close(fd);
    } catch { /* already closed */ }
  }
}

/**
 * A read handle over a `Deno.FsFile` opened elsewhere (the origin cache,
 * which opens its own files by absolute path, outside any served root).
 *
 * @example
 * ```ts
 * import { fsFileReadHandle } from "./handles.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "abc");
 * const h = fsFileReadHandle(await Deno.open(path), 3);
 * const buf = new Uint8Array(3);
 * if (h.read(0, buf) !== 3) throw new Error();
 * h.close();
 * await Deno.remove(path);
 * ```
 *
 * @param file The open file (owned from now on).
 * @param size Its size.
 * @returns The handle.
 */
export function fsFileReadHandle(
  file: Deno.FsFile,
  size: number,
): FileReadHandle {
  return new FileReadHandle(0, {
    size,
    calls: {
      read: (_fd, buf, position) => {
        file.seekSync(position, Deno.SeekMode.Start);
        return file.readSync(buf) ?? 0;
      },
      close: () => file.close(),
    },
  });
}

/** An upload into a temporary file, published by hard link on commit. */
export class FileWriteHandle implements WriteHandle {
  #slot: UploadSlot;
  #confined: Confined;
  #calls: FsCalls;
  #fd: number | undefined;
  #buf = new Uint8Array(WRITE_BUFFER);
  #fill = 0;
  #done = false;

  /**
   * Wraps an upload slot prepared by storage.
   *
   * @param slot The temporary file and target (its descriptor is owned from
   * now on).
   * @param opts Where it is confined and the calls to write with.
   */
  constructor(slot: UploadSlot, opts: { confined: Confined; calls: FsCalls }) {
    this.#slot = slot;
    this.#fd = slot.fd;
    this.#confined = opts.confined;
    this.#calls = opts.calls;
  }

  /**
   * Appends bytes to the temporary file.
   *
   * @param data Bytes to append.
   */
  write(data: Uint8Array): void {
    if (this.#fd === undefined) throw new Error("upload already finished");
    // Small blocks are gathered into 64 KiB writes: one op per many blocks.
    if (this.#fill + data.length > this.#buf.length) this.#flush();
    if (data.length >= this.#buf.length) {
      this.#writeAll(data);
      return;
    }
    this.#buf.set(data, this.#fill);
    this.#fill += data.length;
  }

  #writeAll(data: Uint8Array): void {
    let off = 0;
    while (off < data.length) {
      off += this.#calls.write(this.#fd!, data.subarray(off));
    }
  }

  #flush(): void {
    if (this.#fill === 0 || this.#fd === undefined) return;
    this.#writeAll(this.#buf.subarray(0, this.#fill));
    this.#fill = 0;
  }

  #closeFile(): void {
    const fd = this.#fd;
    this.#fd = undefined;
    if (fd === undefined) return;
    try {
      this.#calls.close(fd);
    } catch { /* already closed */ }
  }

  /**
   * Publishes the file atomically: without overwriting anything (ERROR 6 if
   * the name is taken), or replacing a regular file when overwrite is on.
   */
  commit(): Promise<void> {
    try {
      this.#flush();
    } catch (err) {
      this.#closeFile();
      this.#discard();
      return Promise.reject(
        new TftpError(
          ErrorCode.DISK_FULL,
          `upload: write failed: ${(err as Error).message}`,
        ),
      );
    }
    this.#closeFile();
    this.#done = true;
    try {
      this.#confined.publish(this.#slot);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #discard(): void {
    if (this.#done) return;
    this.#done = true;
    try {
      this.#confined.discard(this.#slot);
    } catch { /* left for the sweep at the next start */ }
  }

  /** Deletes the temporary file. */
  abort(): Promise<void> {
    this.#closeFile();
    this.#discard();
    return Promise.resolve();
  }
}
