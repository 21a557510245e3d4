/**
 * An origin response body shared by every transfer reading it: one fetch
 * appends, any number of readers read at any offset, waiting for bytes that
 * have not arrived yet. A failure reaches every reader as a TFTP error.
 *
 * @module
 */

import { ErrorCode, TftpError } from "../../protocol/packet.ts";
import type { ReadHandle } from "../types.ts";

interface BodyWaiter {
  end: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Options of {@linkcode SharedBody}. */
export interface SharedBodyOptions {
  /** Content-Length, when the origin declared one (checked at the end). */
  size?: number;
  /** Most bytes held; more fails the body with ERROR 3. */
  limit: number;
  /** Called once when the last reader closes before the body is complete. */
  onAbandon?: () => void;
  /**
   * Called whenever the last reader closes before the body is complete,
   * whatever `onAbandon` is (the fetcher's hook: a body nobody reads may
   * give its origin request slot to a waiting one).
   */
  onOrphan?: () => void;
}

/** First buffer allocated for a body (it grows as bytes arrive). */
const FIRST_CAPACITY = 64 * 1024;

/**
 * A body filling up in memory.
 *
 * @example
 * ```ts
 * import { SharedBody } from "./body.ts";
 * const body = new SharedBody({ size: 3, limit: 1024 });
 * const handle = body.open();
 * const read = handle.read(0, new Uint8Array(3));
 * body.append(new Uint8Array([1, 2, 3]));
 * body.finish();
 * if (await read !== 3) throw new Error();
 * handle.close();
 * ```
 */
export class SharedBody {
  /** Declared length, if any. */
  readonly size?: number;
  #limit: number;
  #buf: Uint8Array;
  #length = 0;
  #done = false;
  #error?: TftpError;
  #waiters = new Set<BodyWaiter>();
  #readers = 0;
  #opened = false;
  #onAbandon?: () => void;
  #onOrphan?: () => void;

  /**
   * One origin response body, shared by every reader while it arrives.
   *
   * @param opts Declared size, limit, abandon hook.
   */
  constructor(opts: SharedBodyOptions) {
    this.size = opts.size;
    this.#limit = opts.limit;
    this.#onAbandon = opts.onAbandon;
    this.#onOrphan = opts.onOrphan;
    // Grown as bytes arrive, not allocated from Content-Length at once: a
    // header alone never costs memory.
    this.#buf = new Uint8Array(
      Math.min(opts.size ?? FIRST_CAPACITY, FIRST_CAPACITY, opts.limit),
    );
    this.settled = new Promise((resolve) => this.#settle = resolve);
  }

  /** Resolves once the body is complete or has failed. */
  readonly settled: Promise<void>;
  #settle!: () => void;

  /** Bytes received so far. */
  get length(): number {
    return this.#length;
  }

  /** Whether the whole body arrived (and matched its declared size). */
  get done(): boolean {
    return this.#done;
  }

  /** Why the body failed, if it did. */
  get error(): TftpError | undefined {
    return this.#error;
  }

  /** Readers open now. */
  get readers(): number {
    return this.#readers;
  }

  /**
   * Every reader has left and the body is still arriving: it fills only a
   * cache entry now, so its origin request may give way to a waiting one.
   *
   * @returns true when it was read and nobody reads it now.
   */
  get orphaned(): boolean {
    return this.#opened && this.#readers === 0 && !this.#done && !this.#error;
  }

  /**
   * Sets (or clears) what happens when the last reader leaves early.
   *
   * @param fn The hook.
   */
  set onAbandon(fn: (() => void) | undefined) {
    this.#onAbandon = fn;
  }

