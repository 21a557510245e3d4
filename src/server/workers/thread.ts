/**
 * Which code the worker threads run, and one thread that takes messages
 * before its code has loaded.
 *
 * @module
 */

import type { FromWorker, ToWorker } from "./protocol.ts";

/** The main module of the worker threads, beside this file. */
const SOURCES = new URL("./main.ts", import.meta.url);

/**
 * The worker threads' code: their sources, or the embedded bundle of them
 * (loading).
 */
export type WorkerSource = { sources: URL } | { bundle: Promise<string> };

/** What a worker thread runs, as {@linkcode WorkerThread} takes it. */
export type WorkerCode = string | URL | WorkerSource;

/**
 * The worker module to run: the sources when this program may read them,
 * else the bundle of them embedded in `bundle.ts` (least-privilege runs,
 * compiled binaries). The bundle is imported only then, and only from
 * here: 200 KB of code, 10 ms of a server's start-up when imported with
 * it.
 *
 * @example
 * ```ts
 * import { workerSource } from "./thread.ts";
 * const source = workerSource();
 * if (!("sources" in source) && !("bundle" in source)) throw new Error();
 * ```
 *
 * @returns What the threads run.
 */
export function workerSource(): WorkerSource {
  if (SOURCES.protocol === "file:") {
    const dir = new URL("../../", SOURCES);
    const read = Deno.permissions.querySync({ name: "read", path: dir });
    if (read.state === "granted") return { sources: SOURCES };
  }
  return {
    bundle: import("./bundle.ts").then((m) => m.WORKER_SOURCE),
  };
}

/** What the threads run, as a pool reports it. */
export type WorkerKind = "sources" | "bundle" | "custom";

/**
 * The module URL to start threads from (a promise while the bundle loads),
 * and what kind of code it is.
 *
 * @example
 * ```ts
 * import { workerModule } from "./thread.ts";
 * const [url, kind] = workerModule("postMessage(1)");
 * if (kind !== "custom" || !String(url).startsWith("blob:")) throw new Error();
 * URL.revokeObjectURL(String(url));
 * ```
 *
 * @param code A script's text, a module URL, or what
 * {@linkcode workerSource} picked.
 * @returns The URL and the kind.
 */
export function workerModule(
  code: WorkerCode,
): [string | Promise<string>, WorkerKind] {
  if (code instanceof URL) return [code.href, "custom"];
  if (typeof code === "string") return [blobUrl(code), "custom"];
  if ("sources" in code) return [code.sources.href, "sources"];
  return [code.bundle.then(blobUrl), "bundle"];
}

function blobUrl(code: string): string {
  return URL.createObjectURL(
    new Blob([code], { type: "application/javascript" }),
  );
}

/** What a {@linkcode WorkerThread} reports. */
export interface WorkerThreadEvents {
  /** A message from the thread. */
  message(msg: FromWorker): void;
  /** The thread failed: its code did not load, or it threw. */
  error(message: string): void;
}

/**
 * One worker thread. Messages posted before its code has loaded wait and
 * go in order once it has, so a pool can hand out requests at once.
 *
 * @example
 * ```ts
 * import { workerModule, WorkerThread } from "./thread.ts";
 * const [url] = workerModule("onmessage = (e) => postMessage(e.data)");
 * const got = Promise.withResolvers<string>();
 * const t = new WorkerThread(Promise.resolve(url), {
 *   name: "echo",
 *   on: { message: (m) => got.resolve(m.type), error: (e) => got.reject(e) },
 * });
 * t.post({ type: "close" });
 * const type = await got.promise;
 * t.terminate();
 * URL.revokeObjectURL(String(url));
 * if (type !== "close") throw new Error(type);
 * ```
 */
export class WorkerThread {
  #worker?: Worker;
  #outbox: ToWorker[] = [];
  #dead = false;

  /**
   * Starts the thread once `url` is known.
   *
   * @param url Its module (a promise while it loads; a blob URL's text).
   * @param options `name`: the thread's name; `on`: its events.
   */
  constructor(
    url: string | Promise<string>,
    options: { name: string; on: WorkerThreadEvents },
  ) {
    const start = (href: string) => {
      if (this.#dead) return;
      const worker = new Worker(href, { type: "module", name: options.name });
      worker.onmessage = (e: MessageEvent<FromWorker>) =>
        options.on.message(e.data);
      worker.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        options.on.error(e.message || "unknown error");
      };
      this.#worker = worker;
      for (const msg of this.#outbox) worker.postMessage(msg);
      this.#outbox = [];
    };
    if (typeof url === "string") start(url);
    else {
      url.then(start, (err) => {
        if (!this.#dead) options.on.error(`cannot load its code: ${err}`);
      });
    }
  }

  /**
   * Sends a message now, or once the thread runs.
   *
   * @param msg The message.
   */
  post(msg: ToWorker): void {
    if (this.#dead) return;
    if (this.#worker) this.#worker.postMessage(msg);
    else this.#outbox.push(msg);
  }

  /** Stops the thread (or its start) at once. */
  terminate(): void {
    this.#dead = true;
    this.#outbox = [];
    this.#worker?.terminate();
  }
}
