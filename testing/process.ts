/**
 * Runs `main.ts` as a real process, the way operators start it, and watches
 * its stderr line by line.
 *
 * ```ts ignore
 * import { startServer } from "./process.ts";
 * await using server = await startServer(root);
 * // ... talk to 127.0.0.1:server.port ...
 * const status = await server.stop();
 * ```
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { freeUdpPort } from "./net.ts";

/** Absolute path of the repository root (where `main.ts` and `deno.json` are). */
export const REPO_ROOT: string = fileURLToPath(
  new URL("../", import.meta.url),
)
  .replace(/\/$/, "");

/** Absolute path of `main.ts`. */
export const MAIN_TS = `${REPO_ROOT}/main.ts`;

/** Default bound for waiting on a log line or a process, in milliseconds. */
export const DEFAULT_WAIT_MS = 20_000;

/** Environment for child processes: no colours, no Rust backtraces. */
export const CHILD_ENV: Record<string, string> = {
  NO_COLOR: "1",
  RUST_BACKTRACE: "0",
};

interface Waiter {
  re: RegExp;
  from: number;
  resolve: (line: string) => void;
  reject: (err: Error) => void;
}

/**
 * Collects the lines of a byte stream as they arrive and lets callers wait
 * for a line matching a pattern (no polling).
 */
export class LineCollector {
  /** Every complete line so far (without the newline). */
  readonly lines: string[] = [];
  /** Resolves when the stream has ended. */
  readonly done: Promise<void>;
  #waiters = new Set<Waiter>();
  #ended = false;
  #what: string;

  /**
   * @param stream The stream to read to its end.
   * @param what Name for error messages (e.g. `"stderr"`).
   */
  constructor(stream: ReadableStream<Uint8Array>, what: string) {
    this.#what = what;
    this.done = this.#pump(stream);
  }

  /** All text so far, one line per line. */
  get text(): string {
    return this.lines.map((l) => l + "\n").join("");
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    let partial = "";
    try {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        partial += chunk;
        let nl: number;
        while ((nl = partial.indexOf("\n")) >= 0) {
          this.#push(partial.slice(0, nl));
          partial = partial.slice(nl + 1);
        }
      }
    } catch { /* the stream broke: treat as ended */ }
    if (partial !== "") this.#push(partial);
    this.#ended = true;
    for (const w of this.#waiters) {
      w.reject(
        new Error(
          `${this.#what} ended without a line matching ${w.re}:\n${this.text}`,
        ),
      );
    }
    this.#waiters.clear();
  }

  #push(line: string): void {
    this.lines.push(line);
    for (const w of this.#waiters) {
      if (w.re.test(line)) {
        this.#waiters.delete(w);
        w.resolve(line);
      }
    }
  }

  /**
   * Waits for a line matching `re` (already seen lines count, from index
   * `from` on).
   *
   * @param re Pattern to look for.
   * @param opts `from`: first line index to consider (default 0);
   *   `timeoutMs`: bound (default {@linkcode DEFAULT_WAIT_MS}).
   * @returns The matching line.
   * @throws {Error} When the stream ends or the bound passes first.
   */
  waitFor(
    re: RegExp,
    opts: { from?: number; timeoutMs?: number } = {},
  ): Promise<string> {
    const from = opts.from ?? 0;
    const seen = this.lines.slice(from).find((l) => re.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    if (this.#ended) {
      return Promise.reject(
        new Error(
          `${this.#what} ended without a line matching ${re}:\n${this.text}`,
        ),
      );
    }
    const timeoutMs = opts.timeoutMs ?? DEFAULT_WAIT_MS;
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(
          new Error(
            `no ${this.#what} line matching ${re} within ${timeoutMs} ms:\n${this.text}`,
          ),
        );
      }, timeoutMs);
      const waiter: Waiter = {
        re,
        from,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.#waiters.add(waiter);
    });
  }
}

/**
 * The permission flags operators use for a root: network, and read and
 * write on the root only.
 *
 * @param root The served directory.
 * @returns Flags for `deno run`.
 */
export function rootPermissions(root: string): string[] {
  return ["--allow-net", `--allow-read=${root}`, `--allow-write=${root}`];
}

/** Options of {@linkcode startServer}. */
export interface StartServerOptions {
  /** Address to listen on (default `127.0.0.1`). */
  host?: string;
  /** Extra server arguments after `--root ROOT` (e.g. `["-v"]`). */
  args?: string[];
  /** Permission flags (default {@linkcode rootPermissions}). */
  permissions?: string[];
  /** Working directory (default the repository root). */
  cwd?: string;
  /** Bound for the start, in milliseconds. */
  timeoutMs?: number;
  /** Fixed port instead of a free one (no retry). */
  port?: number;
  /** The program to run (default {@linkcode MAIN_TS}; e.g. a copy). */
  main?: string;
  /**
   * Wait for the worker threads, when the server starts any (its
   * "listening on" line ends with `, N worker threads`), before returning:
   * until they run, every transfer is served in the main thread, which is
   * not how the server runs for its users. Default true; false returns at
   * the "listening on" line (tests of the start itself).
   */
  waitForWorkers?: boolean;
}

