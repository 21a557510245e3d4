/**
 * Extension point 1: choose the session per request by overriding
 * `selectProtocol` (py3tftp's `select_protocol`).
 *
 * This server accepts uploads only from loopback clients (others get
 * ERROR 4) and answers a read of `whoami` with a session that serves the
 * client's own address instead of a file.
 *
 * ```sh
 * deno run --allow-net --allow-read=. --allow-write=. examples/select_protocol.ts
 * ```
 *
 * @module
 */

import {
  BytesReadHandle,
  normalizeHost,
  Opcode,
  type ReadHandle,
  ReadSession,
  type RequestPacket,
  type SessionClass,
  TftpServer,
} from "../mod.ts";

/** Serves `<client ip>:<port>\n` generated per request. */
export class WhoAmISession extends ReadSession {
  /**
   * Generates the content instead of opening a file.
   *
   * @returns The client's address as text.
   */
  protected override openFile(): Promise<ReadHandle> {
    const text = `${normalizeHost(this.peer.hostname)}:${this.peer.port}\n`;
    return Promise.resolve(new BytesReadHandle(new TextEncoder().encode(text)));
  }
}

/** Routes `whoami` to {@linkcode WhoAmISession}; uploads from loopback only. */
export class RoutingServer extends TftpServer {
  /**
   * Picks the session class.
   *
   * @param request The request.
   * @param peer The client.
   * @returns The session class, or undefined to refuse.
   */
  override selectProtocol(
    request: RequestPacket,
    peer: Deno.NetAddr,
  ): SessionClass | undefined {
    const host = normalizeHost(peer.hostname);
    const loopback = host === "::1" || host.startsWith("127.");
    if (request.op === Opcode.WRQ && !loopback) return undefined;
    if (request.op === Opcode.RRQ && request.filename === "whoami") {
      return WhoAmISession;
    }
    return super.selectProtocol(request, peer);
  }
}

if (import.meta.main) {
  const server = new RoutingServer({ host: "127.0.0.1", port: 9069 });
  await server.listen();
}
