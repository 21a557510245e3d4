/**
 * The local files of the client command: what a put reads, and the error
 * for a local file problem (exit status 1 or 4, not the server's fault).
 *
 * @module
 */

import { fsFileReadHandle } from "../storage/handles.ts";
import { BytesReadHandle } from "../storage/memory.ts";
import type { ReadHandle } from "../storage/types.ts";

/**
 * A local file problem, with the exit status it means.
 *
 * @example
 * ```ts
 * import { LocalError } from "./local_file.ts";
 * const e = new LocalError("x: no such local directory", "not-found");
 * if (e.kind !== "not-found" || !(e instanceof Error)) throw new Error();
 * ```
 */
export class LocalError extends Error {
  /** `not-found`: a missing file or directory; `other`: anything else. */
  readonly kind: "not-found" | "other";
  /**
   * A local file problem.
   *
   * @param message What to print, naming the file.
   * @param kind Which exit status it means.
   */
  constructor(message: string, kind: "not-found" | "other") {
    super(message);
    this.kind = kind;
  }
}

/**
 * Opens the file a put sends, to be read block by block as the upload goes
 * (never whole: a 3 GiB file held 5.2 GB). Only a regular file: its size
 * at open is what is sent, and a pipe's would be 0.
 *
 * @example
 * ```ts
 * import { openLocal } from "./local_file.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "abc");
 * const handle = await openLocal(path);
 * if (handle.size !== 3) throw new Error(String(handle.size));
 * await handle.close();
 * await Deno.remove(path);
 * ```
 *
 * @param path The local file.
 * @returns A read handle with its size.
 * @throws {LocalError} For anything but a readable regular file (and
 *   Deno's NotFound for a missing one).
 */
export async function openLocal(path: string): Promise<ReadHandle> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw e;
    throw new LocalError(`${path}: ${(e as Error).message}`, "other");
  }
  const info = await file.stat().catch((e: Error) => e);
  if (info instanceof Error || !info.isFile) {
    file.close();
    const why = info instanceof Error ? info.message : "not a regular file";
    throw new LocalError(`${path}: ${why}`, "other");
  }
  // procfs and sysfs files have no blocks and a made-up size (0, 4096):
  // read to their end, as a cat would, within a bound.
  if (info.blocks === 0) return await readWhole(file, path);
  return fsFileReadHandle(file, info.size);
}

/** Most bytes a put takes from a file whose size the kernel makes up. */
const SYNTHETIC_MAX = 16 * 1024 * 1024;

/** Reads a file with no blocks to its end (at most SYNTHETIC_MAX). */
async function readWhole(file: Deno.FsFile, path: string): Promise<ReadHandle> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const buf = new Uint8Array(64 * 1024);
      const n = await file.read(buf);
      if (n === null) break;
      total += n;
      if (total > SYNTHETIC_MAX) {
        throw new LocalError(
          `${path}: reports no size and holds more than ${SYNTHETIC_MAX} bytes`,
          "other",
        );
      }
      chunks.push(buf.subarray(0, n));
    }
  } catch (e) {
    if (e instanceof LocalError) throw e;
    throw new LocalError(`${path}: ${(e as Error).message}`, "other");
  } finally {
    file.close();
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  return new BytesReadHandle(bytes);
}
