/**
 * Option negotiation: RFC 2347 (framework), RFC 2348 (blksize), RFC 2349
 * (timeout, tsize) and RFC 7440 (windowsize). Pure: requested options in,
 * accepted options (the OACK) and the transfer parameters out.
 *
 * @module
 */

import { ErrorCode, TftpError } from "./packet.ts";

/** The default block size of RFC 1350. */
export const DEFAULT_BLKSIZE = 512;
/** Smallest blksize RFC 2348 allows. */
export const MIN_BLKSIZE = 8;
/** Largest blksize RFC 2348 allows. */
export const MAX_BLKSIZE = 65464;
/** Largest windowsize RFC 7440 allows. */
export const MAX_WINDOWSIZE = 65535;

/** Limits and facts the negotiation needs. */
export interface NegotiateOptions {
  /** Largest blksize to accept; larger requests are clamped to it. */
  maxBlksize?: number;
  /** Largest windowsize to accept; larger requests are clamped to it. */
  maxWindowsize?: number;
  /**
   * For a read: the size the client will receive, or `undefined` when it is
   * not known (then tsize is declined).
   */
  size?: number;
  /** For a write: largest upload accepted, in bytes. */
  maxUpload?: number;
}

/** Transfer parameters after negotiation. */
export interface Negotiated {
  /** Options to echo in an OACK, in request order; empty means no OACK. */
  oack: Map<string, string>;
  /** Payload bytes per DATA packet. */
  blksize: number;
  /** Blocks sent per window (1 = lock-step). */
  windowsize: number;
  /** Retransmit interval in seconds set by the client, if any. */
  timeout?: number;
  /** Transfer size announced (write) or promised (read), if any. */
  tsize?: number;
}

/** Transfer modes this implementation serves (RFC 1350's `mail` is not). */
export const MODES: readonly string[] = ["octet", "netascii"];

/**
 * Refuses a transfer mode other than octet and netascii.
 *
 * @example
 * ```ts
 * import { checkMode } from "./options.ts";
 * checkMode("octet");
 * let refused = false;
 * try { checkMode("mail"); } catch { refused = true; }
 * if (!refused) throw new Error();
 * ```
 *
 * @param mode The request's mode, lower-cased.
 * @throws {TftpError} ERROR 4 for any other mode.
 */
export function checkMode(mode: string): void {
  if (!MODES.includes(mode)) {
    throw new TftpError(
      ErrorCode.ILLEGAL_OPERATION,
      `unsupported transfer mode '${mode.slice(0, 32)}'`,
    );
  }
}

/** Parses a plain non-negative decimal integer; anything else is NaN. */
function parseDecimal(value: string): number {
  if (!/^\s*\d{1,12}\s*$/.test(value)) return NaN;
  return Number(value);
}

/**
 * Negotiates the options of a request.
 *
 * Unknown options and unacceptable values are left out of the OACK, as RFC
 * 2347 asks. The only refusal is a write whose tsize exceeds `maxUpload`
 * (ERROR 3).
 *
 * @example
 * ```ts
 * import { negotiate } from "./options.ts";
 * const n = negotiate(
 *   "read",
 *   new Map([["blksize", "1432"], ["tsize", "0"], ["foo", "1"]]),
 *   { size: 4096 },
 * );
 * if (n.blksize !== 1432 || n.oack.get("tsize") !== "4096") throw new Error();
 * if (n.oack.has("foo")) throw new Error();
 * ```
 *
 * @param kind Whether the request is a read (RRQ) or a write (WRQ).
 * @param requested Requested options, names lower-cased.
 * @param opts Limits and facts.
 * @returns Accepted options and transfer parameters.
 * @throws {TftpError} ERROR 3 when a write announces more than `maxUpload`.
 */
export function negotiate(
  kind: "read" | "write",
  requested: Map<string, string>,
  opts: NegotiateOptions = {},
): Negotiated {
  const maxBlksize = Math.min(opts.maxBlksize ?? MAX_BLKSIZE, MAX_BLKSIZE);
  const maxWindowsize = Math.min(
    opts.maxWindowsize ?? 64,
    MAX_WINDOWSIZE,
  );
  const result: Negotiated = {
    oack: new Map(),
    blksize: DEFAULT_BLKSIZE,
    windowsize: 1,
  };
  for (const [name, value] of requested) {
    const n = parseDecimal(value);
    switch (name) {
      case "blksize":
        if (n >= MIN_BLKSIZE) {
          result.blksize = Math.min(n, maxBlksize);
          result.oack.set(name, String(result.blksize));
        }
        break;
      case "windowsize":
        if (n >= 1) {
          result.windowsize = Math.min(n, maxWindowsize);
          result.oack.set(name, String(result.windowsize));
        }
        break;
      case "timeout":
        if (n >= 1 && n <= 255) {
          result.timeout = n;
          result.oack.set(name, String(n));
        }
        break;
      case "tsize":
        if (kind === "read") {
          if (Number.isFinite(n) && opts.size !== undefined) {
            result.tsize = opts.size;
            result.oack.set(name, String(opts.size));
          }
        } else if (Number.isFinite(n)) {
          if (opts.maxUpload !== undefined && n > opts.maxUpload) {
            throw new TftpError(
              ErrorCode.DISK_FULL,
              `upload of ${n} bytes exceeds the limit of ${opts.maxUpload}`,
            );
          }
          result.tsize = n;
          result.oack.set(name, String(n));
        }
        break;
    }
  }
  return result;
}
