/**
 * Single-port mode's table of transfers: each listen socket carries its
 * own, told apart by the client's address and port, so a datagram goes to
 * the transfer of the socket it arrived on and of its sender.
 *
 * @module
 */

import { Opcode } from "../protocol/packet.ts";
import { SharedTransport } from "../transport/shared_port.ts";
import { peerKey } from "./admission.ts";
import type { Listener } from "./listeners.ts";
import type { TransferHandle } from "./transfers.ts";

/**
 * The transports of the transfers running on listen sockets.
 *
 * @example
 * ```ts
 * import { SharedRoutes } from "./single_port.ts";
 * const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
 * const on = { conn, addr: conn.addr as Deno.NetAddr, closed: false };
 * const routes = new SharedRoutes();
 * const peer = { transport: "udp", hostname: "127.0.0.1", port: 9 } as const;
 * const t = routes.open(on, peer);
 * routes.release(on, peer, t);
 * conn.close();
 * ```
 */
export class SharedRoutes {
  #by = new Map<string, SharedTransport>();

  /**
   * A transport on `on` for a transfer with `peer`.
   *
   * @param on The listen socket the request arrived on.
   * @param peer The client.
   * @returns The transport.
   */
  open(on: Listener, peer: Deno.NetAddr): SharedTransport {
    const t = new SharedTransport(on.conn);
    this.#by.set(routeKey(on, peer), t);
    return t;
  }

  /**
   * Forgets a transfer's transport once it has ended (unless a newer
   * transfer with the same peer has replaced it).
   *
   * @param on Its listen socket.
   * @param peer Its client.
   * @param t The transport.
   */
  release(on: Listener, peer: Deno.NetAddr, t: unknown): void {
    const key = routeKey(on, peer);
    if (this.#by.get(key) === t) this.#by.delete(key);
  }

  /**
   * Hands a datagram to its transfer. A request is never handed over:
   * after the transfer has ended it is a new one (admission decides).
   *
   * @param data The datagram.
   * @param from Its sender and the socket it arrived on.
   * @param handle The sender's transfer in the registry, if any.
   * @returns Whether the datagram was delivered.
   */
  route(
    data: Uint8Array,
    from: { peer: Deno.NetAddr; on: Listener },
    handle: TransferHandle | undefined,
  ): boolean {
    const key = routeKey(from.on, from.peer);
    const t = this.#by.get(key);
    if (!t) return false;
    if (!handle || t.closed) {
      this.#by.delete(key);
      return false;
    }
    const isRequest = data.length >= 2 && data[0] === 0 &&
      (data[1] === Opcode.RRQ || data[1] === Opcode.WRQ);
    if (!isRequest) {
      t.deliver(data, from.peer);
      return true;
    }
    if (handle.finished) this.#by.delete(key);
    return false;
  }
}

function routeKey(on: Listener, peer: Deno.NetAddr): string {
  return `${on.addr.hostname} ${peerKey(peer)}`;
}
