/**
 * What the server derives from its options before it runs anything: the
 * session settings, each thread's share of the server-wide budgets, what
 * a worker thread is handed, and the combinations worker threads cannot
 * run. Pure apart from reading the socket buffer size once.
 *
 * @module
 */

import { ORIGIN_DEFAULTS, SERVER_DEFAULTS } from "../defaults.ts";
import { MAX_BLKSIZE, MAX_WINDOWSIZE } from "../protocol/options.ts";
import type { SharedCwdLock } from "../storage/cwd_lock.ts";
import { originShare } from "../storage/origin/share.ts";
import type { SharedSlots } from "../storage/origin/shared_limit.ts";
import { receiveBufferBytes } from "../transport/types.ts";
import type { ServerOptions } from "./options.ts";
import { DEFAULT_SESSION_CONFIG, type SessionConfig } from "./session.ts";
import type { WorkerSetup } from "./workers/protocol.ts";

/** How long storage may outlast the origin's own bounds (its cache lookups). */
const OPEN_SLACK_S = 1;

/**
 * The session settings for the options (defaults filled in, limits
 * clamped to what the protocol allows).
 *
 * @example
 * ```ts
 * import { sessionConfig } from "./setup.ts";
 * const c = sessionConfig({ maxBlksize: 1_000_000, singlePort: true });
 * if (c.maxBlksize !== 65464 || c.busyPollUs !== 0) throw new Error();
 * const o = sessionConfig({ timeout: 3, origin: { url: "http://h/", timeoutMs: 20_000 } });
 * if (o.storageTimeout !== 21) throw new Error("the origin's bound, not --timeout");
 * ```
 *
 * @param options The server's options.
 * @returns The settings every session of the server gets.
 */
export function sessionConfig(options: ServerOptions): SessionConfig {
  const d = DEFAULT_SESSION_CONFIG;
  const connTimeout = options.timeout ?? d.connTimeout;
  const origin = options.origin;
  return {
    ackTimeout: options.ackTimeout ?? d.ackTimeout,
    connTimeout,
    uploadTimeout: options.timeout ?? d.uploadTimeout,
    // An origin request ends at its own bounds with its own error (and
    // log line); the session's bound is only for a storage that never
    // answers, so it must not cut a slow origin short.
    storageTimeout: origin
      ? Math.max(
        connTimeout,
        Math.max(
              origin.timeoutMs ?? ORIGIN_DEFAULTS.timeoutMs,
              origin.idleTimeoutMs ?? ORIGIN_DEFAULTS.idleTimeoutMs,
            ) / 1000 + OPEN_SLACK_S,
      )
      : connTimeout,
    maxRetries: options.retries ?? d.maxRetries,
    maxIdle: options.maxIdle ?? d.maxIdle,
    minRtoMs: options.minRtoMs ?? d.minRtoMs,
    // In single-port mode the reply reaches the session through the main
    // thread's listen loop, which a spin would only hold up.
    busyPollUs: options.singlePort ? 0 : options.busyPollUs ?? d.busyPollUs,
    maxBlksize: Math.min(options.maxBlksize ?? d.maxBlksize, MAX_BLKSIZE),
    maxWindowsize: Math.min(
      options.maxWindowsize ?? d.maxWindowsize,
      MAX_WINDOWSIZE,
    ),
    maxUpload: options.maxUpload,
    receiveBuffer: receiveBufferBytes(),
    guessableTid: !!options.singlePort || !!options.portRange,
  };
}

/**
 * How the listening line names the worker threads.
 *
 * @example
 * ```ts
 * import { threadsText } from "./setup.ts";
 * if (threadsText(2, "demand") !== ", 2 worker threads on demand") throw new Error();
 * if (threadsText(1, "listen") !== "") throw new Error();
 * ```
 *
 * @param workers Thread count (1: none besides the main thread).
 * @param start When they start.
 * @returns The text, with its leading comma, or nothing.
 */
export function threadsText(
  workers: number,
  start: ServerOptions["workersStart"],
): string {
  if (workers <= 1) return "";
  return `, ${workers} worker threads${start === "demand" ? " on demand" : ""}`;
}

