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

/**
 * Largest windowsize granted whatever the limits: half the 16-bit block
 * number space. With more blocks in flight an old or duplicated ACK reads
 * as one 65536 blocks ahead, and the sender would skip that many.
 */
export const MAX_GRANTED_WINDOWSIZE = 32768;

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
  /**
   * For a write: bytes our socket can queue (its receive buffer). The
   * windowsize granted is capped so that one window fits: a window larger
   * than the buffer loses its tail at every burst.
   */
  receiveBuffer?: number;
}

/**
 * What one queued datagram of `bytes` costs in a Linux socket's receive
 * buffer (its skb's truesize), a little on the safe side. Measured on
 * loopback with the default 212,992-byte buffer: 166 datagrams of 516
 * bytes fit, 92 of 1,472, 25 of 4,100, 12 of 8,196 and of 16,388, 6 of
 * 32,772, 3 of 65,468. Small ones take a power-of-two allocation plus
 * bookkeeping; large ones are built from pages, about 1/12 more.
 *
 * @example
 * ```ts
 * import { datagramCost } from "./options.ts";
 * if (Math.floor(212992 / datagramCost(65468)) !== 3) throw new Error();
 * if (Math.floor(212992 / datagramCost(8196)) !== 12) throw new Error();
 * ```
 *
 * @param bytes Datagram size (header and payload).
 * @returns Bytes of receive buffer it uses.
 */
export function datagramCost(bytes: number): number {
  if (bytes <= 16384 - 320) {
    return 2 ** Math.ceil(Math.log2(bytes + 320)) + 256;
  }
  return Math.ceil(bytes * 13 / 12);
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
 * 2347 asks, and so is tsize for a read of an empty file (curl takes
 * tsize 0 in an OACK for an error and gives up). The only refusal is a write whose tsize exceeds `maxUpload`
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
    MAX_GRANTED_WINDOWSIZE,
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
          // (For a write, capped below to what the socket can queue.)
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
          // An empty file's tsize is left out (RFC 2347 lets a server not
          // answer an option): curl refuses an OACK carrying tsize 0.
          if (Number.isFinite(n) && opts.size !== undefined && opts.size > 0) {
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
  if (kind === "write" && opts.receiveBuffer && result.oack.has("windowsize")) {
    const fits = Math.max(
      1,
      Math.floor(opts.receiveBuffer / datagramCost(4 + result.blksize)),
    );
    if (fits < result.windowsize) {
      result.windowsize = fits;
      result.oack.set("windowsize", String(fits));
    }
  }
  return result;
}
