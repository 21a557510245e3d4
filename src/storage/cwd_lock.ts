/**
 * The process-wide lock around the working directory.
 *
 * Deno has no `openat`: the only handle on "the directory actually
 * entered" it offers is the process's working directory, which the kernel
 * keeps by identity, not by name. File storage changes into each directory
 * of a path, checks where the kernel says it is (`Deno.cwd()`), and opens
 * the last name relative to it, so renaming entries meanwhile cannot
 * redirect the open. The working directory is shared by every thread of
 * the process, so every thread that does this holds this lock, made of an
 * `Int32Array` over a `SharedArrayBuffer` handed to each worker thread,
 * and makes only synchronous calls while it holds it.
 *
 * @module
 */

import { ErrorCode, TftpError } from "../protocol/packet.ts";

/** What a worker thread needs to share the lock (structured-cloneable). */
export interface SharedCwdLock {
  /** Word 0: the holder's token (0 free); word 1: the token counter. */
  buffer: SharedArrayBuffer;
  /**
   * The working directory the process started in, restored after each
   * critical section; undefined when Deno may not read it (the process
   * then stays in the last directory entered, inside a served root).
   */
  home?: string;
}

/** A holder that keeps the lock this long is taken to be dead (ms). */
const BREAK_AFTER_MS = 5000;
/** Longest single sleep while waiting for the lock (ms). */
const WAIT_SLICE_MS = 50;

// One lock per process, whatever module instance asks: a second copy of
// this module (two import paths, a bundle beside the sources) must not
// make a second lock, so it lives on the global object, and worker
// threads adopt the main thread's buffer.
const SLOT = Symbol.for("tftpd.cwdLock");
type Slot = { [SLOT]?: CwdLock };

/**
 * Serialises working-directory changes across threads.
 *
 * @example
 * ```ts
 * import { CwdLock } from "./cwd_lock.ts";
 * const lock = CwdLock.forThread();
 * const here = lock.run(() => Deno.cwd());
 * if (typeof here !== "string") throw new Error();
 * ```
 */
export class CwdLock {
  /** What to hand a worker thread. */
  readonly shared: SharedCwdLock;
  #word: Int32Array;
  /** Where to go back to, when Deno lets this thread go there. */
  #home: string | undefined;

  private constructor(shared: SharedCwdLock) {
    this.shared = shared;
    this.#word = new Int32Array(shared.buffer);
    // Under --allow-read=ROOT the start directory is readable by name only
    // if it is inside ROOT; a refused chdir costs a thrown NotCapable (about
    // 9 us) on every open, so ask once.
    this.#home = shared.home !== undefined &&
        Deno.permissions.querySync({ name: "read", path: shared.home })
            .state === "granted"
      ? shared.home
      : undefined;
  }

  /**
   * This thread's lock: the one adopted from the main thread, else a new
   * one (in the main thread, before any worker starts).
   *
   * @returns The lock.
   */
  static forThread(): CwdLock {
    const g = globalThis as Slot;
    if (!g[SLOT]) {
      let home: string | undefined;
      try {
        home = Deno.cwd();
      } catch { /* not readable: never restored */ }
      g[SLOT] = new CwdLock({ buffer: new SharedArrayBuffer(8), home });
    }
    return g[SLOT];
  }

  /**
   * Makes this thread use the lock another thread shares.
   *
   * @param shared The main thread's {@linkcode CwdLock.shared}.
   * @returns The lock.
   */
  static adopt(shared: SharedCwdLock): CwdLock {
    const g = globalThis as Slot;
    if (g[SLOT]?.shared.buffer !== shared.buffer) {
      g[SLOT] = new CwdLock(shared);
    }
    return g[SLOT]!;
  }

  #acquire(): number {
    let token = Atomics.add(this.#word, 1, 1) + 1;
    if (token === 0) token = Atomics.add(this.#word, 1, 1) + 1;
    let seen = 0;
    let since = 0;
    for (;;) {
      const owner = Atomics.compareExchange(this.#word, 0, 0, token);
      if (owner === 0) return token;
      const now = performance.now();
      if (owner !== seen) {
        seen = owner;
        since = now;
      } else if (now - since > BREAK_AFTER_MS) {
        // A thread terminated inside its critical section never releases;
        // the holder checks its token before trusting what it did.
        if (Atomics.compareExchange(this.#word, 0, owner, token) === owner) {
          return token;
        }
      }
      Atomics.wait(this.#word, 0, owner, WAIT_SLICE_MS);
    }
  }

  /**
   * The real path of `dir`; a relative one is taken from the directory the
   * process started in, whatever directory a thread has entered since.
   *
   * @param dir A directory (or file) path.
   * @returns Its real path.
   * @throws {Deno.errors.NotFound} When it does not exist.
   */
  realPath(dir: string): string {
    const path = this.fromHome(dir);
    return this.run(() => Deno.realPathSync(path));
  }

  /**
   * `path` taken from the directory the process started in (unchanged when
   * absolute, or when that directory is unknown).
   *
   * @param path A path.
   * @returns The path, absolute when it can be.
   */
  fromHome(path: string): string {
    const home = this.shared.home;
    return path.startsWith("/") || home === undefined
      ? path
      : `${home}/${path}`;
  }

  /**
   * Runs `fn` holding the lock, then restores the working directory. `fn`
   * must be synchronous. If the lock was broken meanwhile (its holder was
   * taken for dead), the result is discarded through `discard` and a
   * TFTP error is thrown instead.
   *
   * @param fn The critical section.
   * @param discard Releases what `fn` returned (e.g. closes a file).
   * @returns What `fn` returned.
   * @throws {TftpError} ERROR 0 when the lock was lost meanwhile.
   */
  run<T>(fn: () => T, discard?: (value: T) => void): T {
    const token = this.#acquire();
    let value: T;
    let held: boolean;
    try {
      value = fn();
    } finally {
      // A lock broken meanwhile belongs to another thread: leave its cwd.
      held = Atomics.load(this.#word, 0) === token;
      const home = this.#home;
      if (held && home !== undefined) {
        try {
          Deno.chdir(home);
        } catch { /* gone: stay where we are */ }
      }
      if (held) Atomics.compareExchange(this.#word, 0, token, 0);
      Atomics.notify(this.#word, 0, 1);
    }
    if (!held) {
      discard?.(value);
      throw new TftpError(
        ErrorCode.NOT_DEFINED,
        "file system busy, try again later",
      );
    }
    return value;
  }
}
