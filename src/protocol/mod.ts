/**
 * The pure protocol core: the packet codec, option negotiation, netascii,
 * and the transfer machines with every rule of the protocol (windows,
 * retransmits, what counts as progress, the TID lock, the handshake). No
 * sockets, no timers, no clock: time comes in as `now`.
 *
 * @example A lock-step read, as the server side sees it
 * ```ts
 * import { Act, SendTransfer } from "./mod.ts";
 * const peer = { hostname: "10.0.0.9", port: 2000 };
 * const t = new SendTransfer({ role: "server", peer }, 0);
 * if (t.start(0) !== Act.SEND || t.nextBlock() !== 1) throw new Error();
 * ```
 *
 * @module
 */

export * from "./packet.ts";
export * from "./options.ts";
export * from "./netascii.ts";
export * from "./rto.ts";
export * from "./budget.ts";
export * from "./window.ts";
export * from "./peer.ts";
export * from "./sender.ts";
export * from "./receiver.ts";
export * from "./transfer.ts";
export * from "./send_transfer.ts";
export * from "./receive_transfer.ts";
