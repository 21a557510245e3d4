/**
 * The file-system calls file storage makes, behind one seam: tests count
 * them (to bound the work per request without timing it) or fail them on
 * purpose. All synchronous: they run inside the cwd critical section (see
 * `cwd_lock.ts`), where nothing else may interleave.
 *
 * Opens go through `node:fs` because Deno's own `open` takes no flags:
 * `O_NOFOLLOW` (a last component that is a symlink fails instead of being
 * followed) and `O_NONBLOCK` (a FIFO swapped in after the check opens at
 * once instead of waiting forever for a writer).
 *
 * @module
 */

import fs from "node:fs";

/** What storage needs to know of a directory entry. */
export interface FsStat {
  /** A regular file. */
  isFile: boolean;
  /** A directory. */
  isDirectory: boolean;
  /** A symbolic link (only from `lstat`). */
  isSymlink: boolean;
  /** Device number. */
  dev: number;
  /** Inode number. */
  ino: number;
  /** Modification time in ms. */
  mtimeMs: number;
  /** Status change time in ms (any write, rename or chmod moves it). */
  ctimeMs: number;
  /** Size in bytes. */
  size: number;
  /** Permission bits and file type (`st_mode`), where the system has it. */
  mode?: number;
  /** Owner's user id, where the system has it. */
  uid?: number;
  /** Owner's group id, where the system has it. */
  gid?: number;
}

/** One entry of a directory listing. */
export interface FsDirEntry {
  /** Its name. */
  name: string;
  /** A regular file (not following a symlink). */
  isFile: boolean;
  /** A directory (not following a symlink). */
  isDirectory: boolean;
}

/**
 * The synchronous calls file storage makes. Relative paths resolve against
 * the process's working directory, which only the holder of the cwd lock
 * may rely on.
 */
export interface FsCalls {
  /** Changes the working directory (follows symlinks). */
  chdir(path: string): void;
  /** The kernel's real path of the working directory. */
  cwd(): string;
  /** Stat without following a last symlink. */
  lstat(path: string): FsStat;
  /** Stat following symlinks. */
  stat(path: string): FsStat;
  /** Lists a directory. */
  readDir(path: string): Iterable<FsDirEntry>;
  /** Resolves every symlink. */
  realPath(path: string): string;
  /** Opens for reading: never follows a last symlink, never blocks. */
  openRead(path: string): number;
  /** Creates a new file for writing: fails if anything has the name. */
  createNew(path: string): number;
  /** Stat of an open file. */
  fstat(fd: number): FsStat;
  /** Reads at `position` into `buf`; returns bytes read (0 at the end). */
  read(fd: number, buf: Uint8Array, position: number): number;
  /** Writes some of `buf`; returns bytes written. */
  write(fd: number, buf: Uint8Array): number;
  /** Closes an open file. */
  close(fd: number): void;
  /** Hard link: fails if `to` exists. */
  link(from: string, to: string): void;
  /** Rename, replacing `to`. */
  rename(from: string, to: string): void;
  /** Removes a file. */
  remove(path: string): void;
  /** Whether Deno grants write access to `path`. */
  canWrite(path: string): boolean;
  /**
   * Whether this process may write into the existing file `path` (an open
   * for writing that changes nothing: no truncation, no symlink followed).
   */
  canWriteFile(path: string): boolean;
  /** Sets an open file's permission bits. */
  fchmod(fd: number, mode: number): void;
  /** Sets an open file's owner and group (fails unless privileged). */
  fchown(fd: number, uid: number, gid: number): void;
}

const C = fs.constants;
const READ_FLAGS = C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK | C.O_NOCTTY;
const CREATE_FLAGS = C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW |
  C.O_NOCTTY;
const PROBE_WRITE_FLAGS = C.O_WRONLY | C.O_NOFOLLOW | C.O_NONBLOCK |
  C.O_NOCTTY;

function fromDeno(st: Deno.FileInfo): FsStat {
  return {
    isFile: st.isFile,
    isDirectory: st.isDirectory,
    isSymlink: st.isSymlink,
    dev: st.dev,
    ino: st.ino ?? 0,
    mtimeMs: st.mtime?.getTime() ?? 0,
    ctimeMs: st.ctime?.getTime() ?? 0,
    size: st.size,
    mode: st.mode ?? undefined,
    uid: st.uid ?? undefined,
    gid: st.gid ?? undefined,
  };
}

