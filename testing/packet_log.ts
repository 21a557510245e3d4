/**
 * Test helper: the per-direction packet log of `LossyProxy` (opcode and
 * block of every datagram, before and after the faults) and the counts tests
 * take from it. Apart from the proxy so that fault lanes and tests can use it
 * without the sockets.
 *
 * @module
 */

/**
 * Opcode and block of a logged datagram, packed as `op * 65536 + block`.
 *
 * @example
 * ```ts
 * import { type LoggedPacket, opOf } from "./packet_log.ts";
 * const ack7: LoggedPacket = 4 * 65536 + 7;
 * if (opOf(ack7) !== 4) throw new Error();
 * ```
 */
export type LoggedPacket = number;

/**
 * Counters and packet log of one direction of one flow.
 *
 * @example
 * ```ts
 * import { type DirectionLog, newDirectionLog } from "./packet_log.ts";
 * const log: DirectionLog = newDirectionLog();
 * if (log.received !== 0 || log.sent.length !== 0) throw new Error();
 * ```
 */
export interface DirectionLog {
  /** Datagrams that reached the proxy (what the sender really sent). */
  received: number;
  /** Datagrams passed on (after drops, with duplicates). */
  delivered: number;
  /** Datagrams dropped. */
  dropped: number;
  /** Datagrams delivered twice. */
  duplicated: number;
  /** Datagrams held back to swap with a later one. */
  reordered: number;
  /** Datagrams (copies) delivered late on purpose. */
  delayed: number;
  /** Bytes that reached the proxy. */
  bytesReceived: number;
  /** Deliveries the socket refused (the datagram is lost). */
  sendErrors: number;
  /** Every received datagram, in order (see {@linkcode LoggedPacket}). */
  sent: LoggedPacket[];
  /** Every delivered datagram, in order. */
  passed: LoggedPacket[];
}

/**
 * Opcode of a logged packet.
 *
 * @example
 * ```ts
 * import { opOf } from "./packet_log.ts";
 * if (opOf(3 * 65536 + 65535) !== 3) throw new Error();
 * ```
 *
 * @param p A {@linkcode LoggedPacket}.
 * @returns The opcode.
 */
export function opOf(p: LoggedPacket): number {
  return Math.floor(p / 65536);
}

/**
 * Block number (DATA, ACK) or error code (ERROR) of a logged packet.
 *
 * @example
 * ```ts
 * import { blockOf } from "./packet_log.ts";
 * if (blockOf(3 * 65536 + 65535) !== 65535) throw new Error();
 * ```
 *
 * @param p A {@linkcode LoggedPacket}.
 * @returns The 16-bit field after the opcode, or 0.
 */
export function blockOf(p: LoggedPacket): number {
  return p % 65536;
}

/**
 * How many logged packets have opcode `op`.
 *
 * @example
 * ```ts
 * import { countOp } from "./packet_log.ts";
 * const log = [3 * 65536 + 1, 4 * 65536 + 1, 3 * 65536 + 2];
 * if (countOp(log, 3) !== 2) throw new Error();
 * ```
 *
 * @param packets Logged packets.
 * @param op Opcode.
 * @returns The count.
 */
export function countOp(packets: readonly LoggedPacket[], op: number): number {
  let n = 0;
  for (const p of packets) if (opOf(p) === op) n++;
  return n;
}

/**
 * Counts the ACKs that move a sender's window forward: each ACK whose
 * block, unwrapped past 65535, is above every block acknowledged before.
 * Duplicate and stale ACKs do not count; a correct sender sends at most one
 * window per counted ACK (plus one per timeout).
 *
 * @example
 * ```ts
 * import { advancingAcks } from "./packet_log.ts";
 * const ack = (n: number) => 4 * 65536 + n;
 * // ACK 0 after an OACK, then 2, a duplicate 2, a stale 1, then 4.
 * const log = [ack(0), ack(2), ack(2), ack(1), ack(4)];
 * if (advancingAcks(log, { oack: true }) !== 3) throw new Error();
 * ```
 *
 * @param packets Client -> server packets as delivered.
 * @param opts `oack`: the transfer began with an OACK (so ACK 0 counts).
 * @returns The number of advancing ACKs.
 */
export function advancingAcks(
  packets: readonly LoggedPacket[],
  opts: { oack: boolean },
): number {
  let acked = opts.oack ? -1 : 0;
  let n = 0;
  for (const p of packets) {
    if (opOf(p) !== 4) continue;
    const delta = (blockOf(p) - acked) & 0xffff;
    if (delta !== 0 && delta < 0x8000) {
      acked += delta;
      n++;
    }
  }
  return n;
}

/**
 * A direction log with every counter at zero and empty packet lists.
 *
 * @example
 * ```ts
 * import { newDirectionLog } from "./packet_log.ts";
 * const log = newDirectionLog();
 * log.received++;
 * if (newDirectionLog().received !== 0) throw new Error("shared state");
 * ```
 *
 * @returns A fresh log.
 */
export function newDirectionLog(): DirectionLog {
  return {
    received: 0,
    delivered: 0,
    dropped: 0,
    duplicated: 0,
    reordered: 0,
    delayed: 0,
    bytesReceived: 0,
    sendErrors: 0,
    sent: [],
    passed: [],
  };
}

/**
 * The log entry of a datagram: its opcode and, for DATA, ACK and ERROR,
 * the 16-bit field after it (an opcode above 255 logs as 255, a datagram
 * shorter than 2 bytes as 0).
 *
 * @example
 * ```ts
 * import { blockOf, logEntryOf, opOf } from "./packet_log.ts";
 * const p = logEntryOf(new Uint8Array([0, 3, 1, 2, 9, 9]));
 * if (opOf(p) !== 3 || blockOf(p) !== 258) throw new Error();
 * ```
 *
 * @param data A datagram as sent.
 * @returns Its {@linkcode LoggedPacket}.
 */
export function logEntryOf(data: Uint8Array): LoggedPacket {
  if (data.length < 2) return 0;
  const op = (data[0] << 8) | data[1];
  if (op > 0xff) return 0xff * 65536;
  const block = data.length >= 4 && (op === 3 || op === 4 || op === 5)
    ? (data[2] << 8) | data[3]
    : 0;
  return op * 65536 + block;
}