/**
 * Each thread's share of the window-buffer budget.
 *
 * @example
 * ```ts
 * import { windowShare } from "./setup.ts";
 * if (windowShare({ maxWindowMemory: 1000, workers: 4 }) !== 250) throw new Error();
 * ```
 *
 * @param options The server's options.
 * @returns Bytes for one thread.
 */
export function windowShare(options: ServerOptions): number {
  const total = options.maxWindowMemory ?? SERVER_DEFAULTS.maxWindowMemory;
  return Math.floor(total / Math.max(1, options.workers ?? 1));
}

/**
 * Why the options cannot run in worker threads, if they cannot: a storage
 * instance, single-port mode, a custom clock or overridden methods cannot
 * be handed to another thread (origin settings can: each thread builds its
 * own storage from them).
 *
 * @example
 * ```ts
 * import { workersRefusal } from "./setup.ts";
 * const none = { selectProtocol: false, createTransport: false };
 * if (workersRefusal({ workers: 2, singlePort: true }, none) === undefined) {
 *   throw new Error();
 * }
 * if (workersRefusal({ workers: 2, origin: { url: "http://o/" } }, none)) {
 *   throw new Error();
 * }
 * ```
 *
 * @param options The server's options.
 * @param custom Which overridable methods a subclass replaced.
 * @returns The error message, or undefined when the threads can run them.
 * @throws {Error} For a number of workers that is not a positive integer.
 */
export function workersRefusal(
  options: ServerOptions,
  custom: { selectProtocol: boolean; createTransport: boolean },
): string | undefined {
  const workers = options.workers ?? 1;
  if (!Number.isInteger(workers) || workers < 1) {
    throw new Error(`invalid number of workers ${workers}`);
  }
  if (workers === 1) return undefined;
  const why = options.storage
    ? "custom storage"
    : options.singlePort
    ? "single-port mode"
    : options.clock
    ? "a custom clock"
    : custom.selectProtocol
    ? "a custom selectProtocol"
    : custom.createTransport
    ? "a custom createTransport"
    : undefined;
  return why &&
    `workers: ${workers} cannot be combined with ${why}: worker threads ` +
      `run the stock sessions on the file-system root; use workers: 1`;
}

/**
 * What each of `count` worker threads is handed (the pool adds where in
 * the port range each starts).
 *
 * @example
 * ```ts
 * import { sessionConfig, workerSetup } from "./setup.ts";
 * const options = { workers: 2, origin: { url: "http://o/", maxConcurrent: 8 } };
 * const s = workerSetup(options, {
 *   count: 2, host: "0.0.0.0", config: sessionConfig(options), verbose: false,
 * });
 * if (s.origin?.maxConcurrent !== 8 || s.host !== "0.0.0.0") throw new Error();
 * ```
 *
 * @param options The server's options.
 * @param ctx Thread count, default transfer host, settings, log level, the
 * main thread's cwd lock and origin request slots to share.
 * @returns The setup.
 */
export function workerSetup(
  options: ServerOptions,
  ctx: {
    count: number;
    host: string;
    config: SessionConfig;
    verbose: boolean;
    cwdLock?: SharedCwdLock;
    progressMs?: number;
    originSlots?: SharedSlots;
  },
): Omit<WorkerSetup, "portStart"> {
  const o = options;
  return {
    root: o.root,
    readOnly: o.readOnly,
    normalizeNames: o.normalizeNames,
    ignoreCase: o.ignoreCase,
    allowOverwrite: o.allowOverwrite,
    perClientRoot: o.perClientRoot,
    cwdLock: ctx.cwdLock,
    host: ctx.host,
    portRange: o.portRange,
    allowFrom: o.allowFrom,
    windowMemory: windowShare(o),
    origin: o.origin && originShare(o.origin, ctx.count),
    originSlots: o.origin && ctx.originSlots,
    config: ctx.config,
    verbose: ctx.verbose,
    progressMs: ctx.progressMs ?? 0,
  };
}
