/**
 * One GET to the origin: bounded in time and in requests at once, same-origin
 * redirects only, the status mapped to a TFTP error, and a 200's body
 * streamed into a {@linkcode SharedBody} in the background.
 *
 * @module
 */

import { ErrorCode, TftpError } from "../../protocol/packet.ts";
import type { Logger } from "../../log.ts";
import { SharedBody, unavailable } from "./body.ts";
import { Limiter } from "./limiter.ts";
import { SharedLimiter, type SharedSlots } from "./shared_limit.ts";
import { encodeName, originRequestUrl, sameOrigin } from "./url.ts";

/** Options of {@linkcode OriginFetcher}. */
export interface FetcherOptions {
  /** Ms from asking (queueing included) to the response headers. */
  timeoutMs: number;
  /** Most ms between two pieces of a body. */
  idleTimeoutMs: number;
  /** Most origin requests at once; more wait their turn. */
  maxConcurrent: number;
  /**
   * A bound shared with other fetchers (the server's threads), used
   * instead of `maxConcurrent`.
   */
  slots?: SharedSlots;
  /** Most redirects followed (same origin only). */
  maxRedirects: number;
  /** Largest body accepted, in bytes (ERROR 3 beyond). */
  maxObjectBytes: number;
  /** `\` separates name segments (as for files). */
  normalizeNames: boolean;
  /** Extra request headers (authorisation, say). */
  headers?: HeadersInit;
  /** Where failures are logged. */
  log?: Logger;
}

/** What a GET brought back. */
export type FetchResult =
  | {
    /** 200: the body streams into `body`. */
    status: 200;
    /** Response headers. */
    headers: Headers;
    /** The body, filling up. */
    body: SharedBody;
    /**
     * The body has an end the origin marks (Content-Length or chunked), so
     * a cut connection fails it; an unframed body ends at close either way.
     */
    framed: boolean;
    /** Stops reading the body (it then fails). */
    abort: () => void;
  }
  | {
    /** 304 to a conditional request. */
    status: 304;
    /** Response headers. */
    headers: Headers;
  };

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const USER_AGENT = "tftpd-deno-origin";

/** Abort reasons that are ours, told apart in the log. */
class Stop extends Error {}
/** The abort of a body nobody reads any more (not worth a warning). */
class Abandoned extends Stop {}

/**
 * Fetches names from one origin.
 *
 * @example
 * ```ts ignore
 * import { OriginFetcher } from "./fetcher.ts";
 * const fetcher = new OriginFetcher(new URL("http://127.0.0.1:8080/"), {
 *   timeoutMs: 5000, idleTimeoutMs: 5000, maxConcurrent: 8,
 *   maxRedirects: 3, maxObjectBytes: 1 << 28, normalizeNames: true,
 * });
 * const res = await fetcher.get("boot.ipxe", "192.0.2.7");
 * fetcher.close();
 * ```
 */
export class OriginFetcher {
  /** The origin base URL. */
  readonly base: URL;
  #opts: FetcherOptions;
  #limiter: Limiter | SharedLimiter;
  #client: Deno.HttpClient;
  /** Every request in flight, with its body once the headers are in. */
  #running = new Map<
    AbortController,
    { body: SharedBody; url: URL } | undefined
  >();
  #closed = false;
  /** Set while an orphaned body waits for a request in another thread. */
  #watching = false;

  /**
   * Fetches names under `base`, within the bounds of `opts`.
   *
   * @param base Base URL (from `parseOriginUrl`).
   * @param opts Bounds and headers.
   */
  constructor(base: URL, opts: FetcherOptions) {
    this.base = base;
    this.#opts = opts;
    this.#limiter = opts.slots
      ? new SharedLimiter(opts.slots)
      : new Limiter(opts.maxConcurrent);
    this.#client = Deno.createHttpClient({});
  }

  /** Requests to the origin in flight now (bodies included). */
  get active(): number {
    return this.#limiter.active;
  }

