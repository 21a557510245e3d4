/**
 * The serve root: whether a resolved path stays under the real root, and
 * what a client is told when the file system says no.
 *
 * @module
 */

import { ErrorCode, TftpError } from "../protocol/packet.ts";
import { notFound } from "./clean_name.ts";
import { type FsCalls, fsErrorKind } from "./sys.ts";

/**
 * Whether `path` (already resolved, absolute) is `root` or below it.
 *
 * @example
 * ```ts
 * import { isInside } from "./root.ts";
 * if (!isInside("/srv/tftp", "/srv/tftp/a")) throw new Error();
 * if (isInside("/srv/tftp", "/srv/tftpx/a")) throw new Error();
 * ```
 *
 * @param root Real path of the root.
 * @param path Real path to check.
 * @returns true when `path` is inside `root`.
 */
export function isInside(root: string, path: string): boolean {
  if (path === root) return true;
  const prefix = root.endsWith("/") ? root : root + "/";
  return path.startsWith(prefix);
}

/**
 * Maps a file-system error to the TFTP error a client should see.
 *
 * @param err What the file system threw.
 * @param what Short description for the message (e.g. the file name).
 * @returns A {@linkcode TftpError}.
 */
export function fsErrorToTftp(err: unknown, what: string): TftpError {
  if (err instanceof TftpError) return err;
  switch (fsErrorKind(err)) {
    case "missing":
    case "not-dir":
      return notFound(what);
    case "exists":
      return new TftpError(
        ErrorCode.FILE_EXISTS,
        `${what}: file already exists`,
      );
    case "denied":
    case "not-capable":
      return new TftpError(
        ErrorCode.ACCESS_VIOLATION,
        `${what}: access denied`,
      );
    case "read-only":
      return new TftpError(
        ErrorCode.ACCESS_VIOLATION,
        `${what}: read-only file system`,
      );
    case "full":
      return new TftpError(
        ErrorCode.DISK_FULL,
        `${what}: disk full or quota exceeded`,
      );
  }
  // Anything else (name too long, I/O error...): the client gets a short
  // generic message; the details, which may name server paths, go to the
  // log only.
  const kind = err instanceof Error ? err.name : "Error";
  return new TftpError(ErrorCode.NOT_DEFINED, `${what}: file system error`, {
    detail: `${kind}: ${err instanceof Error ? err.message : String(err)}`,
  });
}

/**
 * Whether `path` is a symlink (not following it); false when it is not there.
 *
 * @example
 * ```ts
 * import { isSymlinkAt } from "./root.ts";
 * import { realFsCalls } from "./sys.ts";
 * if (isSymlinkAt(realFsCalls(), "/")) throw new Error();
 * ```
 *
 * @param calls The file-system calls.
 * @param path A path (relative to the working directory).
 * @returns true for a symlink.
 */
export function isSymlinkAt(calls: FsCalls, path: string): boolean {
  try {
    return calls.lstat(path).isSymlink;
  } catch {
    return false;
  }
}
