/**
 * What a storage may expect of the names it is given: the bounds of the
 * name pipeline (`src/server/names.ts`) and a cheap check that a name has
 * been through it. Storages check; they never normalise a second time.
 *
 * @module
 */

import { ErrorCode, TftpError } from "../protocol/packet.ts";

/** Prefix of the temporary files uploads are written to (never served). */
export const TEMP_PREFIX = ".tftp-upload-";

/** Bounds on a file name, applied before any file-system work. */
export const NAME_LIMITS = {
  /** Longest name as sent, in UTF-16 code units. */
  maxLength: 1024,
  /** Most path segments after normalisation. */
  maxSegments: 32,
  /** Longest segment in UTF-8 bytes (Linux NAME_MAX). */
  maxSegmentBytes: 255,
} as const;

/**
 * The error for a name that does not exist, in the one shape every storage
 * and the name pipeline use, so a refusal that must look like a missing
 * file (a symlink leading out, a reserved name) cannot be told apart.
 *
 * @example
 * ```ts
 * import { notFound } from "./clean_name.ts";
 * if (notFound("a/b").message !== "a/b: file not found") throw new Error();
 * ```
 *
 * @param name The clean name asked for.
 * @returns ERROR 1 naming it.
 */
export function notFound(name: string): TftpError {
  return new TftpError(ErrorCode.FILE_NOT_FOUND, `${name}: file not found`);
}

/**
 * The error for a name refused by policy that must look like a missing
 * file (it leads out of the root or into a fenced directory, a reserved
 * name): the same ERROR 1 and message as {@linkcode notFound} on the
 * wire, marked {@linkcode TftpError.refused} so that no other storage is
 * asked for the name (an origin behind the root would otherwise serve it).
 *
 * @example
 * ```ts
 * import { notFound, refusedAsMissing } from "./clean_name.ts";
 * const e = refusedAsMissing("a/b");
 * if (e.code !== 1 || e.message !== notFound("a/b").message) throw new Error();
 * if (!e.refused || notFound("a/b").refused) throw new Error();
 * ```
 *
 * @param name The clean name asked for.
 * @returns ERROR 1 naming it, marked refused.
 */
export function refusedAsMissing(name: string): TftpError {
  return new TftpError(ErrorCode.FILE_NOT_FOUND, `${name}: file not found`, {
    refused: true,
  });
}

/**
 * ERROR 2 for an upload into a directory that is not there.
 *
 * @example
 * ```ts
 * import { directoryGone } from "./clean_name.ts";
 * if (directoryGone("d/x").code !== 2) throw new Error();
 * ```
 *
 * @param name The clean name asked for.
 * @returns The error.
 */
export function directoryGone(name: string): TftpError {
  return new TftpError(
    ErrorCode.ACCESS_VIOLATION,
    `${name}: directory does not exist (directories are never created)`,
  );
}

/**
 * ERROR 0 for a name whose file or directory changed while it was opened
 * (see docs/security.md, "The directory-flip race").
 *
 * @example
 * ```ts
 * import { changedWhileOpening } from "./clean_name.ts";
 * if (changedWhileOpening("d/x").code !== 0) throw new Error();
 * ```
 *
 * @param name The clean name asked for.
 * @returns The error.
 */
export function changedWhileOpening(name: string): TftpError {
  return new TftpError(
    ErrorCode.NOT_DEFINED,
    `${name}: changed while being opened, try again`,
  );
}

/** What {@linkcode temporaryName} makes: the prefix and 16 hex digits. */
const TEMPORARY_NAME = new RegExp(
  `^${TEMP_PREFIX.replaceAll(".", "\\.")}[0-9a-f]{16}$`,
);

/**
 * A fresh name for an upload's temporary file: the reserved prefix and 16
 * random hex digits.
 *
 * @example
 * ```ts
 * import { temporaryName } from "./clean_name.ts";
 * if (!/^\.tftp-upload-[0-9a-f]{16}$/.test(temporaryName())) throw new Error();
 * ```
 *
 * @returns The name.
 */
export function temporaryName(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return TEMP_PREFIX +
    [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Whether `segment` is exactly a name {@linkcode temporaryName} makes (the
 * start-up sweep removes only those, never an operator's look-alike).
 *
 * @example
 * ```ts
 * import { isTemporaryName, temporaryName } from "./clean_name.ts";
 * if (!isTemporaryName(temporaryName())) throw new Error();
 * if (isTemporaryName(".TFTP-Upload-notes.txt")) throw new Error();
 * ```
 *
 * @param segment One path segment.
 * @returns Whether it is one.
 */
export function isTemporaryName(segment: string): boolean {
  return TEMPORARY_NAME.test(segment);
}

/**
 * Whether `segment` starts with the reserved upload prefix, in any letter
 * case (so a case-insensitive file system or `--ignore-case` cannot reach
 * a temporary file either).
 *
 * @example
 * ```ts
 * import { isReservedSegment } from "./clean_name.ts";
 * if (!isReservedSegment(".TFTP-Upload-x")) throw new Error();
 * if (isReservedSegment("a.tftp-upload-x")) throw new Error();
 * ```
 *
 * @param segment One path segment.
 * @returns true when the segment is reserved.
 */
export function isReservedSegment(segment: string): boolean {
  return segment.length >= TEMP_PREFIX.length &&
    segment.slice(0, TEMP_PREFIX.length).toLowerCase() === TEMP_PREFIX;
}

/**
 * Checks that `name` is a clean relative path as the name pipeline makes
 * them (defence in depth: it does not repair anything) and splits it.
 *
 * @example
 * ```ts
 * import { checkCleanName } from "./clean_name.ts";
 * const parts = checkCleanName("boot/grub/grub.cfg");
 * if (parts.length !== 3) throw new Error();
 * ```
 *
 * @param name A name from the pipeline.
 * @returns Its segments.
 * @throws {TftpError} ERROR 2 for anything the pipeline never produces.
 */
export function checkCleanName(name: string): string[] {
  const bad = (why: string) =>
    new TftpError(ErrorCode.ACCESS_VIOLATION, `invalid file name: ${why}`);
  if (typeof name !== "string" || name.length === 0) throw bad("empty");
  if (name.length > NAME_LIMITS.maxLength) throw bad("too long");
  if (name.includes("\0")) throw bad("NUL");
  const segments = name.split("/");
  if (segments.length > NAME_LIMITS.maxSegments) throw bad("too deep");
  for (const s of segments) {
    if (s === "" || s === "." || s === "..") throw bad("not normalised");
    if (isReservedSegment(s)) throw bad("reserved");
  }
  return segments;
}
