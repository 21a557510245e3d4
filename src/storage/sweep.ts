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

import { isTemporaryName } from "./clean_name.ts";
import { CwdLock } from "./cwd_lock.ts";
import type { FsCalls } from "./sys.ts";

/** Bounds of {@linkcode removeStaleUploads}. */
export interface SweepLimits {
  /** Most directory entries looked at in all. */
  maxEntries: number;
  /** Deepest directory entered (the root is depth 0). */
  maxDepth: number;
}

/**
 * How long an upload's temporary file must have been left unchanged before
 * the sweep takes it for a leftover: far longer than an upload may go
 * without progress (`--max-idle`, 30 s by default), so another server's
 * upload in progress on the same root is never taken.
 */
export const STALE_UPLOAD_MS = 10 * 60 * 1000;

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

/** What a walk is told about each directory it may enter. */
interface WalkOptions {
  calls: FsCalls;
  limits?: Partial<SweepLimits>;
  /** Called inside the directory (the working directory) per regular file. */
  onFile?: (name: string, rel: string) => void;
  /** Whether to enter a subdirectory (default: yes). */
  enter?: (rel: string, path: string) => boolean;
}

/**
 * Walks the directories under `root` within the bounds, each entered as in
 * `confined.ts` and checked to be exactly where the walk expects, so no
 * symlink is ever followed.
 */
function walk(
  root: string,
  opts: WalkOptions,
): Pick<SweepResult, "entries" | "truncated"> {
  const limits = { ...SWEEP_LIMITS, ...opts.limits };
  const c = opts.calls;
  const lock = CwdLock.forThread();
  const result = { entries: 0, truncated: false };
  const pending: { rel: string; depth: number }[] = [{ rel: "", depth: 0 }];
  while (pending.length > 0) {
    const { rel, depth } = pending.pop()!;
    const path = rel ? `${root}/${rel}` : root;
    const subdirs = lock.run(() => {
      const subdirs: string[] = [];
      try {
        c.chdir(path);
        // Exactly there: no component of the way was a symlink.
        if (c.cwd() !== path) return subdirs;
        for (const e of c.readDir(".")) {
          if (++result.entries > limits.maxEntries) {
            result.truncated = true;
            break;
          }
          if (e.isFile) opts.onFile?.(e.name, rel);
          else if (e.isDirectory) {
            if (depth < limits.maxDepth) subdirs.push(e.name);
            else result.truncated = true;
          }
        }
      } catch { /* unreadable directory: skipped */ }
      return subdirs;
    });
    if (result.truncated && result.entries > limits.maxEntries) break;
    for (const d of subdirs) {
      const sub = rel ? `${rel}/${d}` : d;
      if (opts.enter?.(sub, `${root}/${sub}`) === false) continue;
      pending.push({ rel: sub, depth: depth + 1 });
    }
  }
  return result;
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
 * const calls = realFsCalls();
 * // Fresh: it may be another server's upload in progress.
 * if (removeStaleUploads(root, { calls }).removed.length !== 0) throw new Error();
 * const later = Date.now() + 3_600_000;
 * const done = removeStaleUploads(root, { calls, now: later });
 * if (done.removed.length !== 1) throw new Error();
 * await Deno.remove(root, { recursive: true });
 * ```
 *
 * @param root Real path of the root.
 * @param opts The calls to make, bounds, `onRemove` called per file, and
 *   `now` (ms since the epoch) and `staleMs` (default
 *   {@linkcode STALE_UPLOAD_MS}) for the age a leftover must have.
 * @returns What was removed and looked at.
 */
export function removeStaleUploads(
  root: string,
  opts: {
    calls: FsCalls;
    limits?: Partial<SweepLimits>;
    onRemove?: (path: string) => void;
    now?: number;
    staleMs?: number;
  },
): SweepResult {
  const before = (opts.now ?? Date.now()) - (opts.staleMs ?? STALE_UPLOAD_MS);
  const c = opts.calls;
  const removed: string[] = [];
  const walked = walk(root, {
    calls: c,
    limits: opts.limits,
    onFile: (name, rel) => {
      if (!isTemporaryName(name)) return;
      try {
        const st = c.lstat(name);
        if (!st.isFile || st.mtimeMs > before) return;
        c.remove(name);
      } catch {
        return; // gone or not ours to remove
      }
      removed.push(rel ? `${rel}/${name}` : name);
    },
  });
  for (const path of removed) opts.onRemove?.(path);
  return { removed, ...walked };
}

/**
 * The directories under `root` that Deno's permissions let uploads into,
 * when the root itself is not granted (`--allow-write=ROOT/incoming`):
 * the shallowest ones, at most `max`, sorted.
 *
 * @example
 * ```ts
 * import { grantedUploadDirs } from "./sweep.ts";
 * import { realFsCalls } from "./sys.ts";
 * const root = await Deno.realPath(await Deno.makeTempDir());
 * await Deno.mkdir(`${root}/incoming`);
 * const calls = { ...realFsCalls(), canWrite: (p: string) => p.endsWith("/incoming") };
 * const found = grantedUploadDirs(root, { calls });
 * if (found.dirs.join() !== "incoming") throw new Error();
 * await Deno.remove(root, { recursive: true });
 * ```
 *
 * @param root Real path of the root.
 * @param opts The calls to make, bounds, and the most directories to name.
 * @returns The directories (relative to the root) and whether the walk
 *   was cut short, by a bound or by finding `max`.
 */
export function grantedUploadDirs(
  root: string,
  opts: { calls: FsCalls; limits?: Partial<SweepLimits>; max?: number },
): { dirs: string[]; truncated: boolean } {
  const max = opts.max ?? 4;
  const dirs: string[] = [];
  const walked = walk(root, {
    calls: opts.calls,
    limits: opts.limits,
    enter: (rel, path) => {
      if (dirs.length >= max) return false;
      if (!opts.calls.canWrite(path)) return true;
      dirs.push(rel);
      return false;
    },
  });
  return {
    dirs: dirs.sort(),
    truncated: walked.truncated || dirs.length >= max,
  };
}
