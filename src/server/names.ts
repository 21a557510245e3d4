/**
 * The one name pipeline: every name a client sends goes through
 * {@linkcode resolveName} before any storage sees it, so a rule written
 * for `private/x` holds for `\private\x`, `//private/x` and, with
 * `ignoreCase`, `PRIVATE/x`.
 *
 * Steps: bounds and characters -> normalise (separators, leading slashes,
 * `.` and empty segments) -> remap rules on the normalised name (matching
 * ignoring case under `ignoreCase`) -> the result validated again -> the
 * reserved upload prefix refused in every segment. Pure: no I/O; the work
 * is linear in the name and the name is bounded before anything else.
 *
 * @module
 */

import { ErrorCode, TftpError } from "../protocol/packet.ts";
import {
  isReservedSegment,
  NAME_LIMITS,
  refusedAsMissing,
} from "../storage/clean_name.ts";
import { hasUnsafe } from "../escape.ts";
import { applyRemap, type RemapRule } from "./remap.ts";

/** Options of {@linkcode normalizeName}. */
export interface NormalizeOptions {
  /**
   * `\` is a separator and leading `/` are dropped (default true). When
   * false, `\` is an ordinary character and a leading `/` is refused.
   */
  normalize?: boolean;
}

function refuse(message: string): TftpError {
  return new TftpError(ErrorCode.ACCESS_VIOLATION, message);
}

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

function checkSegment(seg: string): void {
  if (seg === "..") throw refuse("'..' is not allowed in file names");
  const last = seg[seg.length - 1];
  // Windows, SMB and vfat drop trailing dots and spaces: `private.` or
  // `.. ` would name `private` or `..` on a root stored there.
  if (last === "." || last === " ") {
    throw refuse("a name segment may not end in a dot or a space");
  }
  if (
    seg.length * 3 > NAME_LIMITS.maxSegmentBytes &&
    utf8Length(seg) > NAME_LIMITS.maxSegmentBytes
  ) {
    throw refuse(
      `file name segment too long (limit ${NAME_LIMITS.maxSegmentBytes} bytes)`,
    );
  }
}

/**
 * Normalises a name as a client sends it into a clean relative path:
 * backslashes become slashes, leading slashes and `.`/empty segments are
 * dropped. Refused with ERROR 2: over-long names, control characters,
 * `..`, segments ending in a dot or space, over-long segments, too many
 * segments, an empty result.
 *
 * @example
 * ```ts
 * import { normalizeName } from "./names.ts";
 * if (normalizeName("\\Boot\\BCD") !== "Boot/BCD") throw new Error();
 * if (normalizeName("//a/./b") !== "a/b") throw new Error();
 * ```
 *
 * @param name The name from the request (or a remap result).
 * @param opts Whether `\` and leading `/` are normalised.
 * @returns A relative path with `/` separators.
 * @throws {TftpError} ERROR 2 saying what was refused.
 */
export function normalizeName(
  name: string,
  opts: NormalizeOptions = {},
): string {
  if (name.length > NAME_LIMITS.maxLength) {
    throw refuse(
      `file name too long (limit ${NAME_LIMITS.maxLength} characters)`,
    );
  }
  if (hasUnsafe(name)) throw refuse("control character in file name");
  const normalize = opts.normalize ?? true;
  if (!normalize && name.startsWith("/")) {
    throw refuse("absolute file names are refused (name normalisation is off)");
  }
  const text = normalize ? name.replaceAll("\\", "/") : name;
  const segments: string[] = [];
  for (const seg of text.split("/")) {
    if (seg === "" || seg === ".") continue;
    checkSegment(seg);
    if (segments.length === NAME_LIMITS.maxSegments) {
      throw refuse(
        `too many segments in file name (limit ${NAME_LIMITS.maxSegments})`,
      );
    }
    segments.push(seg);
  }
  if (segments.length === 0) throw refuse("no file name given");
  return segments.join("/");
}

/** Options of {@linkcode resolveName}. */
export interface NameOptions extends NormalizeOptions {
  /** Read or write (for `G`/`P` rules and the answer to reserved names). */
  op: "read" | "write";
  /** Client address (for `\i` and `\x` in rules). */
  hostname: string;
  /** Rules match ignoring case (`--ignore-case`). */
  ignoreCase?: boolean;
  /** Remap rules, in order. */
  remap?: readonly RemapRule[];
}

/**
 * Runs a requested name through the whole pipeline and returns the clean
 * relative path storages are given.
 *
 * @example
 * ```ts
 * import { resolveName } from "./names.ts";
 * import { parseRemapRules } from "./remap.ts";
 * const remap = parseRemapRules("a ^private/\n");
 * const ok = resolveName("\\pub\\x", { op: "read", hostname: "10.0.0.5", remap });
 * if (ok !== "pub/x") throw new Error(ok);
 * try {
 *   resolveName("//PRIVATE/x", { op: "read", hostname: "10.0.0.5", remap, ignoreCase: true });
 *   throw new Error("not refused");
 * } catch (err) {
 *   if (!(err instanceof Error) || !/remap rule/.test(err.message)) throw err;
 * }
 * ```
 *
 * @param name The name as the client sent it.
 * @param opts Direction, client, normalisation, case and rules.
 * @returns The clean relative path.
 * @throws {TftpError} ERROR 2 for a refused name or a deny rule, ERROR 1
 * for a reserved name on a read (answered like a missing file).
 */
export function resolveName(name: string, opts: NameOptions): string {
  let clean = normalizeName(name, opts);
  if (opts.remap?.length) {
    clean = applyRemap(opts.remap, clean, {
      hostname: opts.hostname,
      op: opts.op,
      ignoreCase: opts.ignoreCase,
      normalize: (rewritten) => normalizeName(rewritten, opts),
    });
  }
  for (const seg of clean.split("/")) {
    if (!isReservedSegment(seg)) continue;
    throw opts.op === "read"
      ? refusedAsMissing(clean)
      : refuse("reserved file name");
  }
  return clean;
}
