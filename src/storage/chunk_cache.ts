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
 * Chunks of files being read, shared by every transfer of the same file
 * version: a storm of clients fetching one boot image costs one read and
 * one buffer per chunk instead of one per client. Least recently used
 * chunks go first once the budget is spent, and everything goes when the
 * last reader closes, so an idle server holds none.
 *
 * @example
 * ```ts
 * import { ChunkCache } from "./chunk_cache.ts";
 * const cache = new ChunkCache({ budget: 4 });
 * cache.open();
 * cache.put("k", 0, new Uint8Array([1, 2, 3]));
 * if (cache.get("k", 0)?.length !== 3) throw new Error();
 * cache.put("k", 1, new Uint8Array([4, 5]));
 * if (cache.get("k", 0) !== undefined || cache.bytes > 2) throw new Error();
 * cache.release();
 * if (cache.bytes !== 0) throw new Error();
 * ```
 */
export class ChunkCache {
  #chunks = new Map<string, Uint8Array>();
  #bytes = 0;
  #readers = 0;
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

  /** A reader starts using the cache. */
  open(): void {
    this.#readers++;
  }

  /** A reader is done; the last one empties the cache. */
  release(): void {
    if (this.#readers > 0) this.#readers--;
    if (this.#readers > 0) return;
    this.#chunks.clear();
    this.#bytes = 0;
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
   * over budget. A chunk larger than the whole budget is not kept.
   *
   * @param key The file's {@linkcode contentKey}.
   * @param index Chunk number.
   * @param chunk Its bytes (owned by the cache from now on).
   */
  put(key: string, index: number, chunk: Uint8Array): void {
    if (this.#readers === 0 || chunk.length > this.#budget) return;
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
