/**
 * Command-line parsing for the server (py3tftp's flags plus ours). Pure:
 * returns options or a one-line error; `main.ts` does the I/O.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  MAX_BLKSIZE,
  MAX_WINDOWSIZE,
  MIN_BLKSIZE,
} from "./protocol/options.ts";
import type { ServerOptions } from "./server/server.ts";
import { parseCidr } from "./net/cidr.ts";

/** Parsed command line. */
export interface CliOptions {
  /** Server options. */
  server: ServerOptions;
  /** Log file to append to (`-l`). */
  fileLog?: string;
  /** Log line format. */
  logFormat: "text" | "json";
  /** Remap rules file (`--map-file`), read by the caller. */
  mapFile?: string;
  /** Debug logging (`-v`). */
  verbose: boolean;
  /** Print help and exit. */
  help: boolean;
  /** Print version and exit. */
  version: boolean;
}

/** The help text. */
export const USAGE: string = String
  .raw`usage: tftpd [-h] [--host HOST] [-p PORT] [--root DIR]
             [--ack-timeout SECONDS] [--timeout SECONDS] [--retries N]
             [--max-blksize N] [--max-windowsize N] [--max-upload BYTES]
             [--read-only] [--allow-overwrite] [--ignore-case]
             [--no-normalize] [--map-file FILE] [--per-client-root]
             [--max-sessions N] [--max-sessions-per-client N]
             [--allow-from CIDR]... [--port-range LOW:HIGH] [--single-port]
             [--workers N|auto] [--busy-poll-us N] [-l FILE_LOG] [--log-format text|json] [-v] [--version]

A TFTP server (RFC 1350, 2347, 2348, 2349, 7440) confined to one directory.

options:
  -h, --help            show this help message and exit
  --host HOST           address to listen on; :: serves IPv4 and IPv6.
                        Default: 0.0.0.0
  -p, --port PORT       UDP port. Default: 9069 (the standard port 69 needs
                        CAP_NET_BIND_SERVICE)
  --root DIR            directory to serve. Default: current directory
  --ack-timeout S       retransmit interval when the client sets no timeout
                        option. Default: 0.5
  --timeout S           seconds without progress before a transfer is
                        abandoned (alias: --conn-timeout). Default: 3
  --retries N           retransmits without progress before giving up.
                        Default: 5
  --max-blksize N       largest blksize granted (8-65464). Default: 65464
  --max-windowsize N    largest windowsize granted (1-65535). Default: 64
  --max-upload BYTES    largest upload accepted. Default: no limit
  --read-only           refuse all uploads (ERROR 2)
  --allow-overwrite     let uploads replace existing files (default: ERROR 6)
  --ignore-case         find file names case-insensitively (\Boot\BCD)
  --no-normalize        take names literally: no \ to / and no leading /
                        stripping
  --map-file FILE       remap rules (tftpd-hpa -m format), applied before the
                        root check
  --per-client-root     serve ROOT/<client ip>/ when it exists
  --max-sessions N      most transfers at once. Default: 2048
  --max-sessions-per-client N
                        most transfers at once from one IP. Default: 128
  --allow-from CIDR     answer only these networks (repeatable)
  --port-range LOW:HIGH bind transfer sockets in this range
  --single-port         run all transfers on the listen port (NAT/firewalls)
  --workers N|auto      threads that run transfers (1: all in one thread);
                        auto: one per CPU, at least 2, at most 8.
                        Default: auto (1 with --single-port)
  --busy-poll-us N      longest spin (µs) waiting for a reply while a
                        lock-step transfer is alone in its thread; 0 turns it
                        off. Default: 50
  -l, --file-log FILE   append log output to FILE
  --log-format FORMAT   text (default) or json
  -v, --verbose         enable debug-level logging
  --version             print the version and exit
`;

/** A command-line error: print the message, exit with status 2. */
export class UsageError extends Error {
  /**
   * One line saying what is wrong with the command line.
   *
   * @param message One line saying what is wrong.
   */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

function number(
  name: string,
  value: string | undefined,
  opts: { min: number; max: number; integer?: boolean },
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  const okInt = !opts.integer || Number.isInteger(n);
  if (
    value.trim() === "" || !Number.isFinite(n) || !okInt || n < opts.min ||
    n > opts.max
  ) {
    const kind = opts.integer ? "an integer" : "a number";
    throw new UsageError(
      `invalid --${name} ${
        JSON.stringify(value)
      }: expected ${kind} from ${opts.min} to ${opts.max}`,
    );
  }
  return n;
}

/** Flags that take a value; `--flag -1` is turned into `--flag=-1`. */
const VALUE_FLAGS = new Set([
  "--host",
  "-p",
  "--port",
  "--root",
  "--ack-timeout",
  "--timeout",
  "--conn-timeout",
  "--retries",
  "--max-blksize",
  "--max-windowsize",
  "--max-upload",
  "--max-sessions",
  "--max-sessions-per-client",
  "--port-range",
  "--workers",
  "--busy-poll-us",
]);

/**
 * Lets a negative number follow a flag (`--timeout -1`), so the value is
 * reported as invalid instead of being taken for a flag.
 */
function joinNegativeValues(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const next = args[i + 1];
    if (
      VALUE_FLAGS.has(args[i]) && next !== undefined && /^-[\d.]/.test(next)
    ) {
      out.push(`${args[i].startsWith("--") ? args[i] : "--port"}=${next}`);
      i++;
    } else {
      out.push(args[i]);
    }
  }
  return out;
}

/**
 * `--workers auto`: one transfer thread per CPU, at least two (one event
 * loop holding hundreds of sockets serves them unevenly even on one CPU)
 * and at most eight.
 */
