/**
 * TFTP packet codec (RFC 1350, RFC 2347 OACK). Pure: no sockets, no files.
 *
 * Decoding never throws anything but {@linkcode PacketError}, whatever the
 * input bytes are, so the I/O shell can answer junk with ERROR 4 and go on.
 *
 * @module
 */

/** TFTP opcodes. */
export const Opcode = {
  RRQ: 1,
  WRQ: 2,
  DATA: 3,
  ACK: 4,
  ERROR: 5,
  OACK: 6,
} as const;

/** A TFTP opcode value. */
export type Opcode = typeof Opcode[keyof typeof Opcode];

/** TFTP error codes (RFC 1350, RFC 2347). */
export const ErrorCode = {
  NOT_DEFINED: 0,
  FILE_NOT_FOUND: 1,
  ACCESS_VIOLATION: 2,
  DISK_FULL: 3,
  ILLEGAL_OPERATION: 4,
  UNKNOWN_TID: 5,
  FILE_EXISTS: 6,
  NO_SUCH_USER: 7,
  OPTION_REFUSED: 8,
} as const;

/** A TFTP error code value. */
export type ErrorCode = typeof ErrorCode[keyof typeof ErrorCode];

/** Most options parsed from one request; the rest are ignored. */
export const MAX_OPTIONS = 32;

/** A read or write request. Option names are lower-cased, values kept as sent. */
export interface RequestPacket {
  /** {@linkcode Opcode.RRQ} or {@linkcode Opcode.WRQ}. */
  op: typeof Opcode.RRQ | typeof Opcode.WRQ;
  /** The file name as the client sent it. */
  filename: string;
  /** The transfer mode, lower-cased (`octet`, `netascii`, `mail`, ...). */
  mode: string;
  /** Requested options in request order, names lower-cased. */
  options: Map<string, string>;
}

/** A DATA packet; `data` is a view into the decoded buffer. */
export interface DataPacket {
  /** {@linkcode Opcode.DATA}. */
  op: typeof Opcode.DATA;
  /** Block number as on the wire (0..65535). */
  block: number;
  /** Payload bytes (a view, not a copy). */
  data: Uint8Array;
}

/** An ACK packet. */
export interface AckPacket {
  /** {@linkcode Opcode.ACK}. */
  op: typeof Opcode.ACK;
  /** Block number as on the wire (0..65535). */
  block: number;
}

/** An ERROR packet. */
export interface ErrorPacket {
  /** {@linkcode Opcode.ERROR}. */
  op: typeof Opcode.ERROR;
  /** Error code. */
  code: number;
  /** Error message (may be empty). */
  message: string;
}

/** An option acknowledgement (RFC 2347). */
export interface OackPacket {
  /** {@linkcode Opcode.OACK}. */
  op: typeof Opcode.OACK;
  /** Accepted options, names lower-cased. */
  options: Map<string, string>;
}

/** Any TFTP packet. */
export type Packet =
  | RequestPacket
  | DataPacket
  | AckPacket
  | ErrorPacket
  | OackPacket;

/** A datagram that is not a valid TFTP packet.  *
 * @example
 * ```ts
 * import { decode, PacketError } from "./packet.ts";
 * let err: unknown;
 * try { decode(new Uint8Array([0, 9])); } catch (e) { err = e; }
 * if (!(err instanceof PacketError) || err.code !== 4) throw new Error();
 * ```
 */
