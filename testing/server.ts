/**
 * Test helper: runs a {@linkcode TftpServer} in-process on an ephemeral
 * port over a fresh temporary root, captures its log lines, and lets a test
 * wait (event-driven, with a bound) for a log line or the end of a transfer.
 *
 * @example
 * ```ts ignore
 * import { startServer } from "./server.ts";
 * await using srv = await startServer({ files: { "a.txt": "hello" } });
 * // ... talk to srv.addr ...
 * await srv.waitForLine(/RRQ "a.txt" octet: ok/);
 * ```
 *
 * @module
 */

import { type ServerOptions, TftpServer } from "../src/server/server.ts";
import type { TransferStats } from "../src/server/session.ts";
import { Logger } from "../src/log.ts";

/** Options of {@linkcode startServer}. */
export interface TestServerOptions {
  /** Address to listen on (default `127.0.0.1`). */
  host?: string;
  /** Refuse uploads. */
  readOnly?: boolean;
  /** Largest upload in bytes. */
  maxUpload?: number;
  /** Largest blksize granted. */
  maxBlksize?: number;
  /** Largest windowsize granted. */
  maxWindowsize?: number;
  /** Seconds without progress before giving up (server `timeout`). */
  timeout?: number;
  /** Retransmit interval in seconds. */
  ackTimeout?: number;
  /** Retransmit rounds without progress before giving up. */
  retries?: number;
  /**
   * Retransmit exactly every `ackTimeout` seconds instead of following the
   * measured round trip (the server's default adapts down to 50 ms). Tests
   * that script packets and expect silence between them need this.
   */
  fixedInterval?: boolean;
  /** Called after every transfer (after its cleanup) with its stats. */
  onTransferEnd?: (stats: TransferStats) => void;
  /** Capture debug lines too. */
  verbose?: boolean;
  /** Files to create in the root before the server starts (name -> content). */
  files?: Record<string, string | Uint8Array>;
  /** Echo captured log lines to stderr (debugging a test). */
  echo?: boolean;
  /**
   * Any other server options, passed through as given (`storage`,
   * `singlePort`, `portRange`, `allowFrom`, the session limits ...). They
   * win over the options above.
   */
  server?: Omit<ServerOptions, "logger" | "onTransferEnd">;
}

/** Options of the wait helpers. */
export interface WaitOptions {
  /** Give up (reject) after this many milliseconds (default 5000). */
  timeoutMs?: number;
  /** Only consider entries from this index on (default 0). */
  from?: number;
}

interface Waiter<T> {
  match: (item: T) => boolean;
  resolve: (item: T) => void;
}

/**
 * The lifecycle shared by the in-process server harnesses (this file's
 * {@linkcode TestServer}, the feature tests' `FeatureServer`, the hardening
 * tests' `Harness`): a {@linkcode TftpServer} over a temporary directory,
 * captured log lines, file access in the root, and a close that awaits
 * `server.close()` and then removes the directory. A subclass builds
 * `server` in its constructor (with its own logger and hooks).
 */
export abstract class InProcessServer implements AsyncDisposable {
  /** The server under test. */
  abstract readonly server: TftpServer;
  /** The temporary root directory (real path). */
  readonly root: string;
  /** Every captured log line, in order. */
  readonly lines: string[] = [];
  /** The directory removed on close (the root or a parent of it). */
  readonly #dir: string;
  #closed = false;

  /**
   * @param dir The temporary directory, removed on close.
   * @param root The served root inside it (default: `dir` itself).
   */
  constructor(dir: string, root: string = dir) {
    this.#dir = dir;
    this.root = root;
  }

  /** The address the server listens on. */
  get addr(): Deno.NetAddr {
    return this.server.addr;
  }

  /** The listen port. */
  get port(): number {
    return this.server.addr.port;
  }

