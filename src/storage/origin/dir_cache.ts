/**
 * Origin responses kept in a directory that several threads or processes
 * may share. Each entry is one file (a header line with its policy, then
 * the body) named by the SHA-256 of its name; it is written under a
 * temporary name and published by rename, so a reader sees a whole entry
 * or none. Entries are checked against their own header (name, length)
 * when opened. Bounded in bytes: after each store, the least recently used
 * entries (by modification time, touched on every hit) are removed.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { Logger } from "../../log.ts";
import { type FileReadHandle, fsFileReadHandle } from "../handles.ts";
import type { ReadHandle } from "../types.ts";
import type { CachePolicy } from "./policy.ts";
import { CwdLock } from "../cwd_lock.ts";

const MAGIC = "tftpd-origin-cache 1\n";
/** Largest header read back (name, validators, policy). */
const HEADER_MAX = 32 * 1024;
/** Prefix of entries being written. */
const TEMP_PREFIX = ".tmp-";
/** Temporary files older than this are left over from a crash. */
const STALE_TEMP_MS = 10 * 60 * 1000;
/** Most refreshed policies remembered (see {@linkcode DirCache.refresh}). */
const MAX_REFRESHED = 4096;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What an entry's header says. */
interface Meta {
  key: string;
  id: string;
  size: number;
  policy: CachePolicy;
}

/** An entry found on disk, opened. */
export interface DirHit {
  /** Its policy (refreshed by a 304 in this process, if any). */
  policy: CachePolicy;
  /** Body length. */
  size: number;
  /** Identity of this stored version. */
  id: string;
  /** A handle on its body; close it when done. */
  handle: ReadHandle;
}

/** Options of {@linkcode DirCache.open}. */
export interface DirCacheOptions {
  /** Most bytes the directory may hold (entries and their headers). */
  maxBytes: number;
  /** Where failures are logged. */
  log?: Logger;
}

/** A handle on the body part of an entry file. */
class BodyOfFile implements ReadHandle {
  readonly size: number;
  #file: FileReadHandle;
  #start: number;

  constructor(file: FileReadHandle, start: number, size: number) {
    this.#file = file;
    this.#start = start;
    this.size = size;
  }

  read(offset: number, buf: Uint8Array): number {
    const n = Math.max(0, Math.min(buf.length, this.size - offset));
    if (n === 0) return 0;
    return this.#file.read(this.#start + offset, buf.subarray(0, n));
  }

  close(): void {
    this.#file.close();
  }
}

