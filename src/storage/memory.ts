/**
 * In-memory storage: serve fixed or generated content (per-machine boot
 * scripts, say) without a file system, and optionally collect uploads.
 *
 * @module
 */

import { ErrorCode, TftpError } from "../protocol/packet.ts";
import { normalizeName } from "../server/names.ts";
import { checkCleanName, notFound } from "./clean_name.ts";
import type { ReadHandle, RequestInfo, Storage, WriteHandle } from "./types.ts";

/** Content for one name: bytes, text, or a function producing either. */
export type MemoryEntry =
  | Uint8Array
  | string
  | ((info: RequestInfo) => Uint8Array | string | Promise<Uint8Array | string>);

/** A read handle over bytes held in memory.  *
 * @example
 * ```ts
 * import { BytesReadHandle } from "./memory.ts";
 * const h = new BytesReadHandle(new TextEncoder().encode("hello"));
 * const buf = new Uint8Array(3);
 * if (h.size !== 5 || h.read(3, buf) !== 2) throw new Error();
 * ```
 */
export class BytesReadHandle implements ReadHandle {
  /** Length of the content. */
  readonly size: number;
  #bytes: Uint8Array;

  /**
   * A read handle over bytes held in memory.
   *
   * @param bytes The content.
   */
  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.size = bytes.length;
  }

  /**
   * Copies bytes from `offset` into `buf`.
   *
   * @param offset Byte offset.
   * @param buf Destination.
   * @returns Bytes copied.
   */
  read(offset: number, buf: Uint8Array): number {
    const part = this.#bytes.subarray(offset, offset + buf.length);
    buf.set(part);
    return part.length;
  }

  /** Nothing to release. */
  close(): void {}
}

/** Options of {@linkcode MemoryStorage}. */
export interface MemoryStorageOptions {
  /** Accept uploads into the map (default false). */
  writable?: boolean;
}

const encoder = new TextEncoder();

/**
 * Storage backed by a map of names to content. The keys given are
 * normalised like requested names (`\` to `/`, leading `/` dropped); the
 * names asked for come clean from the name pipeline and are matched
 * exactly.
 *
 * @example
 * ```ts
 * import { MemoryStorage } from "./memory.ts";
 * const storage = new MemoryStorage({
 *   "boot.ipxe": (info) => `#!ipxe\necho hello ${info.hostname}\n`,
 * });
 * ```
 */
export class MemoryStorage implements Storage {
  /** The content, by normalised name. Uploads land here when writable. */
  readonly files: Map<string, MemoryEntry>;
  /** Whether uploads are accepted. */
  readonly writable: boolean;

  /**
   * A storage holding `files` in memory.
   *
   * @param files Initial content by name.
   * @param opts Options.
   */
  constructor(
    files: Record<string, MemoryEntry> = {},
    opts: MemoryStorageOptions = {},
  ) {
    this.files = new Map();
    for (const [k, v] of Object.entries(files)) {
      this.files.set(normalizeName(k), v);
    }
    this.writable = opts.writable ?? false;
  }

  /**
   * Opens a name for reading; functions are called once per request.
   *
   * @param name Requested name.
   * @param info Who asks.
   * @returns A read handle with a declared size (so tsize works).
   */
  async openRead(name: string, info: RequestInfo): Promise<ReadHandle> {
    checkCleanName(name);
    const entry = this.files.get(name);
    if (entry === undefined) throw notFound(name);
    let content = typeof entry === "function" ? await entry(info) : entry;
    if (typeof content === "string") content = encoder.encode(content);
    return new BytesReadHandle(content);
  }

  /**
   * Collects an upload in memory; published on commit, never overwriting.
   *
   * @param name Requested name.
   * @returns A write handle.
   */
  openWrite(name: string): Promise<WriteHandle> {
    if (!this.writable) {
      return Promise.reject(
        new TftpError(ErrorCode.ACCESS_VIOLATION, "uploads are disabled"),
      );
    }
    try {
      checkCleanName(name);
    } catch (err) {
      return Promise.reject(err);
    }
    const key = name;
    if (this.files.has(key)) {
      return Promise.reject(
        new TftpError(ErrorCode.FILE_EXISTS, `${name}: file already exists`),
      );
    }
    const chunks: Uint8Array[] = [];
    const files = this.files;
    return Promise.resolve({
      write(data: Uint8Array) {
        chunks.push(data.slice());
      },
      commit() {
        if (files.has(key)) {
          return Promise.reject(
            new TftpError(
              ErrorCode.FILE_EXISTS,
              `${name}: file already exists`,
            ),
          );
        }
        const total = chunks.reduce((n, c) => n + c.length, 0);
        const out = new Uint8Array(total);
        let off = 0;
        for (const c of chunks) {
          out.set(c, off);
          off += c.length;
        }
        files.set(key, out);
        return Promise.resolve();
      },
      abort() {
        chunks.length = 0;
        return Promise.resolve();
      },
    });
  }
}
