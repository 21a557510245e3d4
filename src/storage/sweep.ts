/**
 * After a crash: an upload in progress when the process was killed leaves
 * its temporary file (reserved prefix) behind. At start-up the server walks
 * the root and removes them: reserved names only, regular files only,
 * inside the root only (each directory entered as in `confined.ts` and
 * checked to be exactly where the walk expects, so no symlink is ever
 * followed), with a bounded walk.
 *
 * Two servers must not share a writable root: one starting would remove
 * the other's uploads in progress.
 *
 * @module
 */

import { isReservedSegment } from "./clean_name.ts";
import { CwdLock } from "./cwd_lock.ts";
import type { FsCalls } from "./sys.ts";

/** Bounds of {@linkcode removeStaleUploads}. */
export interface SweepLimits {
  /** Most directory entries looked at in all. */
  maxEntries: number;
  /** Deepest directory entered (the root is depth 0). */
  maxDepth: number;
}

/** Default {@linkcode SweepLimits}. */
export const SWEEP_LIMITS: SweepLimits = { maxEntries: 100_000, maxDepth: 32 };

/** What a sweep did. */
export interface SweepResult {
  /** Paths removed, relative to the root. */
  removed: string[];
  /** Entries looked at. */
  entries: number;
  /** Whether a bound stopped the walk early. */
  truncated: boolean;
}

/**
 * Removes temporary upload files left under `root`.
 *
 * @example
 * ```ts
 * import { removeStaleUploads } from "./sweep.ts";
 * import { realFsCalls } from "./sys.ts";
 * const root = await Deno.realPath(await Deno.makeTempDir());
 * await Deno.writeTextFile(`${root}/.tftp-upload-0123456789abcdef`, "x");
 * const done = removeStaleUploads(root, { calls: realFsCalls() });
 * if (done.removed.length !== 1) throw new Error();
 * await Deno.remove(root, { recursive: true });
 * ```
 *
 * @param root Real path of the root.
 * @param opts The calls to make, bounds, and `onRemove` called per file.
 * @returns What was removed and looked at.
 */
export function removeStaleUploads(
  root: string,
  opts: {
    calls: FsCalls;
    limits?: Partial<SweepLimits>;
    onRemove?: (path: string) => void;
  },
): SweepResult {
  const limits = { ...SWEEP_LIMITS, ...opts.limits };
  const c = opts.calls;
  const lock = CwdLock.forThread();
  const result: SweepResult = { removed: [], entries: 0, truncated: false };
  const pending: { rel: string; depth: number }[] = [{ rel: "", depth: 0 }];
  while (pending.length > 0) {
    const { rel, depth } = pending.pop()!;
    const path = rel ? `${root}/${rel}` : root;
    const found = lock.run(() => {
      const subdirs: string[] = [];
      const removed: string[] = [];
      try {
        c.chdir(path);
        // Exactly there: no component of the way was a symlink.
        if (c.cwd() !== path) return { subdirs, removed };
        for (const e of c.readDir(".")) {
          if (++result.entries > limits.maxEntries) {
            result.truncated = true;
            break;
          }
          if (e.isFile && isReservedSegment(e.name)) {
            try {
              if (c.lstat(e.name).isFile) {
                c.remove(e.name);
                removed.push(rel ? `${rel}/${e.name}` : e.name);
              }
            } catch { /* gone or not ours to remove */ }
          } else if (e.isDirectory) {
            if (depth < limits.maxDepth) subdirs.push(e.name);
            else result.truncated = true;
          }
        }
      } catch { /* unreadable directory: skipped */ }
      return { subdirs, removed };
    });
    for (const r of found.removed) {
      result.removed.push(r);
      opts.onRemove?.(r);
    }
    if (result.truncated && result.entries > limits.maxEntries) break;
    for (const d of found.subdirs) {
      pending.push({ rel: rel ? `${rel}/${d}` : d, depth: depth + 1 });
    }
  }
  return result;
}
