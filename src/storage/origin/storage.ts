/**
 * Storage backed by an HTTP(S) origin: names become URLs under the
 * origin's base path, responses stream to the client as they arrive, and
 * a bounded cache (memory and/or directory) honours the origin's caching
 * headers. Concurrent requests for one name share one origin request.
 *
 * Coalescing is per instance, so per thread: the server is expected to
 * send every request for one name to the same thread. Threads or processes
 * that share a cache directory stay correct without that (each may fetch
 * once; entries are published atomically).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { ErrorCode, TftpError } from "../../protocol/packet.ts";
import type { Logger } from "../../log.ts";
import { normalizeName } from "../../server/names.ts";
import type {
  ReadHandle,
  RequestInfo,
  Storage,
  WriteHandle,
} from "../types.ts";
import type { SharedBody } from "./body.ts";
import { unavailable } from "./body.ts";
import { type CacheHit, OriginCache } from "./cache.ts";
import { ORIGIN_DEFAULTS } from "../../defaults.ts";
import type { DirCache } from "./dir_cache.ts";
import { OriginFetcher } from "./fetcher.ts";
import { MemoryCache } from "./memory_cache.ts";
import {
  type CachePolicy,
  canRevalidate,
  conditionalHeaders,
  isFresh,
  policyOf,
  refreshPolicy,
  storable,
} from "./policy.ts";
import type { OriginBounds } from "./share.ts";
import type { SharedSlots } from "./shared_limit.ts";
import { parseOriginUrl } from "./url.ts";

/** Options of {@linkcode OriginStorage}. */
export interface OriginStorageOptions extends OriginBounds {
  /** A directory cache (see `DirCache.open`). */
  dirCache?: DirCache;
  /** `\` separates name segments, as for files (default true). */
  normalizeNames?: boolean;
  /** Extra request headers (authorisation, say). */
  headers?: HeadersInit;
  /** Where origin failures and cache events are logged. */
  logger?: Logger;
  /**
   * Counts requests at once together with the other storages given the
   * same buffer (a server's threads): the bound is the buffer's, not
   * `maxConcurrent` (see `sharedSlots`).
   */
  slots?: SharedSlots;
}

/** What one origin request settled into, for everyone waiting on it. */
type Outcome =
  | { kind: "body"; body: SharedBody; policy: CachePolicy }
  | { kind: "revalidated" };

interface Flight {
  /** Address of the client whose request went to the origin. */
  client: string;
  outcome: Promise<Outcome>;
  settled?: Outcome;
  /** Resolves once a shared body is complete and written to the cache. */
  stored?: Promise<void>;
}

/** Most names remembered as varying per client. */
const MAX_PER_CLIENT_NAMES = 4096;
/** Retries of one open after a per-client answer or a vanished entry. */
const MAX_ATTEMPTS = 3;

/**
 * A read-only storage serving an HTTP origin.
 *
 * @example
 * ```ts ignore
 * import { OriginStorage } from "./storage.ts";
 * const storage = new OriginStorage("http://127.0.0.1:8080/tftp/");
 * const handle = await storage.openRead("boot.ipxe", {
 *   hostname: "192.0.2.7", port: 2000, mode: "octet",
 * });
 * handle.close();
 * storage.close();
 * ```
 */
export class OriginStorage implements Storage {
  /** The origin base URL. */
  readonly base: URL;
  /** The base URL without its query (which may carry a token), for logs. */
  readonly site: string;
  #fetcher: OriginFetcher;
  #cache: OriginCache;
  #normalize: boolean;
  #log?: Logger;
  #flights = new Map<string, Flight>();
  #perClient = new Map<string, true>();
  #stores = new Set<Promise<void>>();

