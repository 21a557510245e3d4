/**
 * The origin cache as the storage sees it: memory first, then the
 * directory, either of them optional.
 *
 * @module
 */

import { BytesReadHandle } from "../memory.ts";
import type { ReadHandle } from "../types.ts";
import type { DirCache } from "./dir_cache.ts";
import type { MemoryCache } from "./memory_cache.ts";
import type { CachePolicy } from "./policy.ts";

/** A stored response found for a name. */
export interface CacheHit {
  /** Its policy. */
  readonly policy: CachePolicy;
  /** Body length. */
  readonly size: number;
  /** A handle on the body (call once, or call {@linkcode CacheHit.discard}). */
  take(): ReadHandle;
  /** Releases the hit without reading it. */
  discard(): void;
}

interface MemoryHit extends CacheHit {
  readonly bytes: Uint8Array;
}

interface DirectoryHit extends CacheHit {
  readonly id: string;
}

/**
 * Memory and directory layers behind one interface.
 *
 * @example
 * ```ts
 * import { OriginCache } from "./cache.ts";
 * import { MemoryCache } from "./memory_cache.ts";
 * const cache = new OriginCache({ memory: new MemoryCache(1024) });
 * const policy = { shared: true, freshUntil: Date.now() + 1000, noCache: false };
 * await cache.put("a", policy, new Uint8Array(3));
 * const hit = await cache.get("a");
 * if (hit?.take().size !== 3) throw new Error();
 * ```
 */
export class OriginCache {
  #memory?: MemoryCache;
  #dir?: DirCache;
  #namespace: string;

  /**
   * A cache over a memory layer, a directory layer or both.
   *
   * @param layers The memory and/or directory layer, and a `namespace`
   * prefixed to every name (so origins sharing a directory never mix).
   */
  constructor(
    layers: { memory?: MemoryCache; dir?: DirCache; namespace?: string },
  ) {
    this.#memory = layers.memory;
    this.#dir = layers.dir;
    this.#namespace = layers.namespace ?? "";
  }

  /**
   * Looks a name up, memory first.
   *
   * @param name Normalised name.
   * @returns The stored response, or undefined.
   */
  async get(name: string): Promise<CacheHit | undefined> {
    const key = this.#namespace + name;
    const m = this.#memory?.get(key);
    if (m) {
      const hit: MemoryHit = {
        policy: m.policy,
        size: m.bytes.length,
        bytes: m.bytes,
        take: () => new BytesReadHandle(m.bytes),
        discard: () => {},
      };
      return hit;
    }
    const d = await this.#dir?.get(key);
    if (!d) return undefined;
    const hit: DirectoryHit = {
      policy: d.policy,
      size: d.size,
      id: d.id,
      take: () => d.handle,
      discard: () => d.handle.close(),
    };
    return hit;
  }

  /**
   * Stores a response in every layer.
   *
   * @param name Normalised name.
   * @param policy Its policy.
   * @param bytes Its body (kept as is in memory: do not change it).
   */
  async put(
    name: string,
    policy: CachePolicy,
    bytes: Uint8Array,
  ): Promise<void> {
    const key = this.#namespace + name;
    this.#memory?.set(key, { policy, bytes });
    await this.#dir?.put(key, policy, bytes);
  }

  /**
   * Gives a stored response the policy a 304 brought.
   *
   * @param name Normalised name.
   * @param hit The stale hit that was revalidated.
   * @param policy The refreshed policy.
   */
  refresh(name: string, hit: CacheHit, policy: CachePolicy): void {
    const key = this.#namespace + name;
    if ("bytes" in hit) {
      this.#memory?.set(key, { policy, bytes: (hit as MemoryHit).bytes });
    } else if ("id" in hit) {
      this.#dir?.refresh(key, (hit as DirectoryHit).id, policy);
    }
  }

  /**
   * Forgets a name in every layer.
   *
   * @param name Normalised name.
   */
  async delete(name: string): Promise<void> {
    const key = this.#namespace + name;
    this.#memory?.delete(key);
    await this.#dir?.delete(key);
  }
}
