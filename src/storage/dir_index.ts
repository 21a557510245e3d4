/**
 * Case-insensitive lookup for `--ignore-case`: per directory, a map from
 * lower-cased name to the real name, built from one listing and reused
 * until the directory changes (another inode, another mtime). Bounded in
 * memory: least recently used directories are dropped past a number of
 * directories or of entries in all.
 *
 * @module
 */

import { foldName } from "./fold.ts";
import type { FsCalls } from "./sys.ts";

/** Bounds of a {@linkcode DirIndex}. */
export interface DirIndexLimits {
  /** Most directories kept. */
  maxDirs: number;
  /** Most entries kept over all directories. */
  maxEntries: number;
  /**
   * Most entries in one directory; a larger one gets no case-insensitive
   * matches (exact names still work).
   */
  maxDirEntries: number;
}

/** Default {@linkcode DirIndexLimits}. */
export const DIR_INDEX_LIMITS: DirIndexLimits = {
  maxDirs: 256,
  maxEntries: 200_000,
  maxDirEntries: 100_000,
};

/**
 * A listing is trusted only when the directory's mtime is this much older
 * than the listing (ms): an entry added within the same timestamp tick
 * would not change the mtime, so a fresher listing is used once and read
 * again next time.
 */
const RACY_MS = 1000;

interface Entry {
  mtimeMs: number;
  /** undefined: the directory has more than `maxDirEntries` entries. */
  names: Map<string, string> | undefined;
  size: number;
}

/** What a lookup found. */
export type Lookup =
  | { kind: "found"; name: string }
  | { kind: "none" }
  | { kind: "too-large" };

/**
 * The per-directory index; one per storage, shared by its per-client roots.
 *
 * @example
 * ```ts
 * import { DirIndex } from "./dir_index.ts";
 * import type { FsCalls } from "./sys.ts";
 * const dir = { dev: 1, ino: 2, mtimeMs: 0, ctimeMs: 0, size: 0, isFile: false, isDirectory: true, isSymlink: false };
 * const calls = {
 *   stat: () => dir,
 *   readDir: () => [{ name: "BCD", isFile: true, isDirectory: false }],
 * } as unknown as FsCalls;
 * const found = new DirIndex(calls).lookup("bcd");
 * if (found.kind !== "found" || found.name !== "BCD") throw new Error();
 * ```
 */
export class DirIndex {
  /** The bounds in force. */
  readonly limits: DirIndexLimits;
  #calls: FsCalls;
  #now: () => number;
  #dirs = new Map<string, Entry>();
  #entries = 0;

  /**
   * @param calls File-system calls (listing and stat).
   * @param opts Bounds, and a clock (ms) for the racy-listing rule.
   */
  constructor(
    calls: FsCalls,
    opts: { limits?: Partial<DirIndexLimits>; now?: () => number } = {},
  ) {
    this.#calls = calls;
    this.limits = { ...DIR_INDEX_LIMITS, ...opts.limits };
    this.#now = opts.now ?? Date.now;
  }

  /** Directories and entries held now. */
  get size(): { dirs: number; entries: number } {
    return { dirs: this.#dirs.size, entries: this.#entries };
  }

  /**
   * Finds `name` ignoring case in the working directory. Call it only
   * inside the cwd lock.
   *
   * @param name One path segment.
   * @returns The real name, none, or that the directory is too large.
   */
  lookup(name: string): Lookup {
    const st = this.#calls.stat(".");
    const key = `${st.dev}:${st.ino}`;
    let entry = this.#dirs.get(key);
    if (entry && entry.mtimeMs === st.mtimeMs) {
      this.#dirs.delete(key);
      this.#dirs.set(key, entry);
    } else {
      if (entry) this.#drop(key, entry);
      entry = this.#list(st.mtimeMs);
      if (this.#now() - st.mtimeMs > RACY_MS) this.#keep(key, entry);
    }
    if (!entry.names) return { kind: "too-large" };
    const real = entry.names.get(foldName(name));
    return real === undefined
      ? { kind: "none" }
      : { kind: "found", name: real };
  }

  #list(mtimeMs: number): Entry {
    let names: Map<string, string> | undefined = new Map();
    let size = 0;
    for (const e of this.#calls.readDir(".")) {
      if (++size > this.limits.maxDirEntries) {
        names = undefined;
        size = 0;
        break;
      }
      const key = foldName(e.name);
      const prev = names.get(key);
      // Several names differing only in case: the same one every time.
      if (prev === undefined || e.name < prev) names.set(key, e.name);
    }
    return { mtimeMs, names, size };
  }

  #keep(key: string, entry: Entry): void {
    if (entry.size > this.limits.maxEntries) return;
    this.#dirs.set(key, entry);
    this.#entries += entry.size;
    for (const [k, e] of this.#dirs) {
      if (
        this.#dirs.size <= this.limits.maxDirs &&
        this.#entries <= this.limits.maxEntries
      ) break;
      this.#drop(k, e);
    }
  }

  #drop(key: string, entry: Entry): void {
    this.#dirs.delete(key);
    this.#entries -= entry.size;
  }
}
