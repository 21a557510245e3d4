/**
 * The client command line: `tftp get HOST[:PORT] REMOTE [LOCAL]` and
 * `tftp put HOST[:PORT] LOCAL [REMOTE]`, with a progress bar on a terminal.
 *
 * @module
 */

import { CLIENT_DEFAULTS } from "../defaults.ts";
import {
  DEFAULT_BLKSIZE,
  MAX_BLKSIZE,
  MAX_WINDOWSIZE,
  MIN_BLKSIZE,
} from "../protocol/options.ts";
import {
  type ClientOptions,
  TftpClientError,
  tftpGet,
  tftpPut,
} from "../client/client.ts";
import { type Flag, parseFlags, renderHelp, UsageError } from "./flags.ts";
import { interruptible } from "./interrupt.ts";
import { LocalError, openLocal } from "./local_file.ts";

/** Exit statuses of the client command. */
const ClientExit = {
  OK: 0,
  OTHER: 1,
  USAGE: 2,
  NOT_FOUND: 3,
  ACCESS: 4,
  TIMEOUT: 5,
  EXISTS: 6,
} as const;

/** The client's flags, in the order `--help` lists them. */
export const CLIENT_FLAGS = [
  {
    name: "blksize",
    key: "blksize",
    short: "b",
    kind: "integer",
    value: "N",
    min: MIN_BLKSIZE,
    max: MAX_BLKSIZE,
    defaultText: `not asked (\`${DEFAULT_BLKSIZE}\`)`,
    help: "ask for blksize N",
    section: "options",
  },
  {
    name: "windowsize",
    key: "windowsize",
    short: "w",
    kind: "integer",
    value: "N",
    min: 1,
    max: MAX_WINDOWSIZE,
    defaultText: "not asked (lock-step)",
    help: "ask for windowsize N",
    section: "options",
  },
  {
    name: "tsize",
    key: "tsize",
    short: "t",
    kind: "boolean",
    defaultText: "off (a get with a progress bar asks)",
    help: "ask for (get) or announce (put) the transfer size",
    section: "options",
  },
  {
    name: "timeout",
    key: "timeout",
    kind: "integer",
    value: "S",
    min: 1,
    max: 255,
    defaultText: `not sent (retransmit after ${
      CLIENT_DEFAULTS.retransmitMs / 1000
    } s)`,
    help: "send the `timeout` option, and retransmit after S seconds",
    section: "options",
  },
  {
    name: "retries",
    key: "retries",
    kind: "integer",
    value: "N",
    max: 100,
    default: CLIENT_DEFAULTS.retries,
    help: "retransmits without progress before giving up",
    section: "options",
  },
  {
    name: "netascii",
    key: "mode",
    kind: "boolean",
    set: "netascii",
    default: CLIENT_DEFAULTS.mode,
    defaultText: `off (\`${CLIENT_DEFAULTS.mode}\`)`,
    help: "transfer in netascii mode",
    section: "options",
  },
  {
    name: "quiet",
    key: "quiet",
    short: "q",
    kind: "boolean",
    help: "no progress bar",
    section: "options",
  },
  {
    name: "help",
    key: "help",
    short: "h",
    kind: "boolean",
    defaultText: "",
    help: "print this help and exit",
    section: "options",
  },
] as const satisfies readonly Flag<keyof ClientOptions | "quiet" | "help">[];

/** The client's `--help`. */
export const CLIENT_HELP: string = renderHelp(CLIENT_FLAGS, {
  program: "tftp",
  usage: [
    "tftp get HOST[:PORT] REMOTE [LOCAL]   download REMOTE (to LOCAL, default its base name, into LOCAL if a directory; - for stdout)",
    "tftp put HOST[:PORT] LOCAL [REMOTE]   upload LOCAL (as REMOTE, default its base name)",
  ],
  about: "HOST is a name or an address; an IPv6 address goes in brackets: " +
    "[::1]:69. Default port " +
    `${CLIENT_DEFAULTS.port}.`,
  footer: "exit status: 0 ok, 1 other error, 2 usage, 3 not found, " +
    "4 access denied,\n5 timeout, 6 file exists; 130, 143, 129 after " +
    "SIGINT, SIGTERM, SIGHUP\n(the transfer is cancelled: the server is " +
    "told, the partial download removed)",
});

/** A parsed client command line. */
export type ClientCli = { help: true } | {
  help: false;
  /** Download or upload. */
  verb: "get" | "put";
  /** The file to read: remote for get, local for put. */
  source: string;
  /** The file to write (default: the source's base name). */
  target?: string;
  /** No progress bar. */
  quiet: boolean;
  /** The transfer's options, with the server's address. */
  options: ClientOptions & { host: string; port: number };
};