export class PacketError extends Error {
  /** The TFTP error code to answer with (always ILLEGAL_OPERATION). */
  readonly code: number = ErrorCode.ILLEGAL_OPERATION;
  /**
   * The datagram is well formed but a string in it is not UTF-8 (a legacy
   * client's file name, rather than junk).
   */
  readonly encoding: boolean;
  /**
   * An error for a datagram that cannot be decoded.
   *
   * @param message What is wrong with the datagram.
   * @param options `encoding`: only a string's encoding is wrong.
   */
  constructor(message: string, options: { encoding?: boolean } = {}) {
    super(message);
    this.name = "PacketError";
    this.encoding = options.encoding ?? false;
  }
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const lenientUtf8 = new TextDecoder("utf-8");
const encoder = new TextEncoder();

/** Reads a NUL-terminated string starting at `start`; returns [text, next]. */
function readString(
  buf: Uint8Array,
  start: number,
  what: string,
): [string, number] {
  const end = buf.indexOf(0, start);
  if (end < 0) throw new PacketError(`${what} is not NUL-terminated`);
  try {
    return [strictUtf8.decode(buf.subarray(start, end)), end + 1];
  } catch {
    throw new PacketError(`${what} is not valid UTF-8`, { encoding: true });
  }
}

function decodeRequest(buf: Uint8Array, op: 1 | 2): RequestPacket {
  const [filename, afterName] = readString(buf, 2, "filename");
  if (filename.length === 0) throw new PacketError("empty filename");
  const [modeRaw, afterMode] = readString(buf, afterName, "mode");
  const options = new Map<string, string>();
  let pos = afterMode;
  let parsed = 0;
  while (pos < buf.length && parsed < MAX_OPTIONS) {
    // Trailing NUL padding after the last option is tolerated.
    if (buf[pos] === 0 && buf.indexOf(0, pos + 1) < 0) break;
    let name: string;
    let value: string;
    try {
      [name, pos] = readString(buf, pos, "option name");
      [value, pos] = readString(buf, pos, "option value");
    } catch {
      // RFC 2347 malformed tail: keep the options decoded so far.
      break;
    }
    parsed++;
    const key = name.toLowerCase();
    if (key.length > 0 && !options.has(key)) options.set(key, value);
  }
  return { op, filename, mode: modeRaw.toLowerCase(), options };
}

/**
 * Decodes one datagram.
 *
 * @example
 * ```ts
 * import { decode, Opcode } from "./packet.ts";
 * const p = decode(new Uint8Array([0, 4, 0, 7]));
 * if (p.op !== Opcode.ACK || p.block !== 7) throw new Error();
 * ```
 *
 * @param buf The datagram.
 * @returns The decoded packet.
 * @throws {PacketError} When the datagram is not a valid TFTP packet.
 */
export function decode(buf: Uint8Array): Packet {
  if (buf.length < 2) throw new PacketError("datagram too short");
  const op = (buf[0] << 8) | buf[1];
  switch (op) {
    case Opcode.RRQ:
    case Opcode.WRQ:
      return decodeRequest(buf, op);
    case Opcode.DATA:
      if (buf.length < 4) throw new PacketError("DATA too short");
      return {
        op,
        block: (buf[2] << 8) | buf[3],
        data: buf.subarray(4),
      };
    case Opcode.ACK:
      if (buf.length < 4) throw new PacketError("ACK too short");
      return { op, block: (buf[2] << 8) | buf[3] };
    case Opcode.ERROR: {
      if (buf.length < 4) throw new PacketError("ERROR too short");
      const end = buf.indexOf(0, 4);
      const message = lenientUtf8.decode(
        buf.subarray(4, end < 0 ? buf.length : end),
      );
      return { op, code: (buf[2] << 8) | buf[3], message };
    }
    case Opcode.OACK: {
      const options = new Map<string, string>();
      let pos = 2;
      let parsed = 0;
      while (pos < buf.length && parsed < MAX_OPTIONS) {
        let name: string;
        let value: string;
        [name, pos] = readString(buf, pos, "option name");
        [value, pos] = readString(buf, pos, "option value");
        options.set(name.toLowerCase(), value);
        parsed++;
      }
      return { op, options };
    }
    default:
      throw new PacketError(`unknown opcode ${op}`);
  }
}

/**
 * The opcode of a datagram that is long enough to be a reply of that kind,
 * or -1: DATA, ACK and ERROR need their 4-byte header, an OACK only its
 * opcode, since one with no options (RFC 2347: the server accepted none)
 * is the 2 bytes `00 06`.
 *
 * @example
 * ```ts
 * import { Opcode, replyOpcode } from "./packet.ts";
 * if (replyOpcode(new Uint8Array([0, 6])) !== Opcode.OACK) throw new Error();
 * if (replyOpcode(new Uint8Array([0, 4, 0])) !== -1) throw new Error();
 * ```
 *
 * @param buf The datagram.
 * @returns Its opcode, or -1 when too short for it.
 */
export function replyOpcode(buf: Uint8Array): number {
  if (buf.length < 2) return -1;
  const op = (buf[0] << 8) | buf[1];
  return op === Opcode.OACK || buf.length >= 4 ? op : -1;
}

function encodeStrings(op: number, strings: string[]): Uint8Array {
  const parts = strings.map((s) => encoder.encode(s));
  const size = parts.reduce((n, p) => n + p.length + 1, 2);
  const out = new Uint8Array(size);
  out[1] = op;
  let pos = 2;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length + 1;
  }
  return out;
}

