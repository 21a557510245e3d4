/**
 * What bench/loadgen.ts puts on and takes off the wire, apart from the
 * transfers' logic: a request's options and bytes, the OACK and ERROR
 * parsers, the socket, and the one shared ticker that times every
 * transfer's retransmits.
 *
 * @module
 */

/** The options a request carries. */
export interface RequestOptions {
  /** Remote file name. */
  filename: string;
  /** Requested blksize; omitted: no option (512). */
  blksize?: number;
  /** Requested windowsize; omitted: no option (lock-step). */
  windowsize?: number;
  /** Ask for (RRQ) or announce (WRQ) the transfer size. */
  tsize?: boolean;
  /** Timeout option in seconds (also becomes our retransmit interval). */
  timeout?: number;
}

/** Opcodes (RFC 1350, 2347). */
export const OP_RRQ = 1;
export const OP_WRQ = 2;
export const OP_DATA = 3;
export const OP_ACK = 4;
export const OP_ERROR = 5;
export const OP_OACK = 6;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The bytes of an RRQ or WRQ (`op`) with `opts`; tsize is `size`, else 0. */
export function encodeRequest(
  op: number,
  opts: RequestOptions,
  size?: number,
) {
  const parts = [opts.filename, "octet"];
  if (opts.blksize !== undefined) parts.push("blksize", String(opts.blksize));
  if (opts.windowsize !== undefined) {
    parts.push("windowsize", String(opts.windowsize));
  }
  if (opts.timeout !== undefined) parts.push("timeout", String(opts.timeout));
  if (opts.tsize) parts.push("tsize", String(size ?? 0));
  const bytes = parts.map((p) => encoder.encode(p));
  const out = new Uint8Array(bytes.reduce((n, b) => n + b.length + 1, 2));
  out[1] = op;
  let pos = 2;
  for (const b of bytes) {
    out.set(b, pos);
    pos += b.length + 1;
  }
  return out;
}

/** The options of an OACK, names in lower case. */
export function parseOack(d: Uint8Array): Record<string, string> {
  const strings = decoder.decode(d.subarray(2)).split("\0");
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < strings.length; i += 2) {
    out[strings[i].toLowerCase()] = strings[i + 1];
  }
  return out;
}

/** An ERROR packet as text: `server ERROR code: message`. */
export function errorText(d: Uint8Array): string {
  const code = d.length >= 4 ? (d[2] << 8) | d[3] : -1;
  const end = d.indexOf(0, 4);
  const msg = decoder.decode(d.subarray(4, end < 0 ? d.length : end));
  return `server ERROR ${code}: ${msg}`;
}

/** One transfer's timer state, checked by the shared ticker. */
export interface Timed {
  /** performance.now() of the last send or progress. */
  last: number;
  /** Retransmit interval. */
  intervalMs: number;
  /** Called when the interval passed without progress. */
  onTimeout(): void;
}

const timed = new Set<Timed>();
let ticker: ReturnType<typeof setInterval> | undefined;

/** Starts timing `t` (and the ticker, if it is the first). */
export function watch(t: Timed): void {
  timed.add(t);
  if (ticker === undefined) {
    ticker = setInterval(() => {
      const now = performance.now();
      for (const x of timed) {
        if (now - x.last >= x.intervalMs) {
          x.last = now;
          x.onTimeout();
        }
      }
    }, 20);
  }
}

/** Stops timing `t` (and the ticker, if it was the last). */
export function unwatch(t: Timed): void {
  timed.delete(t);
  if (timed.size === 0 && ticker !== undefined) {
    clearInterval(ticker);
    ticker = undefined;
  }
}

/** A UDP socket on `host`, at a free port. */
export function listen(host: string): Deno.DatagramConn {
  return Deno.listenDatagram({ transport: "udp", hostname: host, port: 0 });
}
