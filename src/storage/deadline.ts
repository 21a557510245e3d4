/**
 * A bound on how long opening may take. File storage opens synchronously
 * and never waits on a FIFO, but a custom storage (a generated file, a
 * remote origin) may take any time: the session start-up wraps its open
 * in {@linkcode openWithin}, so a slot is never held by an open that does
 * not come back, and a handle that arrives too late is released.
 *
 * @module
 */

import { ErrorCode, TftpError } from "../protocol/packet.ts";

/** Something an open returns that can be released. */
export type Releasable =
  | { close(): void }
  | { abort(): Promise<void> };

/**
 * Resolves with what `opening` gives, or rejects with ERROR 0 once `ms`
 * have passed; a handle that arrives after that is released at once.
 *
 * @example
 * ```ts
 * import { openWithin } from "./deadline.ts";
 * const never = new Promise<{ close(): void }>(() => {});
 * const err = await openWithin(never, 10).then(() => undefined, (e) => e);
 * if (!(err instanceof Error)) throw new Error("not bounded");
 * ```
 *
 * @param opening The open in progress.
 * @param ms The bound in milliseconds.
 * @returns The handle.
 * @throws {TftpError} ERROR 0 when the bound passes first.
 */
export function openWithin<H extends Releasable>(
  opening: Promise<H>,
  ms: number,
): Promise<H> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let late = false;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      late = true;
      reject(
        new TftpError(
          ErrorCode.NOT_DEFINED,
          `storage did not open the file within ${ms} ms`,
        ),
      );
    }, ms);
  });
  opening.then((h) => {
    if (!late) return;
    if ("close" in h) h.close();
    else h.abort().catch(() => {});
  }, () => {});
  return Promise.race([opening, bound]).finally(() => clearTimeout(timer));
}
