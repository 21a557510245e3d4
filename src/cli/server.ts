/**
 * The server's command line (py3tftp's flags plus ours): the flag table,
 * its parser and help (`load_options.ts` checks what it names). `main.ts`
 * prints and exits.
 *
 * @module
 */

import { SERVER_DEFAULTS } from "../defaults.ts";
import {
  MAX_BLKSIZE,
  MAX_WINDOWSIZE,
  MIN_BLKSIZE,
} from "../protocol/options.ts";
import type { ServerOptions } from "../server/server.ts";
import { ORIGIN_FLAGS, type OriginKey, splitOrigin } from "./origin_flags.ts";
import { type Flag, parseFlags, renderHelp, UsageError } from "./flags.ts";
import { listenHost, network, portRange, tcpAddress } from "./values.ts";

const D = SERVER_DEFAULTS;

/** Keys the command line sets besides the server's options. */
type CliKey =
  | "mapFile"
  | "fileLog"
  | "logFormat"
  | "verbose"
  | "help"
  | "version"
  | OriginKey;

/** The server's flags, in the order `--help` lists them. */
export const SERVER_FLAGS = [
  {
    name: "host",
    key: "host",
    kind: "repeatable",
    value: "HOST",
    parse: listenHost,
    default: [D.host],
    defaultText: `\`${D.host}\``,
    help: "address to listen on; `::` serves IPv4 and IPv6",
    details: "a wildcard (`0.0.0.0`, `::`) gets one socket per local " +
      "address, so replies leave from the address the client sent to " +
      "(needs `--allow-sys=networkInterfaces`; without it, one socket " +
      `and a warning); addresses are looked up again every ` +
      `${D.rescanInterval} s`,
    section: "Listening",
  },
  {
    name: "port",
    key: "port",
    short: "p",
    kind: "integer",
    value: "PORT",
    max: 65535,
    default: D.port,
    help: "UDP port (69 needs `CAP_NET_BIND_SERVICE`)",
    section: "Listening",
  },
  {
    name: "root",
    key: "root",
    kind: "string",
    value: "DIR",
    default: D.root,
    defaultText: "current directory",
    help: "directory to serve",
    section: "Listening",
  },
  {
    name: "ack-timeout",
    key: "ackTimeout",
    kind: "number",
    value: "S",
    min: 0.01,
    max: 255,
    default: D.ackTimeout,
    help: "retransmit interval when the client sets no `timeout` option",
    details: "the first and the longest: once ACKs come back the interval " +
      "follows the measured round trip (RFC 6298), never under 50 ms; a " +
      "client's `timeout` option fixes it instead",
    section: "Transfers",
  },
  {
    name: "timeout",
    key: "timeout",
    aliases: ["conn-timeout"],
    kind: "number",
    value: "S",
    min: 0.01,
    max: 3600,
    // Unset rather than 3, so that an upload can tell (`uploadTimeout`).
    defaultText: `\`${D.timeout}\``,
    help: "seconds without progress before a transfer is abandoned",
    details: "times T / `--ack-timeout` for a client's `timeout` option T, " +
      "never past `--max-idle`; also the linger after an upload. Unset, an " +
      "upload that has sent DATA waits 12 s: a sender resends a lost DATA " +
      "only on its own timer, 5 s in tftp-hpa and atftp",
    section: "Transfers",
  },
  {
    name: "retries",
    key: "retries",
    kind: "integer",
    value: "N",
    max: 100,
    default: D.retries,
    help: "retransmits without progress before giving up",
    section: "Transfers",
  },
  {
    name: "max-idle",
    key: "maxIdle",
    kind: "number",
    value: "S",
    min: 1,
    max: 3600,
    default: D.maxIdle,
    help: "longest a transfer may go without progress, whatever the other " +
      "flags or the client's `timeout` option",
    section: "Transfers",
  },
  {
    name: "max-blksize",
    key: "maxBlksize",
    kind: "integer",
    value: "N",
    min: MIN_BLKSIZE,
    max: MAX_BLKSIZE,
    default: D.maxBlksize,
    help: "largest blksize granted",
    section: "Transfers",
  },
  {
    name: "max-windowsize",
    key: "maxWindowsize",
    kind: "integer",
    value: "N",
    min: 1,
    max: MAX_WINDOWSIZE,
    default: D.maxWindowsize,
    help: "largest windowsize granted (at most 32768)",
    section: "Transfers",
  },
  {
    name: "max-upload",
    key: "maxUpload",
    kind: "integer",
    value: "BYTES",
    defaultText: "no limit",
    help: "largest upload accepted",
    details: "a larger tsize gets ERROR 3 at once, otherwise ERROR 3 when " +
      "the upload grows past it; counted in bytes received (netascii before " +
      "its CR LF become LF)",
    section: "Transfers",
  },
  {
    name: "max-window-memory",
    key: "maxWindowMemory",
    kind: "integer",
    value: "BYTES",
    min: 0,
    default: D.maxWindowMemory,
    help: "bytes of packet buffers for windowed sends, for the whole server",
    details: "a transfer beyond it sends its window in bursts instead of " +
      "holding a buffer per block",
    section: "Transfers",
  },
  {
    name: "read-only",
    key: "readOnly",
    kind: "boolean",
    help: "refuse every upload with ERROR 2",
    section: "Files and names",
  },
  {
    name: "allow-overwrite",
    key: "allowOverwrite",
    kind: "boolean",
    help: "let uploads replace existing regular files (default: ERROR 6)",
    details: "the new file keeps the old one's permission bits (set-id " +
      "bits dropped) and, when the server runs as root, its owner; a file " +
      "the server could not write into gets ERROR 2",
    section: "Files and names",
  },
  {
    name: "ignore-case",
    key: "ignoreCase",
    kind: "boolean",
    help: "find names case-insensitively (`\\Boot\\BCD` finds `boot/bcd`)",
    section: "Files and names",
  },
  {
    name: "no-normalize",
    key: "normalizeNames",
    kind: "boolean",
    set: false,
    default: true,
    help: "take names literally: no `\\` to `/`, and a leading `/` is refused",
    section: "Files and names",
  },
  {
    name: "map-file",
    key: "mapFile",
    kind: "string",
    value: "FILE",
    help: "remap rules (tftpd-hpa `-m` format), applied before the root check",
    section: "Files and names",
  },
  {
    name: "per-client-root",
    key: "perClientRoot",
    kind: "boolean",
    help: "a client with a directory `ROOT/<client ip>/` (a real directory, " +
      "not a symlink) is served from it alone; others read ROOT but never a " +
      "client's directory, and cannot upload",
    section: "Files and names",
  },
  {
    name: "max-sessions",
    key: "maxSessions",
    kind: "integer",
    value: "N",
    min: 1,
    max: 1_000_000,
    default: D.maxSessions,
    help: "most transfers at once",
    details: 'more get ERROR 0 "server busy"',
    section: "Limits and access",
  },
  {
    name: "max-sessions-per-client",
    key: "maxSessionsPerClient",
    kind: "integer",
    value: "N",
    min: 1,
    max: 1_000_000,
    default: D.maxSessionsPerClient,
    help: "most transfers at once from one IP address",
    section: "Limits and access",
  },
  {
    name: "allow-from",
    key: "allowFrom",
    kind: "repeatable",
    value: "CIDR",
    parse: network,
    defaultText: "everyone",
    help: "answer only these networks",
    details: "others get no reply",
    section: "Limits and access",
  },
  {
    name: "port-range",
    key: "portRange",
    kind: "string",
    value: "LOW:HIGH",
    parse: portRange,
    defaultText: "ephemeral",
    help: "bind transfer sockets in this range",
    details: "when all are busy the request gets ERROR 0",
    section: "Sockets and threads",
  },
  {
    name: "metrics",
    key: "metrics",
    kind: "string",
    value: "HOST:PORT",
    parse: tcpAddress,
    defaultText: "off",
    help: "serve Prometheus metrics, a JSON status API and a live status " +
      "page on this TCP address",
    details: "no authentication: bind it to loopback or a management " +
      "address (docs/metrics.md)",
    section: "Sockets and threads",
  },
  {
    name: "single-port",
    key: "singlePort",
    kind: "boolean",
    help: "run every transfer on the listen port (NAT, firewalls)",
    details: "demultiplexed by client address and port",
    section: "Sockets and threads",
  },
  {
    name: "workers",
    key: "workers",
    kind: "integer",
    value: "N|auto",
    keyword: "auto",
    min: 1,
    max: 64,
    default: "auto",
    defaultText: "`auto`",
    help: "threads that run transfers: `auto` is one per CPU " +
      `(${D.autoWorkersMin} to ${D.autoWorkersMax}), or \`1\` with ` +
      "`--single-port`; `1` keeps everything in one thread",
    section: "Sockets and threads",
  },
  {
    name: "workers-start",
    key: "workersStart",
    kind: "enum",
    choices: ["demand", "listen"],
    default: D.workersStart,
    help: "when the worker threads start: `demand` once two transfers run " +
      "at once, `listen` right after start-up",
    details: "a thread's memory (~17 MB) is not given back when it stops",
    section: "Sockets and threads",
  },
  {
    name: "busy-poll-us",
    key: "busyPollUs",
    kind: "integer",
    value: "N",
    max: 1000,
    default: D.busyPollUs,
    help: "longest spin (µs) waiting for the next ACK or DATA while a " +
      "lock-step transfer is alone in its thread (`0`: off)",
    details: "a fast client's reply is then taken without a sleep and wake-up",
    section: "Sockets and threads",
  },
  ...ORIGIN_FLAGS,
  {
    name: "file-log",
    key: "fileLog",
    short: "l",
    kind: "string",
    value: "FILE",
    help: "append log lines to FILE",
    section: "Logging",
  },
  {
    name: "log-format",
    key: "logFormat",
    kind: "enum",
    choices: ["text", "json"],
    default: D.logFormat,
    help: "`json`: JSON lines for log shippers",
    details: "transfer ends carry a `stats` object",
    section: "Logging",
  },
  {
    name: "verbose",
    key: "verbose",
    short: "v",
    kind: "boolean",
    help: "debug lines, including one per packet",
    section: "Logging",
  },
  {
    name: "help",
    key: "help",
    short: "h",
    kind: "boolean",
    defaultText: "",
    help: "print this help and exit",
    section: "Other",
  },
  {
    name: "version",
    key: "version",
    kind: "boolean",
    defaultText: "",
    help: "print the version and exit",
    section: "Other",
  },
] as const satisfies readonly Flag<keyof ServerOptions | CliKey>[];

