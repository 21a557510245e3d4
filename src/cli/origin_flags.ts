/**
 * The `--origin*` flags of the server (their part of the flag table) and
 * how their values become `ServerOptions.origin`.
 *
 * @module
 */

import { ORIGIN_DEFAULTS } from "../defaults.ts";
import type { OriginSettings } from "../storage/origin.ts";
import { parseOriginUrl } from "../storage/origin/url.ts";
import { type Flag, type FlagValues, UsageError } from "./flags.ts";

function originUrl(text: string): string {
  parseOriginUrl(text);
  return text;
}

/** An HTTP header name (RFC 9110 token). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function header(text: string): [string, string] {
  const colon = text.indexOf(":");
  const name = colon > 0 ? text.slice(0, colon).trim() : "";
  const value = text.slice(colon + 1).trim();
  // RFC 9110 field-value: visible ASCII, obs-text, space and tab; fetch
  // refuses anything else on every request, so it is refused here.
  if (!TOKEN.test(name) || /[^\t\x20-\x7e\x80-\xff]/.test(value)) {
    throw new Error('expected "Name: value"');
  }
  return [name, value];
}

const O = ORIGIN_DEFAULTS;

/** The `--origin-*` flags' keys (they make up `ServerOptions.origin`). */
export type OriginKey =
  | "originUrl"
  | "originOnly"
  | "originTimeout"
  | "originIdleTimeout"
  | "originMaxRequests"
  | "originRedirects"
  | "originMaxSize"
  | "originCacheMemory"
  | "originCacheDir"
  | "originCacheDirSize"
  | "originHeader";

/** The origin's flags, in the order `--help` lists them. */
export const ORIGIN_FLAGS = [
  {
    name: "origin",
    key: "originUrl",
    kind: "string",
    value: "URL",
    parse: originUrl,
    help: "fetch names not found under the root from this HTTP(S) base URL",
    details: "needs `--allow-net=HOST:PORT` for the origin; see " +
      "[docs/origin.md](docs/origin.md)",
    section: "HTTP origin",
  },
  {
    name: "origin-only",
    key: "originOnly",
    kind: "boolean",
    help: "every name from the origin: no root, uploads get ERROR 2",
    section: "HTTP origin",
  },
  {
    name: "origin-timeout",
    key: "originTimeout",
    kind: "number",
    value: "S",
    min: 0.1,
    max: 600,
    defaultText: `\`${O.timeoutMs / 1000}\``,
    help: "seconds from asking the origin to its response headers",
    details:
      'a read waits that long even past `--timeout`; then ERROR 0 "origin unavailable"',
    section: "HTTP origin",
  },
  {
    name: "origin-idle-timeout",
    key: "originIdleTimeout",
    kind: "number",
    value: "S",
    min: 0.1,
    max: 3600,
    defaultText: `\`${O.idleTimeoutMs / 1000}\``,
    help: "longest silence within an origin body",
    details:
      "a transfer waits that long for the next block, even past `--timeout`",
    section: "HTTP origin",
  },
  {
    name: "origin-max-requests",
    key: "originMaxRequests",
    kind: "integer",
    value: "N",
    min: 1,
    max: 4096,
    defaultText: `\`${O.maxConcurrent}\``,
    help: "origin requests at once, bodies being read included; more wait",
    details: "for the whole server: the worker threads count them together",
    section: "HTTP origin",
  },
  {
    name: "origin-redirects",
    key: "originRedirects",
    kind: "integer",
    value: "N",
    max: 20,
    defaultText: `\`${O.maxRedirects}\``,
    help: "redirects followed, to the same origin only",
    section: "HTTP origin",
  },
  {
    name: "origin-max-size",
    key: "originMaxSize",
    kind: "integer",
    value: "BYTES",
    min: 1,
    defaultText: `\`${O.maxObjectBytes}\``,
    help: "largest origin body served (held in memory while it arrives)",
    details: "a larger one gets ERROR 3",
    section: "HTTP origin",
  },
  {
    name: "origin-cache-memory",
    key: "originCacheMemory",
    kind: "integer",
    value: "BYTES",
    defaultText: `\`${O.cacheMemoryBytes}\``,
    help: "memory cache of origin responses (`0`: none)",
    details: "least recently used first out; split between the worker threads",
    section: "HTTP origin",
  },
  {
    name: "origin-cache-dir",
    key: "originCacheDir",
    kind: "string",
    value: "DIR",
    help: "directory cache of origin responses, shared by threads and " +
      "processes",
    details:
      "needs `--allow-read` and `--allow-write` on DIR; never the root or inside it",
    section: "HTTP origin",
  },
  {
    name: "origin-cache-dir-size",
    key: "originCacheDirSize",
    kind: "integer",
    value: "BYTES",
    min: 1,
    defaultText: `\`${O.cacheDirBytes}\``,
    help: "bound of the directory cache",
    section: "HTTP origin",
  },
  {
    name: "origin-header",
    key: "originHeader",
    kind: "repeatable",
    value: '"NAME: VALUE"',
    parse: header,
    defaultText: "none",
    help: "a header sent with every origin request (credentials, say)",
    section: "HTTP origin",
  },
] as const satisfies readonly Flag<OriginKey>[];