  /**
   * Serves names from the HTTP(S) origin at `url`.
   *
   * @param url Origin base URL (`http:` or `https:`).
   * @param opts Bounds, cache, headers.
   */
  constructor(url: string | URL, opts: OriginStorageOptions = {}) {
    this.base = parseOriginUrl(url);
    this.site = `${this.base.origin}${this.base.pathname}`;
    this.#normalize = opts.normalizeNames ?? true;
    this.#log = opts.logger;
    this.#fetcher = new OriginFetcher(this.base, {
      timeoutMs: opts.timeoutMs ?? ORIGIN_DEFAULTS.timeoutMs,
      idleTimeoutMs: opts.idleTimeoutMs ?? ORIGIN_DEFAULTS.idleTimeoutMs,
      maxConcurrent: opts.maxConcurrent ?? ORIGIN_DEFAULTS.maxConcurrent,
      maxRedirects: opts.maxRedirects ?? ORIGIN_DEFAULTS.maxRedirects,
      maxObjectBytes: opts.maxObjectBytes ?? ORIGIN_DEFAULTS.maxObjectBytes,
      normalizeNames: this.#normalize,
      slots: opts.slots,
      headers: opts.headers,
      log: opts.logger,
    });
    const memoryBytes = opts.cacheMemoryBytes ??
      ORIGIN_DEFAULTS.cacheMemoryBytes;
    this.#cache = new OriginCache({
      memory: memoryBytes > 0 ? new MemoryCache(memoryBytes) : undefined,
      dir: opts.dirCache,
      namespace: createHash("sha256").update(this.base.href).digest("hex")
        .slice(0, 16) + ":",
    });
  }

  /**
   * Opens a name: from the cache while fresh, else from the origin
   * (joining a request already in flight for it when one is).
   *
   * @param name Requested name.
   * @param info Who asks (its address goes to the origin).
   * @returns A handle; its size is known unless the origin sent none.
   * @throws {TftpError} 1 not found, 2 denied or a bad name, 3 too large,
   * 0 "origin unavailable".
   */
  openRead(name: string, info: RequestInfo): Promise<ReadHandle> {
    let key: string;
    try {
      key = normalizeName(name, { normalize: this.#normalize });
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#open(key, info.hostname, 1, false);
  }

  /**
   * One look at the cache and, when needed, the origin. `revalidated`: the
   * origin has just confirmed the stored entry, so it is served even when
   * its policy asks for revalidation on every use.
   */
  async #open(
    key: string,
    client: string,
    attempt: number,
    revalidated: boolean,
  ): Promise<ReadHandle> {
    const flightKey = this.#perClient.has(key) ? `${key}\0${client}` : key;
    const current = this.#flights.get(flightKey);
    // A complete but stale body is not shared; once it is in the cache, a
    // conditional request can revalidate it instead of fetching it again.
    if (current?.stored && !joinable(current)) await current.stored;
    const hit = await this.#cache.get(key);
    if (hit && (revalidated || isFresh(hit.policy, Date.now()))) {
      this.#log?.debug(`origin cache hit ${JSON.stringify(key)}`);
      return hit.take();
    }
    let flight = this.#flights.get(flightKey);
    if (flight && !joinable(flight)) flight = undefined;
    if (flight) hit?.discard();
    else flight = this.#start(flightKey, key, client, hit);
    const outcome = await flight.outcome;
    if (outcome.kind === "body") {
      if (outcome.policy.shared || client === flight.client) {
        return outcome.body.open();
      }
    }
    if (attempt >= MAX_ATTEMPTS) {
      throw unavailable(`no usable answer after ${attempt} attempts`);
    }
    // Revalidated (the entry in the cache is good now), or content meant
    // for another client: look again.
    return this.#open(key, client, attempt + 1, outcome.kind === "revalidated");
  }

  #start(
    flightKey: string,
    key: string,
    client: string,
    stale: CacheHit | undefined,
  ): Flight {
    const flight = { client } as Flight;
    flight.outcome = this.#fly(flightKey, flight, key, stale);
    flight.outcome.then(
      (o) => flight.settled = o,
      () => this.#land(flightKey, flight),
    );
    this.#flights.set(flightKey, flight);
    return flight;
  }

  async #fly(
    flightKey: string,
    flight: Flight,
    key: string,
    stale: CacheHit | undefined,
  ): Promise<Outcome> {
    const conditional = stale && canRevalidate(stale.policy)
      ? conditionalHeaders(stale.policy)
      : undefined;
    let res;
    try {
      res = await this.#fetcher.get(key, flight.client, conditional);
    } catch (err) {
      stale?.discard();
      throw err;
    }
    if (res.status === 304) {
      const policy = refreshPolicy(stale!.policy, res.headers, Date.now());
      if (policy.shared) this.#cache.refresh(key, stale!, policy);
      else await this.#cache.delete(key);
      stale!.discard();
      this.#log?.debug(`origin revalidated ${JSON.stringify(key)}`);
      this.#land(flightKey, flight);
      return { kind: "revalidated" };
    }
    stale?.discard();
    const policy = policyOf(res.headers, Date.now());
    const { body, framed } = res;
    if (!policy.shared) {
      this.#markPerClient(key);
      this.#land(flightKey, flight);
      body.onAbandon = res.abort;
      if (stale) await this.#cache.delete(key);
      return { kind: "body", body, policy };
    }
    this.#perClient.delete(key);
    const store = body.settled.then(async () => {
      if (body.done && framed && storable(policy, Date.now())) {
        await this.#cache.put(key, policy, body.bytes());
        this.#log?.debug(
          `origin cache stored ${JSON.stringify(key)} (${body.length} bytes)`,
        );
      } else if (body.done) {
        if (!framed) {
          this.#log?.debug(
            `origin cache skipped ${
              JSON.stringify(key)
            }: no Content-Length or chunked end, a cut would look complete`,
          );
        }
        if (stale) await this.#cache.delete(key);
      }
    }).catch((err) => {
      this.#log?.warn(`origin cache: ${JSON.stringify(key)}: ${err}`);
    }).finally(() => {
      this.#land(flightKey, flight);
      this.#stores.delete(store);
    });
    this.#stores.add(store);
    flight.stored = store;
    return { kind: "body", body, policy };
  }

  /** Removes a flight from the table (if it is still the current one). */
  #land(flightKey: string, flight: Flight): void {
    if (this.#flights.get(flightKey) === flight) {
      this.#flights.delete(flightKey);
    }
  }

  #markPerClient(key: string): void {
    this.#perClient.delete(key);
    this.#perClient.set(key, true);
    if (this.#perClient.size > MAX_PER_CLIENT_NAMES) {
      this.#perClient.delete(this.#perClient.keys().next().value!);
    }
  }

  /**
   * Uploads are refused: the origin is read-only.
   *
   * @returns Never: rejects with ERROR 2.
   */
  openWrite(): Promise<WriteHandle> {
    return Promise.reject(
      new TftpError(
        ErrorCode.ACCESS_VIOLATION,
        "uploads to the origin are refused",
      ),
    );
  }

  /** Origin requests in flight now (bodies being read included). */
  get activeRequests(): number {
    return this.#fetcher.active;
  }

  /**
   * The origin, its query left out.
   *
   * @returns E.g. `origin https://artifacts.example/netboot/`.
   */
  describe(): string {
    return `origin ${this.site}`;
  }

  /**
   * Aborts origin requests in flight, closes the connection pool and waits
   * for cache writes under way.
   */
  async close(): Promise<void> {
    this.#fetcher.close();
    await Promise.allSettled([...this.#stores]);
  }
}

/**
 * Whether a request may join a flight: while its body is still arriving,
 * or once complete while its response is fresh (a stale one is revalidated
 * by a new request instead).
 */
function joinable(flight: Flight): boolean {
  const o = flight.settled;
  if (!o || o.kind !== "body") return true;
  if (o.body.error) return false;
  return !o.body.done || isFresh(o.policy, Date.now());
}