/**
 * Encodes an RRQ or WRQ.
 *
 * @example
 * ```ts
 * import { encodeRequest, Opcode } from "./packet.ts";
 * const bytes = encodeRequest(Opcode.RRQ, "boot.ipxe", {
 *   options: new Map([["blksize", "1432"]]),
 * });
 * ```
 *
 * @param op RRQ or WRQ.
 * @param filename Remote file name.
 * @param opts Mode (default `octet`) and options.
 * @returns The datagram.
 */
export function encodeRequest(
  op: typeof Opcode.RRQ | typeof Opcode.WRQ,
  filename: string,
  opts: { mode?: string; options?: Map<string, string> } = {},
): Uint8Array {
  const strings = [filename, opts.mode ?? "octet"];
  for (const [k, v] of opts.options ?? []) strings.push(k, v);
  return encodeStrings(op, strings);
}

/**
 * Encodes an OACK listing the given options in order.
 *
 * @example
 * ```ts
 * import { decode, encodeOack, Opcode } from "./packet.ts";
 * const p = decode(encodeOack(new Map([["blksize", "1468"]])));
 * if (p.op !== Opcode.OACK || p.options.get("blksize") !== "1468") throw new Error();
 * ```
 *
 * @param options Accepted options.
 * @returns The datagram.
 */
export function encodeOack(options: Map<string, string>): Uint8Array {
  const strings: string[] = [];
  for (const [k, v] of options) strings.push(k, v);
  return encodeStrings(Opcode.OACK, strings);
}

/**
 * Encodes an ACK.
 *
 * @example
 * ```ts
 * import { encodeAck } from "./packet.ts";
 * if (encodeAck(65537).join() !== "0,4,0,1") throw new Error(); // low 16 bits
 * ```
 *
 * @param block Block number; only its low 16 bits are sent.
 * @returns The datagram.
 */
export function encodeAck(block: number): Uint8Array {
  return new Uint8Array([0, Opcode.ACK, (block >> 8) & 0xff, block & 0xff]);
}

/**
 * Writes an ACK into `buf` (at least 4 bytes) in place, for hot paths.
 *
 * @example
 * ```ts
 * import { writeAck } from "./packet.ts";
 * const buf = new Uint8Array(4);
 * if (writeAck(buf, 258).join() !== "0,4,1,2") throw new Error();
 * ```
 *
 * @param buf Destination buffer.
 * @param block Block number; only its low 16 bits are sent.
 * @returns The 4-byte view of `buf` holding the ACK.
 */
export function writeAck(buf: Uint8Array, block: number): Uint8Array {
  buf[0] = 0;
  buf[1] = Opcode.ACK;
  buf[2] = (block >> 8) & 0xff;
  buf[3] = block & 0xff;
  return buf.subarray(0, 4);
}

