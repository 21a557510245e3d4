/**
 * Opening the served directory as storage, with the permissions Deno grants.
 * Shared by the server and its worker threads.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import { CwdLock, type SharedCwdLock } from "./cwd_lock.ts";
import { FsStorage } from "./files.ts";
import { PerClientStorage } from "./per_client.ts";
import { removeStaleUploads } from "./sweep.ts";

/** The options that decide how the root is opened. */
export interface RootOptions {
  /** Directory to serve (default: current directory). */
  root?: string;
  /** Refuse all uploads. */
  readOnly?: boolean;
  /** `\\` to `/` and leading `/` stripped from names. */
  normalizeNames?: boolean;
  /** Find names case-insensitively when the exact name does not exist. */
  ignoreCase?: boolean;
  /** Let uploads replace existing regular files. */
  allowOverwrite?: boolean;
  /**
   * Serve `ROOT/<client>/` alone to a client when that directory exists;
   * other clients read the shared root (never a client directory) and
   * cannot upload.
   */
  perClientRoot?: boolean;
  /**
   * The main thread's cwd lock, for worker threads (see `cwd_lock.ts`);
   * {@linkcode sharedCwdLock} gives it.
   */
  cwdLock?: SharedCwdLock;
}

/**
 * What worker threads need to share this thread's cwd lock (put it in
 * {@linkcode RootOptions.cwdLock} of their setup).
 *
 * @example
 * ```ts
 * import { sharedCwdLock } from "./fs_root.ts";
 * if (!(sharedCwdLock().buffer instanceof SharedArrayBuffer)) throw new Error();
 * ```
 *
 * @returns The lock's shared part.
 */
export function sharedCwdLock(): SharedCwdLock {
  return CwdLock.forThread().shared;
}

/**
 * Opens the file-system root, checking read permission first.
 *
 * @param options Root and name handling.
 * @param log Where to warn that uploads are off for lack of permission, to
 * log the temporary files of a previous run it removes and what in the
 * layout per-client roots do not use (omit in worker threads: they
 * neither warn nor sweep).
 * @param serveLog Where to say what is met while serving (a client's
 * directory that is a symlink, the first time); default `log`. Worker
 * threads pass theirs.
 * @returns The storage.
 * @throws {Error} Saying what to fix: no read permission, missing root.
 */
export async function openRootStorage(
  options: RootOptions,
  log?: Logger,
  serveLog: Logger | undefined = log,
): Promise<FsStorage | PerClientStorage> {
  if (options.cwdLock) CwdLock.adopt(options.cwdLock);
  const root = options.root ?? ".";
  const read = await Deno.permissions.query({ name: "read", path: root });
  if (read.state !== "granted") {
    throw new Error(
      `no read permission on ${root}: run with --allow-read=${root}`,
    );
  }
  let storage: FsStorage;
  try {
    storage = await FsStorage.open(root, {
      writable: !options.readOnly,
      normalizeNames: options.normalizeNames,
      ignoreCase: options.ignoreCase,
      allowOverwrite: options.allowOverwrite,
    });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new Error(`root ${root} does not exist`);
    }
    if (err instanceof Deno.errors.NotCapable) {
      // The root is read by its real path (that is what names are
      // confined to), and Deno grants paths as written, not where they
      // lead: a symlinked root needs its target granted.
      let real: string | undefined;
      try {
        real = CwdLock.forThread().realPath(root);
      } catch { /* not there after all: Deno's own error says enough */ }
      if (real !== undefined) {
        throw new Deno.errors.NotCapable(
          `no read permission on ${real}, where the root ${root} leads ` +
            `(Deno's permissions do not follow symlinks): ` +
            `run with --allow-read=${real}`,
        );
      }
    }
    throw err;
  }
  if (log && !options.readOnly && !storage.canUpload()) {
    log.warn(
      `no write permission on ${storage.root}: serving read-only, ` +
        `uploads get ERROR 2 except in directories --allow-write grants`,
    );
  }
  if (log && !options.readOnly) {
    const swept = removeStaleUploads(storage.root, {
      calls: storage.calls,
      onRemove: (path) =>
        log.info(`removed ${JSON.stringify(path)}: left by an earlier run`),
    });
    if (swept.truncated) {
      log.warn(
        `stopped looking for leftover uploads after ${swept.entries} entries`,
      );
    }
  }
  if (!options.perClientRoot) return storage;
  const perClient = new PerClientStorage(storage, { log: serveLog });
  const warnings = log ? perClient.layoutWarnings() : [];
  for (const line of warnings) log?.warn(line);
  return perClient;
}
