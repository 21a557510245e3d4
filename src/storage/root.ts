/**
 * The serve root: turns a name as a client sends it into a safe relative
 * path, and checks that resolved paths stay under the real root.
 *
 * @module
 */

import { ErrorCode, TftpError } from "../protocol/packet.ts";

/**
 * Normalises a requested file name into a relative path under the root.
 *
 * Backslashes become slashes and leading slashes are dropped (boot loaders
 * send `\boot\pxelinux.0` and `/pxelinux.0`); empty and `.` segments are
 * dropped. A `..` segment or a NUL is refused with ERROR 2. With
 * `normalize: false`, a backslash is an ordinary character and a leading
 * `/` is refused.
 *
 * @example
 * ```ts
 * import { normalizeName } from "./root.ts";
 * if (normalizeName("\\Boot\\BCD") !== "Boot/BCD") throw new Error();
 * if (normalizeName("//pxelinux.0") !== "pxelinux.0") throw new Error();
 * ```
 *
 * @param name File name from the request.
 * @param opts `normalize` (default true) turns `\` and leading `/` handling on.
 * @returns A relative path with `/` separators and no `.`/`..` segments.
 * @throws {TftpError} ERROR 2 for `..`, NUL or an empty name.
 */
export function normalizeName(
  name: string,
  opts: { normalize?: boolean } = {},
): string {
  if (name.includes("\0")) {
    throw new TftpError(ErrorCode.ACCESS_VIOLATION, "NUL in file name");
  }
  const normalize = opts.normalize ?? true;
  if (!normalize && name.startsWith("/")) {
    throw new TftpError(
      ErrorCode.ACCESS_VIOLATION,
      "absolute file names are refused (name normalisation is off)",
    );
  }
  const segments: string[] = [];
  const text = normalize ? name.replaceAll("\\", "/") : name;
  for (const seg of text.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      throw new TftpError(
        ErrorCode.ACCESS_VIOLATION,
        "'..' is not allowed in file names",
      );
    }
    segments.push(seg);
  }
  if (segments.length === 0) {
    throw new TftpError(ErrorCode.ACCESS_VIOLATION, "no file name given");
  }
  return segments.join("/");
}

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
  if (err instanceof Deno.errors.NotFound) {
    return new TftpError(ErrorCode.FILE_NOT_FOUND, `${what}: file not found`);
  }
  if (err instanceof Deno.errors.AlreadyExists) {
    return new TftpError(ErrorCode.FILE_EXISTS, `${what}: file already exists`);
  }
  if (
    err instanceof Deno.errors.PermissionDenied ||
    err instanceof Deno.errors.NotCapable
  ) {
    return new TftpError(ErrorCode.ACCESS_VIOLATION, `${what}: access denied`);
  }
  if (err instanceof Deno.errors.NotADirectory) {
    return new TftpError(ErrorCode.FILE_NOT_FOUND, `${what}: file not found`);
  }
  // Anything else (name too long, I/O error...): the client gets a short
  // generic message; the details, which may name server paths, go to the
  // log only.
  const kind = err instanceof Error ? err.name : "Error";
  return new TftpError(ErrorCode.NOT_DEFINED, `${what}: file system error`, {
    detail: `${kind}: ${err instanceof Error ? err.message : String(err)}`,
  });
}
