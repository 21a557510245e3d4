/**
 * Shared parts of the operator-feature and client tests: an in-process
 * {@linkcode TftpServer} over a fresh temporary root that takes any
 * {@linkcode ServerOptions}, captures its log lines and transfer stats, and
 * lets a test wait for the end of a transfer (event-driven, bounded); plus
 * small client helpers (download into memory, upload). Raw packet exchanges
 * use `RawClient` from `testing/raw_client.ts`.
 *
 * @example
 * ```ts ignore
 * import { download, startFeatureServer } from "./fixture.ts";
 * await using srv = await startFeatureServer({ files: { "a.txt": "hi" } });
 * const bytes = await download(srv, "a.txt");
 * ```
 *
 * @module
 */

import { Logger, type LogLevel } from "../../src/log.ts";
import {
  type ClientOptions,
  type ClientResult,
  tftpGet,
  tftpPut,
} from "../../src/client/client.ts";
import { type ServerOptions, TftpServer } from "../../src/server/server.ts";
import type { TransferStats } from "../../src/server/session.ts";
import { concat } from "../../testing/bytes.ts";
import { getFile, putFile } from "../../testing/raw_client.ts";
import { InProcessServer, tempDir } from "../../testing/server.ts";

export { randomBytes, sha256 } from "../../testing/bytes.ts";
export { tempDir, writeInto } from "../../testing/server.ts";

/** Options of {@linkcode startFeatureServer}. */
export interface FeatureServerOptions extends ServerOptions {
  /** Files to create in the root before the server starts (name -> content). */
  files?: Record<string, string | Uint8Array>;
  /** Directories to create in the root before the server starts. */
  dirs?: string[];
  /** Echo log lines to stderr (debugging a test). */
  echo?: boolean;
}

/** Default bound for waiting on an event, in milliseconds. */
export const WAIT_MS = 10_000;

/**
 * A logger that keeps every line and hands the `stats` field of
 * end-of-transfer lines to a callback (writes nothing to stderr).
 */
export class CapturingLogger extends Logger {
  #onStats: (stats: TransferStats) => void;

  /**
   * @param opts `onLine`: every formatted line; `onStats`: transfer stats.
   */
  constructor(opts: {
    onLine: (line: string) => void;
    onStats: (stats: TransferStats) => void;
  }) {
    super({ stderr: false, verbose: true, sink: opts.onLine });
    this.#onStats = opts.onStats;
  }

  /**
   * Writes one line; reports its `stats` field, if any.
   *
   * @param level Severity.
   * @param message Text.
   * @param fields Extra data.
   */
  override log(
    level: LogLevel,
    message: string,
    fields?: Record<string, unknown>,
  ): void {
    super.log(level, message, fields);
    const stats = fields?.stats as TransferStats | undefined;
    if (stats) this.#onStats(stats);
  }
}

interface Waiter {
  match: (s: TransferStats) => boolean;
  resolve: (s: TransferStats) => void;
}

/** A running in-process server; dispose it to stop it and remove its root. */
export class FeatureServer extends InProcessServer {
  /** The server under test. */
  readonly server: TftpServer;
  /**
   * Stats of every ended transfer, in order, taken from the end-of-transfer
   * log line (an upload is logged as soon as it is on disk, before its
   * socket lingers to re-ACK a repeated last block).
   */
  readonly transfers: TransferStats[] = [];
  /** Stats handed to the `onTransferEnd` hook, in order. */
  readonly hookCalls: TransferStats[] = [];
  #waiters = new Set<Waiter>();

