/**
 * tftpd for Deno: a TFTP server library (RFC 1350, 2347, 2348, 2349, 7440)
 * confined to its root.
 *
 * The server and its extension points live here: the three of py3tftp
 * (choose the session per request with {@linkcode TftpServer.selectProtocol},
 * subclass {@linkcode ReadSession} or {@linkcode WriteSession} to add an
 * option or change file handling, or plug in a {@linkcode Storage}). The
 * client is `./client`, the pure protocol core `./protocol`, the storages
 * `./storage`, the metrics and status page `./metrics`.
 *
 * @example Serve a directory
 * ```ts ignore
 * import { TftpServer } from "./mod.ts";
 * const server = new TftpServer({ host: "127.0.0.1", port: 9069, root: "." });
 * await server.listen();
 * ```
 *
 * @module
 */

export {
  DEFAULT_MAX_SESSIONS,
  DEFAULT_MAX_SESSIONS_PER_CLIENT,
  type ServerOptions,
  TftpServer,
} from "./src/server/server.ts";
export {
  DEFAULT_SESSION_CONFIG,
  formatPeer,
  type Outcome,
  Session,
  type SessionClass,
  type SessionConfig,
  type SessionInit,
  type TransferStats,
} from "./src/server/session.ts";
export { ReadSession } from "./src/server/read_session.ts";
export { WriteSession } from "./src/server/write_session.ts";
export {
  applyRemap,
  parseRemapRules,
  type RemapContext,
  type RemapRule,
} from "./src/server/remap.ts";
export type { RemapPattern } from "./src/server/remap_regex.ts";
export {
  type NameOptions,
  normalizeName,
  type NormalizeOptions,
  resolveName,
} from "./src/server/names.ts";
export { Logger, type LoggerOptions, type LogLevel, quote } from "./src/log.ts";
export type { Driven, DriveOptions } from "./src/transport/driver.ts";
export type { Clock, Lane, Transport } from "./src/transport/types.ts";
export { BufferBudget } from "./src/transport/buffers.ts";
export type { RetryOptions } from "./src/protocol/transfer.ts";
export type { RtoOptions } from "./src/protocol/rto.ts";
export {
  ErrorCode,
  Opcode,
  type RequestPacket,
  TftpError,
} from "./src/protocol/packet.ts";
export {
  negotiate,
  type Negotiated,
  type NegotiateOptions,
} from "./src/protocol/options.ts";
export { normalizeHost } from "./src/net/address.ts";
export type { OriginBounds, OriginSettings } from "./src/storage/origin.ts";
export * from "./src/storage/mod.ts";
export * from "./src/client/mod.ts";
