/**
 * Helpers for the race tests: run code while a worker thread swaps a name
 * in the root for a symlink leading out (see `swap_worker.ts`).
 *
 * @module
 */

import { ErrorCode } from "../../src/protocol/packet.ts";
import type { FsStorage } from "../../src/storage/files.ts";

/** How the worker swaps (see `swap_worker.ts`). */
export type SwapKind = "file" | "dir" | "file-flip" | "dir-flip";

/** What to swap. */
export interface SwapJob {
  /** The root (real path). */
  root: string;
  /** Name in the root to swap. */
  name: string;
  /** Where the symlink leads. */
  outside: string;
  /** How. */
  kind: SwapKind;
}

/**
 * Runs `fn` while a worker swaps `root/name` with a symlink to `outside`;
 * the worker has made its first swap before `fn` starts and has stopped
 * when this returns. `fn` is given the number of swaps so far, so it can go
 * on until the race has really been run (a loaded machine may starve the
 * worker's thread for a while).
 *
 * @param job What to swap.
 * @param fn The work to race against it.
 * @returns What `fn` returned and how many swaps the worker made.
 */
export async function whileSwapping<T>(
  job: SwapJob,
  fn: (swapsSoFar: () => number) => Promise<T>,
): Promise<{ result: T; swaps: number }> {
  // [0]: the stop flag; [1]: swaps so far (the worker counts them).
  const stop = new Int32Array(new SharedArrayBuffer(8));
  const worker = new Worker(
    new URL("./swap_worker.ts", import.meta.url).href,
    { type: "module" },
  );
  let started!: () => void;
  const running = new Promise<void>((r) => started = r);
  const done = new Promise<number>((resolve, reject) => {
    worker.onmessage = (e) => {
      if (e.data.started) started();
      else if (e.data.error) reject(new Error(`swap worker: ${e.data.error}`));
      else resolve(e.data.swaps);
    };
    worker.onerror = (e) => {
      e.preventDefault();
      reject(new Error(`swap worker failed: ${e.message}`));
    };
  });
  done.catch(() => {}).finally(() => started());
  worker.postMessage({ ...job, stop });
  let result: T;
  try {
    await running;
    result = await fn(() => Atomics.load(stop, 1));
  } finally {
    Atomics.store(stop, 0, 1);
    await done.catch(() => {});
    worker.terminate();
  }
  return { result, swaps: await done };
}

/**
 * Opens `name` through `storage` and reads its first bytes as text.
 *
 * @param storage The storage.
 * @param name Requested name.
 * @returns The text.
 */
export async function readStart(
  storage: FsStorage,
  name: string,
): Promise<string> {
  const handle = await storage.openRead(name);
  try {
    const buf = new Uint8Array(64);
    let n = handle.read(0, buf);
    if (typeof n !== "number") n = await n;
    return new TextDecoder().decode(buf.subarray(0, n));
  } finally {
    handle.close();
  }
}

/**
 * Whether `err` is the refusal storage gives when a name or the directory it
 * stood in changed while it was opened (docs/security.md, "The
 * directory-flip race"): refused, never a leak, so the race tests count it
 * as a refusal.
 *
 * @example
 * ```ts
 * import { busy } from "./swap.ts";
 * if (!busy({ code: 0, message: "d/x: changed while being opened, try again" })) {
 *   throw new Error();
 * }
 * ```
 *
 * @param err A TFTP error (from storage or from the server).
 * @returns true for that refusal.
 */
export function busy(err: { code: number; message: string }): boolean {
  return err.code === ErrorCode.NOT_DEFINED &&
    /working directory changed|changed while being opened/.test(err.message);
}
