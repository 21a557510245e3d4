/**
 * Files first, then the origin: a name the file system does not have is
 * fetched from the origin. Only "not found" falls through; an access
 * violation (a directory, `..`) is final, and so is a refusal that answers
 * like a missing file ({@linkcode TftpError.refused}: a symlink leading
 * out of the root, a name fenced by per-client roots), which the origin is
 * never asked for.
 *
 * @module
 */

import { ErrorCode, TftpError } from "../../protocol/packet.ts";
import { statusError } from "./fetcher.ts";
import type {
  ReadHandle,
  RequestInfo,
  Storage,
  WriteHandle,
} from "../types.ts";

/** A storage that can be closed (the origin's connection pool). */
export interface ClosableStorage extends Storage {
  /** Aborts requests in flight, releases connections, finishes cache writes. */
  close(): Promise<void>;
}

/**
 * Reads from `files`, falling back to `origin` on ERROR 1 unless it is a
 * refusal ({@linkcode TftpError.refused}); uploads go to `files`.
 *
 * @example
 * ```ts
 * import { CompositeStorage } from "./composite.ts";
 * import { MemoryStorage } from "../memory.ts";
 * const storage = new CompositeStorage(
 *   new MemoryStorage({ "local.txt": "here" }),
 *   Object.assign(new MemoryStorage({ "remote.txt": "there" }), {
 *     close: () => Promise.resolve(),
 *   }),
 * );
 * const info = { hostname: "192.0.2.7", port: 2000, mode: "octet" };
 * const h = await storage.openRead("remote.txt", info);
 * if (h.size !== 5) throw new Error();
 * h.close();
 * ```
 */
export class CompositeStorage implements ClosableStorage {
  /** Asked first. */
  readonly files: Storage;
  /** Asked for names `files` does not have. */
  readonly origin: ClosableStorage;

  /**
   * Asks `files` first, and `origin` for the names it does not have.
   *
   * @param files The file-system (or any) storage asked first.
   * @param origin The origin storage.
   */
  constructor(files: Storage, origin: ClosableStorage) {
    this.files = files;
    this.origin = origin;
  }

  /**
   * Opens from the files, or from the origin when the files say "not
   * found" (and not as a refusal: the name stays refused, ERROR 1).
   *
   * @param name Requested name.
   * @param info Who asks.
   * @returns A read handle.
   */
  async openRead(name: string, info: RequestInfo): Promise<ReadHandle> {
    try {
      return await this.files.openRead(name, info);
    } catch (err) {
      if (
        !(err instanceof TftpError) || err.code !== ErrorCode.FILE_NOT_FOUND
      ) {
        throw err;
      }
      if (err.refused) {
        // Answered as the origin answers a name it does not have (404),
        // the commonest answer for a name missing here, without asking it.
        const missing = statusError(404);
        throw new TftpError(missing.code, missing.message, {
          refused: true,
          detail: "refused under the root; the origin was not asked",
        });
      }
      return await this.origin.openRead(name, info);
    }
  }

  /**
   * Uploads go to the files (never to the origin).
   *
   * @param name Requested name.
   * @param info Who asks.
   * @returns A write handle.
   */
  openWrite(name: string, info: RequestInfo): Promise<WriteHandle> {
    return this.files.openWrite(name, info);
  }

  /**
   * Both storages, files first.
   *
   * @returns E.g. `root /srv/tftp (read-only), origin https://o.example/`.
   */
  describe(): string {
    const files = this.files.describe?.() ?? "custom storage";
    return `${files}, ${this.origin.describe?.() ?? "custom origin"}`;
  }

  /** Closes the origin. */
  close(): Promise<void> {
    return this.origin.close();
  }
}
