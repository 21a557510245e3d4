/**
 * Admission: what a datagram at the listen port becomes, before any file is
 * touched. Pure: decode, allow-list, duplicate check, limits, in that order,
 * each with the answer a client gets (silence, or an exact TFTP ERROR) and
 * the log line an operator sees.
 *
 * @module
 */

import {
  decode,
  ErrorCode,
  Opcode,
  PacketError,
  type RequestPacket,
} from "../protocol/packet.ts";
import { type Cidr, cidrContains, parseIp } from "../net/cidr.ts";
import { normalizeHost } from "../net/address.ts";
import type { Endpoint } from "../net/address.ts";
import type { TransferHandle } from "./transfers.ts";

/** Why a request was refused (a label for logs and metrics, never client text). */
export type RefusalReason =
  | "malformed"
  | "not-a-request"
  | "busy"
  | "per-client"
  | "remap"
  | "name"
  | "refused"
  | "no-port";

/** The outcome of {@linkcode admit}. */
export type Admission =
  | {
    /** Say nothing. */
    kind: "ignore";
    /** Debug text for the log. */
    log: string;
    /** A label for metrics. */
    reason: "allow-list" | "not-a-request" | "malformed";
  }
  | {
    /** Answer with a TFTP ERROR from the listen port. */
    kind: "refuse";
    /** The ERROR code. */
    code: number;
    /** The ERROR text. */
    message: string;
    /** Log text. */
    log: string;
    /** Log level. */
    level: "debug" | "info" | "warn";
    /** A label for metrics. */
    reason: RefusalReason;
  }
  | {
    /** Start a transfer. */
    kind: "accept";
    /** The decoded request. */
    request: RequestPacket;
    /** The client key its limits count under. */
    client: string;
    /**
     * The peer's transfer, still in progress as far as we know. Its last
     * packet may be waiting at its own socket (or be in its worker thread
     * already): the thread that runs it decides, once that packet had its
     * turn, whether it is still in progress (then this request is a
     * retransmit, ignored) or has ended (then it is served).
     */
    repeatOf?: TransferHandle;
  };

/** What admission knows of the server's state and settings. */
export interface AdmissionContext {
  /** Networks allowed to get any reply; absent: everyone. */
  allowFrom?: readonly Cidr[];
  /** Most transfers at once. */
  maxSessions: number;
  /** Most transfers at once from one client. */
  maxPerClient: number;
  /** IPv6 prefix length that makes one client (default 64). */
  ipv6ClientPrefix?: number;
  /** Transfers in progress. */
  active: number;
  /** Transfers in progress from a client key. */
  fromClient(client: string): number;
  /** The peer endpoint's current transfer, if any. */
  existing(peer: string): TransferHandle | undefined;
  /**
   * ERRORs left for datagrams that are not requests (junk, a stray ACK or
   * DATA): they can be spoofed and cost less than the answer, so past this
   * budget they are ignored. Absent: no bound.
   */
  junkReplies?: { take(): boolean };
  /**
   * The listen port also carries transfers (`--single-port`): a DATA or ACK
   * from an endpoint without one has an unknown transfer ID (ERROR 5).
   */
  sharedPort?: boolean;
}

/**
 * Whether `hostname` may get any reply at all.
 *
 * @example
 * ```ts
 * import { allowed } from "./admission.ts";
 * import { parseCidr } from "../net/cidr.ts";
 * if (!allowed([parseCidr("10.0.0.0/8")], "10.1.2.3")) throw new Error();
 * if (allowed([parseCidr("10.0.0.0/8")], "192.168.0.1")) throw new Error();
 * ```
 *
 * @param allowFrom The allow-list; absent or empty: everyone.
 * @param hostname The address.
 * @returns true when allowed.
 */
export function allowed(
  allowFrom: readonly Cidr[] | undefined,
  hostname: string,
): boolean {
  return !allowFrom?.length || allowFrom.some((n) => cidrContains(n, hostname));
}

/**
 * The key a client's transfers count under: its IPv4 address, or its IPv6
 * network of `prefix` bits (one host can own a whole /64).
 *
 * @example
 * ```ts
 * import { clientKey } from "./admission.ts";
 * if (clientKey("::ffff:10.0.0.1") !== "10.0.0.1") throw new Error();
 * if (clientKey("2001:db8::1") !== clientKey("2001:db8::2")) throw new Error();
 * if (clientKey("2001:db8:0:1::1") === clientKey("2001:db8::1")) throw new Error();
 * ```
 *
 * @param hostname The address.
 * @param options `prefix`: IPv6 prefix length (default 64).
 * @returns The key.
 */
export function clientKey(
  hostname: string,
  options: { prefix?: number } = {},
): string {
  const host = normalizeHost(hostname);
  if (!host.includes(":")) return host;
  const bytes = parseIp(host);
  if (!bytes || bytes.length !== 16) return host;
  const prefix = Math.min(128, Math.max(0, options.prefix ?? 64));
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) {
    const bits = Math.min(16, Math.max(0, prefix - i * 16));
    const mask = bits === 0 ? 0 : (0xffff << (16 - bits)) & 0xffff;
    groups.push((((bytes[2 * i] << 8) | bytes[2 * i + 1]) & mask).toString(16));
  }
  return `${groups.join(":")}/${prefix}`;
}

