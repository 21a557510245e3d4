/**
 * Default bounds of the HTTP origin storage (milliseconds and bytes).
 *
 * @example
 * ```ts
 * import { ORIGIN_DEFAULTS } from "./defaults.ts";
 * if (ORIGIN_DEFAULTS.maxRedirects !== 3) throw new Error();
 * ```
 *
 * @module
 */

/** Defaults of `openOriginStorage` and the `--origin-*` flags. */
export const ORIGIN_DEFAULTS = {
  /** From asking (queueing included) to the response headers, ms. */
  timeoutMs: 5_000,
  /** Longest silence within a body, ms. */
  idleTimeoutMs: 10_000,
  /** Origin requests at once (bodies being read included). */
  maxConcurrent: 16,
  /** Same-origin redirects followed. */
  maxRedirects: 3,
  /** Largest body served, bytes (held in memory while it is read). */
  maxObjectBytes: 256 * 1024 * 1024,
  /** Memory cache, bytes (0: none). */
  cacheMemoryBytes: 64 * 1024 * 1024,
  /** Directory cache bound, bytes. */
  cacheDirBytes: 1024 * 1024 * 1024,
} as const;
