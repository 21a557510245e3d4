/**
 * HTTP caching rules for a shared cache (RFC 9111), as far as a TFTP front
 * needs them: may a response be kept and served to other clients, until
 * when is it fresh, and how is it revalidated. Pure: time comes in as
 * `now` (ms since the epoch).
 *
 * @module
 */

/** What the cache may do with one origin response. */
export interface CachePolicy {
  /**
   * May be stored and served to other clients: a 200 without `no-store`,
   * `private`, or a `Vary` on `*` or on the client header.
   */
  shared: boolean;
  /** Served without asking the origin until this time (ms since epoch). */
  freshUntil: number;
  /** `no-cache`: stored, but revalidated before every use. */
  noCache: boolean;
  /** The `ETag` validator, if any. */
  etag?: string;
  /** The `Last-Modified` validator, if any. */
  lastModified?: string;
}

/** Request headers that differ from one client to the next. */
const PER_CLIENT_HEADERS = new Set(["*", "x-tftp-client"]);

/**
 * Parses a `Cache-Control` value into lower-cased directives (`true` for
 * a directive without a value; quotes around values removed).
 *
 * @example
 * ```ts
 * import { parseCacheControl } from "./policy.ts";
 * const cc = parseCacheControl('Max-Age=60, no-cache="x", private');
 * if (cc.get("max-age") !== "60" || cc.get("private") !== true) {
 *   throw new Error();
 * }
 * ```
 *
 * @param value The header value (or null).
 * @returns Directives by name.
 */
export function parseCacheControl(
  value: string | null,
): Map<string, string | true> {
  const out = new Map<string, string | true>();
  if (!value) return out;
  for (const part of value.split(",")) {
    const eq = part.indexOf("=");
    const name = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (!name) continue;
    let v: string | true = true;
    if (eq >= 0) v = part.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1");
    if (!out.has(name)) out.set(name, v);
  }
  return out;
}

/** A delta-seconds value, or undefined when absent or malformed. */
function seconds(v: string | true | undefined): number | undefined {
  if (typeof v !== "string" || !/^\d+$/.test(v)) return undefined;
  return Math.min(Number(v), 2 ** 31);
}

/** Freshness lifetime in ms from max-age/s-maxage or Expires minus Date. */
function lifetimeMs(
  cc: Map<string, string | true>,
  headers: Headers,
  now: number,
): number {
  const maxAge = seconds(cc.get("s-maxage")) ?? seconds(cc.get("max-age"));
  if (maxAge !== undefined) return maxAge * 1000;
  const expires = headers.get("expires");
  if (expires === null) return 0;
  const at = Date.parse(expires);
  if (Number.isNaN(at)) return 0;
  const date = Date.parse(headers.get("date") ?? "");
  return at - (Number.isNaN(date) ? now : date);
}

/**
 * Whether a response's `Vary` makes it differ per client (`*`, or the
 * `X-TFTP-Client` request header).
 *
 * @example
 * ```ts
 * import { variesPerClient } from "./policy.ts";
 * if (!variesPerClient(new Headers({ vary: "Accept, X-TFTP-Client" }))) {
 *   throw new Error();
 * }
 * ```
 *
 * @param headers Response headers.
 * @returns true when another client could get different content.
 */
export function variesPerClient(headers: Headers): boolean {
  const vary = headers.get("vary");
  if (!vary) return false;
  return vary.split(",").some((v) =>
    PER_CLIENT_HEADERS.has(v.trim().toLowerCase())
  );
}

/**
 * The cache policy of a 200 response received at `now`.
 *
 * @example
 * ```ts
 * import { policyOf } from "./policy.ts";
 * const p = policyOf(new Headers({ "cache-control": "max-age=60" }), 1000);
 * if (!p.shared || p.freshUntil !== 61000) throw new Error();
 * ```
 *
 * @param headers Response headers.
 * @param now Current time, ms since the epoch.
 * @returns What the cache may do with it.
 */
