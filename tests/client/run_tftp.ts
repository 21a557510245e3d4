/**
 * Runs the client command (`client.ts`) as a process, the way users run
 * `deno task tftp`, with or without a terminal.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { tempDir } from "../features/fixture.ts";

/** Absolute path of `client.ts`. */
export const CLIENT_TS: string = fileURLToPath(
  new URL("../../client.ts", import.meta.url),
);

/** The `deno` arguments that start the client (as `deno task tftp` does). */
export const CLIENT_CMD: string[] = [
  "run",
  "--no-prompt",
  "--allow-net",
  "--allow-read",
  "--allow-write",
  CLIENT_TS,
];

/** Environment for the client: no colours, no Rust backtraces. */
const ENV = { NO_COLOR: "1", RUST_BACKTRACE: "0" };

/** How a client run ended. */
export interface TftpRun {
  /** Exit status. */
  code: number;
  /** Everything on stdout. */
  stdout: Uint8Array;
  /** Everything on stderr, as text. */
  stderr: string;
}

/**
 * Runs `client.ts ARGS` in `cwd` without a terminal (stdin closed, output
 * piped), killed after a bound.
 *
 * @param args Client arguments.
 * @param opts `cwd`, `timeoutMs` and `allowAll` (see {@linkcode RunOptions}).
 * @returns Exit status and output.
 */
export function runTftp(
  args: string[],
  opts: RunOptions,
): Promise<TftpRun> {
  return spawnTftp(args, opts).done;
}

/** How {@linkcode runTftp} and {@linkcode spawnTftp} run the client. */
export interface RunOptions {
  /** Working directory. */
  cwd: string;
  /** Bound on the run (default 20 s). */
  timeoutMs?: number;
  /** Run with `--allow-all` instead of `deno task tftp`'s flags. */
  allowAll?: boolean;
}

/**
 * Starts `client.ts ARGS` in `cwd` without a terminal, for tests that
 * signal it by PID while it runs; killed after a bound.
 *
 * @param args Client arguments.
 * @param opts `cwd`, `timeoutMs` and `allowAll` (see {@linkcode RunOptions}).
 *   `allowAll`: all permissions.
 * @returns Its PID and how it ended.
 */
export function spawnTftp(
  args: string[],
  opts: RunOptions,
): { pid: number; done: Promise<TftpRun> } {
  const cmd = opts.allowAll
    ? ["run", "--no-prompt", "--allow-all", CLIENT_TS]
    : CLIENT_CMD;
  const child = new Deno.Command(Deno.execPath(), {
    args: [...cmd, ...args],
    cwd: opts.cwd,
    env: ENV,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(opts.timeoutMs ?? 20_000),
  }).spawn();
  const done = child.output().then((out) => ({
    code: out.code,
    stdout: out.stdout,
    stderr: new TextDecoder().decode(out.stderr),
  }));
  return { pid: child.pid, done };
}

/**
 * Quotes a word for `sh`.
 *
 * @param word Any text.
 * @returns The word in single quotes.
 */
export function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * Runs `client.ts ARGS` on a pseudo-terminal with util-linux
 * `script -qec CMD /dev/null`, so stdout and stderr are a TTY; everything
 * the client drew comes back as one text.
 *
 * @param args Client arguments.
 * @param opts `cwd`: working directory; `timeoutMs`: bound (default 20 s).
 * @returns Exit status (the client's: `script -e`) and the terminal output.
 */
export async function runTftpOnTty(
  args: string[],
  opts: { cwd: string; timeoutMs?: number },
): Promise<{ code: number; output: string }> {
  const cmd = [Deno.execPath(), ...CLIENT_CMD, ...args].map(shellQuote)
    .join(" ");
  const out = await new Deno.Command("script", {
    args: ["-qec", cmd, "/dev/null"],
    cwd: opts.cwd,
    env: ENV,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(opts.timeoutMs ?? 20_000),
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    output: dec.decode(out.stdout) + dec.decode(out.stderr),
  };
}

/**
 * The names in `dir`, sorted.
 *
 * @param dir A directory.
 * @returns Its entries' names.
 */
export async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

/**
 * A temporary working directory for the client, removed on dispose.
 *
 * @returns The directory.
 */
export async function workDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await tempDir("tftp-cli-");
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}
