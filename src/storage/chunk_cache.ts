/**
 * One copy of the parts of a file that several transfers read at once.
 *
 * @module
 */

import type { FsStat } from "./sys.ts";

/** Bytes per shared chunk (the read-ahead size). */
export const CHUNK_BYTES = 65536;

/** Bytes of chunks one cache keeps at most, by default. */
const DEFAULT_BUDGET = 16 * 1024 * 1024;

/**
 * A file changed this recently may change again within the same timestamp
 * tick (Linux stamps files from a coarse clock), so its content could
 * differ under an identical stat; it is not shared.
 */
const SETTLE_MS = 1000;

/**
 * The key under which a file's chunks are shared, or `undefined` when the
 * file changed too recently to be told apart from its next version.
 *
 * @example
 * ```ts
 * import { contentKey } from "./chunk_cache.ts";
 * const st = { dev: 1, ino: 2, size: 3, mtimeMs: 0, ctimeMs: 0 };
 * if (contentKey(st, 5000) !== "1:2:3:0:0") throw new Error();
 * if (contentKey({ ...st, ctimeMs: 4500 }, 5000) !== undefined) throw new Error();
 * ```
 *
 * @param st The open file's stat (from its descriptor).
 * @param now The wall-clock time in ms.
 * @returns The key, or `undefined`.
 */
export function contentKey(
  st: Pick<FsStat, "dev" | "ino" | "size" | "mtimeMs" | "ctimeMs">,
  now: number,
): string | undefined {
  if (now - Math.max(st.mtimeMs, st.ctimeMs) <= SETTLE_MS) return undefined;
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
}

/**
 * Chunks of files being read, shared by the transfers that read the same
 * file version at the same time: a storm of clients fetching one boot
 * image costs one read and one buffer per chunk instead of one per client.
 * A file with one reader is not kept (its reader uses its own buffer);
 * least recently used chunks go first once the budget is spent; a file's
 * chunks go when its last reader closes, so an idle server holds none.
 *
 * @example
 * ```ts
 * import { ChunkCache } from "./chunk_cache.ts";
 * const cache = new ChunkCache({ budget: 4 });
 * cache.open("k");
 * cache.open("k");
 * if (cache.readers("k") !== 2) throw new Error();
 * cache.put("k", 0, new Uint8Array([1, 2, 3]));
 * if (cache.get("k", 0)?.length !== 3) throw new Error();
 * cache.put("k", 1, new Uint8Array([4, 5]));
 * if (cache.get("k", 0) !== undefined || cache.bytes > 2) throw new Error();
 * cache.release("k");
 * cache.release("k");
 * if (cache.bytes !== 0) throw new Error();
 * ```
 */
export class ChunkCache {
  #chunks = new Map<string, Uint8Array>();
  #bytes = 0;
  #readers = new Map<string, number>();
  #budget: number;

  /**
   * An empty cache.
   *
   * @param opts `budget`: bytes kept at most.
   */
  constructor(opts: { budget?: number } = {}) {
    this.#budget = opts.budget ?? DEFAULT_BUDGET;
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * How many readers have a file version open.
   *
   * @param key The file's {@linkcode contentKey}.
   * @returns The count.
   */
  readers(key: string): number {
    return this.#readers.get(key) ?? 0;
  }

  /**
   * A reader of `key` starts.
   *
   * @param key The file's {@linkcode contentKey}.
   */
  open(key: string): void {
    this.#readers.set(key, this.readers(key) + 1);
  }

  /**
   * A reader of `key` is done; the last one drops the file's chunks.
   *
   * @param key The file's {@linkcode contentKey}.
   */
  release(key: string): void {
    const left = this.readers(key) - 1;
    if (left > 0) return void this.#readers.set(key, left);
    this.#readers.delete(key);
    const prefix = `${key}#`;
    for (const [id, chunk] of this.#chunks) {
      if (!id.startsWith(prefix)) continue;
      this.#chunks.delete(id);
      this.#bytes -= chunk.length;
    }
  }

  /**
   * A chunk, if held (and marks it recently used).
   *
   * @param key The file's {@linkcode contentKey}.
   * @param index Chunk number from the start of the file.
   * @returns The chunk (never to be written to), or `undefined`.
   */
  get(key: string, index: number): Uint8Array | undefined {
    const id = `${key}#${index}`;
    const chunk = this.#chunks.get(id);
    if (chunk) {
      this.#chunks.delete(id);
      this.#chunks.set(id, chunk);
    }
    return chunk;
  }

  /**
   * Keeps a chunk just read, dropping the least recently used ones while
   * over budget. A chunk of a file nobody reads, or larger than the whole
   * budget, is not kept.
   *
   * @param key The file's {@linkcode contentKey}.
   * @param index Chunk number.
   * @param chunk Its bytes (owned by the cache from now on).
   */
  put(key: string, index: number, chunk: Uint8Array): void {
    if (!this.#readers.has(key) || chunk.length > this.#budget) return;
    const id = `${key}#${index}`;
    const old = this.#chunks.get(id);
    if (old) {
      this.#bytes -= old.length;
      this.#chunks.delete(id);
    }
    this.#chunks.set(id, chunk);
    this.#bytes += chunk.length;
    for (const [oldest, c] of this.#chunks) {
      if (this.#bytes <= this.#budget) break;
      this.#chunks.delete(oldest);
      this.#bytes -= c.length;
    }
  }
}
