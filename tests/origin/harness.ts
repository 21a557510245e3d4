/**
 * Shared parts of the origin tests: HTTP origins started by the test (a
 * `Deno.serve` one with a request log, and a raw TCP one that logs exact
 * request lines and can die mid-body), and an in-process TFTP server whose
 * storage comes from `openOriginStorage`.
 *
 * @module
 */

import { Logger } from "../../src/log.ts";
import { TftpServer } from "../../src/server/server.ts";
import type { TransferStats } from "../../src/server/session.ts";
import {
  type OpenOriginOptions,
  openOriginStorage,
} from "../../src/storage/origin.ts";
import type { ClosableStorage } from "../../src/storage/origin/composite.ts";
import { InProcessServer, tempDir } from "../../testing/server.ts";
import { randomBytes } from "../../testing/bytes.ts";

export { getFile, RawClient } from "../../testing/raw_client.ts";
export { tempDir } from "../../testing/server.ts";

/** Bound for waiting on an event, ms. */
export const WAIT_MS = 20_000;

/** One request as an origin saw it. */
export interface SeenRequest {
  /** Method. */
  method: string;
  /** Path and query as parsed (Deno.serve) or as sent (raw origin). */
  path: string;
  /** Request headers. */
  headers: Headers;
}

/** A request handler of {@linkcode HttpOrigin}. */
export type Handler = (
  req: Request,
  url: URL,
) => Response | Promise<Response>;

/** An HTTP origin on loopback (`Deno.serve`) that logs every request. */
export class HttpOrigin implements AsyncDisposable {
  /** Every request, in order of arrival. */
  readonly requests: SeenRequest[] = [];
  #server: Deno.HttpServer<Deno.NetAddr>;

  /**
   * Starts listening on a free port.
   *
   * @param handler Answers requests.
   * @param hostname Loopback address (default 127.0.0.1).
   */
  constructor(handler: Handler, hostname = "127.0.0.1") {
    this.#server = Deno.serve(
      {
        hostname,
        port: 0,
        onListen() {},
        onError: () => new Response(null, { status: 500 }),
      },
      (req) => {
        const url = new URL(req.url);
        this.requests.push({
          method: req.method,
          path: url.pathname + url.search,
          headers: req.headers,
        });
        return handler(req, url);
      },
    );
  }

  /** The origin's base URL, `http://host:port/`. */
  get url(): string {
    const { hostname, port } = this.#server.addr;
    return `http://${hostname}:${port}/`;
  }

  /** The listen port. */
  get port(): number {
    return this.#server.addr.port;
  }

  /**
   * Requests for one path.
   *
   * @param path Path (with query) as logged.
   * @returns Those requests.
   */
  to(path: string): SeenRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  /** Stops the server. */
  async close(): Promise<void> {
    await this.#server.shutdown();
  }

  /** Same as {@linkcode HttpOrigin.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** A parsed request on the raw origin. */
export interface RawRequest {
  /** The request line exactly as sent (`GET /x HTTP/1.1`). */
  line: string;
  /** The target exactly as sent. */
  target: string;
  /** Headers (names lower-cased). */
  headers: Headers;
}

/** A raw-origin handler: writes the whole response itself. */
export type RawHandler = (req: RawRequest, conn: Deno.Conn) => Promise<void>;

const enc = new TextEncoder();

/**
 * Writes a response head.
 *
 * @param conn Connection.
 * @param status Status code.
 * @param headers Headers.
 */
