/**
 * Opening files confined to a root, race-free without `openat`: inside the
 * cwd lock (see `cwd_lock.ts`), change into the root, then into each
 * directory of the name, checking after each step that the kernel's real
 * path of where we are (`cwd()`) is inside the root; then open the last
 * name relative to that directory with `O_NOFOLLOW | O_NONBLOCK`. Renaming
 * entries meanwhile (a directory flipped to a symlink leading out and back)
 * cannot redirect an open that already stands in a checked directory.
 *
 * Anything that leads out of the root (or into a fenced directory) answers
 * exactly like a missing file, marked as a refusal (`refusedAsMissing`).
 *
 * @module
 */

import { ErrorCode, TftpError } from "../protocol/packet.ts";
import {
  changedWhileOpening as changed,
  directoryGone as gone,
  notFound,
  refusedAsMissing as refused,
  temporaryName as randomTmp,
} from "./clean_name.ts";
import type { CwdLock } from "./cwd_lock.ts";
import type { DirIndex } from "./dir_index.ts";
import type {
  ConfinedParts,
  OpenedFile,
  UploadSlot,
} from "./confined_types.ts";
import { fsErrorToTftp, isInside, isSymlinkAt } from "./root.ts";
import { type FsCalls, fsErrorKind, type FsStat } from "./sys.ts";

/** Most times a last component is resolved again (symlink hops, swaps). */
const MAX_HOPS = 8;

/** File operations confined to one real root directory. */
export class Confined {
  /** Real path of the root. */
  readonly root: string;
  #c: FsCalls;
  #lock: CwdLock;
  #index?: DirIndex;
  #fence?: (realDir: string) => boolean;

  /**
   * @param root Real (symlink-free) path of the root.
   * @param parts Calls, lock and optional case-insensitive index.
   * @param opts `fence`: real directories inside the root off limits all
   * the same, judged by where the kernel says a name led (so by links).
   */
  constructor(
    root: string,
    parts: ConfinedParts,
    opts: { fence?: (realDir: string) => boolean } = {},
  ) {
    this.root = root;
    this.#c = parts.calls;
    this.#lock = parts.lock;
    this.#index = parts.index;
    this.#fence = opts.fence;
  }

