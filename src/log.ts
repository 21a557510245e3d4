/**
 * Logging in py3tftp's format (`2026-01-01 12:00:00,000 [INFO] message`) to
 * stderr, optionally appended to a file, optionally as JSON lines.
 *
 * @module
 */

/** Log levels, least to most severe. */
export type LogLevel = "debug" | "info" | "warning" | "error";

const LEVEL_RANK: Record<LogLevel, number> = {
  debug: 10,
  info: 20,
  warning: 30,
  error: 40,
};

/** Where and how a {@linkcode Logger} writes. */
export interface LoggerOptions {
  /** Log debug lines too (`-v`). */
  verbose?: boolean;
  /** Append every line to this file (`-l`). */
  file?: string;
  /** Write JSON lines instead of text. */
  json?: boolean;
  /** Write to stderr (default true). */
  stderr?: boolean;
  /** Also hand every formatted line to this function (tests, hooks). */
  sink?: (line: string, level: LogLevel) => void;
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, "0");
}

/**
 * Formats a time like Python's logging `asctime` (local time).
 *
 * @param d The time.
 * @returns `YYYY-MM-DD HH:MM:SS,mmm`.
 */
export function formatTime(d: Date): string {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())},` +
    pad(d.getMilliseconds(), 3);
}

import { escapeJsonLine, escapeUnsafe } from "./escape.ts";

export { quote, QUOTE_LIMIT } from "./escape.ts";

const encoder = new TextEncoder();

/**
 * A small leveled logger.
 *
 * @example
 * ```ts
 * import { Logger } from "./log.ts";
 * const lines: string[] = [];
 * const log = new Logger({ stderr: false, sink: (l) => lines.push(l) });
 * log.info("listening");
 * if (!lines[0].endsWith("[INFO] listening")) throw new Error();
 * ```
 */
export class Logger {
  /** Whether debug lines are written. */
  readonly debugEnabled: boolean;
  #file?: Deno.FsFile;
  #path?: string;
  #json: boolean;
  #stderr: boolean;
  #sink?: (line: string, level: LogLevel) => void;
  #min: number;

  /**
   * A logger writing to the destinations and in the format `opts` gives.
   *
   * @param opts Destinations and format.
   */
  constructor(opts: LoggerOptions = {}) {
    this.debugEnabled = opts.verbose ?? false;
    this.#min = this.debugEnabled ? LEVEL_RANK.debug : LEVEL_RANK.info;
    this.#json = opts.json ?? false;
    this.#stderr = opts.stderr ?? true;
    this.#sink = opts.sink;
    this.#path = opts.file;
    if (opts.file) this.#file = openLog(opts.file);
  }

  /**
   * Opens the log file again by its name, so lines go to a new file once
   * the old one was renamed (logrotate); on failure the old one is kept.
   *
   * @returns Whether there was a file to reopen.
   * @throws {Error} When the file cannot be opened.
   */
  reopen(): boolean {
    if (!this.#path) return false;
    const file = openLog(this.#path);
    this.#file?.close();
    this.#file = file;
    return true;
  }

  /**
   * Writes one line at `level`. Structured fields go into the object in
   * JSON and are left out of text lines. Whatever the message holds, the
   * line stays one line: control characters and line separators are
   * escaped (quote client-supplied text with {@linkcode quote} as well, so
   * it is also bounded and unambiguous).
   *
   * @param level Severity.
   * @param message Text.
   * @param fields Extra data.
   */
  log(
    level: LogLevel,
    message: string,
    fields?: Record<string, unknown>,
  ): void {
    if (LEVEL_RANK[level] < this.#min) return;
    const now = new Date();
    let line: string;
    if (this.#json) {
      line = escapeJsonLine(JSON.stringify({
        time: now.toISOString(),
        level,
        // Escaped as in text lines: a viewer shows `msg` decoded, and an
        // unquoted client string (a mode in an ERROR text) would forge
        // lines there. Raw values stay in `fields`.
        msg: escapeUnsafe(message),
        ...fields,
      }));
    } else {
      line = `${formatTime(now)} [${level.toUpperCase()}] ${
        escapeUnsafe(message)
      }`;
    }
    this.#sink?.(line, level);
    const bytes = encoder.encode(line + "\n");
    if (this.#stderr) writeAll(Deno.stderr, bytes);
    if (this.#file) writeAll(this.#file, bytes);
  }

  /**
   * Debug line (only with `verbose`).
   *
   * @param message Text.
   * @param fields Extra data.
   */
  debug(message: string, fields?: Record<string, unknown>): void {
    if (this.debugEnabled) this.log("debug", message, fields);
  }

  /**
   * Info line.
   *
   * @param message Text.
   * @param fields Extra data.
   */
  info(message: string, fields?: Record<string, unknown>): void {
    this.log("info", message, fields);
  }

  /**
   * Warning line.
   *
   * @param message Text.
   * @param fields Extra data.
   */
  warn(message: string, fields?: Record<string, unknown>): void {
    this.log("warning", message, fields);
  }

  /**
   * Error line.
   *
   * @param message Text.
   * @param fields Extra data.
   */
  error(message: string, fields?: Record<string, unknown>): void {
    this.log("error", message, fields);
  }

  /** Closes the log file, if any. */
  close(): void {
    this.#file?.close();
    this.#file = undefined;
  }
}

function openLog(path: string): Deno.FsFile {
  return Deno.openSync(path, { append: true, create: true, write: true });
}

function writeAll(w: { writeSync(p: Uint8Array): number }, bytes: Uint8Array) {
  let off = 0;
  while (off < bytes.length) off += w.writeSync(bytes.subarray(off));
}