export async function writeHead(
  conn: Deno.Conn,
  status: number,
  headers: Record<string, string> = {},
): Promise<void> {
  let head = `HTTP/1.1 ${status} X\r\nconnection: close\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  await writeAll(conn, enc.encode(head + "\r\n"));
}

/**
 * Writes all of `data`.
 *
 * @param conn Connection.
 * @param data Bytes.
 */
export async function writeAll(
  conn: Deno.Conn,
  data: Uint8Array,
): Promise<void> {
  let off = 0;
  while (off < data.length) off += await conn.write(data.subarray(off));
}

/**
 * An origin on a bare TCP listener: logs request lines byte for byte (no
 * URL parser in between) and lets a handler write, stall or hang up.
 */
export class RawHttpOrigin implements AsyncDisposable {
  /** Every request, in order of arrival. */
  readonly requests: RawRequest[] = [];
  #listener: Deno.TcpListener;
  #conns = new Set<Deno.Conn>();
  #loop: Promise<void>;
  #handlers = new Set<Promise<void>>();

  /**
   * Starts listening on a free port of 127.0.0.1.
   *
   * @param handler Writes each response.
   */
  constructor(handler: RawHandler) {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#listener = listener;
    this.#loop = (async () => {
      for await (const conn of listener) {
        this.#conns.add(conn);
        const run = this.#serve(conn, handler).catch(() => {}).finally(() => {
          this.#conns.delete(conn);
          this.#handlers.delete(run);
          try {
            conn.close();
          } catch { /* closed by the handler */ }
        });
        this.#handlers.add(run);
      }
    })().catch(() => {});
  }

  async #serve(conn: Deno.Conn, handler: RawHandler): Promise<void> {
    const buf = new Uint8Array(65536);
    let n = 0;
    for (;;) {
      const got = await conn.read(buf.subarray(n));
      if (got === null) return;
      n += got;
      const text = new TextDecoder().decode(buf.subarray(0, n));
      const end = text.indexOf("\r\n\r\n");
      if (end < 0) {
        if (n === buf.length) return;
        continue;
      }
      const [line, ...rest] = text.slice(0, end).split("\r\n");
      const headers = new Headers();
      for (const h of rest) {
        const colon = h.indexOf(":");
        headers.append(h.slice(0, colon).trim(), h.slice(colon + 1).trim());
      }
      const req = { line, target: line.split(" ")[1] ?? "", headers };
      this.requests.push(req);
      await handler(req, conn);
      return;
    }
  }

  /** The origin's base URL, `http://127.0.0.1:port/`. */
  get url(): string {
    return `http://127.0.0.1:${this.#listener.addr.port}/`;
  }

  /** Stops listening and hangs up every connection. */
  async close(): Promise<void> {
    this.#listener.close();
    for (const c of this.#conns) {
      try {
        c.close();
      } catch { /* already closed */ }
    }
    await this.#loop;
    await Promise.allSettled([...this.#handlers]);
  }

  /** Same as {@linkcode RawHttpOrigin.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

interface Waiter {
  match: (s: TransferStats) => boolean;
  resolve: (s: TransferStats) => void;
}

/** An in-process TFTP server over origin storage, with captured log lines. */
export class OriginTftpServer extends InProcessServer {
  /** The server under test. */
  readonly server: TftpServer;
  /** Its storage. */
  readonly storage: ClosableStorage;
  /** Stats of every ended transfer. */
  readonly transfers: TransferStats[] = [];
  #waiters = new Set<Waiter>();
  #lineWaiters = new Set<() => void>();

  /**
   * Use {@linkcode startOriginServer}.
   *
   * @param dir Temporary directory (the root).
   * @param storage The storage.
   * @param logger The captured logger the storage logs to as well.
   */
  constructor(dir: string, storage: ClosableStorage, logger: Logger) {
    super(dir);
    this.storage = storage;
    this.server = new TftpServer({
      host: "127.0.0.1",
      port: 0,
      storage,
      logger,
      workers: 1,
      maxSessionsPerClient: 512,
      onTransferEnd: (stats) => {
        this.transfers.push(stats);
        for (const w of [...this.#waiters]) {
          if (w.match(stats)) {
            this.#waiters.delete(w);
            w.resolve(stats);
          }
        }
      },
    });
  }

  /**
   * Waits for a transfer to end (ended ones count).
   *
   * @param match Which one (default: any).
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
            `no matching transfer ended; log:\n${this.lines.join("\n")}`,
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

  /** Called for every captured log line (wakes {@linkcode waitForLines}). */
  lineAdded(): void {
    for (const w of [...this.#lineWaiters]) w();
  }

  /**
   * Waits until `count` captured lines match `re`.
   *
   * @param re Pattern.
   * @param count How many lines.
   * @returns Those lines.
   */
  waitForLines(re: RegExp, count = 1): Promise<string[]> {
    const matching = () => this.lines.filter((l) => re.test(l));
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = matching();
        if (m.length < count) return false;
        this.#lineWaiters.delete(waiter);
        clearTimeout(timer);
        resolve(m);
        return true;
      };
      const waiter = () => void check();
      const timer = setTimeout(() => {
        this.#lineWaiters.delete(waiter);
        reject(
          new Error(
            `fewer than ${count} lines match ${re}:\n${this.lines.join("\n")}`,
          ),
        );
      }, WAIT_MS);
      if (!check()) this.#lineWaiters.add(waiter);
    });
  }

  /** Stops the server, then closes the storage and removes the root. */
  override async close(): Promise<void> {
    try {
      await super.close();
    } finally {
      await this.storage.close();
    }
  }
}

/** Options of {@linkcode startOriginServer}. */
export interface StartOriginOptions extends Omit<OpenOriginOptions, "root"> {
  /** Files in the root (composite mode). */
  files?: Record<string, string | Uint8Array>;
  /** Echo log lines to stderr. */
  echo?: boolean;
  /** Wraps the storage (to observe calls). */
  wrap?: (storage: ClosableStorage) => ClosableStorage;
}

/**
 * Starts a TFTP server on 127.0.0.1 whose storage is
 * `openOriginStorage(opts)` over a fresh temporary root.
 *
 * @param opts Origin options and root files.
 * @returns The listening server.
 */
export async function startOriginServer(
  opts: StartOriginOptions,
): Promise<OriginTftpServer> {
  const dir = await tempDir("tftpd-origin-");
  const early: string[] = [];
  const to: { srv?: OriginTftpServer } = {};
  const logger = new Logger({
    stderr: false,
    verbose: true,
    sink: (line) => {
      if (opts.echo) console.error(line);
      (to.srv?.lines ?? early).push(line);
      to.srv?.lineAdded();
    },
  });
  let storage: ClosableStorage;
  try {
    const { files: _f, echo: _e, wrap, ...origin } = opts;
    storage = await openOriginStorage({ ...origin, root: dir }, logger);
    if (wrap) storage = wrap(storage);
  } catch (err) {
    await Deno.remove(dir, { recursive: true });
    throw err;
  }
  const srv = new OriginTftpServer(dir, storage, logger);
  srv.lines.push(...early);
  to.srv = srv;
  return await srv.start({ files: opts.files });
}

/**
 * A promise with its resolver outside (a gate the test opens).
 *
 * @returns The promise and its resolve function.
 */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => open = r);
  return { promise, open };
}

/**
 * Random bytes on their own ArrayBuffer (usable as a Response body).
 *
 * @param n How many.
 * @returns The bytes.
 */
export function randomBody(n: number): Uint8Array<ArrayBuffer> {
  return new Uint8Array(randomBytes(n));
}