/**
 * `host:port`, bracketing IPv6: the key of a peer endpoint.
 *
 * @example
 * ```ts
 * import { peerKey } from "./admission.ts";
 * if (peerKey({ hostname: "::ffff:10.0.0.1", port: 9 }) !== "10.0.0.1:9") throw new Error();
 * ```
 *
 * @param peer The endpoint.
 * @returns The key.
 */
export function peerKey(peer: Endpoint): string {
  const host = normalizeHost(peer.hostname);
  return host.includes(":") ? `[${host}]:${peer.port}` : `${host}:${peer.port}`;
}

/**
 * Decides what a datagram at the listen port becomes.
 *
 * @example
 * ```ts
 * import { admit } from "./admission.ts";
 * import { encodeRequest, Opcode } from "../protocol/packet.ts";
 * const ctx = {
 *   maxSessions: 10, maxPerClient: 2, active: 0,
 *   fromClient: () => 0, existing: () => undefined,
 * };
 * const rrq = encodeRequest(Opcode.RRQ, "boot.ipxe", { mode: "octet" });
 * const a = admit(rrq, { hostname: "10.0.0.5", port: 2000 }, ctx);
 * if (a.kind !== "accept" || a.request.filename !== "boot.ipxe") throw new Error();
 * ```
 *
 * @param data The datagram.
 * @param peer Its source.
 * @param ctx Settings and state.
 * @returns Ignore, refuse (with the ERROR to send), or accept.
 */
export function admit(
  data: Uint8Array,
  peer: Endpoint,
  ctx: AdmissionContext,
): Admission {
  const key = peerKey(peer);
  if (!allowed(ctx.allowFrom, peer.hostname)) {
    return {
      kind: "ignore",
      log: `${key} not in --allow-from: ignored`,
      reason: "allow-list",
    };
  }
  let p;
  try {
    p = decode(data);
  } catch (err) {
    const msg = err instanceof PacketError ? err.message : String(err);
    const log = `${key} malformed request: ${msg}`;
    if (overJunkBudget(ctx)) return quiet(log, "malformed");
    // Junk is not worth a line; a request whose name is not UTF-8 is a
    // client that will never be served, which its operator must see.
    const legacy = err instanceof PacketError && err.encoding;
    return refuse(
      ErrorCode.ILLEGAL_OPERATION,
      `malformed request: ${msg}`,
      log,
      "malformed",
      legacy ? "warn" : "debug",
    );
  }
  if (p.op !== Opcode.RRQ && p.op !== Opcode.WRQ) {
    const log = `${key} opcode ${p.op} on the listen port`;
    // Never answer an ERROR: two servers would answer each other forever.
    if (p.op === Opcode.ERROR || overJunkBudget(ctx)) {
      return quiet(log, "not-a-request");
    }
    const stray = ctx.sharedPort &&
      (p.op === Opcode.DATA || p.op === Opcode.ACK);
    return refuse(
      stray ? ErrorCode.UNKNOWN_TID : ErrorCode.ILLEGAL_OPERATION,
      stray ? "unknown transfer ID" : "expected RRQ or WRQ",
      log,
      "not-a-request",
      "debug",
    );
  }
  // A request from an endpoint whose transfer is in progress is ignored (a
  // retransmit, a late network duplicate, or a client that changed its
  // mind: it asks again once that transfer has ended). Once the transfer
  // has ended the same endpoint asking again is a new request: PXE
  // firmware probes and asks again from the same port, interactive clients
  // reuse theirs.
  const current = ctx.existing(key);
  if (current && !current.finished) {
    // Not a new transfer unless that one turns out to have ended: its own
    // slot is about to be freed, so the limits do not apply to it.
    const client = clientKey(peer.hostname, { prefix: ctx.ipv6ClientPrefix });
    return { kind: "accept", request: p, client, repeatOf: current };
  }
  if (ctx.active >= ctx.maxSessions) {
    return refuse(
      ErrorCode.NOT_DEFINED,
      `server busy: too many transfers (limit ${ctx.maxSessions})`,
      `${key} refused: ${ctx.maxSessions} transfers in progress`,
      "busy",
      "warn",
    );
  }
  const client = clientKey(peer.hostname, { prefix: ctx.ipv6ClientPrefix });
  const from = ctx.fromClient(client);
  if (from >= ctx.maxPerClient) {
    return refuse(
      ErrorCode.NOT_DEFINED,
      `too many transfers from ${client} (limit ${ctx.maxPerClient})`,
      `${key} refused: ${from} transfers from ${client}`,
      "per-client",
      "warn",
    );
  }
  return { kind: "accept", request: p, client };
}

function overJunkBudget(ctx: AdmissionContext): boolean {
  return !!ctx.junkReplies && !ctx.junkReplies.take();
}

function quiet(
  log: string,
  reason: "not-a-request" | "malformed",
): Admission {
  return { kind: "ignore", log, reason };
}

function refuse(
  code: number,
  message: string,
  log: string,
  reason: RefusalReason,
  level: "debug" | "info" | "warn",
): Admission {
  return { kind: "refuse", code, message, log, level, reason };
}