  /**
   * Prepares the directory (`prepare`, then `dirs` and `files` in the
   * root) and starts listening; on failure removes the directory.
   *
   * @param opts What to create before listening.
   * @returns This server, listening.
   */
  async start(opts: StartOptions = {}): Promise<this> {
    try {
      await opts.prepare?.();
      for (const d of opts.dirs ?? []) {
        await Deno.mkdir(`${this.root}/${d}`, { recursive: true });
      }
      for (const [name, data] of Object.entries(opts.files ?? {})) {
        await writeInto(this.root, name, data);
      }
      await this.server.listen();
    } catch (err) {
      await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
      throw err;
    }
    return this;
  }

  /**
   * Writes a file into the root (creating parent directories).
   *
   * @param name Path relative to the root.
   * @param data Content.
   */
  async writeFile(name: string, data: string | Uint8Array): Promise<void> {
    await writeInto(this.root, name, data);
  }

  /**
   * Reads a file from the root, or undefined when it does not exist.
   *
   * @param name Path relative to the root.
   * @returns Its bytes.
   */
  async readFile(name: string): Promise<Uint8Array | undefined> {
    return await missingAsUndefined(Deno.readFile(`${this.root}/${name}`));
  }

  /**
   * Reads a file from the root as text, or undefined when it is missing.
   *
   * @param name Path relative to the root.
   * @returns The text.
   */
  async readText(name: string): Promise<string | undefined> {
    return await missingAsUndefined(
      Deno.readTextFile(`${this.root}/${name}`),
    );
  }

  /** Stops the server (awaiting every transfer) and removes the directory. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.server.close();
    } finally {
      await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
    }
  }

  /** Same as {@linkcode InProcessServer.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Options of {@linkcode InProcessServer.start}. */
export interface StartOptions {
  /** Runs first (e.g. creates directories next to the root). */
  prepare?: () => Promise<void>;
  /** Directories to create in the root. */
  dirs?: string[];
  /** Files to create in the root (name -> content). */
  files?: Record<string, string | Uint8Array>;
}

async function missingAsUndefined<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

/**
 * Writes `data` to `dir/name`, creating parent directories.
 *
 * @param dir Base directory.
 * @param name Relative path.
 * @param data Content.
 */
export async function writeInto(
  dir: string,
  name: string,
  data: string | Uint8Array,
): Promise<void> {
  const path = `${dir}/${name}`;
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  if (typeof data === "string") await Deno.writeTextFile(path, data);
  else await Deno.writeFile(path, data);
}

/**
 * A fresh temporary directory (real path).
 *
 * @param prefix Name prefix.
 * @returns Its path.
 */
export async function tempDir(prefix: string): Promise<string> {
  return await Deno.realPath(await Deno.makeTempDir({ prefix }));
}

/**
 * Runs `fn` with a fresh root and a directory beside it, outside the root
 * (real paths), and removes both afterwards.
 *
 * @param fn Given the root and the outside directory.
 */
export async function withRootAndOutside(
  fn: (root: string, outside: string) => Promise<void>,
): Promise<void> {
  const base = await tempDir("root-");
  await Deno.mkdir(`${base}/root`);
  await Deno.mkdir(`${base}/outside`);
  try {
    await fn(`${base}/root`, `${base}/outside`);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
}

/**
 * Lists every entry under `dir`, recursively, as sorted relative paths
 * (directories end with `/`). Symlinks are listed, not followed.
 *
 * @param dir Directory to list.
 * @returns The entries.
 */
export async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, prefix: string) => {
    for await (const e of Deno.readDir(d)) {
      if (e.isDirectory) {
        out.push(`${prefix}${e.name}/`);
        await walk(`${d}/${e.name}`, `${prefix}${e.name}/`);
      } else {
        out.push(`${prefix}${e.name}`);
      }
    }
  };
  await walk(dir, "");
  return out.sort();
}

/**
 * A running test server. Dispose it (`await using`) or call
 * {@linkcode TestServer.close}: that awaits `server.close()` and removes the
 * temporary root.
 */
export class TestServer extends InProcessServer {
  /** The server under test. */
  readonly server: TftpServer;
  /** Stats of every finished transfer, in order of ending. */
  readonly transfers: TransferStats[] = [];
  #lineWaiters = new Set<Waiter<string>>();
  #endWaiters = new Set<Waiter<TransferStats>>();