  /**
   * GETs `name` for the client at `client`.
   *
   * @param name Normalised name.
   * @param client The TFTP client's address (sent as `X-TFTP-Client`).
   * @param conditional Validator headers for a revalidation.
   * @returns The 200 (body streaming) or the 304.
   * @throws {TftpError} 1 for 404/410, 2 for 401/403 or a name that cannot
   * be sent, 3 for a body over the size limit, 0 otherwise.
   */
  async get(
    name: string,
    client: string,
    conditional?: Record<string, string>,
  ): Promise<FetchResult> {
    if (this.#closed) throw unavailable("origin storage is closed");
    const normalize = this.#opts.normalizeNames;
    let url = originRequestUrl(this.base, name, { normalize });
    const headers = new Headers(this.#opts.headers);
    headers.set("accept-encoding", "identity");
    headers.set("user-agent", USER_AGENT);
    headers.set("x-tftp-client", client);
    headers.set("x-tftp-file", encodeName(name, { normalize }));
    for (const [k, v] of Object.entries(conditional ?? {})) headers.set(k, v);
    const ac = new AbortController();
    const timeoutMs = this.#opts.timeoutMs;
    const timer = setTimeout(
      () => ac.abort(new Stop(`no response within ${timeoutMs} ms`)),
      timeoutMs,
    );
    this.#running.set(ac, undefined);
    let release: (() => void) | undefined;
    let keepRunning = false;
    const started = Date.now();
    try {
      const limiter = this.#limiter;
      if (limiter.active >= limiter.max) {
        this.#opts.log?.debug(
          `origin GET ${
            logged(url)
          }: queued behind ${limiter.active} requests ` +
            `(${limiter.waiting} already waiting)`,
        );
        // Shared by threads, the watch #orphaned set yields instead.
        if (limiter instanceof Limiter) this.#yieldOrphan();
      }
      release = await limiter.acquire(ac.signal);
      let res: Response;
      for (let hop = 0;; hop++) {
        res = await fetch(url, {
          headers,
          redirect: "manual",
          signal: ac.signal,
          client: this.#client,
        });
        if (!REDIRECTS.has(res.status)) break;
        await res.body?.cancel();
        url = this.#redirect(url, res, hop);
      }
      clearTimeout(timer);
      this.#opts.log?.debug(
        `origin GET ${logged(url)} -> ${res.status} (${
          Date.now() - started
        } ms)`,
      );
      if (res.status === 304 && conditional) {
        await res.body?.cancel();
        return { status: 304, headers: res.headers };
      }
      if (res.status !== 200 && res.status !== 203) {
        await res.body?.cancel();
        throw statusError(res.status);
      }
      let body: SharedBody;
      try {
        body = this.#body(res);
      } catch (err) {
        await res.body?.cancel();
        throw err;
      }
      keepRunning = true;
      this.#running.set(ac, { body, url });
      this.#pump(res, body, ac, release, url).catch(() => {});
      return {
        status: 200,
        headers: res.headers,
        body,
        framed: isFramed(res.headers),
        abort: () => ac.abort(new Abandoned("every reader left")),
      };
    } catch (err) {
      const tftp = this.#toTftp(err, ac.signal, url);
      if (tftp.code === ErrorCode.NOT_DEFINED) {
        this.#opts.log?.warn(`origin GET ${logged(url)}: ${tftp.detail}`);
      }
      throw tftp;
    } finally {
      if (!keepRunning) {
        clearTimeout(timer);
        release?.();
        this.#running.delete(ac);
      }
    }
  }