  /**
   * Adds bytes that arrived.
   *
   * @param chunk The bytes (copied).
   * @returns false when the body has failed (too large, longer than
   * declared, or failed earlier): stop reading the origin.
   */
  append(chunk: Uint8Array): boolean {
    if (this.#error || this.#done) return false;
    const need = this.#length + chunk.length;
    if (this.size !== undefined && need > this.size) {
      this.fail(unavailable("body longer than its Content-Length"));
      return false;
    }
    if (need > this.#limit) {
      this.fail(
        new TftpError(
          ErrorCode.DISK_FULL,
          "file is larger than the origin size limit",
          { detail: `more than ${this.#limit} bytes` },
        ),
      );
      return false;
    }
    if (need > this.#buf.length) {
      const grown = new Uint8Array(
        Math.min(
          this.size ?? this.#limit,
          this.#limit,
          Math.max(need, this.#buf.length * 2),
        ),
      );
      grown.set(this.#buf.subarray(0, this.#length));
      this.#buf = grown;
    }
    this.#buf.set(chunk, this.#length);
    this.#length = need;
    for (const w of this.#waiters) {
      if (w.end <= need) {
        this.#waiters.delete(w);
        w.resolve();
      }
    }
    return true;
  }

  /** Marks the body complete; a short body (vs. Content-Length) fails. */
  finish(): void {
    if (this.#error || this.#done) return;
    if (this.size !== undefined && this.#length !== this.size) {
      this.fail(
        unavailable(`body ended at ${this.#length} of ${this.size} bytes`),
      );
      return;
    }
    this.#done = true;
    for (const w of this.#waiters) w.resolve();
    this.#waiters.clear();
    this.#settle();
  }

  /**
   * Fails the body: every pending and later read rejects with `err`.
   *
   * @param err The error readers get.
   */
  fail(err: TftpError): void {
    if (this.#error || this.#done) return;
    this.#error = err;
    for (const w of this.#waiters) w.reject(err);
    this.#waiters.clear();
    this.#settle();
  }

  /**
   * The complete content (a view, not a copy).
   *
   * @returns The bytes.
   * @throws {Error} When the body is not complete.
   */
  bytes(): Uint8Array {
    if (!this.#done) throw new Error("body is not complete");
    return this.#buf.subarray(0, this.#length);
  }

  /**
   * Opens a reader.
   *
   * @returns A read handle over this body.
   */
  open(): ReadHandle {
    this.#readers++;
    this.#opened = true;
    return new BodyReadHandle(this);
  }

  /** Called by a reader's close. */
  leave(): void {
    this.#readers--;
    if (this.#readers === 0 && !this.#done && !this.#error) {
      this.#onAbandon?.();
      this.#onOrphan?.();
    }
  }

  /**
   * Copies available bytes from `offset` into `buf`.
   *
   * @param offset Byte offset.
   * @param buf Destination.
   * @returns Bytes copied.
   */
  copy(offset: number, buf: Uint8Array): number {
    const n = Math.max(0, Math.min(buf.length, this.#length - offset));
    buf.set(this.#buf.subarray(offset, offset + n));
    return n;
  }

  /**
   * A waiter that settles once `end` bytes are there, the body is
   * complete, or it failed.
   *
   * @param end Bytes wanted.
   * @param resolve Called when they are there (or the body is complete).
   * @param reject Called with the body's error.
   * @returns A function that withdraws the waiter.
   */
  wait(
    end: number,
    resolve: () => void,
    reject: (err: unknown) => void,
  ): () => void {
    if (this.#error) {
      reject(this.#error);
      return () => {};
    }
    if (this.#done || this.#length >= end) {
      resolve();
      return () => {};
    }
    const w = { end, resolve, reject };
    this.#waiters.add(w);
    return () => this.#waiters.delete(w);
  }
}

/** One transfer's view of a {@linkcode SharedBody}. */
class BodyReadHandle implements ReadHandle {
  readonly size?: number;
  #body: SharedBody;
  #closed = false;
  #withdraw?: () => void;
  #reject?: (err: unknown) => void;

  constructor(body: SharedBody) {
    this.#body = body;
    this.size = body.size;
  }

  read(offset: number, buf: Uint8Array): number | Promise<number> {
    const body = this.#body;
    if (this.#closed) throw new Error("read after close");
    if (body.error) throw body.error;
    if (body.done || body.length >= offset + buf.length) {
      return body.copy(offset, buf);
    }
    return new Promise<number>((resolve, reject) => {
      this.#reject = reject;
      this.#withdraw = body.wait(
        offset + buf.length,
        () => {
          this.#settled();
          resolve(body.copy(offset, buf));
        },
        (err) => {
          this.#settled();
          reject(err);
        },
      );
    });
  }

  #settled(): void {
    this.#withdraw = undefined;
    this.#reject = undefined;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#withdraw?.();
    this.#reject?.(unavailable("transfer closed while waiting for the origin"));
    this.#settled();
    this.#body.leave();
  }
}

/**
 * The error a client gets when the origin fails: always the same short
 * message, the cause in `detail` (for the log).
 *
 * @example
 * ```ts
 * import { unavailable } from "./body.ts";
 * const err = unavailable("connection refused");
 * if (err.code !== 0 || err.message !== "origin unavailable") throw new Error();
 * ```
 *
 * @param detail What happened (log only).
 * @returns The error.
 */
export function unavailable(detail: string): TftpError {
  return new TftpError(ErrorCode.NOT_DEFINED, "origin unavailable", {
    detail: cleanDetail(detail),
  });
}

/**
 * Text from the network made safe for one log line: control characters
 * escaped, length bounded.
 *
 * @example
 * ```ts
 * import { cleanDetail } from "./body.ts";
 * if (cleanDetail("a\nb") !== "a\\nb") throw new Error();
 * ```
 *
 * @param text Any text.
 * @returns One printable line of at most 300 characters.
 */
export function cleanDetail(text: string): string {
  const clean = text.replace(
    // deno-lint-ignore no-control-regex
    /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g,
    (c) =>
      c === "\n"
        ? "\\n"
        : c === "\r"
        ? "\\r"
        : `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
  return clean.length > 300 ? clean.slice(0, 300) + "..." : clean;
}