  /**
   * Use {@linkcode startServer}.
   *
   * @param root Temporary root.
   * @param opts Server options.
   */
  constructor(root: string, opts: TestServerOptions) {
    super(root);
    const echo = opts.echo ?? false;
    const logger = new Logger({
      stderr: false,
      verbose: opts.verbose ?? false,
      sink: (line) => {
        if (echo) console.error(line);
        this.lines.push(line);
        for (const w of [...this.#lineWaiters]) {
          if (w.match(line)) w.resolve(line);
        }
      },
    });
    this.server = new TftpServer({
      host: opts.host ?? "127.0.0.1",
      port: 0,
      root,
      logger,
      readOnly: opts.readOnly,
      maxUpload: opts.maxUpload,
      maxBlksize: opts.maxBlksize,
      maxWindowsize: opts.maxWindowsize,
      timeout: opts.timeout,
      ackTimeout: opts.ackTimeout,
      retries: opts.retries,
      minRtoMs: opts.fixedInterval ? 0 : undefined,
      ...opts.server,
      onTransferEnd: (stats) => {
        this.transfers.push(stats);
        for (const w of [...this.#endWaiters]) {
          if (w.match(stats)) w.resolve(stats);
        }
        opts.onTransferEnd?.(stats);
      },
    });
  }

  /**
   * Waits for a captured log line matching `re` (lines already captured
   * count, from `opts.from` on).
   *
   * @param re What the line must match.
   * @param opts Bound and start index.
   * @returns The first matching line.
   */
  waitForLine(re: RegExp, opts: WaitOptions = {}): Promise<string> {
    return waitFor(
      this.lines,
      this.#lineWaiters,
      (l) => re.test(l),
      { ...opts, what: `a log line matching ${re}` },
    );
  }

  /**
   * Waits until a transfer has completely ended (including its cleanup, so
   * an aborted upload's temporary file is already gone).
   *
   * @param match Which transfer (default: any).
   * @param opts Bound and start index (into {@linkcode TestServer.transfers}).
   * @returns Its stats.
   */
  waitForTransferEnd(
    match: (s: TransferStats) => boolean = () => true,
    opts: WaitOptions = {},
  ): Promise<TransferStats> {
    return waitFor(
      this.transfers,
      this.#endWaiters,
      match,
      { ...opts, what: "the end of a transfer" },
    );
  }

  /**
   * Lists every entry under the root, recursively, as sorted relative paths
   * (directories end with `/`). Symlinks are listed, not followed.
   *
   * @returns The entries.
   */
  listFiles(): Promise<string[]> {
    return listTree(this.root);
  }
}

function waitFor<T>(
  items: T[],
  waiters: Set<Waiter<T>>,
  match: (item: T) => boolean,
  opts: WaitOptions & { what: string },
): Promise<T> {
  for (let i = opts.from ?? 0; i < items.length; i++) {
    if (match(items[i])) return Promise.resolve(items[i]);
  }
  const timeoutMs = opts.timeoutMs ?? 5000;
  return new Promise<T>((resolve, reject) => {
    const waiter: Waiter<T> = {
      match,
      resolve: (item) => {
        clearTimeout(timer);
        waiters.delete(waiter);
        resolve(item);
      },
    };
    const timer = setTimeout(() => {
      waiters.delete(waiter);
      reject(
        new Error(
          `timed out after ${timeoutMs} ms waiting for ${opts.what}; ` +
            `have:\n${items.slice(-20).map((x) => String(x)).join("\n")}`,
        ),
      );
    }, timeoutMs);
    waiters.add(waiter);
  });
}

/**
 * Starts a server on a fresh temporary root (with the given files) and
 * resolves once it is listening.
 *
 * @param opts Server options and initial files.
 * @returns The running server; dispose it to stop it and remove the root.
 */
export async function startServer(
  opts: TestServerOptions = {},
): Promise<TestServer> {
  const root = await tempDir("tftpd-it-");
  return await new TestServer(root, opts).start({ files: opts.files });
}
