/**
 * Where a server's files come from and go to: the {@linkcode Storage}
 * interface, the file system confined to a root ({@linkcode FsStorage}),
 * per-client roots ({@linkcode PerClientStorage}) and in-memory or
 * generated content ({@linkcode MemoryStorage}).
 *
 * @example Generated content
 * ```ts
 * import { MemoryStorage } from "./mod.ts";
 * const storage = new MemoryStorage({ "motd.txt": "hello\n" });
 * const h = await storage.openRead("motd.txt", { hostname: "10.0.0.1", port: 1, mode: "octet" });
 * if (h.size !== 6) throw new Error();
 * ```
 *
 * @module
 */

export type { ReadHandle, RequestInfo, Storage, WriteHandle } from "./types.ts";
export { FsStorage, type FsStorageOptions, TEMP_PREFIX } from "./files.ts";
export {
  clientDirName,
  isClientDirName,
  PerClientStorage,
} from "./per_client.ts";
export type { FsCalls, FsDirEntry, FsStat } from "./sys.ts";
export type { DirIndexLimits } from "./dir_index.ts";
export { openWithin, type Releasable } from "./deadline.ts";
export {
  BytesReadHandle,
  type MemoryEntry,
  MemoryStorage,
  type MemoryStorageOptions,
} from "./memory.ts";
