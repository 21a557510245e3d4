/**
 * File-system storage confined to a root directory.
 *
 * Reads resolve every path with `Deno.realPath` and refuse anything that
 * lands outside the real root (Deno's permission flags do not follow
 * symlinks, so this check is what keeps a symlink from leaking files).
 * Writes go to a temporary file in the target directory and are published
 * with `Deno.link`, which never overwrites; aborted uploads leave nothing.
 *
 * @module
 */

import { ErrorCode, TftpError } from "../protocol/packet.ts";
import { fsErrorToTftp, isInside, normalizeName } from "./root.ts";
import type { ReadHandle, Storage, WriteHandle } from "./types.ts";

/** A regular file opened for reading, read synchronously into caller buffers. */
export class FileReadHandle implements ReadHandle {
  /** File size in bytes at open time. */
  readonly size: number;
  #file: Deno.FsFile;
  #pos = 0;

  /**
   * @param file Open file.
   * @param size Its size.
   */
  constructor(file: Deno.FsFile, size: number) {
    this.#file = file;
    this.size = size;
  }

  /**
   * Fills `buf` from `offset` (synchronous seek+read: about 25x cheaper per
   * block than the async pair).
   *
   * @param offset Byte offset.
   * @param buf Destination.
   * @returns Bytes copied; fewer than `buf.length` only at the end.
   */
  read(offset: number, buf: Uint8Array): number {
    if (offset !== this.#pos) {
      this.#file.seekSync(offset, Deno.SeekMode.Start);
      this.#pos = offset;
    }
    let n = 0;
    while (n < buf.length) {
      const got = this.#file.readSync(buf.subarray(n));
      if (got === null || got === 0) break;
      n += got;
    }
    this.#pos += n;
    return n;
  }

  /** Closes the file. */
  close(): void {
    try {
      this.#file.close();
    } catch { /* already closed */ }
  }
}

/** An upload into a temporary file, published by hard link on commit. */
export class FileWriteHandle implements WriteHandle {
  #file: Deno.FsFile | undefined;
  #tmp: string;
  #target: string;

  /**
   * @param file The temporary file, opened for writing.
   * @param tmp Its path.
   * @param target Final path.
   */
  constructor(file: Deno.FsFile, tmp: string, target: string) {
    this.#file = file;
    this.#tmp = tmp;
    this.#target = target;
  }

  /**
   * Appends bytes to the temporary file.
   *
   * @param data Bytes to append.
   */
  write(data: Uint8Array): void {
    const file = this.#file;
    if (!file) throw new Error("upload already finished");
    let off = 0;
    while (off < data.length) off += file.writeSync(data.subarray(off));
  }

