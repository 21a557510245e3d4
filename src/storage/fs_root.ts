/**
 * Opening the served directory as storage, with the permissions Deno grants.
 * Shared by the server and its worker threads.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import { FsStorage, PerClientStorage } from "./files.ts";

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
  /** Serve `ROOT/<client ip>/` to a client when that directory exists. */
  perClientRoot?: boolean;
}

/**
 * Whether uploads into the root itself are possible.
 *
 * @param fs The storage.
 * @returns true when the storage is writable and Deno grants write access.
 */
export function rootWritable(fs: FsStorage): boolean {
  return fs.writable &&
    Deno.permissions.querySync({ name: "write", path: fs.root }).state ===
      "granted";
}

/**
 * Opens the file-system root, checking read permission first.
 *
 * @param options Root and name handling.
 * @param log Where to warn that uploads are off for lack of permission
 * (omit to stay quiet, as worker threads do).
 * @returns The storage.
 * @throws {Error} Saying what to fix: no read permission, missing root.
 */
export async function openRootStorage(
  options: RootOptions,
  log?: Logger,
): Promise<FsStorage | PerClientStorage> {
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
    throw err;
  }
  if (log && !options.readOnly && !rootWritable(storage)) {
    log.warn(
      `no write permission on ${storage.root}: serving read-only, ` +
        `uploads get ERROR 2 except in directories --allow-write grants`,
    );
  }
  return options.perClientRoot ? new PerClientStorage(storage) : storage;
}
