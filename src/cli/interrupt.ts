/**
 * How the client command ends on SIGINT, SIGTERM or SIGHUP: the transfer
 * is cancelled through the library's `signal` (the server is told), the
 * command's own temporary file goes, one line goes to stderr and the exit
 * status is the shell's 128 + signal number. The listeners live only as
 * long as the command, so a program using the client library keeps its
 * own signal handling.
 *
 * @module
 */

/** The signals that cancel a transfer, with the status each exits with. */
const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;

/** A signal that cancels a transfer. */
export type CancelSignal = keyof typeof SIGNAL_EXIT;

/** Longest wait in ms for a cancelled transfer to wind down. */
export const CANCEL_BOUND_MS = 2000;

/** Where signal listeners are added (default: Deno's). */
export interface SignalSource {
  /** Adds a listener for `signal`. */
  addSignalListener(signal: CancelSignal, handler: () => void): void;
  /** Removes it again. */
  removeSignalListener(signal: CancelSignal, handler: () => void): void;
}

/** Options of {@linkcode interruptible}. */
export interface InterruptOptions {
  /**
   * Removes what the command created and has not finished (its temporary
   * file) when the bound runs out or a second signal comes; synchronous,
   * since nothing after it is waited for.
   */
  cleanup: () => void;
  /** Called once with the line to print (default: to stderr). */
  report?: (line: string) => void;
  /** The wait after the first signal (default {@linkcode CANCEL_BOUND_MS}). */
  boundMs?: number;
  /** Signal listeners (default `Deno`). */
  signals?: SignalSource;
}

/**
 * Runs `run` with SIGINT, SIGTERM and SIGHUP cancelling it: the first one
 * aborts the signal `run` was given and prints one line; `run` then has
 * `boundMs` to finish, and a second signal ends the wait at once. The
 * result is `run`'s status, or 128 + the signal's number once one came; if
 * `run` has not finished, `cleanup` runs first (the caller exits the
 * process, which drops whatever still hangs). Listeners are removed before
 * it returns.
 *
 * @example
 * ```ts
 * import { interruptible, type SignalSource } from "./interrupt.ts";
 * let fire = () => {};
 * const signals: SignalSource = {
 *   addSignalListener: (s, h) => { if (s === "SIGTERM") fire = h; },
 *   removeSignalListener: () => {},
 * };
 * const status = await interruptible(
 *   (signal) => new Promise((resolve) => {
 *     signal.addEventListener("abort", () => resolve(1));
 *     fire();
 *   }),
 *   { cleanup: () => {}, report: () => {}, signals },
 * );
 * if (status !== 143) throw new Error();
 * ```
 *
 * @param run The command; gets the signal to cancel its transfer with.
 * @param options Cleanup, report, bound, signal source.
 * @returns The exit status.
 */
export async function interruptible(
  run: (signal: AbortSignal) => Promise<number>,
  options: InterruptOptions,
): Promise<number> {
  const signals = options.signals ?? Deno;
  const report = options.report ?? ((line) => console.error(line));
  const controller = new AbortController();
  let caught: CancelSignal | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const forced = Promise.withResolvers<"forced">();
  const handlers = new Map<CancelSignal, () => void>();
  for (const name of Object.keys(SIGNAL_EXIT) as CancelSignal[]) {
    const handler = () => {
      if (caught !== undefined) return forced.resolve("forced");
      caught = name;
      report(`tftp: ${name} received: transfer cancelled`);
      timer = setTimeout(
        () => forced.resolve("forced"),
        options.boundMs ?? CANCEL_BOUND_MS,
      );
      controller.abort(new Error(`${name} received`));
    };
    try {
      signals.addSignalListener(name, handler);
      handlers.set(name, handler);
    } catch { /* not on this system (Windows has no SIGTERM or SIGHUP) */ }
  }
  try {
    const done = await Promise.race([run(controller.signal), forced.promise]);
    if (done === "forced") options.cleanup();
    return caught === undefined ? done as number : SIGNAL_EXIT[caught];
  } finally {
    clearTimeout(timer);
    for (const [name, handler] of handlers) {
      signals.removeSignalListener(name, handler);
    }
  }
}