  /** Publishes the file without overwriting anything (ERROR 6 if taken). */
  async commit(): Promise<void> {
    this.#file?.close();
    this.#file = undefined;
    try {
      await Deno.link(this.#tmp, this.#target);
    } catch (err) {
      throw fsErrorToTftp(err, "upload");
    } finally {
      await Deno.remove(this.#tmp).catch(() => {});
    }
  }

  /** Deletes the temporary file. */
  async abort(): Promise<void> {
    try {
      this.#file?.close();
    } catch { /* already closed */ }
    this.#file = undefined;
    await Deno.remove(this.#tmp).catch(() => {});
  }
}

/** Options of {@linkcode FsStorage.open}. */
export interface FsStorageOptions {
  /** Accept uploads (default true; false answers WRQ with ERROR 2). */
  writable?: boolean;
}

/** Prefix of the temporary files uploads are written to. */
export const TEMP_PREFIX = ".tftp-upload-";

/**
 * Storage on the local file system, confined to one root directory.
 *
 * @example
 * ```ts ignore
 * import { FsStorage } from "./files.ts";
 * const storage = await FsStorage.open("/srv/tftp", { writable: false });
 * ```
 */
export class FsStorage implements Storage {
  /** Real (symlink-free) path of the root. */
  readonly root: string;
  /** Whether uploads are accepted. */
  readonly writable: boolean;

  /**
   * Use {@linkcode FsStorage.open}, which resolves and checks the root.
   *
   * @param realRoot Real path of an existing directory.
   * @param opts Options.
   */
  constructor(realRoot: string, opts: FsStorageOptions = {}) {
    this.root = realRoot;
    this.writable = opts.writable ?? true;
  }

  /**
   * Resolves `dir` and checks that it is a directory.
   *
   * @param dir Root directory.
   * @param opts Options.
   * @returns The storage.
   * @throws {Error} When `dir` does not exist or is not a directory.
   */
  static async open(
    dir: string,
    opts: FsStorageOptions = {},
  ): Promise<FsStorage> {
    const real = await Deno.realPath(dir);
    const st = await Deno.stat(real);
    if (!st.isDirectory) throw new Error(`${dir} is not a directory`);
    return new FsStorage(real, opts);
  }

  /** Resolves a relative path and checks it stays under the root. */
  async #resolve(rel: string, name: string): Promise<string> {
    let real: string;
    try {
      real = await Deno.realPath(`${this.root}/${rel}`);
    } catch (err) {
      throw fsErrorToTftp(err, name);
    }
    if (!isInside(this.root, real)) {
      throw new TftpError(
        ErrorCode.ACCESS_VIOLATION,
        `${name}: resolves outside the root`,
      );
    }
    return real;
  }

  /**
   * Opens a file for reading.
   *
   * @param name File name as the client sent it.
   * @returns A read handle with the file's size.
   */
  async openRead(name: string): Promise<ReadHandle> {
    const rel = normalizeName(name);
    if (rel.split("/").some((s) => s.startsWith(TEMP_PREFIX))) {
      throw new TftpError(ErrorCode.FILE_NOT_FOUND, `${name}: file not found`);
    }
    const real = await this.#resolve(rel, name);
    let file: Deno.FsFile;
    try {
      file = await Deno.open(real, { read: true });
    } catch (err) {
      throw fsErrorToTftp(err, name);
    }
    try {
      const st = file.statSync();
      if (!st.isFile) {
        throw new TftpError(
          ErrorCode.ACCESS_VIOLATION,
          `${name}: not a regular file`,
        );
      }
      // The path may have been swapped (e.g. for a symlink leading out)
      // between the check and the open: check again what was opened.
      const again = await this.#resolve(rel, name);
      const st2 = await Deno.stat(again);
      if (again !== real || st2.ino !== st.ino || st2.dev !== st.dev) {
        throw new TftpError(
          ErrorCode.ACCESS_VIOLATION,
          `${name}: changed while being opened`,
        );
      }
      return new FileReadHandle(file, st.size);
    } catch (err) {
      file.close();
      throw fsErrorToTftp(err, name);
    }
  }

  /**
   * Prepares an upload: checks the directory exists under the root and the
   * name is free, and creates a temporary file beside the target.
   *
   * @param name File name as the client sent it.
   * @returns A write handle.
   */
  async openWrite(name: string): Promise<WriteHandle> {
    if (!this.writable) {
      throw new TftpError(
        ErrorCode.ACCESS_VIOLATION,
        "server is read-only: uploads are disabled",
      );
    }
    const rel = normalizeName(name);
    const slash = rel.lastIndexOf("/");
    const base = rel.slice(slash + 1);
    if (base.startsWith(TEMP_PREFIX)) {
      throw new TftpError(ErrorCode.ACCESS_VIOLATION, `${name}: reserved name`);
    }
    let dir: string;
    try {
      dir = await this.#resolve(slash < 0 ? "." : rel.slice(0, slash), name);
    } catch (err) {
      if (err instanceof TftpError && err.code === ErrorCode.FILE_NOT_FOUND) {
        throw new TftpError(
          ErrorCode.ACCESS_VIOLATION,
          `${name}: directory does not exist (directories are never created)`,
        );
      }
      throw err;
    }
    const target = `${dir}/${base}`;
    try {
      await Deno.lstat(target);
      throw new TftpError(
        ErrorCode.FILE_EXISTS,
        `${name}: file already exists`,
      );
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) {
        throw fsErrorToTftp(err, name);
      }
    }
    const tmp = `${dir}/${TEMP_PREFIX}${base}.${
      crypto.randomUUID().slice(0, 8)
    }`;
    try {
      const file = await Deno.open(tmp, { write: true, createNew: true });
      return new FileWriteHandle(file, tmp, target);
    } catch (err) {
      throw fsErrorToTftp(err, name);
    }
  }
}
