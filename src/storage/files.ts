/**
 * File-system storage confined to a root directory.
 *
 * Every open happens in a directory the kernel confirms is inside the root
 * (see `confined.ts`): a symlink leading out, even one swapped in while a
 * request is being served, answers like a missing file. Deno's permission
 * flags do not follow symlinks, so this is what keeps a symlink from
 * leaking files. Writes go to a temporary file in the target directory and
 * are published with a hard link, which never overwrites; aborted uploads
 * leave nothing.
 *
 * @module
 */

import { ErrorCode, TftpError } from "../protocol/packet.ts";
import { checkCleanName, TEMP_PREFIX } from "./clean_name.ts";
import { Confined } from "./confined.ts";
import type { ConfinedParts } from "./confined_types.ts";
import { CwdLock } from "./cwd_lock.ts";
import { DirIndex, type DirIndexLimits } from "./dir_index.ts";
import { ChunkCache, contentKey } from "./chunk_cache.ts";
import { FileReadHandle, FileWriteHandle, ReadAheadPool } from "./handles.ts";
import { type FsCalls, realFsCalls } from "./sys.ts";
import { grantedUploadDirs, type SweepLimits } from "./sweep.ts";
import { quote } from "../escape.ts";
import type { ReadHandle, Storage, WriteHandle } from "./types.ts";

export { TEMP_PREFIX };

/** How far the start-up line looks for directories granted for uploads. */
const DESCRIBE_WALK: SweepLimits = { maxEntries: 10_000, maxDepth: 8 };
export { FileReadHandle, FileWriteHandle };

/** Options of {@linkcode FsStorage.open}. */
export interface FsStorageOptions {
  /** Accept uploads (default true; false answers WRQ with ERROR 2). */
  writable?: boolean;
  /**
   * Kept for the server's options; storage never normalises (names come
   * from the name pipeline, `src/server/names.ts`).
   */
  normalizeNames?: boolean;
  /** Find names case-insensitively when the exact name does not exist. */
  ignoreCase?: boolean;
  /** Let uploads replace existing regular files (default false: ERROR 6). */
  allowOverwrite?: boolean;
  /** The file-system calls made (tests count or fail them). */
  calls?: FsCalls;
  /** Bounds of the case-insensitive index. */
  indexLimits?: Partial<DirIndexLimits>;
}

/**
 * Storage on the local file system, confined to one root directory. It is
 * given clean names (from the name pipeline) and only checks them.
 *
 * @example
 * ```ts
 * import { FsStorage } from "./files.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/a.txt`, "hello");
 * const storage = await FsStorage.open(dir, { writable: false });
 * const handle = await storage.openRead("a.txt");
 * if (handle.size !== 5) throw new Error();
 * handle.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class FsStorage implements Storage {
  /** Real (symlink-free) path of the root. */
  readonly root: string;
  /** Whether uploads are accepted. */
  readonly writable: boolean;
  /** The options it was opened with. */
  readonly options: FsStorageOptions;
  #parts: ConfinedParts;
  #confined: Confined;
  #pool = new ReadAheadPool();
  #chunks = new ChunkCache();

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
    const calls = opts.calls ?? realFsCalls();
    this.#parts = {
      calls,
      lock: CwdLock.forThread(),
      index: opts.ignoreCase
        ? new DirIndex(calls, { limits: opts.indexLimits })
        : undefined,
    };
    this.#confined = new Confined(realRoot, this.#parts);
  }

  /**
   * Resolves `dir` and checks that it is a directory. A relative `dir` is
   * taken from the directory the process started in.
   *
   * @param dir Root directory.
   * @param opts Options.
   * @returns The storage.
   * @throws {Error} When `dir` does not exist or is not a directory.
   */
  static open(
    dir: string,
    opts: FsStorageOptions = {},
  ): Promise<FsStorage> {
    try {
      const real = CwdLock.forThread().realPath(dir);
      if (!Deno.statSync(real).isDirectory) {
        throw new Error(`${dir} is not a directory`);
      }
      return Promise.resolve(new FsStorage(real, opts));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * The same storage (options, index, calls) rooted at `realDir`, a real
   * directory inside this root (a per-client root).
   *
   * @param realDir Real path of the directory.
   * @returns The storage.
   */
  within(realDir: string): FsStorage {
    const s = new FsStorage(realDir, this.options);
    s.#parts = this.#parts;
    s.#pool = this.#pool;
    s.#chunks = this.#chunks;
    s.#confined = new Confined(realDir, this.#parts);
    return s;
  }

  /**
   * The same storage and root, with real directories inside it that no
   * name may reach, through symlinks included (the shared root of
   * per-client roots, without the clients' directories).
   *
   * @param fence Whether a real directory path is off limits.
   * @returns The storage.
   */
  fenced(fence: (realDir: string) => boolean): FsStorage {
    const s = this.within(this.root);
    s.#confined = new Confined(this.root, this.#parts, { fence });
    return s;
  }

  /** The file-system calls this storage makes. */
  get calls(): FsCalls {
    return this.#parts.calls;
  }

  /**
   * Whether uploads into the root itself are possible: the storage is
   * writable and Deno grants write access to the root.
   *
   * @returns true when they are.
   */
  canUpload(): boolean {
    return this.writable && this.calls.canWrite(this.root);
  }

  /**
   * The root and whether uploads into it are possible.
   *
   * @returns E.g. `root /srv/tftp (read-only)`.
   */
  describe(): string {
    if (!this.writable || this.canUpload()) {
      return `root ${this.root} (${
        this.writable ? "read-write" : "read-only"
      })`;
    }
    // Granted below the root only (`--allow-write=ROOT/incoming`): "read-only"
    // would hide where uploads land.
    const found = grantedUploadDirs(this.root, {
      calls: this.calls,
      limits: DESCRIBE_WALK,
      max: 3,
    });
    if (found.dirs.length === 0) return `root ${this.root} (read-only)`;
    const more = found.truncated ? " and maybe more" : "";
    return `root ${this.root} (read-only; uploads into ${
      found.dirs.map((d) => quote(`${d}/`, { max: 100 })).join(", ")
    }${more})`;
  }

  /**
   * Opens a file for reading.
   *
   * @param name Clean name from the name pipeline.
   * @returns A read handle with the file's size.
   */
  openRead(name: string): Promise<ReadHandle> {
    try {
      const segments = checkCleanName(name);
      const { fd, stat } = this.#confined.openFile(segments, name);
      const key = contentKey(stat, Date.now());
      return Promise.resolve(
        new FileReadHandle(fd, {
          size: stat.size,
          calls: this.#parts.calls,
          pool: this.#pool,
          shared: key === undefined ? undefined : { cache: this.#chunks, key },
        }),
      );
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Prepares an upload: checks the directory exists under the root and the
   * name is free (in any letter case under `ignoreCase`), and creates a
   * temporary file beside the target.
   *
   * @param name Clean name from the name pipeline.
   * @returns A write handle.
   */
  openWrite(name: string): Promise<WriteHandle> {
    try {
      if (!this.writable) {
        throw new TftpError(
          ErrorCode.ACCESS_VIOLATION,
          "server is read-only: uploads are disabled",
        );
      }
      const segments = checkCleanName(name);
      const slot = this.#confined.prepareUpload(segments, {
        name,
        overwrite: this.options.allowOverwrite ?? false,
      });
      return Promise.resolve(
        new FileWriteHandle(slot, {
          confined: this.#confined,
          calls: this.#parts.calls,
        }),
      );
    } catch (err) {
      return Promise.reject(err);
    }
  }
}