/** Where a server's transfers run once it has started. */
export interface ServerThreads {
  /** Worker threads started (0: every transfer runs in the main thread). */
  count: number;
  /** What the worker threads run (`undefined` without worker threads). */
  source?: "sources" | "bundle";
}

/** A server started with {@linkcode startServer}. */
export class ServerProcess {
  /** The child process. */
  readonly child: Deno.ChildProcess;
  /** The address it listens on. */
  readonly host: string;
  /** The UDP port it listens on. */
  readonly port: number;
  /** Its stderr, line by line. */
  readonly stderr: LineCollector;
  /** Its stdout, line by line. */
  readonly stdout: LineCollector;
  /**
   * Where its transfers run, known once {@linkcode startServer} has seen
   * the worker threads ready (before that, or with `waitForWorkers: false`,
   * `count` is 0).
   */
  threads: ServerThreads = { count: 0 };
  #status?: Promise<Deno.CommandStatus>;

  /**
   * @param child The running process.
   * @param where Host and port it was told to listen on.
   */
  constructor(child: Deno.ChildProcess, where: { host: string; port: number }) {
    this.child = child;
    this.host = where.host;
    this.port = where.port;
    this.stderr = new LineCollector(child.stderr, "server stderr");
    this.stdout = new LineCollector(child.stdout, "server stdout");
  }

  /** The stderr lines so far. */
  get lines(): string[] {
    return this.stderr.lines;
  }

  /** The process id. */
  get pid(): number {
    return this.child.pid;
  }

  /**
   * Waits for a stderr line matching `re`.
   *
   * @param re Pattern.
   * @param opts `from`: first line index to consider; `timeoutMs`: bound.
   * @returns The line.
   */
  waitForLine(
    re: RegExp,
    opts: { from?: number; timeoutMs?: number } = {},
  ): Promise<string> {
    return this.stderr.waitFor(re, opts);
  }

  /**
   * Waits for the process to exit and for its output to be read.
   *
   * @returns The exit status.
   */
  wait(): Promise<Deno.CommandStatus> {
    this.#status ??= (async () => {
      const status = await this.child.status;
      await Promise.all([this.stderr.done, this.stdout.done]);
      return status;
    })();
    return this.#status;
  }

  /**
   * Sends `signal` to this process (by PID) and waits for it to exit.
   *
   * @param signal Signal to send (default SIGTERM).
   * @returns The exit status.
   */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<Deno.CommandStatus> {
    try {
      this.child.kill(signal);
    } catch { /* already exited */ }
    return await this.wait();
  }

  /** Stops the process if it still runs (for `await using`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop("SIGTERM");
  }
}

/**
 * Builds the operator's command line for serving `root` on `host:port`.
 *
 * @param root Directory to serve.
 * @param where Host, port, permissions and extra server arguments.
 * @returns Arguments for `deno` (starting with `run`).
 */
export function serverArgs(
  root: string,
  where: Pick<StartServerOptions, "permissions" | "args" | "main"> & {
    host: string;
    port: number;
  },
): string[] {
  return [
    "run",
    "--no-prompt",
    ...(where.permissions ?? rootPermissions(root)),
    where.main ?? MAIN_TS,
    "--host",
    where.host,
    "-p",
    String(where.port),
    "--root",
    root,
    ...(where.args ?? []),
  ];
}

/**
 * Spawns `deno` with `args` (stdin closed, stdout and stderr piped).
 *
 * @param args Arguments for `deno`.
 * @param opts `cwd`: working directory (default the repository root);
 *   `unsetEnv`: variables not to pass on (e.g. `INIT_CWD`, which an outer
 *   `deno task` sets and an inner one keeps).
 * @returns The child process.
 */
