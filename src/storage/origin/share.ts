/**
 * The origin settings as a server takes them, and how the memory cache is
 * split between worker threads: light, so a server without an origin need not
 * load the origin storage.
 *
 * @module
 */

import { ORIGIN_DEFAULTS } from "../../defaults.ts";

/** The bounds of one origin storage (see {@linkcode originShare}). */
export interface OriginBounds {
  /** Ms from asking (queueing included) to the response headers (default 5000). */
  timeoutMs?: number;
  /** Longest silence within a body, ms (default 10000). */
  idleTimeoutMs?: number;
  /** Origin requests at once, bodies included (default 16). */
  maxConcurrent?: number;
  /** Same-origin redirects followed (default 3). */
  maxRedirects?: number;
  /** Largest body served, bytes (default 256 MiB; ERROR 3 beyond). */
  maxObjectBytes?: number;
  /** Memory cache bound, bytes (default 64 MiB; 0: no memory cache). */
  cacheMemoryBytes?: number;
}

/**
 * The origin as `ServerOptions.origin` takes it: plain data (no `URL`, no
 * `Headers`), so each worker thread builds its own storage from a copy.
 * Bounds are for the whole server; {@linkcode originShare} splits the
 * memory cache between threads, which share one count of requests at once.
 */
export interface OriginSettings extends OriginBounds {
  /** Origin base URL (`--origin`). */
  url: string;
  /** Serve every name from the origin; no root (`--origin-only`). */
  only?: boolean;
  /** Directory cache (`--origin-cache-dir`), shared by threads and processes. */
  cacheDir?: string;
  /** Directory cache bound, bytes (default 1 GiB). */
  cacheDirBytes?: number;
  /** Extra request headers as name and value (`--origin-header`). */
  headers?: [string, string][];
}

/**
 * One thread's share of the memory cache, which each storage instance
 * keeps on its own, so the server's total stays within what was
 * configured: each of `threads` gets an equal part. Origin requests at
 * once are not split: the threads count them together (see
 * `sharedSlots`), so every one of them may use any free slot.
 *
 * @example
 * ```ts
 * import { originShare } from "./share.ts";
 * const s = originShare({ url: "http://o/", maxConcurrent: 6 }, 4);
 * if (s.maxConcurrent !== 6) throw new Error();
 * if (s.cacheMemoryBytes !== 16 * 1024 * 1024) throw new Error();
 * ```
 *
 * @param settings The whole server's settings.
 * @param threads Threads that each build a storage.
 * @returns The settings for one of them.
 */
export function originShare(
  settings: OriginSettings,
  threads: number,
): OriginSettings {
  if (threads <= 1) return settings;
  const memory = settings.cacheMemoryBytes ?? ORIGIN_DEFAULTS.cacheMemoryBytes;
  return { ...settings, cacheMemoryBytes: Math.floor(memory / threads) };
}