  #redirect(from: URL, res: Response, hop: number): URL {
    const location = res.headers.get("location");
    if (location === null) throw unavailable(`${res.status} without Location`);
    let next: URL;
    try {
      next = new URL(location, from);
    } catch {
      throw unavailable(`${res.status} to an invalid Location`);
    }
    if (!sameOrigin(this.base, next)) {
      throw unavailable(
        `refused a redirect to another origin (${next.origin})`,
      );
    }
    if (hop >= this.#opts.maxRedirects) {
      throw unavailable(`more than ${this.#opts.maxRedirects} redirects`);
    }
    next.hash = "";
    return next;
  }

  #body(res: Response): SharedBody {
    const encoding = res.headers.get("content-encoding");
    if (encoding && encoding.toLowerCase() !== "identity") {
      throw unavailable(`unsupported Content-Encoding ${encoding}`);
    }
    const size = declaredLength(res.headers);
    const limit = this.#opts.maxObjectBytes;
    if (size !== undefined && size > limit) {
      throw new TftpError(
        ErrorCode.DISK_FULL,
        "file is larger than the origin size limit",
        { detail: `Content-Length ${size} > ${limit}` },
      );
    }
    return new SharedBody({
      size,
      limit,
      onOrphan: () => this.#orphaned(),
    });
  }

  async #pump(
    res: Response,
    body: SharedBody,
    ac: AbortController,
    release: () => void,
    url: URL,
  ): Promise<void> {
    const idleMs = this.#opts.idleTimeoutMs;
    let last = Date.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const check = () => {
      const quiet = Date.now() - last;
      if (quiet >= idleMs) {
        ac.abort(new Stop(`body stalled for ${idleMs} ms`));
      } else timer = setTimeout(check, idleMs - quiet);
    };
    timer = setTimeout(check, idleMs);
    const reader = res.body?.getReader();
    try {
      while (reader) {
        const { done, value } = await reader.read();
        if (done) break;
        last = Date.now();
        if (!body.append(value)) {
          await reader.cancel().catch(() => {});
          break;
        }
      }
      body.finish();
    } catch (err) {
      body.fail(this.#toTftp(err, ac.signal, url));
    } finally {
      clearTimeout(timer);
      release();
      this.#running.delete(ac);
    }
    const err = body.error;
    if (err && !(ac.signal.reason instanceof Abandoned)) {
      this.#opts.log?.warn(`origin GET ${logged(url)}: ${err.detail}`);
    }
  }

  /**
   * A body lost its last reader: its slot goes now to a request waiting
   * for one, or, when threads share the slots, to the next that starts
   * waiting in any thread.
   */
  #orphaned(): void {
    const limiter = this.#limiter;
    if (limiter.waiting > 0) this.#yieldOrphan();
    else if (limiter instanceof SharedLimiter) {
      this.#watch(limiter, limiter.arrivals);
    }
  }

  /** Yields an orphan per wait started after `seen`, while any is left. */
  #watch(limiter: SharedLimiter, seen: number): void {
    if (this.#watching) return;
    this.#watching = true;
    limiter.arrival(seen).then(() => {
      this.#watching = false;
      const now = limiter.arrivals;
      if (this.#closed) return;
      // Several may have started waiting before this ran: one each.
      const owed = Math.min((now - seen) | 0, limiter.waiting);
      for (let i = 0; i < owed && this.#orphan(); i++) this.#yieldOrphan();
      if (this.#orphan()) this.#watch(limiter, now);
    });
  }

  /** A body nobody reads any more and not yet given up, if any. */
  #orphan(): [AbortController, SharedBody, URL] | undefined {
    for (const [ac, pumping] of this.#running) {
      if (pumping?.body.orphaned && !ac.signal.aborted) {
        return [ac, pumping.body, pumping.url];
      }
    }
    return undefined;
  }

  /**
   * Ends one body that nobody reads any more, so that a request waiting for
   * a slot does not wait for a cache fill (a slow origin could hold it for
   * as long as it keeps trickling).
   */
  #yieldOrphan(): void {
    const orphan = this.#orphan();
    if (!orphan) return;
    const [ac, body, url] = orphan;
    this.#opts.log?.debug(
      `origin GET ${logged(url)}: cache fill given up at ${body.length} ` +
        `bytes, every reader left and a request waits for its slot`,
    );
    ac.abort(new Abandoned("every reader left and its slot was wanted"));
  }

  #toTftp(err: unknown, signal: AbortSignal, url: URL): TftpError {
    if (err instanceof TftpError) return err;
    if (signal.aborted && signal.reason instanceof Stop) {
      return unavailable(signal.reason.message);
    }
    const e = err instanceof Error ? err : new Error(String(err));
    // Deno's fetch says only "fetch failed"; why (DNS, refused, TLS) is in
    // the cause, which also names the whole URL, query (a token) included.
    const cause = e.cause instanceof Error
      ? `: ${
        e.cause.message.replace(
          `error sending request for url (${url.href}): `,
          "",
        ).replaceAll(url.href, logged(url))
      }`
      : "";
    return unavailable(`${e.name}: ${e.message}${cause}`);
  }

  /** Aborts every request and closes the connection pool. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const ac of this.#running.keys()) ac.abort(new Stop("storage closed"));
    this.#running.clear();
    this.#client.close();
  }
}

/**
 * Whether a body's end is marked, so that a cut connection is an error and
 * not a short body: a Content-Length (the body is checked against it) or
 * chunked coding (a cut before the last chunk fails the read). HTTP/2
 * frames every stream, but fetch shows neither header for it there.
 */
function isFramed(headers: Headers): boolean {
  if (declaredLength(headers) !== undefined) return true;
  const coding = headers.get("transfer-encoding") ?? "";
  return /(^|,)\s*chunked\s*$/i.test(coding);
}

/** A Content-Length that is a plain decimal number, else undefined. */
function declaredLength(headers: Headers): number | undefined {
  const declared = headers.get("content-length");
  return declared !== null && /^\d+$/.test(declared)
    ? Number(declared)
    : undefined;
}

/** A URL for the log: without its query, which may carry a token. */
function logged(url: URL): string {
  return url.origin + url.pathname;
}

/**
 * The TFTP error for an origin status that is not a success.
 *
 * @example
 * ```ts
 * import { statusError } from "./fetcher.ts";
 * if (statusError(404).code !== 1 || statusError(403).code !== 2) {
 *   throw new Error();
 * }
 * if (statusError(503).message !== "origin unavailable") throw new Error();
 * ```
 *
 * @param status HTTP status.
 * @returns 1 for 404/410, 2 for 401/403, else 0 "origin unavailable".
 */
export function statusError(status: number): TftpError {
  if (status === 404 || status === 410) {
    return new TftpError(ErrorCode.FILE_NOT_FOUND, "file not found");
  }
  if (status === 401 || status === 403) {
    return new TftpError(ErrorCode.ACCESS_VIOLATION, "access denied");
  }
  return unavailable(`origin answered ${status}`);
}
