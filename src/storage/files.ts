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
import type { ReadHandle, RequestInfo, Storage, WriteHandle } from "./types.ts";

/** A regular file opened for reading, read synchronously into caller buffers. */
export class FileReadHandle implements ReadHandle {
  /** File size in bytes at open time. */
  readonly size: number;
  #file: Deno.FsFile;
  #pos = 0;
  #ahead: Uint8Array | undefined;
  #aheadStart = 0;
  #aheadLen = 0;

  /**
   * Creates an instance.
   *
   * @param file Open file.
   * @param size Its size.
   */
  constructor(file: Deno.FsFile, size: number) {
    this.#file = file;
    this.size = size;
  }

  /**
   * Fills `buf` from `offset`. Small reads are served from a 64 KiB
   * read-ahead buffer, so a 512-byte lock-step transfer costs one read op
   * per 128 blocks instead of one per block (ops, not bytes, are what cost
   * in Deno; synchronous seek+read is about 25x cheaper than async).
   *
   * @param offset Byte offset.
   * @param buf Destination.
   * @returns Bytes copied; fewer than `buf.length` only at the end.
   */
  read(offset: number, buf: Uint8Array): number {
    if (buf.length > READ_AHEAD / 2) return this.#readAt(offset, buf);
    let start = offset - this.#aheadStart;
    if (
      !this.#ahead || start < 0 ||
      (start + buf.length > this.#aheadLen &&
        this.#aheadStart + this.#aheadLen < this.size)
    ) {
      this.#ahead ??= new Uint8Array(READ_AHEAD);
      this.#aheadStart = offset;
      this.#aheadLen = this.#readAt(offset, this.#ahead);
      start = 0;
    }
    const n = Math.max(0, Math.min(buf.length, this.#aheadLen - start));
    buf.set(this.#ahead.subarray(start, start + n));
    return n;
  }

  #readAt(offset: number, buf: Uint8Array): number {
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
    this.#ahead = undefined;
    try {
      this.#file.close();
    } catch { /* already closed */ }
  }
}

/** Bytes gathered by {@linkcode FileWriteHandle} before one write. */
const WRITE_BUFFER = 65536;

function writeAll(file: Deno.FsFile, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) off += file.writeSync(data.subarray(off));
}

/** Bytes read at once by {@linkcode FileReadHandle} for small blocks. */
const READ_AHEAD = 65536;

/** An upload into a temporary file, published by hard link on commit. */
export class FileWriteHandle implements WriteHandle {
  #file: Deno.FsFile | undefined;
  #tmp: string;
  #target: string;
  #overwrite: boolean;
  #buf = new Uint8Array(WRITE_BUFFER);
  #fill = 0;

  /**
   * Creates an instance.
   *
   * @param file The temporary file, opened for writing.
   * @param tmp Its path.
   * @param target Final path.
   * @param opts `overwrite`: replace an existing file on commit (rename)
   * instead of refusing (link).
   */
  constructor(
    file: Deno.FsFile,
    tmp: string,
    target: string,
    opts: { overwrite?: boolean } = {},
  ) {
    this.#file = file;
    this.#tmp = tmp;
    this.#target = target;
    this.#overwrite = opts.overwrite ?? false;
  }

  /**
   * Appends bytes to the temporary file.
   *
   * @param data Bytes to append.
   */
  write(data: Uint8Array): void {
    if (!this.#file) throw new Error("upload already finished");
    // Small blocks are gathered into 64 KiB writes: one op per many blocks.
    if (this.#fill + data.length > this.#buf.length) this.#flush();
    if (data.length >= this.#buf.length) {
      writeAll(this.#file, data);
      return;
    }
    this.#buf.set(data, this.#fill);
    this.#fill += data.length;
  }

  #flush(): void {
    if (this.#fill === 0 || !this.#file) return;
    writeAll(this.#file, this.#buf.subarray(0, this.#fill));
    this.#fill = 0;
  }

  /**
   * Publishes the file atomically: without overwriting anything (ERROR 6 if
   * the name is taken), or replacing a regular file when overwrite is on.
   */
  async commit(): Promise<void> {
    try {
      this.#flush();
    } catch (err) {
      await this.abort();
      throw new TftpError(
        ErrorCode.DISK_FULL,
        `upload: write failed: ${(err as Error).message}`,
      );
    }
    this.#file?.close();
    this.#file = undefined;
    try {
      if (this.#overwrite) {
        const st = await Deno.lstat(this.#target).catch(() => undefined);
        if (st && !st.isFile) {
          throw new TftpError(
            ErrorCode.FILE_EXISTS,
            "upload: target exists and is not a regular file",
          );
        }
        await Deno.rename(this.#tmp, this.#target);
        return;
      }
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
  /** `\` to `/` and leading `/` stripped (default true). */
  normalizeNames?: boolean;
  /** Find names case-insensitively when the exact name does not exist. */
  ignoreCase?: boolean;
  /** Let uploads replace existing regular files (default false: ERROR 6). */
  allowOverwrite?: boolean;
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
  /** The options it was opened with. */
  readonly options: FsStorageOptions;

  /**
   * Use {@linkcode FsStorage.open}, which resolves and checks the root.
   *
   * @param realRoot Real path of an existing directory.
   * @param opts Options.
   */
  constructor(realRoot: string, opts: FsStorageOptions = {}) {
    this.root = realRoot;
    this.writable = opts.writable ?? true;
    this.options = opts;
  }

  #normalize(name: string): string {
    return normalizeName(name, { normalize: this.options.normalizeNames });
  }

  /**
   * With `ignoreCase`, rewrites each segment of `rel` that does not exist to
   * an entry of its directory that matches it ignoring case.
   */
  async #caseFold(rel: string): Promise<string> {
    if (!this.options.ignoreCase || rel === ".") return rel;
    let dir = this.root;
    const out: string[] = [];
    for (const seg of rel.split("/")) {
      let name = seg;
      try {
        await Deno.lstat(`${dir}/${seg}`);
      } catch {
        const want = seg.toLowerCase();
        try {
          for await (const e of Deno.readDir(dir)) {
            if (e.name.toLowerCase() === want) {
              name = e.name;
              break;
            }
          }
        } catch { /* not a directory: leave the name, lookup fails later */ }
      }
      out.push(name);
      dir = `${dir}/${name}`;
    }
    return out.join("/");
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
    const rel = await this.#caseFold(this.#normalize(name));
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
      // lstat (not stat) so a final symlink is never followed, and realPath
      // on both sides of it so a directory component swapped back and forth
      // would have to flip twice within microseconds to go unnoticed.
      const again = await this.#resolve(rel, name);
      const st2 = await Deno.lstat(again);
      const third = await this.#resolve(rel, name);
      if (
        again !== real || third !== real || !st2.isFile ||
        st2.ino !== st.ino || st2.dev !== st.dev
      ) {
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
    const rel = this.#normalize(name);
    const slash = rel.lastIndexOf("/");
    const base = rel.slice(slash + 1);
    if (base.startsWith(TEMP_PREFIX)) {
      throw new TftpError(ErrorCode.ACCESS_VIOLATION, `${name}: reserved name`);
    }
    let dir: string;
    try {
      dir = await this.#resolve(
        await this.#caseFold(slash < 0 ? "." : rel.slice(0, slash)),
        name,
      );
    } catch (err) {
      if (err instanceof TftpError && err.code === ErrorCode.FILE_NOT_FOUND) {
        throw new TftpError(
          ErrorCode.ACCESS_VIOLATION,
          `${name}: directory does not exist (directories are never created)`,
        );
      }
      throw err;
    }
    const perm = Deno.permissions.querySync({ name: "write", path: dir });
    if (perm.state !== "granted") {
      throw new TftpError(
        ErrorCode.ACCESS_VIOLATION,
        `${name}: uploads are not allowed in this directory`,
      );
    }
    const target = `${dir}/${base}`;
    const overwrite = this.options.allowOverwrite ?? false;
    try {
      const st = await Deno.lstat(target);
      if (!overwrite || !st.isFile) {
        throw new TftpError(
          ErrorCode.FILE_EXISTS,
          `${name}: file already exists`,
        );
      }
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
      return new FileWriteHandle(file, tmp, target, { overwrite });
    } catch (err) {
      throw fsErrorToTftp(err, name);
    }
  }
}

/**
 * Per-client roots, like dnsmasq's `--tftp-unique-root`: a client is served
 * from `ROOT/<client ip>/` when that directory exists (and lies inside the
 * root), else from `ROOT`.
 */
export class PerClientStorage implements Storage {
  /** The shared root. */
  readonly base: FsStorage;

  /**
   * Creates an instance.
   *
   * @param base Storage of the shared root; its options apply to every
   * client directory.
   */
  constructor(base: FsStorage) {
    this.base = base;
  }

  async #for(info: RequestInfo): Promise<FsStorage> {
    // Looked up per request (not cached), so a client directory created or
    // removed while the server runs takes effect at once.
    const dir = `${this.base.root}/${info.hostname}`;
    try {
      const real = await Deno.realPath(dir);
      const st = await Deno.stat(real);
      if (
        st.isDirectory && isInside(this.base.root, real) &&
        real !== this.base.root
      ) {
        return new FsStorage(real, this.base.options);
      }
    } catch { /* no client directory */ }
    return this.base;
  }

  /**
   * Opens a file from the client's directory or the shared root.
   *
   * @param name Requested name.
   * @param info Who asks.
   * @returns A read handle.
   */
  async openRead(name: string, info: RequestInfo): Promise<ReadHandle> {
    return (await this.#for(info)).openRead(name);
  }

  /**
   * Prepares an upload into the client's directory or the shared root.
   *
   * @param name Requested name.
   * @param info Who asks.
   * @returns A write handle.
   */
  async openWrite(name: string, info: RequestInfo): Promise<WriteHandle> {
    return (await this.#for(info)).openWrite(name);
  }
}
