/**
 * tftpd for Deno: a TFTP server library (RFC 1350, 2347, 2348, 2349, 7440)
 * confined to its root.
 *
 * @example
 * ```ts ignore
 * import { TftpServer } from "./mod.ts";
 * const server = new TftpServer({ host: "127.0.0.1", port: 9069, root: "." });
 * await server.listen();
 * ```
 *
 * @module
 */

export * from "./src/protocol/packet.ts";
export * from "./src/protocol/options.ts";
export * from "./src/protocol/netascii.ts";
export * from "./src/protocol/sender.ts";
export * from "./src/protocol/receiver.ts";
export * from "./src/storage/types.ts";
export * from "./src/storage/root.ts";
export * from "./src/storage/files.ts";
export * from "./src/storage/memory.ts";
export * from "./src/net/address.ts";
export * from "./src/transport/block_source.ts";
export * from "./src/server/session.ts";
export * from "./src/server/server.ts";
export * from "./src/log.ts";
export * from "./src/client/mod.ts";
export * from "./src/net/cidr.ts";
export * from "./src/server/remap.ts";