/** The server's `--help`. */
export const SERVER_HELP: string = renderHelp(SERVER_FLAGS, {
  program: "tftpd",
  about:
    "A TFTP server (RFC 1350, 2347, 2348, 2349, 7440) confined to one directory.",
});

/** Parsed command line. */
export interface CliOptions {
  /** Server options (without `remap`: `loadServerOptions` reads it). */
  server: ServerOptions;
  /** Log file to append to (`-l`). */
  fileLog?: string;
  /** Log line format. */
  logFormat: "text" | "json";
  /** Remap rules file (`--map-file`). */
  mapFile?: string;
  /** Debug logging (`-v`). */
  verbose: boolean;
  /** Print help and exit. */
  help: boolean;
  /** Print version and exit. */
  version: boolean;
}

/**
 * Parses the server's command line. Every option has its value: the one
 * given or the default from `defaults.ts`.
 *
 * @example
 * ```ts
 * import { parseCli } from "./server.ts";
 * const o = parseCli(["--host", "::", "-p", "69", "--root", "/srv/tftp"]);
 * if (o.server.port !== 69 || String(o.server.host) !== "::") throw new Error();
 * ```
 *
 * @param args Arguments (without the program name).
 * @returns Parsed options.
 * @throws {UsageError} On unknown flags, invalid values, or flags that
 * exclude each other.
 */
export function parseCli(args: readonly string[]): CliOptions {
  const { values } = parseFlags(SERVER_FLAGS, args);
  const { help, version, verbose, fileLog, logFormat, mapFile, ...rest } =
    values;
  const [origin, server] = splitOrigin(rest, args);
  // `auto`: one event loop holding hundreds of sockets serves them
  // unevenly even on one CPU, hence at least two threads.
  const workers = server.workers !== "auto"
    ? server.workers
    : server.singlePort
    ? 1
    : Math.max(
      D.autoWorkersMin,
      Math.min(navigator.hardwareConcurrency || 1, D.autoWorkersMax),
    );
  if (server.singlePort && workers > 1) {
    throw new UsageError("--single-port and --workers exclude each other");
  }
  if (server.singlePort && server.portRange) {
    throw new UsageError("--single-port and --port-range exclude each other");
  }
  return {
    server: { ...server, workers, ...(origin ? { origin } : {}) },
    fileLog,
    logFormat,
    mapFile,
    verbose,
    help,
    version,
  };
}