/**
 * The real calls (Deno and `node:fs`).
 *
 * @example
 * ```ts
 * import { realFsCalls } from "./sys.ts";
 * const calls = realFsCalls();
 * if (!calls.stat("/").isDirectory) throw new Error();
 * ```
 *
 * @returns The calls.
 */
export function realFsCalls(): FsCalls {
  return {
    chdir: (path) => Deno.chdir(path),
    cwd: () => Deno.cwd(),
    lstat: (path) => fromDeno(Deno.lstatSync(path)),
    stat: (path) => fromDeno(Deno.statSync(path)),
    readDir: (path) => Deno.readDirSync(path),
    realPath: (path) => Deno.realPathSync(path),
    openRead: (path) => fs.openSync(path, READ_FLAGS),
    createNew: (path) => fs.openSync(path, CREATE_FLAGS, 0o666),
    fstat: (fd) => {
      const st = fs.fstatSync(fd);
      return {
        isFile: st.isFile(),
        isDirectory: st.isDirectory(),
        isSymlink: false,
        dev: Number(st.dev),
        ino: Number(st.ino),
        mtimeMs: Number(st.mtimeMs),
        ctimeMs: Number(st.ctimeMs),
        size: Number(st.size),
        mode: Number(st.mode),
        uid: Number(st.uid),
        gid: Number(st.gid),
      };
    },
    read: (fd, buf, position) => fs.readSync(fd, buf, 0, buf.length, position),
    write: (fd, buf) => fs.writeSync(fd, buf),
    close: (fd) => fs.closeSync(fd),
    link: (from, to) => Deno.linkSync(from, to),
    rename: (from, to) => Deno.renameSync(from, to),
    remove: (path) => Deno.removeSync(path),
    canWrite: (path) =>
      Deno.permissions.querySync({ name: "write", path }).state === "granted",
    canWriteFile: (path) => {
      let fd: number;
      try {
        fd = fs.openSync(path, PROBE_WRITE_FLAGS);
      } catch (err) {
        if (fsErrorKind(err) === "denied") return false;
        throw err;
      }
      fs.closeSync(fd);
      return true;
    },
    fchmod: (fd, mode) => fs.fchmodSync(fd, mode),
    fchown: (fd, uid, gid) => fs.fchownSync(fd, uid, gid),
  };
}

/** How a failed call failed, whichever API threw. */
export type FsErrorKind =
  | "missing"
  | "not-dir"
  | "loop"
  | "exists"
  | "denied"
  | "not-capable"
  | "full"
  | "read-only"
  | "other";

/**
 * Classifies an error from a Deno or `node:fs` call.
 *
 * @example
 * ```ts
 * import { fsErrorKind } from "./sys.ts";
 * if (fsErrorKind(new Deno.errors.NotFound()) !== "missing") throw new Error();
 * ```
 *
 * @param err What was thrown.
 * @returns Its kind.
 */
export function fsErrorKind(err: unknown): FsErrorKind {
  if (err instanceof Deno.errors.NotFound) return "missing";
  if (err instanceof Deno.errors.NotADirectory) return "not-dir";
  if (err instanceof Deno.errors.FilesystemLoop) return "loop";
  if (err instanceof Deno.errors.AlreadyExists) return "exists";
  if (err instanceof Deno.errors.NotCapable) return "not-capable";
  if (err instanceof Deno.errors.PermissionDenied) return "denied";
  const code = (err as { code?: unknown })?.code;
  switch (code) {
    case "ENOENT":
      return "missing";
    case "ENOTDIR":
      return "not-dir";
    case "ELOOP":
      return "loop";
    case "EEXIST":
      return "exists";
    case "EACCES":
    case "EPERM":
      return "denied";
    case "ERR_NOT_CAPABLE":
      return "not-capable";
    case "ENOSPC":
    case "EDQUOT":
      return "full";
    case "EROFS":
      return "read-only";
  }
  if (err instanceof Error && err.name === "NotCapable") return "not-capable";
  return "other";
}