/**
 * A directory of cached responses.
 *
 * @example
 * ```ts
 * import { DirCache } from "./dir_cache.ts";
 * const dir = await Deno.makeTempDir();
 * const cache = await DirCache.open(dir, { maxBytes: 1 << 20 });
 * const policy = { shared: true, freshUntil: Date.now() + 60_000, noCache: false };
 * await cache.put("a/b", policy, new TextEncoder().encode("hi"));
 * const hit = await cache.get("a/b");
 * if (hit?.size !== 2) throw new Error();
 * hit.handle.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class DirCache {
  /** Real path of the directory. */
  readonly dir: string;
  /** Most bytes held. */
  readonly maxBytes: number;
  #log?: Logger;
  #refreshed = new Map<string, { id: string; policy: CachePolicy }>();

  /**
   * Use {@linkcode DirCache.open}.
   *
   * @param dir Real path of an existing directory.
   * @param opts Bound and logger.
   */
  constructor(dir: string, opts: DirCacheOptions) {
    this.dir = dir;
    this.maxBytes = opts.maxBytes;
    this.#log = opts.log;
  }

  /**
   * Creates the directory if needed and trims it to its bound.
   *
   * @param dir Directory path.
   * @param opts Bound and logger.
   * @returns The cache.
   */
  static async open(dir: string, opts: DirCacheOptions): Promise<DirCache> {
    const lock = CwdLock.forThread();
    const path = lock.fromHome(dir);
    await Deno.mkdir(path, { recursive: true });
    const cache = new DirCache(lock.realPath(path), opts);
    await cache.sweep();
    return cache;
  }

  #path(key: string): string {
    return `${this.dir}/${createHash("sha256").update(key).digest("hex")}`;
  }

  /**
   * Opens the entry for a name.
   *
   * @param key Normalised name.
   * @returns The entry, or undefined when there is none (or it is damaged).
   */
  async get(key: string): Promise<DirHit | undefined> {
    const path = this.#path(key);
    let file: Deno.FsFile;
    try {
      if (!(await Deno.lstat(path)).isFile) return undefined;
      file = await Deno.open(path, { read: true });
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) {
        this.#log?.warn(`origin cache: cannot open ${path}: ${err}`);
      }
      return undefined;
    }
    const total = file.statSync().size;
    const head = readHeader(file, total);
    if (!head || head.meta.key !== key || head.end + head.meta.size !== total) {
      file.close();
      this.#log?.warn(`origin cache: removing damaged entry ${path}`);
      await Deno.remove(path).catch(() => {});
      return undefined;
    }
    const { meta } = head;
    const refreshed = this.#refreshed.get(key);
    const now = new Date();
    Deno.utime(path, now, now).catch(() => {});
    return {
      policy: refreshed?.id === meta.id ? refreshed.policy : meta.policy,
      size: meta.size,
      id: meta.id,
      handle: new BodyOfFile(
        fsFileReadHandle(file, total),
        head.end,
        meta.size,
      ),
    };
  }

  /**
   * Stores a response: written to a temporary file, then renamed over the
   * entry. Failures (disk full, say) are logged, never thrown.
   *
   * @param key Normalised name.
   * @param policy Its policy.
   * @param bytes Its body.
   * @returns Whether it was stored.
   */
  async put(
    key: string,
    policy: CachePolicy,
    bytes: Uint8Array,
  ): Promise<boolean> {
    const meta: Meta = {
      key,
      id: crypto.randomUUID(),
      size: bytes.length,
      policy,
    };
    const header = encoder.encode(MAGIC + JSON.stringify(meta) + "\n");
    if (
      header.length > HEADER_MAX || header.length + bytes.length > this.maxBytes
    ) {
      return false;
    }
    this.#refreshed.delete(key);
    const tmp = `${this.dir}/${TEMP_PREFIX}${crypto.randomUUID()}`;
    try {
      using file = await Deno.open(tmp, { write: true, createNew: true });
      await writeAll(file, header);
      await writeAll(file, bytes);
      await file.syncData();
      await Deno.rename(tmp, this.#path(key));
    } catch (err) {
      this.#log?.warn(
        `origin cache: cannot store ${JSON.stringify(key)}: ${err}`,
      );
      await Deno.remove(tmp).catch(() => {});
      return false;
    }
    await this.sweep();
    return true;
  }

  /**
   * Remembers the policy a 304 gave a stored version (in this process
   * only: other processes and later runs revalidate once themselves).
   *
   * @param key Normalised name.
   * @param id The version's {@linkcode DirHit.id}.
   * @param policy The refreshed policy.
   */
  refresh(key: string, id: string, policy: CachePolicy): void {
    this.#refreshed.delete(key);
    this.#refreshed.set(key, { id, policy });
    if (this.#refreshed.size > MAX_REFRESHED) {
      this.#refreshed.delete(this.#refreshed.keys().next().value!);
    }
  }

  /**
   * Removes the entry for a name.
   *
   * @param key Normalised name.
   */
  async delete(key: string): Promise<void> {
    this.#refreshed.delete(key);
    await Deno.remove(this.#path(key)).catch(() => {});
  }

  /**
   * Removes temporary files left by a crash and, while the directory holds
   * more than its bound, the least recently used entries.
   */
  async sweep(): Promise<void> {
    const now = Date.now();
    const entries: { path: string; size: number; used: number }[] = [];
    let total = 0;
    for await (const e of Deno.readDir(this.dir)) {
      if (!e.isFile) continue;
      const path = `${this.dir}/${e.name}`;
      const st = await Deno.lstat(path).catch(() => undefined);
      if (!st) continue;
      const used = st.mtime?.getTime() ?? 0;
      if (e.name.startsWith(TEMP_PREFIX)) {
        if (now - used > STALE_TEMP_MS) await Deno.remove(path).catch(() => {});
        else total += st.size;
        continue;
      }
      if (!/^[0-9a-f]{64}$/.test(e.name)) continue;
      total += st.size;
      entries.push({ path, size: st.size, used });
    }
    entries.sort((a, b) => a.used - b.used);
    for (const e of entries) {
      if (total <= this.maxBytes) break;
      await Deno.remove(e.path).catch(() => {});
      total -= e.size;
    }
  }
}

async function writeAll(file: Deno.FsFile, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await file.write(data.subarray(off));
}

/** A header value sent back to the origin: no line break, no NUL. */
function isValidator(v: unknown): boolean {
  return v === undefined || (typeof v === "string" && !/[\r\n\0]/.test(v));
}

/**
 * A policy as `put` writes it. Another process, a crash or a hand edit may
 * have written anything, and a hit is trusted with it: a policy that is not
 * one makes the entry damaged, not a crash or a malformed conditional GET.
 */
function isPolicy(p: unknown): p is CachePolicy {
  if (typeof p !== "object" || p === null) return false;
  const { shared, freshUntil, noCache, etag, lastModified } = p as Record<
    string,
    unknown
  >;
  return shared === true && typeof freshUntil === "number" &&
    Number.isFinite(freshUntil) && typeof noCache === "boolean" &&
    isValidator(etag) && isValidator(lastModified);
}

/** Reads and checks an entry's header; undefined when it is not one. */
function readHeader(
  file: Deno.FsFile,
  total: number,
): { meta: Meta; end: number } | undefined {
  const buf = new Uint8Array(Math.min(HEADER_MAX, total));
  let n = 0;
  while (n < buf.length) {
    const got = file.readSync(buf.subarray(n));
    if (got === null || got === 0) break;
    n += got;
  }
  const magic = encoder.encode(MAGIC);
  if (n < magic.length || magic.some((b, i) => buf[i] !== b)) return undefined;
  const nl = buf.subarray(0, n).indexOf(10, magic.length);
  if (nl < 0) return undefined;
  try {
    const meta = JSON.parse(decoder.decode(buf.subarray(magic.length, nl)));
    if (
      typeof meta?.key !== "string" || typeof meta.id !== "string" ||
      !Number.isSafeInteger(meta.size) || meta.size < 0 ||
      !isPolicy(meta.policy)
    ) return undefined;
    return { meta: meta as Meta, end: nl + 1 };
  } catch {
    return undefined;
  }
}