function autoWorkers(): number {
  return Math.max(2, Math.min(navigator.hardwareConcurrency || 1, 8));
}

function parsePortRange(
  text: string | undefined,
): [number, number] | undefined {
  if (text === undefined) return undefined;
  const m = /^(\d{1,5}):(\d{1,5})$/.exec(text);
  const lo = m ? Number(m[1]) : NaN;
  const hi = m ? Number(m[2]) : NaN;
  if (!(lo >= 1 && lo <= hi && hi <= 65535)) {
    throw new UsageError(
      `invalid --port-range ${
        JSON.stringify(text)
      }: expected LOW:HIGH within 1-65535`,
    );
  }
  return [lo, hi];
}

/**
 * Parses the server's command line.
 *
 * @example
 * ```ts
 * import { parseCli } from "./cli.ts";
 * const o = parseCli(["--host", "::", "-p", "69", "--root", "/srv/tftp"]);
 * if (o.server.port !== 69 || o.server.host !== "::") throw new Error();
 * ```
 *
 * @param args Arguments (without the program name).
 * @returns Parsed options.
 * @throws {UsageError} On unknown flags or invalid values.
 */
export function parseCli(args: string[]): CliOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: joinNegativeValues(args),
      strict: true,
      allowPositionals: false,
      options: {
        host: { type: "string" },
        port: { type: "string", short: "p" },
        root: { type: "string" },
        "ack-timeout": { type: "string" },
        timeout: { type: "string" },
        "conn-timeout": { type: "string" },
        retries: { type: "string" },
        "max-blksize": { type: "string" },
        "max-windowsize": { type: "string" },
        "max-upload": { type: "string" },
        "read-only": { type: "boolean" },
        "allow-overwrite": { type: "boolean" },
        "ignore-case": { type: "boolean" },
        "no-normalize": { type: "boolean" },
        "map-file": { type: "string" },
        "per-client-root": { type: "boolean" },
        "max-sessions": { type: "string" },
        "max-sessions-per-client": { type: "string" },
        "allow-from": { type: "string", multiple: true },
        "port-range": { type: "string" },
        "single-port": { type: "boolean" },
        workers: { type: "string" },
        "busy-poll-us": { type: "string" },
        "log-format": { type: "string" },
        "file-log": { type: "string", short: "l" },
        verbose: { type: "boolean", short: "v" },
        version: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    throw new UsageError(text.split("\n")[0]);
  }
  const host = values.host ?? "0.0.0.0";
  if (host.trim() === "") throw new UsageError("invalid --host: empty");
  const server: ServerOptions = {
    host,
    port: number("port", values.port, { min: 0, max: 65535, integer: true }) ??
      9069,
    root: values.root ?? ".",
    ackTimeout: number("ack-timeout", values["ack-timeout"], {
      min: 0.01,
      max: 255,
    }),
    timeout: number("timeout", values.timeout ?? values["conn-timeout"], {
      min: 0.01,
      max: 3600,
    }),
    retries: number("retries", values.retries, {
      min: 0,
      max: 100,
      integer: true,
    }),
    maxBlksize: number("max-blksize", values["max-blksize"], {
      min: MIN_BLKSIZE,
      max: MAX_BLKSIZE,
      integer: true,
    }),
    maxWindowsize: number("max-windowsize", values["max-windowsize"], {
      min: 1,
      max: MAX_WINDOWSIZE,
      integer: true,
    }),
    maxUpload: number("max-upload", values["max-upload"], {
      min: 0,
      max: Number.MAX_SAFE_INTEGER,
      integer: true,
    }),
    readOnly: values["read-only"] ?? false,
    allowOverwrite: values["allow-overwrite"] ?? false,
    ignoreCase: values["ignore-case"] ?? false,
    normalizeNames: !values["no-normalize"],
    perClientRoot: values["per-client-root"] ?? false,
    maxSessions: number("max-sessions", values["max-sessions"], {
      min: 1,
      max: 1_000_000,
      integer: true,
    }),
    maxSessionsPerClient: number(
      "max-sessions-per-client",
      values["max-sessions-per-client"],
      { min: 1, max: 1_000_000, integer: true },
    ),
    allowFrom: values["allow-from"],
    portRange: parsePortRange(values["port-range"]),
    singlePort: values["single-port"] ?? false,
    busyPollUs: number("busy-poll-us", values["busy-poll-us"], {
      min: 0,
      max: 1000,
      integer: true,
    }),
    workers: values.workers === undefined
      ? (values["single-port"] ? 1 : autoWorkers())
      : values.workers === "auto"
      ? autoWorkers()
      : number("workers", values.workers, { min: 1, max: 64, integer: true }),
  };
  for (const cidr of server.allowFrom ?? []) {
    try {
      parseCidr(cidr);
    } catch (err) {
      throw new UsageError(`invalid --allow-from: ${(err as Error).message}`);
    }
  }
  if (server.singlePort && (server.workers ?? 1) > 1) {
    throw new UsageError("--single-port and --workers exclude each other");
  }
  if (server.singlePort && server.portRange) {
    throw new UsageError("--single-port and --port-range exclude each other");
  }
  const logFormat = values["log-format"] ?? "text";
  if (logFormat !== "text" && logFormat !== "json") {
    throw new UsageError(
      `invalid --log-format ${
        JSON.stringify(logFormat)
      }: expected text or json`,
    );
  }
  return {
    server,
    logFormat,
    mapFile: values["map-file"],
    fileLog: values["file-log"],
    verbose: values.verbose ?? false,
    help: values.help ?? false,
    version: values.version ?? false,
  };
}
