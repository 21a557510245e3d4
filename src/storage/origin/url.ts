/**
 * Where a name goes on the origin: the base URL's checks and the request
 * URL built from a name's percent-encoded segments. Pure: no I/O.
 *
 * @module
 */

import { ErrorCode, TftpError } from "../../protocol/packet.ts";
import { normalizeName } from "../../server/names.ts";

const encoder = new TextEncoder();
const HEX = "0123456789ABCDEF";

/** RFC 3986 unreserved characters: the only bytes left as they are. */
function unreserved(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) ||
    (b >= 0x61 && b <= 0x7a) || b === 0x2d || b === 0x2e || b === 0x5f ||
    b === 0x7e;
}

/**
 * Percent-encodes one path segment: every byte of its UTF-8 form but the
 * RFC 3986 unreserved characters, so `/`, `\`, `%`, `?`, `#`, `;` and
 * controls all lose their meaning. Never throws (a lone surrogate becomes
 * U+FFFD, as `TextEncoder` does).
 *
 * @example
 * ```ts
 * import { encodeSegment } from "./url.ts";
 * if (encodeSegment("a b%2e\\") !== "a%20b%252e%5C") throw new Error();
 * ```
 *
 * @param segment One segment of a name.
 * @returns Its encoded form.
 */
export function encodeSegment(segment: string): string {
  let out = "";
  for (const b of encoder.encode(segment)) {
    out += unreserved(b)
      ? String.fromCharCode(b)
      : "%" + HEX[b >> 4] + HEX[b & 15];
  }
  return out;
}

/**
 * Checks an origin base URL and gives it the form requests are built on:
 * `http:` or `https:`, no credentials, no fragment, a path ending in `/`
 * (a query string is kept and sent with every request).
 *
 * @example
 * ```ts
 * import { parseOriginUrl } from "./url.ts";
 * const base = parseOriginUrl("https://artifacts.example/boot");
 * if (base.href !== "https://artifacts.example/boot/") throw new Error();
 * ```
 *
 * @param text The URL as given (flag or option).
 * @returns The normalised base URL.
 * @throws {Error} Saying what is wrong with it.
 */
export function parseOriginUrl(text: string | URL): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`invalid origin URL ${JSON.stringify(String(text))}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`origin URL must be http: or https:, not ${url.protocol}`);
  }
  if (url.username || url.password) {
    throw new Error(
      "origin URL must not carry credentials (send them as a header)",
    );
  }
  if (url.hash) throw new Error("origin URL must not have a #fragment");
  if (!url.pathname.endsWith("/")) url.pathname += "/";
  return url;
}

/**
 * The name as a relative URL path: normalised like a file name (leading
 * `/` and `.` segments dropped; with `normalize`, `\` is a separator),
 * then each segment percent-encoded. This is also the `X-TFTP-File` value.
 *
 * @example
 * ```ts
 * import { encodeName } from "./url.ts";
 * if (encodeName("/pxelinux.cfg/01-aa bb") !== "pxelinux.cfg/01-aa%20bb") {
 *   throw new Error();
 * }
 * ```
 *
 * @param name The requested name.
 * @param opts `normalize` (default true): `\` separates segments.
 * @returns Encoded segments joined by `/`.
 * @throws {TftpError} ERROR 2 for `..`, NUL or an empty name.
 */
export function encodeName(
  name: string,
  opts: { normalize?: boolean } = {},
): string {
  const clean = normalizeName(name, { normalize: opts.normalize ?? true });
  return clean.split("/").map(encodeSegment).join("/");
}

/**
 * The URL a name is fetched from: the encoded name under the base path,
 * on the base's scheme, host and port. Checked again after the URL parser
 * has seen it, so nothing can climb above the base or change the host.
 *
 * @example
 * ```ts
 * import { originRequestUrl, parseOriginUrl } from "./url.ts";
 * const base = parseOriginUrl("http://127.0.0.1:8080/tftp/");
 * const url = originRequestUrl(base, "boot/%2e%2e/x");
 * if (url.pathname !== "/tftp/boot/%252e%252e/x") throw new Error();
 * ```
 *
 * @param base A URL from {@linkcode parseOriginUrl}.
 * @param name The requested name.
 * @param opts `normalize` as in {@linkcode encodeName}.
 * @returns The request URL.
 * @throws {TftpError} ERROR 2 for a name that cannot be sent.
 */
export function originRequestUrl(
  base: URL,
  name: string,
  opts: { normalize?: boolean } = {},
): URL {
  const path = base.pathname + encodeName(name, opts);
  const url = new URL(base.href);
  url.pathname = path;
  if (url.pathname !== path || url.origin !== base.origin) {
    throw new TftpError(
      ErrorCode.ACCESS_VIOLATION,
      "file name cannot be sent to the origin",
    );
  }
  return url;
}

/**
 * Whether a redirect target is on the same origin (scheme, host and port)
 * as the base.
 *
 * @example
 * ```ts
 * import { sameOrigin } from "./url.ts";
 * const base = new URL("http://a.example/x/");
 * if (!sameOrigin(base, new URL("http://a.example:80/y"))) throw new Error();
 * if (sameOrigin(base, new URL("https://a.example/y"))) throw new Error();
 * ```
 *
 * @param base The origin base URL.
 * @param target Where a redirect points.
 * @returns true when scheme, host and port are the same.
 */
export function sameOrigin(base: URL, target: URL): boolean {
  return base.origin === target.origin;
}
