/**
 * A bound on how long opening may take. File storage opens synchronously
 * and never waits on a FIFO, but a custom storage (a generated file, a
 * remote origin) may take any time: the session start-up bounds its open
 * the same way ({@linkcode withDeadline}), so a slot is never held by an
 * open that does not come back, and a handle that arrives too late is
 * released. {@linkcode openWithin} does that for a storage's own opens.
 *
 * @module
 */

import { ErrorCode, TftpError } from "../protocol/packet.ts";
import { type Clock, systemClock } from "../transport/types.ts";

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
  return withDeadline(opening, {
    ms,
    late: (h) => {
      if ("close" in h) h.close();
      else h.abort().catch(() => {});
    },
  });
}

/** Options of {@linkcode withDeadline}. */
export interface DeadlineOptions<T> {
  /** The bound in ms. */
  ms: number;
  /** Timers (default: the real clock). */
  clock?: Clock;
  /** Called with a result that arrived after the bound (to close it). */
  late?: (value: T) => void;
  /** Stops waiting at once when aborted (a late result goes to `late`). */
  signal?: AbortSignal;
}

/**
 * Resolves with `work`, or rejects with ERROR 0 once the bound has passed.
 *
 * @example
 * ```ts
 * import { withDeadline } from "./deadline.ts";
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
  const signal = options.signal;
  let expired = false;
  let timer: unknown;
  let onAbort: (() => void) | undefined;
  const bound = new Promise<never>((_, reject) => {
    const give = (err: unknown) => {
      expired = true;
      reject(err);
    };
    timer = clock.setTimeout(() => {
      give(
        new TftpError(ErrorCode.NOT_DEFINED, "storage did not answer in time"),
      );
    }, options.ms);
    if (signal?.aborted) give(signal.reason);
    onAbort = () => give(signal!.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
  work.then((v) => {
    if (expired) options.late?.(v);
  }, () => {});
  return Promise.race([work, bound]).finally(() => {
    clock.clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort!);
  });
}
