/**
 * Extension point 2: subclass a session to add an option.
 *
 * A client that sends the option `x-sha256` (any value) on a read gets the
 * file's SHA-256 in the OACK, so it can check what it receives. Other
 * clients see no difference.
 *
 * ```sh
 * deno run --allow-net --allow-read=. examples/custom_option.ts
 * ```
 *
 * @module
 */

import {
  type Negotiated,
  Opcode,
  type ReadHandle,
  ReadSession,
  type RequestPacket,
  type SessionClass,
  TftpServer,
} from "../mod.ts";

/** A read session that answers the `x-sha256` option. */
export class Sha256ReadSession extends ReadSession {
  #digest?: string;

  /**
   * Opens the file as usual, then hashes it if the client asked.
   *
   * @returns The read handle.
   */
  protected override async openFile(): Promise<ReadHandle> {
    const handle = await super.openFile();
    if (this.request.options.has("x-sha256") && handle.size !== undefined) {
      const bytes = new Uint8Array(handle.size);
      const n = await handle.read(0, bytes);
      const digest = await crypto.subtle.digest(
        "SHA-256",
        bytes.subarray(0, n),
      );
      this.#digest = [...new Uint8Array(digest)]
        .map((b) => b.toString(16).padStart(2, "0")).join("");
    }
    return handle;
  }

  /**
   * Standard negotiation plus `x-sha256`.
   *
   * @param size Transfer size, if known.
   * @returns Negotiated parameters with the digest in the OACK.
   */
  protected override negotiate(size: number | undefined): Negotiated {
    const n = super.negotiate(size);
    if (this.#digest) n.oack.set("x-sha256", this.#digest);
    return n;
  }
}

/** A server whose reads understand `x-sha256`. */
export class Sha256Server extends TftpServer {
  /**
   * Uses {@linkcode Sha256ReadSession} for reads.
   *
   * @param request The request.
   * @param peer The client.
   * @returns The session class.
   */
  override selectProtocol(
    request: RequestPacket,
    peer: Deno.NetAddr,
  ): SessionClass | undefined {
    if (request.op === Opcode.RRQ) return Sha256ReadSession;
    return super.selectProtocol(request, peer);
  }
}

if (import.meta.main) {
  await new Sha256Server({ host: "127.0.0.1", port: 9069 }).listen();
}