/** The parsed values of the origin's flags. */
export type OriginValues = FlagValues<typeof ORIGIN_FLAGS>;

/**
 * Takes the origin's values out of the parsed flags: the settings (every
 * bound filled in from `defaults.ts`, seconds made milliseconds) when
 * `--origin` is given, and the other values.
 *
 * @example
 * ```ts
 * import { splitOrigin } from "./origin_flags.ts";
 * import { ORIGIN_FLAGS } from "./origin_flags.ts";
 * import { parseFlags } from "./flags.ts";
 * const args = ["--origin", "http://127.0.0.1:8080/", "--origin-timeout", "2"];
 * const { values } = parseFlags(ORIGIN_FLAGS, args);
 * const [origin] = splitOrigin(values, args);
 * if (origin?.timeoutMs !== 2000 || origin.maxConcurrent !== 16) throw new Error();
 * ```
 *
 * @param values The parsed flags (the origin's among them).
 * @param args The arguments (to tell whether `--root` was given).
 * @returns The settings (or undefined) and the remaining values.
 * @throws {UsageError} For an `--origin-*` flag without `--origin`, and
 * for `--origin-only` with `--root`.
 */
export function splitOrigin<T extends OriginValues>(
  values: T,
  args: readonly string[],
): [OriginSettings | undefined, Omit<T, OriginKey>] {
  const {
    originUrl,
    originOnly,
    originTimeout,
    originIdleTimeout,
    originMaxRequests,
    originRedirects,
    originMaxSize,
    originCacheMemory,
    originCacheDir,
    originCacheDirSize,
    originHeader,
    ...rest
  } = values;
  const given = {
    "origin-only": originOnly || undefined,
    "origin-timeout": originTimeout,
    "origin-idle-timeout": originIdleTimeout,
    "origin-max-requests": originMaxRequests,
    "origin-redirects": originRedirects,
    "origin-max-size": originMaxSize,
    "origin-cache-memory": originCacheMemory,
    "origin-cache-dir": originCacheDir,
    "origin-cache-dir-size": originCacheDirSize,
    "origin-header": originHeader.length ? originHeader : undefined,
  };
  if (originUrl === undefined) {
    const stray = Object.entries(given).find(([, v]) => v !== undefined);
    if (stray) throw new UsageError(`--${stray[0]} needs --origin URL`);
    return [undefined, rest];
  }
  if (originOnly && args.some((a) => /^--root(=|$)/.test(a))) {
    throw new UsageError("--origin-only and --root exclude each other");
  }
  const ms = (s: number | undefined, d: number) =>
    s === undefined ? d : Math.round(s * 1000);
  return [{
    url: originUrl,
    only: originOnly,
    timeoutMs: ms(originTimeout, O.timeoutMs),
    idleTimeoutMs: ms(originIdleTimeout, O.idleTimeoutMs),
    maxConcurrent: originMaxRequests ?? O.maxConcurrent,
    maxRedirects: originRedirects ?? O.maxRedirects,
    maxObjectBytes: originMaxSize ?? O.maxObjectBytes,
    cacheMemoryBytes: originCacheMemory ?? O.cacheMemoryBytes,
    cacheDir: originCacheDir,
    cacheDirBytes: originCacheDirSize ?? O.cacheDirBytes,
    headers: originHeader,
  }, rest];
}
