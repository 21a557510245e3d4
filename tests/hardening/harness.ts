/**
 * Small helpers for the hardening tests: an in-process server over a fresh
 * temporary root (with a sibling directory that must stay untouched) and
 * content generators. Raw packet exchanges use `RawClient` from
 * `testing/raw_client.ts`.
 *
 * @module
 */

import { type ServerOptions, TftpServer } from "../../src/server/server.ts";
import type { TransferStats } from "../../src/server/session.ts";
import { Logger } from "../../src/log.ts";
import { netasciiLength } from "../../src/protocol/netascii.ts";
import type { Rng } from "../../testing/rng.ts";
import type { Storage } from "../../src/storage/types.ts";
import { InProcessServer, listTree, tempDir } from "../../testing/server.ts";

/** Options of {@linkcode startHarness}. */
export interface HarnessOptions extends ServerOptions {
  /** Files to create in the root first (name -> content). */
  files?: Record<string, string | Uint8Array>;
  /** Server class to run (default {@linkcode TftpServer}). */
  serverClass?: new (options: ServerOptions) => TftpServer;
  /** Capture debug lines too. */
  verbose?: boolean;
  /** Builds the storage from the root's path (instead of `storage`). */
  storageFor?: (root: string) => Storage;
}

/** A running server with captured logs and transfer stats. */
export class Harness extends InProcessServer {
  /** The server. */
  readonly server: TftpServer;
  /** Temporary directory holding `root/` and `outside/`. */
  readonly parent: string;
  /** A sibling of the root that nothing may ever write into. */
  readonly outside: string;
  /** Log lines at ERROR level (internal failures). */
  readonly errors: string[] = [];
  /** Stats of every finished transfer, in order of ending. */
  readonly transfers: TransferStats[] = [];
  #waiters = new Set<(s: TransferStats) => void>();

  /**
   * Use {@linkcode startHarness}.
   *
   * @param parent Temporary directory.
   * @param opts Server options.
   */
  constructor(parent: string, opts: HarnessOptions) {
    super(parent, `${parent}/root`);
    this.parent = parent;
    this.outside = `${parent}/outside`;
    const logger = new Logger({
      stderr: false,
      verbose: opts.verbose ?? false,
      sink: (line, level) => {
        if (this.lines.length < 200_000) this.lines.push(line);
        if (level === "error") this.errors.push(line);
      },
    });
    const { files: _f, serverClass, verbose: _v, storageFor, ...rest } = opts;
    const cls = serverClass ?? TftpServer;
    const storage = storageFor?.(this.root) ?? opts.storage;
    this.server = new cls({
      host: "127.0.0.1",
      port: 0,
      root: storage ? undefined : this.root,
      logger,
      ...rest,
      storage,
      onTransferEnd: (stats) => {
        this.transfers.push(stats);
        for (const w of [...this.#waiters]) w(stats);
        opts.onTransferEnd?.(stats);
      },
    });
  }

  /**
   * Waits (bounded) for a finished transfer matching `match`; transfers that
   * already ended count.
   *
   * @param match Which transfer.
   * @param opts `timeoutMs`: bound (default 10000).
   * @returns Its stats.
   */
  waitForTransfer(
    match: (s: TransferStats) => boolean,
    opts: { timeoutMs?: number } = {},
  ): Promise<TransferStats> {
    const seen = this.transfers.find(match);
    if (seen) return Promise.resolve(seen);
    const timeoutMs = opts.timeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const waiter = (s: TransferStats) => {
        if (!match(s)) return;
        clearTimeout(timer);
        this.#waiters.delete(waiter);
        resolve(s);
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(
          new Error(
            `no matching transfer ended within ${timeoutMs} ms; ended: ${
              this.transfers.map((t) => `${t.peer} ${t.filename} ${t.outcome}`)
                .slice(-10).join(", ")
            }`,
          ),
        );
      }, timeoutMs);
      this.#waiters.add(waiter);
    });
  }

  /**
   * Waits for the transfer the server ran for client `port` on 127.0.0.1.
   *
   * @param port The client (or proxy flow) port the server saw.
   * @param opts `timeoutMs`: bound.
   * @returns Its stats.
   */
  waitForPeer(
    port: number,
    opts: { timeoutMs?: number } = {},
  ): Promise<TransferStats> {
    return this.waitForTransfer((s) => s.peer === `127.0.0.1:${port}`, opts);
  }

  /**
   * Lists every entry under `dir` (default the parent), recursively, as
   * sorted relative paths; directories end with `/`. Symlinks are not
   * followed.
   *
   * @param dir Directory to list.
   * @returns The entries.
   */
  list(dir: string = this.parent): Promise<string[]> {
    return listTree(dir);
  }
}

/**
 * Starts a server on 127.0.0.1, an ephemeral port and a fresh root (with
 * the given files), next to an `outside/` directory holding `secret.txt`.
 *
 * @param opts Server options and files.
 * @returns The running harness.
 */
export async function startHarness(
  opts: HarnessOptions = {},
): Promise<Harness> {
  const parent = await tempDir("tftpd-hardening-");
  const h = new Harness(parent, opts);
  return await h.start({
    prepare: async () => {
      await Deno.mkdir(h.root);
      await Deno.mkdir(h.outside);
      await Deno.writeTextFile(`${h.outside}/secret.txt`, "OUTSIDE SECRET\n");
    },
    files: opts.files,
  });
}

/**
 * Deterministic binary content.
 *
 * @param rng Generator.
 * @param size Bytes.
 * @returns The content.
 */
export function binaryContent(rng: Rng, size: number): Uint8Array {
  return rng.bytes(size);
}

/**
 * Text whose netascii form is exactly `wireSize` bytes, with LF, CR and CRLF
 * in it so the conversion is exercised.
 *
 * @param rng Generator.
 * @param wireSize Length of the netascii encoding.
 * @returns The local text.
 */
export function netasciiContent(rng: Rng, wireSize: number): Uint8Array {
  const out: number[] = [];
  let wire = 0;
  while (wire < wireSize) {
    const left = wireSize - wire;
    const r = rng.int(40);
    if (left >= 2 && r === 0) {
      out.push(10); // LF -> CR LF
      wire += 2;
    } else if (left >= 2 && r === 1) {
      out.push(13); // CR -> CR NUL
      wire += 2;
    } else if (left >= 4 && r === 2) {
      out.push(13, 10); // CRLF -> CR NUL CR LF
      wire += 4;
    } else {
      out.push(32 + rng.int(95));
      wire += 1;
    }
  }
  const bytes = new Uint8Array(out);
  if (netasciiLength(bytes) !== wireSize) {
    throw new Error(`netascii content is ${netasciiLength(bytes)} bytes`);
  }
  return bytes;
}