  /**
   * Use {@linkcode startFeatureServer}.
   *
   * @param root Temporary root.
   * @param opts Server options.
   */
  constructor(root: string, opts: FeatureServerOptions) {
    super(root);
    const { files: _f, dirs: _d, echo, ...serverOpts } = opts;
    const logger = opts.logger ?? new CapturingLogger({
      onLine: (line) => {
        if (echo) console.error(line);
        this.lines.push(line);
      },
      onStats: (stats) => {
        this.transfers.push(stats);
        for (const w of [...this.#waiters]) {
          if (w.match(stats)) {
            this.#waiters.delete(w);
            w.resolve(stats);
          }
        }
      },
    });
    this.server = new TftpServer({
      host: "127.0.0.1",
      port: 0,
      root,
      ...serverOpts,
      logger,
      onTransferEnd: (stats) => {
        this.hookCalls.push(stats);
        opts.onTransferEnd?.(stats);
      },
    });
  }

  /** Client options reaching this server (host and port). */
  get target(): { host: string; port: number } {
    return { host: this.addr.hostname, port: this.port };
  }

  /**
   * Waits until a transfer has been logged as ended (an upload is then on
   * disk). Transfers that ended earlier count.
   *
   * @param match Which transfer (default: any).
   * @returns Its stats.
   */
  waitForTransfer(
    match: (s: TransferStats) => boolean = () => true,
  ): Promise<TransferStats> {
    const seen = this.transfers.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(
          new Error(
            `no matching transfer ended within ${WAIT_MS} ms; log:\n` +
              this.lines.join("\n"),
          ),
        );
      }, WAIT_MS);
      const waiter: Waiter = {
        match,
        resolve: (s) => {
          clearTimeout(timer);
          resolve(s);
        },
      };
      this.#waiters.add(waiter);
    });
  }
}

/**
 * Starts an in-process server on `127.0.0.1` port 0 (unless `host`/`port`
 * say otherwise) over a fresh temporary root holding `files` and `dirs`.
 *
 * @param opts Server options plus initial files.
 * @returns The listening server.
 */
export async function startFeatureServer(
  opts: FeatureServerOptions = {},
): Promise<FeatureServer> {
  const root = await tempDir("tftpd-feat-");
  return await new FeatureServer(root, opts).start({
    dirs: opts.dirs,
    files: opts.files,
  });
}

/**
 * Downloads `remote` from `srv` with the client library.
 *
 * @param srv The server.
 * @param remote File name as requested.
 * @param opts Client options.
 * @returns The bytes and the client's result.
 */
export async function download(
  srv: { target: { host: string; port: number } },
  remote: string,
  opts: ClientOptions = {},
): Promise<{ data: Uint8Array; result: ClientResult }> {
  const chunks: Uint8Array[] = [];
  const result = await tftpGet(remote, {
    ...srv.target,
    retransmitMs: 2000,
    ...opts,
    sink: { write: (d) => void chunks.push(d.slice()) },
  });
  return { data: concat(chunks), result };
}

/**
 * Downloads `remote` and decodes it as UTF-8.
 *
 * @param srv The server.
 * @param remote File name as requested.
 * @param opts Client options.
 * @returns The text.
 */
export async function downloadText(
  srv: { target: { host: string; port: number } },
  remote: string,
  opts: ClientOptions = {},
): Promise<string> {
  return new TextDecoder().decode((await download(srv, remote, opts)).data);
}

/**
 * Uploads `data` as `remote` to `srv` with the client library.
 *
 * @param srv The server.
 * @param remote File name as requested.
 * @param opts Content (text or bytes) and client options.
 * @returns The client's result.
 */
export async function upload(
  srv: { target: { host: string; port: number } },
  remote: string,
  opts: ClientOptions & { data: string | Uint8Array },
): Promise<ClientResult> {
  const data = typeof opts.data === "string"
    ? new TextEncoder().encode(opts.data)
    : opts.data;
  return await tftpPut(remote, {
    ...srv.target,
    retransmitMs: 2000,
    ...opts,
    data,
  });
}

const te = new TextEncoder();

/**
 * What a raw client from `bind` gets for a read (or, `put`, an upload of
 * "x"): the ERROR code and message with the name replaced by `NAME`, or no
 * code and the text read.
 *
 * @param srv The server.
 * @param name The name asked for.
 * @param opts The client's address, and whether to upload.
 * @returns Code (undefined on success) and message or text.
 */
export async function answer(
  srv: { addr: Deno.NetAddr },
  name: string,
  opts: { bind: string; put?: boolean },
): Promise<[number | undefined, string | undefined]> {
  const r = opts.put
    ? await putFile(srv.addr, name, { bind: opts.bind, data: te.encode("x") })
    : await getFile(srv.addr, name, { bind: opts.bind });
  if (!r.error) return [undefined, new TextDecoder().decode(r.data)];
  // The message names the file as the server normalised it.
  const m = r.error.message;
  const at = m.lastIndexOf(": ");
  return [r.error.code, at < 0 ? m : "NAME" + m.slice(at)];
}
