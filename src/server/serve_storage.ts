/**
 * Where a server that was given no storage serves from: its origin (with
 * the root beside it unless the origin serves every name), else its root.
 *
 * @module
 */

import { ORIGIN_DEFAULTS } from "../defaults.ts";
import type { Logger } from "../log.ts";
import { openRootStorage } from "../storage/fs_root.ts";
import type { ClosableStorage } from "../storage/origin/composite.ts";
import { originShare } from "../storage/origin/share.ts";
import {
  type SharedSlots,
  sharedSlots,
} from "../storage/origin/shared_limit.ts";
import type { Storage } from "../storage/types.ts";
import type { ServerOptions } from "./options.ts";

/** What {@linkcode openServerStorage} opened. */
export interface ServerStorage {
  /** The storage to serve from. */
  storage: Storage;
  /** Set when the server must close it (an origin's connections, cache). */
  owned?: ClosableStorage;
  /** What it serves, for the listening line. */
  serves: string;
  /**
   * With worker threads, the origin's bound on requests at once, which
   * this thread (number 0) shares with them: hand it to each.
   */
  originSlots?: SharedSlots;
}

/**
 * Opens the storage the options describe. The origin client is loaded only
 * when an origin is set: it was 15 ms of every server's start-up (2 vCPUs).
 *
 * @example
 * ```ts
 * import { openServerStorage } from "./serve_storage.ts";
 * import { Logger } from "../log.ts";
 * const root = await Deno.makeTempDir();
 * const log = new Logger({ stderr: false });
 * const { owned, serves } = await openServerStorage({ root }, log);
 * await Deno.remove(root);
 * if (owned || !serves.startsWith("root ")) throw new Error(serves);
 * ```
 *
 * @param options The server's options (`root`, `origin`, `workers` ...).
 * @param log Where warnings go (read-only root, origin problems).
 * @returns The storage and what it serves.
 */
export async function openServerStorage(
  options: ServerOptions,
  log: Logger,
): Promise<ServerStorage> {
  const origin = options.origin;
  if (!origin) {
    const storage = await openRootStorage(options, log);
    return { storage, serves: storage.describe() };
  }
  const { openOriginStorage, originOptions } = await import(
    "../storage/origin.ts"
  );
  const threads = options.workers ?? 1;
  const share = originShare(origin, threads);
  const slots = threads > 1
    ? sharedSlots(share.maxConcurrent ?? ORIGIN_DEFAULTS.maxConcurrent, threads)
    : undefined;
  const owned = await openOriginStorage(
    originOptions(share, options, { slots }),
    log,
  );
  const what = owned.describe?.() ?? "origin";
  return {
    storage: owned,
    owned,
    serves: origin.only ? `no root, ${what} (every name)` : what,
    originSlots: slots,
  };
}
