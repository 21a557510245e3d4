/**
 * Log lines for refused requests, at most one per kind of refusal per
 * interval. Each refusal costs its sender one datagram, spoofable at line
 * rate, so a line for every one let a flood fill the disk and bury the
 * lines that matter. The metrics still count every refusal, and with
 * verbose logging (`-v`) every one is logged.
 *
 * @module
 */

import type { Logger } from "../log.ts";

/** At most one line per kind of refusal in this many ms (without `-v`). */
export const REFUSAL_LOG_INTERVAL_MS = 10_000;

/** Options of {@linkcode RefusalLog}. */
export interface RefusalLogOptions {
  /** Interval in ms. @default {REFUSAL_LOG_INTERVAL_MS} */
  intervalMs?: number;
  /** The clock, in ms. @default {performance.now} */
  now?: () => number;
}

interface Window {
  until: number;
  unlogged: number;
}

/**
 * Writes refusal lines to a logger, one per kind per interval; the next
 * line of a kind says how many were left out before it.
 *
 * @example
 * ```ts
 * import { RefusalLog } from "./refusal_log.ts";
 * import { Logger } from "../log.ts";
 * const lines: string[] = [];
 * const log = new Logger({ stderr: false, sink: (l) => lines.push(l) });
 * let now = 0;
 * const refusals = new RefusalLog(log, { intervalMs: 1000, now: () => now });
 * refusals.write("busy", "warn", "a refused");
 * refusals.write("busy", "warn", "b refused");
 * now = 1000;
 * refusals.write("busy", "warn", "c refused");
 * if (lines.length !== 2 || !lines[1].endsWith("(1 more for this reason not logged)")) {
 *   throw new Error(lines.join("\n"));
 * }
 * ```
 */
export class RefusalLog {
  #log: Logger;
  #intervalMs: number;
  #now: () => number;
  /** Keyed by refusal kind: a fixed set of labels, never client text. */
  #kinds = new Map<string, Window>();

  /**
   * A refusal log writing to `log`.
   *
   * @param log Where lines go.
   * @param options Interval and clock.
   */
  constructor(log: Logger, options: RefusalLogOptions = {}) {
    this.#log = log;
    this.#intervalMs = options.intervalMs ?? REFUSAL_LOG_INTERVAL_MS;
    this.#now = options.now ?? (() => performance.now());
  }

  /**
   * Logs `line` at `level`, unless a line of the same kind was logged less
   * than the interval ago (then it is counted).
   *
   * @param kind The refusal's label (`busy`, `name`, ...).
   * @param level Severity; debug lines only with `-v`, and never counted.
   * @param line The line.
   */
  write(
    kind: string,
    level: "debug" | "info" | "warn",
    line: string,
  ): void {
    if (this.#log.debugEnabled || level === "debug") {
      this.#log[level](line);
      return;
    }
    const now = this.#now();
    const seen = this.#kinds.get(kind);
    if (seen && now < seen.until) {
      seen.unlogged++;
      return;
    }
    const more = seen?.unlogged
      ? ` (${seen.unlogged} more for this reason not logged)`
      : "";
    this.#kinds.set(kind, { until: now + this.#intervalMs, unlogged: 0 });
    this.#log[level](line + more);
  }
}