/**
 * Writes a DATA header into the first 4 bytes of `buf` in place. The payload
 * is expected at `buf[4..]`.
 *
 * @example
 * ```ts
 * import { writeDataHeader } from "./packet.ts";
 * const pkt = new Uint8Array(4 + 3);
 * writeDataHeader(pkt, 7);
 * if (pkt.subarray(0, 4).join() !== "0,3,0,7") throw new Error();
 * ```
 *
 * @param buf Packet buffer.
 * @param block Block number; only its low 16 bits are sent.
 */
export function writeDataHeader(buf: Uint8Array, block: number): void {
  buf[0] = 0;
  buf[1] = Opcode.DATA;
  buf[2] = (block >> 8) & 0xff;
  buf[3] = block & 0xff;
}

/**
 * Encodes a DATA packet (copies the payload).
 *
 * @example
 * ```ts
 * import { decode, encodeData, Opcode } from "./packet.ts";
 * const p = decode(encodeData(1, new Uint8Array([104, 105])));
 * if (p.op !== Opcode.DATA || p.block !== 1 || p.data.length !== 2) throw new Error();
 * ```
 *
 * @param block Block number; only its low 16 bits are sent.
 * @param data Payload.
 * @returns The datagram.
 */
export function encodeData(block: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + data.length);
  writeDataHeader(out, block);
  out.set(data, 4);
  return out;
}

/**
 * Encodes an ERROR packet.
 *
 * @example
 * ```ts
 * import { encodeError, ErrorCode } from "./packet.ts";
 * const bytes = encodeError(ErrorCode.FILE_NOT_FOUND, "File not found");
 * ```
 *
 * @param code Error code.
 * @param message Human-readable message.
 * @returns The datagram.
 */
export function encodeError(code: number, message: string): Uint8Array {
  // The text may quote a client's name: keep the answer small (a reply
  // larger than the request would be an amplifier, one over 65507 bytes
  // could not be sent at all).
  const text = message.length > MAX_ERROR_TEXT
    ? message.slice(0, MAX_ERROR_TEXT - 3) + "..."
    : message;
  const msg = encoder.encode(text);
  const out = new Uint8Array(5 + msg.length);
  out[1] = Opcode.ERROR;
  out[2] = (code >> 8) & 0xff;
  out[3] = code & 0xff;
  out.set(msg, 4);
  return out;
}

/** Longest ERROR text sent, in characters; longer texts are cut. */
export const MAX_ERROR_TEXT = 200;

/** A TFTP-level failure: carries the error code to send to the peer.  *
 * @example
 * ```ts
 * import { ErrorCode, TftpError } from "./packet.ts";
 * const e = new TftpError(ErrorCode.FILE_NOT_FOUND, "boot.efi: file not found");
 * if (e.code !== 1) throw new Error();
 * ```
 */
export class TftpError extends Error {
  /** The TFTP error code. */
  readonly code: number;
  /** Details for the server log only (never sent to the client). */
  readonly detail?: string;
  /**
   * Set when the name was refused by policy (it leads out of the root, into
   * a fenced directory, a reserved name), whatever `code` says: such a
   * refusal answers like a missing file (ERROR 1) on the wire, but it is
   * final, and no other storage may be asked for the name (an origin
   * behind the root is not). Never sent to the client.
   */
  readonly refused: boolean;
  /**
   * An error answered with a TFTP ERROR packet of `code`.
   *
   * @param code TFTP error code to send.
   * @param message Message to send and log.
   * @param opts `detail`: extra text for the log only; `refused`: see
   * {@linkcode TftpError.refused}.
   */
  constructor(
    code: number,
    message: string,
    opts: { detail?: string; refused?: boolean } = {},
  ) {
    super(message);
    this.name = "TftpError";
    this.code = code;
    this.detail = opts.detail;
    this.refused = opts.refused ?? false;
  }
}