export function spawnDeno(
  args: string[],
  opts: { cwd?: string; unsetEnv?: string[] } = {},
): Deno.ChildProcess {
  const unset = opts.unsetEnv ?? [];
  const env = unset.length === 0 ? CHILD_ENV : {
    ...Object.fromEntries(
      Object.entries(Deno.env.toObject()).filter(([k]) => !unset.includes(k)),
    ),
    ...CHILD_ENV,
  };
  return new Deno.Command(Deno.execPath(), {
    args,
    cwd: opts.cwd ?? REPO_ROOT,
    env,
    clearEnv: unset.length > 0,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

const IN_USE = /already in use/;
/**
 * The server's "listening on" line, in text and JSON logs: the message
 * starts with it. (The warning about a wildcard host without --allow-sys
 * also says "listening on", before any socket is bound.)
 *
 * @example
 * ```ts
 * import { LISTENING } from "./process.ts";
 * if (!LISTENING.test("2026-12-02 [INFO] listening on [::]:69, root /srv")) {
 *   throw new Error();
 * }
 * if (LISTENING.test("[WARNING] no permission ...: listening on :: as one")) {
 *   throw new Error();
 * }
 * ```
 */
export const LISTENING = /(?:\] |"msg":")listening on /;
/**
 * The end of the "listening on" line when worker threads start by
 * themselves (`--workers-start listen`; on demand they wait for load).
 */
const WILL_START =
  /(?:\] |"msg":")listening on .*, (\d+) worker threads(?! on demand)\b/;
/** The line the server logs once its worker threads run, or its failure. */
const WORKERS_READY =
  /(\d+) worker threads ready \((sources|bundle)\)|worker threads failed to start/;

/**
 * Waits (event-driven, bounded) until the worker threads of a server that
 * said it will start some are ready, and records where they run.
 *
 * @param server The server, past its "listening on" line.
 * @param opts `timeoutMs`: bound (default {@linkcode DEFAULT_WAIT_MS}).
 * @returns Where its transfers run.
 * @throws {Error} With the server's stderr when the threads failed to
 * start or did not report within the bound.
 */
export async function waitForWorkers(
  server: ServerProcess,
  opts: { timeoutMs?: number } = {},
): Promise<ServerThreads> {
  const listening = await server.waitForLine(LISTENING, opts);
  const announced = listening.match(WILL_START);
  if (!announced) return server.threads = { count: 0 };
  const line = await server.waitForLine(WORKERS_READY, opts);
  const ready = line.match(WORKERS_READY);
  if (!ready?.[1]) {
    throw new Error(
      `the worker threads did not start:\n${server.stderr.text}`,
    );
  }
  return server.threads = {
    count: Number(ready[1]),
    source: ready[2] as "sources" | "bundle",
  };
}

/**
 * Starts the server as a process serving `root` and waits (event-driven,
 * bounded) for its "listening on" line and then, when it starts worker
 * threads (the default `--workers auto`), for the line saying they run
 * (see {@linkcode waitForWorkers}). Picks a free port and retries if it was
 * taken in the meantime.
 *
 * @param root Directory to serve.
 * @param opts Host, extra arguments, permissions.
 * @returns The running server.
 * @throws {Error} With the server's stderr when it does not start.
 */
export async function startServer(
  root: string,
  opts: StartServerOptions = {},
): Promise<ServerProcess> {
  const host = opts.host ?? "127.0.0.1";
  const attempts = opts.port === undefined ? 5 : 1;
  let lastError: Error | undefined;
  for (let i = 0; i < attempts; i++) {
    const port = opts.port ?? freeUdpPort(host);
    const args = serverArgs(root, { ...opts, host, port });
    const child = spawnDeno(args, { cwd: opts.cwd });
    const server = new ServerProcess(child, { host, port });
    try {
      await server.waitForLine(LISTENING, { timeoutMs: opts.timeoutMs });
    } catch (err) {
      await server.stop("SIGKILL");
      lastError = err as Error;
      if (!server.lines.some((l) => IN_USE.test(l))) break;
      continue;
    }
    if (opts.waitForWorkers === false) return server;
    try {
      await waitForWorkers(server, { timeoutMs: opts.timeoutMs });
      return server;
    } catch (err) {
      await server.stop("SIGKILL");
      throw err;
    }
  }
  throw lastError ?? new Error("server did not start");
}

/** What a finished process printed and how it ended. */
export interface RunResult {
  /** Exit code. */
  code: number;
  /** Whether it exited with code 0. */
  success: boolean;
  /** Everything on stdout. */
  stdout: string;
  /** Everything on stderr. */
  stderr: string;
}

/**
 * Runs `main.ts` with `args` to completion (for flags that make it exit:
 * `--help`, invalid values ...). Killed after a bound.
 *
 * @param args Server arguments.
 * @param opts `permissions`: flags for `deno run` (default `--allow-net`);
 *   `cwd`; `timeoutMs`: bound.
 * @returns Exit code and output.
 */
export async function runMain(
  args: string[],
  opts: { permissions?: string[]; cwd?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      ...(opts.permissions ?? ["--allow-net"]),
      MAIN_TS,
      ...args,
    ],
    cwd: opts.cwd ?? REPO_ROOT,
    env: CHILD_ENV,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(opts.timeoutMs ?? DEFAULT_WAIT_MS),
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    success: out.success,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}