export function policyOf(headers: Headers, now: number): CachePolicy {
  const cc = parseCacheControl(headers.get("cache-control"));
  const age = seconds(headers.get("age") ?? undefined) ?? 0;
  const shared = !cc.has("no-store") && !cc.has("private") &&
    !variesPerClient(headers);
  const policy: CachePolicy = {
    shared,
    freshUntil: now + Math.max(0, lifetimeMs(cc, headers, now) - age * 1000),
    noCache: cc.has("no-cache"),
  };
  const etag = headers.get("etag");
  if (etag) policy.etag = etag;
  const lastModified = headers.get("last-modified");
  if (lastModified) policy.lastModified = lastModified;
  return policy;
}

/**
 * Whether a response is worth keeping: shared, and either fresh for a
 * while or carrying a validator to revalidate it with.
 *
 * @example
 * ```ts
 * import { storable } from "./policy.ts";
 * const p = { shared: true, freshUntil: 0, noCache: true, etag: '"1"' };
 * if (!storable(p, 5)) throw new Error();
 * ```
 *
 * @param p The policy.
 * @param now Current time, ms since the epoch.
 * @returns true when the cache should keep it.
 */
export function storable(p: CachePolicy, now: number): boolean {
  return p.shared && (isFresh(p, now) || canRevalidate(p));
}

/**
 * Whether a stored response may be served without asking the origin.
 *
 * @example
 * ```ts
 * import { isFresh } from "./policy.ts";
 * if (!isFresh({ shared: true, freshUntil: 10, noCache: false }, 5)) {
 *   throw new Error();
 * }
 * ```
 *
 * @param p The policy.
 * @param now Current time, ms since the epoch.
 * @returns true while fresh and not `no-cache`.
 */
export function isFresh(p: CachePolicy, now: number): boolean {
  return !p.noCache && now < p.freshUntil;
}

/**
 * Whether a stored response carries a validator (ETag or Last-Modified).
 *
 * @example
 * ```ts
 * import { canRevalidate } from "./policy.ts";
 * if (canRevalidate({ shared: true, freshUntil: 0, noCache: false })) {
 *   throw new Error();
 * }
 * ```
 *
 * @param p The policy.
 * @returns true when a conditional request can be made.
 */
export function canRevalidate(p: CachePolicy): boolean {
  return p.etag !== undefined || p.lastModified !== undefined;
}

/**
 * The headers of a conditional request for a stored response.
 *
 * @example
 * ```ts
 * import { conditionalHeaders } from "./policy.ts";
 * const h = conditionalHeaders({
 *   shared: true, freshUntil: 0, noCache: false, etag: '"7"',
 * });
 * if (h["if-none-match"] !== '"7"') throw new Error();
 * ```
 *
 * @param p The stored policy.
 * @returns `If-None-Match` and/or `If-Modified-Since`.
 */
export function conditionalHeaders(p: CachePolicy): Record<string, string> {
  const out: Record<string, string> = {};
  if (p.etag !== undefined) out["if-none-match"] = p.etag;
  if (p.lastModified !== undefined) {
    out["if-modified-since"] = p.lastModified;
  }
  return out;
}

/**
 * The policy of a stored response after a 304: the 304's headers replace
 * the stored ones they name (RFC 9111 section 4.3.4); validators the 304
 * leaves out are kept.
 *
 * @example
 * ```ts
 * import { refreshPolicy } from "./policy.ts";
 * const old = { shared: true, freshUntil: 0, noCache: false, etag: '"1"' };
 * const p = refreshPolicy(old, new Headers({ "cache-control": "max-age=5" }), 0);
 * if (p.freshUntil !== 5000 || p.etag !== '"1"') throw new Error();
 * ```
 *
 * @param old The stored policy.
 * @param headers The 304's headers.
 * @param now Current time, ms since the epoch.
 * @returns The new policy.
 */
export function refreshPolicy(
  old: CachePolicy,
  headers: Headers,
  now: number,
): CachePolicy {
  const fresh = policyOf(headers, now);
  return {
    ...fresh,
    etag: fresh.etag ?? old.etag,
    lastModified: fresh.lastModified ?? old.lastModified,
  };
}
