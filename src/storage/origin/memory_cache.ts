/**
 * Origin responses kept in memory, least recently used evicted first,
 * bounded in bytes.
 *
 * @module
 */

import type { CachePolicy } from "./policy.ts";

/** One stored response. */
export interface MemoryEntry {
  /** Its cache policy. */
  policy: CachePolicy;
  /** Its body. */
  bytes: Uint8Array;
}

/**
 * A byte-bounded LRU map of names to responses.
 *
 * @example
 * ```ts
 * import { MemoryCache } from "./memory_cache.ts";
 * const cache = new MemoryCache(4);
 * const policy = { shared: true, freshUntil: 0, noCache: false };
 * cache.set("a", { policy, bytes: new Uint8Array(2) });
 * cache.set("b", { policy, bytes: new Uint8Array(2) });
 * cache.get("a");
 * cache.set("c", { policy, bytes: new Uint8Array(2) });
 * if (cache.get("b") || !cache.get("a")) throw new Error();
 * ```
 */
export class MemoryCache {
  /** Most bytes held (bodies only). */
  readonly maxBytes: number;
  #entries = new Map<string, MemoryEntry>();
  #bytes = 0;

  /**
   * An LRU cache holding at most `maxBytes`.
   *
   * @param maxBytes Most bytes held.
   */
  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Entries held now. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Looks a name up and marks it as just used.
   *
   * @param key Normalised name.
   * @returns The entry, if held.
   */
  get(key: string): MemoryEntry | undefined {
    const e = this.#entries.get(key);
    if (e) {
      this.#entries.delete(key);
      this.#entries.set(key, e);
    }
    return e;
  }

  /**
   * Stores a response, evicting the least recently used ones to make room.
   *
   * @param key Normalised name.
   * @param entry The response.
   * @returns false when it is larger than the whole cache (not stored;
   * an older entry for the name is dropped).
   */
  set(key: string, entry: MemoryEntry): boolean {
    this.delete(key);
    if (entry.bytes.length > this.maxBytes) return false;
    // A view keeps its whole buffer alive (a body grown to 64 KiB for 10
    // bytes), and the bound counts bytes held: keep a copy of just them.
    if (entry.bytes.byteLength !== entry.bytes.buffer.byteLength) {
      entry = { ...entry, bytes: entry.bytes.slice() };
    }
    this.#entries.set(key, entry);
    this.#bytes += entry.bytes.length;
    for (const [k, e] of this.#entries) {
      if (this.#bytes <= this.maxBytes) break;
      this.#entries.delete(k);
      this.#bytes -= e.bytes.length;
    }
    return true;
  }

  /**
   * Drops a name.
   *
   * @param key Normalised name.
   */
  delete(key: string): void {
    const e = this.#entries.get(key);
    if (!e) return;
    this.#entries.delete(key);
    this.#bytes -= e.bytes.length;
  }
}