  /**
   * Opens a regular file for reading.
   *
   * @param segments The clean name's segments.
   * @param name The clean name (for messages).
   * @returns Descriptor and size.
   * @throws {TftpError} ERROR 1 when missing or leading out, ERROR 2 when
   * not a regular file.
   */
  openFile(segments: string[], name: string): OpenedFile {
    return this.#lock.run(() => {
      this.#enter(segments.slice(0, -1), name);
      return this.#openLast(segments[segments.length - 1], name);
    }, (f) => this.#c.close(f.fd));
  }

  /**
   * Checks the directory and the name, then creates the temporary file.
   *
   * @param segments The clean name's segments.
   * @param opts `name` for messages, `overwrite` to allow replacing.
   * @returns The upload slot.
   * @throws {TftpError} ERROR 2 for a missing directory (or one leading
   * out) or no write permission, ERROR 6 when the name is taken.
   */
  prepareUpload(
    segments: string[],
    opts: { name: string; overwrite: boolean },
  ): UploadSlot {
    const { name, overwrite } = opts;
    return this.#lock.run(() => {
      let dir: string;
      try {
        dir = this.#enter(segments.slice(0, -1), name);
      } catch (err) {
        if (err instanceof TftpError && err.code === ErrorCode.FILE_NOT_FOUND) {
          throw gone(name);
        }
        throw err;
      }
      if (!this.#c.canWrite(dir)) {
        throw new TftpError(
          ErrorCode.ACCESS_VIOLATION,
          `${name}: uploads are not allowed in this directory`,
        );
      }
      const here = this.#call(() => this.#c.stat("."), name);
      const { target, existing } = this.#freeName(
        segments[segments.length - 1],
        { name, overwrite },
      );
      // Replacing needs what writing into the file in place would: an
      // upload may not replace a file this process could not write.
      if (existing && !this.#call(() => this.#c.canWriteFile(target), name)) {
        throw new TftpError(
          ErrorCode.ACCESS_VIOLATION,
          `${name}: the existing file is not writable`,
        );
      }
      let tmp = randomTmp();
      let fd: number;
      try {
        fd = this.#c.createNew(tmp);
      } catch (err) {
        if (fsErrorKind(err) === "missing") throw gone(name); // just removed
        if (fsErrorKind(err) !== "exists") throw fsErrorToTftp(err, name);
        tmp = randomTmp();
        fd = this.#call(() => this.#c.createNew(tmp), name);
      }
      this.#stillThere(fd, here, { name, created: tmp });
      let made: FsStat | undefined;
      try {
        made = this.#c.fstat(fd);
      } catch { /* refused below */ }
      if (!made || !this.#named(made, tmp, here)) {
        this.#dropCreated(fd, tmp);
        this.#c.close(fd);
        throw changed(name);
      }
      if (existing) this.#keepOwnership(fd, existing);
      return {
        fd,
        dir,
        dirDev: here.dev,
        dirIno: here.ino,
        tmp,
        target,
        overwrite,
        name,
      };
    }, (slot) => this.#c.close(slot.fd));
  }

  /**
   * Publishes an upload (the temporary file must be closed): by hard link,
   * which never replaces anything, or by rename when overwriting.
   *
   * @param slot From {@linkcode Confined.prepareUpload}.
   * @throws {TftpError} ERROR 6 when the name was taken meanwhile, ERROR 2
   * when the directory was moved or replaced meanwhile.
   */
  publish(slot: UploadSlot): void {
    this.#lock.run(() => {
      this.#reenter(slot);
      const c = this.#c;
      try {
        const { target } = this.#freeName(slot.target, slot);
        if (slot.overwrite) c.rename(slot.tmp, target);
        else c.link(slot.tmp, target);
      } catch (err) {
        throw fsErrorToTftp(err, slot.name);
      } finally {
        try {
          c.remove(slot.tmp);
        } catch { /* renamed away */ }
      }
    });
  }

  /**
   * Removes an upload's temporary file (closed).
   *
   * @param slot From {@linkcode Confined.prepareUpload}.
   */
  discard(slot: UploadSlot): void {
    this.#lock.run(() => {
      this.#reenter(slot);
      try {
        this.#c.remove(slot.tmp);
      } catch { /* already gone */ }
    });
  }

  /**
   * The lock serialises this program's threads; anything else in the
   * process that changes the working directory (a library user's own
   * worker, another isolate) is not held back by it. The directory we
   * stand in is checked once more by identity (a rename of it is fine),
   * so such a change is refused instead of trusted (except one undone in
   * between, which only the lock prevents).
   */
  #stillThere(
    fd: number,
    was: FsStat,
    opts: { name: string; created?: string },
  ): void {
    const c = this.#c;
    let now: FsStat | undefined;
    let at: string | undefined;
    try {
      now = c.stat(".");
      at = c.cwd();
    } catch { /* checked below */ }
    // The identity alone misses a change made before `was` was taken: we
    // must still be inside the root (renamed, perhaps, but inside).
    const inside = at !== undefined &&
      (at === this.root || isInside(this.root, at));
    if (!now || now.dev !== was.dev || now.ino !== was.ino || !inside) {
      if (opts.created !== undefined) this.#dropCreated(fd, opts.created);
      c.close(fd);
      throw new TftpError(
        ErrorCode.NOT_DEFINED,
        `${opts.name}: working directory changed by someone else, try again`,
      );
    }
  }

  /**
   * Whether `base` in the working directory is the file `f`, asked twice,
   * with the directory still `here` each time. Under Deno's path
   * permissions every relative call is the working directory's path plus
   * the name, walked again from `/`, so a rename of a directory on that
   * path in between can redirect any one call; each look here is another
   * walk that the same rename would have to redirect again, in step.
   * (With `--allow-all` Deno passes relative names to the kernel as they
   * are, and the first look already settles it.)
   */
  #named(f: FsStat, base: string, here: FsStat): boolean {
    const c = this.#c;
    for (let i = 0; i < 2; i++) {
      let st: FsStat;
      let dir: FsStat;
      try {
        st = c.lstat(base);
        dir = c.stat(".");
      } catch {
        return false;
      }
      if (
        st.dev !== f.dev || st.ino !== f.ino || dir.dev !== here.dev ||
        dir.ino !== here.ino
      ) return false;
    }
    return true;
  }

  /**
   * Removes the file just made as `name` if the name here is still it (same
   * inode), so a refused upload leaves no temporary file where it can be
   * found; one made where the other party had moved us cannot be.
   */
  #dropCreated(fd: number, name: string): void {
    try {
      const made = this.#c.fstat(fd);
      const there = this.#c.lstat(name);
      if (made.dev === there.dev && made.ino === there.ino) {
        this.#c.remove(name);
      }
    } catch { /* gone or moved again: nothing we can find */ }
  }

  /** A call whose failure is reported as a TFTP error about `name`. */
  #call<T>(fn: () => T, name: string): T {
    try {
      return fn();
    } catch (err) {
      throw fsErrorToTftp(err, name);
    }
  }

  /** Where the kernel says we are, or "missing" when Deno may not say. */
  #where(name: string): string {
    try {
      return this.#c.cwd();
    } catch (err) {
      // Not allowed to read where a symlink led: outside the root.
      if (fsErrorKind(err) === "not-capable") throw refused(name);
      throw fsErrorToTftp(err, name);
    }
  }

  /** Enters the root and then each directory; returns the real path. */
  #enter(dirs: string[], name: string): string {
    const c = this.#c;
    try {
      c.chdir(this.root);
    } catch (err) {
      throw fsErrorToTftp(err, name);
    }
    if (this.#where(name) !== this.root) throw refused(name);
    let here = this.root;
    for (const seg of dirs) {
      this.#chdir(seg, name);
      here = this.#where(name);
      if (!isInside(this.root, here) || this.#fence?.(here)) {
        throw refused(name);
      }
    }
    return here;
  }

  #chdir(seg: string, name: string, folded = false): void {
    try {
      this.#c.chdir(seg);
      return;
    } catch (err) {
      const kind = fsErrorKind(err);
      if (kind === "missing" && this.#index && !folded) {
        const found = this.#index.lookup(seg);
        if (found.kind === "found") return this.#chdir(found.name, name, true);
      }
      if (kind === "missing" || kind === "not-dir" || kind === "loop") {
        // A link that cannot be entered (out, nowhere, a loop, a file) is
        // refused alike: what is at its end makes no difference.
        throw isSymlinkAt(this.#c, seg) ? refused(name) : notFound(name);
      }
      if (kind === "not-capable") throw refused(name); // Deno may not enter
      throw fsErrorToTftp(err, name);
    }
  }

  #lstat(base: string, name: string, folded = false): [string, FsStat] {
    try {
      return [base, this.#c.lstat(base)];
    } catch (err) {
      const kind = fsErrorKind(err);
      if (kind === "missing" && this.#index && !folded) {
        const found = this.#index.lookup(base);
        if (found.kind === "found") return this.#lstat(found.name, name, true);
      }
      if (kind === "missing" || kind === "not-dir") throw notFound(name);
      if (kind === "not-capable") throw refused(name);
      throw fsErrorToTftp(err, name);
    }
  }

  #openLast(base: string, name: string): OpenedFile {
    const c = this.#c;
    for (let hop = 0; hop < MAX_HOPS; hop++) {
      const [real, st] = this.#lstat(base, name);
      base = real;
      if (st.isSymlink) {
        base = this.#follow(base, name);
        continue;
      }
      if (!st.isFile) {
        throw new TftpError(
          ErrorCode.ACCESS_VIOLATION,
          `${name}: not a regular file`,
        );
      }
      const here = this.#call(() => c.stat("."), name);
      let fd: number;
      try {
        fd = c.openRead(base);
      } catch (err) {
        const kind = fsErrorKind(err);
        if (kind === "loop") continue; // became a symlink: look again
        if (kind === "missing") throw notFound(name);
        throw fsErrorToTftp(err, name);
      }
      this.#stillThere(fd, here, { name });
      let f: FsStat;
      try {
        f = c.fstat(fd);
      } catch (err) {
        c.close(fd);
        throw fsErrorToTftp(err, name);
      }
      if (f.isFile && f.dev === st.dev && f.ino === st.ino) {
        if (!this.#named(f, base, here)) {
          c.close(fd);
          throw changed(name);
        }
        return { fd, stat: f };
      }
      c.close(fd);
      if (!f.isFile) {
        throw new TftpError(
          ErrorCode.ACCESS_VIOLATION,
          `${name}: not a regular file`,
        );
      }
    }
    // Links resolve whole, so only a name that kept changing gets here: a
    // race, worth another try.
    throw changed(name);
  }

  /**
   * A last component that is a symlink: where it leads must be inside the
   * root; enter the directory it leads to and return the name there.
   */
  #follow(link: string, name: string): string {
    let real: string;
    try {
      real = this.#c.realPath(link);
    } catch {
      throw refused(name); // dangling, a loop, or not Deno's to look at
    }
    if (real === this.root || !isInside(this.root, real)) {
      throw real === this.root
        ? new TftpError(
          ErrorCode.ACCESS_VIOLATION,
          `${name}: not a regular file`,
        )
        : refused(name);
    }
    const slash = real.lastIndexOf("/");
    const dir = real.slice(0, slash);
    if (this.#fence?.(dir)) throw refused(name);
    try {
      this.#c.chdir(dir);
    } catch {
      throw refused(name); // changed since: taken for one leading out
    }
    if (this.#where(name) !== dir) throw refused(name);
    return real.slice(slash + 1);
  }

  /**
   * The name an upload of `base` is published as in the working directory
   * (under case-insensitive matching, an existing name in another case);
   * refuses with ERROR 6 unless it is free or may be overwritten.
   */
  #freeName(
    base: string,
    opts: { name: string; overwrite: boolean },
  ): { target: string; existing?: FsStat } {
    let target = base;
    let st: FsStat | undefined;
    try {
      st = this.#c.lstat(base);
    } catch (err) {
      if (fsErrorKind(err) !== "missing") throw fsErrorToTftp(err, opts.name);
    }
    if (!st && this.#index) {
      const found = this.#index.lookup(base);
      if (found.kind === "too-large") {
        throw new TftpError(
          ErrorCode.ACCESS_VIOLATION,
          `${opts.name}: directory too large for case-insensitive uploads`,
        );
      }
      if (found.kind === "found") {
        target = found.name;
        st = this.#call(() => this.#c.lstat(target), opts.name);
      }
    }
    if (st && !(opts.overwrite && st.isFile)) {
      throw new TftpError(
        ErrorCode.FILE_EXISTS,
        `${opts.name}: file already exists`,
      );
    }
    return { target, existing: st };
  }

  /**
   * The upload replacing a file gets its permission bits (no set-id bits)
   * and, where this process may (root), its owner: replacing a file must
   * not widen who may read it.
   */
  #keepOwnership(fd: number, { mode, uid, gid }: FsStat): void {
    try {
      if (mode !== undefined) this.#c.fchmod(fd, mode & 0o777);
      if (uid !== undefined && gid !== undefined) this.#c.fchown(fd, uid, gid);
    } catch { /* not privileged: the server's user owns it */ }
  }

  /** Enters an upload's directory again, checking it is the same one. */
  #reenter(slot: UploadSlot): void {
    const moved = () =>
      new TftpError(
        ErrorCode.ACCESS_VIOLATION,
        `${slot.name}: the directory changed during the upload`,
      );
    try {
      this.#c.chdir(slot.dir);
    } catch {
      throw moved();
    }
    if (this.#where(slot.name) !== slot.dir) throw moved();
    const st = this.#call(() => this.#c.stat("."), slot.name);
    if (st.dev !== slot.dirDev || st.ino !== slot.dirIno) throw moved();
  }
}