function hostPort(text: string): { host: string; port: number } {
  let host = text;
  let port: number = CLIENT_DEFAULTS.port;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (v6) {
    host = v6[1];
    if (v6[2]) port = Number(v6[2]);
  } else if ((text.match(/:/g) ?? []).length === 1) {
    const i = text.indexOf(":");
    host = text.slice(0, i);
    port = /^\d+$/.test(text.slice(i + 1)) ? Number(text.slice(i + 1)) : NaN;
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535 || host === "") {
    throw new UsageError(`invalid server address ${text}`);
  }
  return { host, port };
}

/**
 * Parses the client's command line: the flags, anywhere, and
 * `get|put HOST[:PORT] FILE [FILE]`.
 *
 * @example
 * ```ts
 * import { parseClientCli } from "./client.ts";
 * const cli = parseClientCli(["get", "-b", "1468", "[::1]:9069", "boot.ipxe"]);
 * if (cli.help || cli.options.port !== 9069 || cli.options.blksize !== 1468) {
 *   throw new Error();
 * }
 * ```
 *
 * @param args Arguments without the program name.
 * @returns The command, or `help`.
 * @throws {UsageError} On unknown flags, invalid values or arguments.
 */
export function parseClientCli(args: readonly string[]): ClientCli {
  const { values, positionals } = parseFlags(CLIENT_FLAGS, args, {
    positionals: true,
  });
  const { help, quiet, ...transfer } = values;
  if (help) return { help };
  const [verb, server, source, target, extra] = positionals;
  if ((verb !== "get" && verb !== "put") || !server || source === undefined) {
    throw new UsageError(
      "expected: get|put HOST[:PORT] FILE [FILE] (see --help)",
    );
  }
  if (extra !== undefined) {
    throw new UsageError(`unexpected argument ${JSON.stringify(extra)}`);
  }
  const options = { ...transfer, ...hostPort(server) };
  if (target === undefined) derivedName(source, verb);
  return { help, verb, source, target, quiet, options };
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** A progress reporter drawing one line on `out` (a terminal). */
function progressBar(
  label: string,
  out: { writeSync(p: Uint8Array): number },
): { update: (bytes: number, total?: number) => void; done: () => void } {
  const enc = new TextEncoder();
  const start = performance.now();
  let lastDraw = 0;
  const draw = (bytes: number, total?: number, force = false) => {
    const now = performance.now();
    if (!force && now - lastDraw < 100) return;
    lastDraw = now;
    const secs = Math.max((now - start) / 1000, 0.001);
    const rate = bytes / secs;
    let line = `${label} ${formatBytes(bytes)}`;
    if (total !== undefined && total > 0) {
      const frac = Math.min(bytes / total, 1);
      const width = 24;
      const fill = Math.round(frac * width);
      const eta = rate > 0 ? (total - bytes) / rate : 0;
      line = `${label} [${"#".repeat(fill)}${" ".repeat(width - fill)}] ${
        (frac * 100).toFixed(0).padStart(3)
      }% ${formatBytes(bytes)}/${formatBytes(total)} ETA ${eta.toFixed(0)}s`;
    }
    line += ` ${formatBytes(rate)}/s`;
    out.writeSync(enc.encode(`\r\x1b[K${line}`));
  };
  let last = 0;
  let lastTotal: number | undefined;
  return {
    update: (bytes, total) => {
      last = bytes;
      lastTotal = total;
      draw(bytes, total);
    },
    done: () => {
      draw(last, lastTotal, true);
      out.writeSync(enc.encode("\n"));
    },
  };
}

function exitFor(err: unknown): number {
  if (!(err instanceof TftpClientError)) return ClientExit.OTHER;
  switch (err.kind) {
    case "not-found":
      return ClientExit.NOT_FOUND;
    case "access":
      return ClientExit.ACCESS;
    case "timeout":
      return ClientExit.TIMEOUT;
    case "exists":
      return ClientExit.EXISTS;
    default:
      return ClientExit.OTHER;
  }
}

/**
 * Where a download goes: `target`, or the remote file's base name; inside
 * `target` when that is a directory, as `cp` does.
 */
async function localTarget(
  target: string | undefined,
  remote: string,
): Promise<string> {
  if (target === undefined) return derivedName(remote, "get");
  if (target === "-") return target;
  const isDir = await Deno.stat(target).then((s) => s.isDirectory, () => false);
  if (!isDir) return target;
  return `${target.replace(/\/+$/, "")}/${derivedName(remote, "get")}`;
}

/** Opens the temporary file a download is written to before its rename. */
async function createLocal(local: string, tmp: string): Promise<Deno.FsFile> {
  try {
    return await Deno.open(tmp, { write: true, createNew: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new LocalError(`${local}: no such local directory`, "not-found");
    }
    throw new LocalError(`${local}: ${(e as Error).message}`, "other");
  }
}

/** The last segment of a path (empty when it ends in a separator). */
function basename(p: string): string {
  return p.slice(Math.max(p.lastIndexOf("/"), p.lastIndexOf("\\")) + 1);
}

/**
 * The name a file given without its counterpart gets: `path`'s last
 * segment. A path whose last segment names no file (``, `.`, `..`, a
 * trailing `/`) is refused before any packet goes out: a get of `..` would
 * otherwise download all of it and then fail to rename into a directory.
 */
function derivedName(path: string, verb: "get" | "put"): string {
  const base = basename(path);
  if (base !== "" && base !== "." && base !== "..") return base;
  const [missing, what] = verb === "get"
    ? ["LOCAL", "local file"]
    : ["REMOTE", "remote file"];
  throw new UsageError(
    `cannot name the ${what} after ${JSON.stringify(path)}: give ${missing} ` +
      `(tftp ${verb} HOST[:PORT] ${
        verb === "get" ? "REMOTE LOCAL" : "LOCAL REMOTE"
      })`,
  );
}

/**
 * Runs the client command; returns the exit status (no `Deno.exit`): 0 ok,
 * 1 other error, 2 usage, 3 not found, 4 access denied, 5 timeout, 6 file
 * exists; 130, 143 or 129 after SIGINT, SIGTERM or SIGHUP, which cancel the
 * transfer (listened to only while it runs; see `interrupt.ts`). The
 * caller should exit the process with it: after a signal, something may
 * still hang.
 *
 * @example
 * ```ts
 * import { runClient } from "./client.ts";
 * if (await runClient(["get", "127.0.0.1:0", "a"]) !== 2) throw new Error();
 * ```
 *
 * @param args Arguments without the program name.
 * @returns Exit status.
 */
export async function runClient(args: readonly string[]): Promise<number> {
  const err = (m: string) => console.error(`tftp: ${m}`);
  let cli;
  try {
    cli = parseClientCli(args);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err(e.message);
    return ClientExit.USAGE;
  }
  if (cli.help) {
    console.log(CLIENT_HELP);
    return ClientExit.OK;
  }
  const made: Made = {};
  return await interruptible((signal) => transfer(cli, signal, made), {
    cleanup: () => {
      // Only the temporary file this command created: never the target.
      if (made.tmp === undefined) return;
      try {
        Deno.removeSync(made.tmp);
      } catch { /* already gone */ }
    },
  });
}

/** What a transfer has created and not yet finished with. */
interface Made {
  /** The download's temporary file, until it is renamed or removed. */
  tmp?: string;
}

/** Runs the parsed get or put; returns the exit status. */
async function transfer(
  cli: Extract<ClientCli, { help: false }>,
  signal: AbortSignal,
  made: Made,
): Promise<number> {
  const err = (m: string) => console.error(`tftp: ${m}`);
  const { verb, source, target } = cli;
  const options = { ...cli.options, signal };
  const showProgress = !cli.quiet && Deno.stderr.isTerminal();
  try {
    if (verb === "get") {
      const local = await localTarget(target, source);
      const toStdout = local === "-";
      const tmp = toStdout ? undefined : `${local}.part-${Date.now()}`;
      const file = tmp ? await createLocal(local, tmp) : undefined;
      made.tmp = tmp;
      const bar = showProgress ? progressBar(source, Deno.stderr) : undefined;
      try {
        await tftpGet(source, {
          ...options,
          tsize: options.tsize || showProgress,
          onProgress: bar?.update,
          sink: {
            write: (d) => {
              const w = file ?? Deno.stdout;
              let off = 0;
              while (off < d.length) off += w.writeSync(d.subarray(off));
            },
          },
        });
        file?.close();
        if (tmp) await Deno.rename(tmp, local);
        made.tmp = undefined;
        bar?.done();
      } catch (e) {
        try {
          file?.close();
        } catch { /* closed */ }
        if (tmp) await Deno.remove(tmp).catch(() => {});
        made.tmp = undefined;
        if (bar) console.error("");
        throw e;
      }
    } else {
      const remote = target ?? derivedName(source, "put");
      const handle = await openLocal(source);
      const bar = showProgress ? progressBar(remote, Deno.stderr) : undefined;
      try {
        await tftpPut(remote, {
          ...options,
          source: handle,
          onProgress: bar?.update,
        });
      } finally {
        handle.close();
      }
      bar?.done();
    }
    return ClientExit.OK;
  } catch (e) {
    // The signal's line is said already, and its status replaces this one.
    if (e instanceof TftpClientError && e.kind === "cancelled") {
      return ClientExit.OTHER;
    }
    if (e instanceof UsageError) {
      err(e.message);
      return ClientExit.USAGE;
    }
    if (e instanceof LocalError) {
      err(e.message);
      return e.kind === "not-found" ? ClientExit.NOT_FOUND : ClientExit.OTHER;
    }
    if (e instanceof Deno.errors.NotFound) {
      err(`${source}: no such local file`);
      return ClientExit.NOT_FOUND;
    }
    err((e as Error).message);
    return exitFor(e);
  }
}
