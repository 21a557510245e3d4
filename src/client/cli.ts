/**
 * The client command line: `tftp get HOST[:PORT] REMOTE [LOCAL]` and
 * `tftp put HOST[:PORT] LOCAL [REMOTE]`, with a progress bar on a terminal.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  type ClientOptions,
  TftpClientError,
  tftpGet,
  tftpPut,
} from "./client.ts";

/** Exit statuses of the client command. */
export const ClientExit = {
  OK: 0,
  OTHER: 1,
  USAGE: 2,
  NOT_FOUND: 3,
  ACCESS: 4,
  TIMEOUT: 5,
  EXISTS: 6,
} as const;

/** The client's help text. */
export const CLIENT_USAGE =
  `usage: tftp get HOST[:PORT] REMOTE [LOCAL]   download REMOTE (to LOCAL, default its base name; - for stdout)
       tftp put HOST[:PORT] LOCAL [REMOTE]   upload LOCAL (as REMOTE, default its base name)

HOST may be an IPv6 address in brackets: [::1]:69. Default port 69.

options:
  -b, --blksize N       request blksize N (8-65464)
  -w, --windowsize N    request windowsize N (1-65535)
  -t, --tsize           ask for / announce the transfer size
      --timeout S       send the timeout option (1-255 s)
      --retries N       retransmits before giving up (default 5)
      --netascii        netascii mode (default octet)
  -q, --quiet           no progress bar
  -h, --help            this help

exit status: 0 ok, 1 other error, 2 usage, 3 not found, 4 access denied,
5 timeout, 6 file exists`;

/**
 * Splits `HOST[:PORT]` (IPv6 in brackets) into host and port.
 *
 * @example
 * ```ts
 * import { parseHostPort } from "./cli.ts";
 * const a = parseHostPort("[::1]:9069");
 * if (a.host !== "::1" || a.port !== 9069) throw new Error();
 * ```
 *
 * @param text The argument.
 * @returns Host and port (69 by default).
 */
export function parseHostPort(text: string): { host: string; port: number } {
  let host = text;
  let port = 69;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (v6) {
    host = v6[1];
    if (v6[2]) port = Number(v6[2]);
  } else if ((text.match(/:/g) ?? []).length === 1) {
    const i = text.indexOf(":");
    host = text.slice(0, i);
    port = Number(text.slice(i + 1));
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535 || host === "") {
    throw new Error(`invalid server address ${text}`);
  }
  return { host, port };
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * Makes a progress reporter drawing one line on `out` (a terminal).
 *
 * @param label What is transferred.
 * @param out Where to draw.
 * @returns A progress callback and a function ending the line.
 */
export function progressBar(
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

function basename(p: string): string {
  const parts = p.split(/[\\/]/).filter((s) => s !== "");
  return parts[parts.length - 1] ?? p;
}

/**
 * Runs the client command; returns the exit status (no `Deno.exit`).
 *
 * @param args Arguments without the program name.
 * @returns Exit status ({@linkcode ClientExit}).
 */
export async function runClient(args: string[]): Promise<number> {
  const err = (m: string) => console.error(`tftp: ${m}`);
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        blksize: { type: "string", short: "b" },
        windowsize: { type: "string", short: "w" },
        tsize: { type: "boolean", short: "t" },
        timeout: { type: "string" },
        retries: { type: "string" },
        netascii: { type: "boolean" },
        quiet: { type: "boolean", short: "q" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    err((e as Error).message);
    return ClientExit.USAGE;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(CLIENT_USAGE);
    return ClientExit.OK;
  }
  const [verb, server, a, b] = positionals;
  if ((verb !== "get" && verb !== "put") || !server || !a) {
    err("expected: get|put HOST[:PORT] FILE [FILE] (see --help)");
    return ClientExit.USAGE;
  }
  const num = (name: string, v: string | undefined, lo: number, hi: number) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < lo || n > hi) {
      throw new Error(`invalid --${name} ${v}: expected ${lo}-${hi}`);
    }
    return n;
  };
  let opts: ClientOptions;
  try {
    const { host, port } = parseHostPort(server);
    opts = {
      host,
      port,
      blksize: num("blksize", values.blksize, 8, 65464),
      windowsize: num("windowsize", values.windowsize, 1, 65535),
      timeout: num("timeout", values.timeout, 1, 255),
      retries: num("retries", values.retries, 0, 100),
      tsize: values.tsize,
      mode: values.netascii ? "netascii" : "octet",
    };
  } catch (e) {
    err((e as Error).message);
    return ClientExit.USAGE;
  }
  const showProgress = !values.quiet && Deno.stderr.isTerminal();
  try {
    if (verb === "get") {
      const local = b ?? basename(a);
      const toStdout = local === "-";
      const tmp = toStdout ? undefined : `${local}.part-${Date.now()}`;
      const file = tmp
        ? await Deno.open(tmp, { write: true, createNew: true })
        : undefined;
      const bar = showProgress ? progressBar(a, Deno.stderr) : undefined;
      try {
        await tftpGet(a, {
          ...opts,
          tsize: opts.tsize ?? showProgress,
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
        bar?.done();
      } catch (e) {
        try {
          file?.close();
        } catch { /* closed */ }
        if (tmp) await Deno.remove(tmp).catch(() => {});
        if (bar) console.error("");
        throw e;
      }
    } else {
      const data = await Deno.readFile(a);
      const remote = b ?? basename(a);
      const bar = showProgress ? progressBar(remote, Deno.stderr) : undefined;
      await tftpPut(remote, { ...opts, data, onProgress: bar?.update });
      bar?.done();
    }
    return ClientExit.OK;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      err(`${a}: no such local file`);
      return ClientExit.NOT_FOUND;
    }
    err((e as Error).message);
    return exitFor(e);
  }
}
