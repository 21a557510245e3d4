/**
 * The bound on a transfer's start-up: opening a file must not hold a slot
 * forever (a FIFO, a hung network file system, a slow custom storage).
 *
 * @module
 */

import { ErrorCode, TftpError } from "../protocol/packet.ts";
import { type Clock, systemClock } from "../transport/types.ts";

/** Options of {@linkcode withDeadline}. */
export interface DeadlineOptions<T> {
  /** The bound in ms. */
  ms: number;
  /** Timers (default: the real clock). */
  clock?: Clock;
  /** Called with a result that arrived after the bound (to close it). */
  late?: (value: T) => void;
}

/**
 * Resolves with `work`, or rejects with ERROR 0 once the bound has passed.
 *
 * @example
 * ```ts
 * import { withDeadline } from "./startup.ts";
 * const v = await withDeadline(Promise.resolve(1), { ms: 1000 });
 * if (v !== 1) throw new Error();
 * ```
 *
 * @param work The start-up step.
 * @param options The bound, the clock, what to do with a late result.
 * @returns The result.
 * @throws {TftpError} ERROR 0 when the bound passes first.
 */
export function withDeadline<T>(
  work: Promise<T>,
  options: DeadlineOptions<T>,
): Promise<T> {
  const clock = options.clock ?? systemClock;
  let expired = false;
  let timer: unknown;
  const bound = new Promise<never>((_, reject) => {
    timer = clock.setTimeout(() => {
      expired = true;
      reject(
        new TftpError(ErrorCode.NOT_DEFINED, "storage did not answer in time"),
      );
    }, options.ms);
  });
  work.then((v) => {
    if (expired) options.late?.(v);
  }, () => {});
  return Promise.race([work, bound]).finally(() => clock.clearTimeout(timer));
}
