/**
 * The receiving half of the driver (a server's write, a client's get):
 * writes payloads in order, publishes before the final ACK, sends the ACKs
 * the machine asks for.
 *
 * @module
 */

import { encodeError, ErrorCode } from "../protocol/packet.ts";
import { Act } from "../protocol/transfer.ts";
import type { ReceiveTransfer } from "../protocol/receive_transfer.ts";
import { Drive, type DriveOptions } from "./drive.ts";

/** Options of {@linkcode driveReceive}. */
export interface DriveReceiveOptions extends DriveOptions {
  /** Takes each payload in order (copy it if kept: the buffer is reused). */
  write: (data: Uint8Array) => void | Promise<void>;
  /**
   * Publishes what was received, before the final ACK goes out; a throw
   * ends the transfer with that error (a `TftpError`'s code, else ERROR 3).
   */
  commit?: () => Promise<void>;
  /** Largest DATA payload accepted (sizes the receive buffer). */
  maxBlksize: number;
}

/** Runs a receiving transfer. */
export class ReceiveDrive extends Drive {
  #t: ReceiveTransfer;
  #ro: DriveReceiveOptions;
  localError?: { code: number; message: string };

  constructor(t: ReceiveTransfer, o: DriveReceiveOptions) {
    super(o, () => (t.receiver?.windowsize ?? 1) === 1);
    this.#t = t;
    this.#ro = o;
  }

  protected rxSize(): number {
    // One spare byte, so an oversized DATA is seen as such, not truncated.
    return 4 + this.#ro.maxBlksize + 1;
  }

  protected get machineDeadline(): number {
    return this.#t.deadline;
  }

  protected get established(): boolean {
    return this.#t.established;
  }

  async start(): Promise<void> {
    await this.#act(this.#t.start(this.clock.now()), undefined);
    this.rearm();
  }

  protected onDatagram(data: Uint8Array, from: Deno.NetAddr, now: number) {
    const act = this.#t.onDatagram(data, from, now);
    if (act & Act.STRANGER) {
      this.stranger(from);
      return;
    }
    if (act !== Act.NONE) return this.#act(act, data);
  }

  protected onTimer(now: number) {
    const act = this.#t.onTimer(now);
    if (act & Act.SEND) this.o.debug?.(`timeout: re-acknowledging`);
    return this.#act(act, undefined);
  }

  async #act(act: number, data: Uint8Array | undefined): Promise<void> {
    if (act & Act.REQUEST) {
      await this.send(this.o.request!, this.#t.peer as Deno.NetAddr);
    }
    if (act & Act.DELIVER) {
      try {
        const w = this.#ro.write(data!.subarray(4));
        if (w) await w;
      } catch (err) {
        return this.#abort(err, ErrorCode.DISK_FULL, "write failed");
      }
    }
    if (act & Act.FINAL && this.#ro.commit) {
      try {
        await this.#ro.commit();
      } catch (err) {
        return this.#abort(err, ErrorCode.DISK_FULL, "could not store");
      }
    }
    if (act & Act.SEND && !this.closed) {
      const ack = this.#t.control;
      this.replyDue = true;
      await this.send(ack, this.#t.peer as Deno.NetAddr);
      this.#t.acked(this.clock.now());
    }
    if (act & Act.END && this.#t.farewell) {
      const f = this.#t.farewell;
      this.localError = { code: f.code, message: f.message };
      await this.send(
        encodeError(f.code, f.message),
        this.#t.peer as Deno.NetAddr,
      );
    }
    if (act & (Act.DONE | Act.END)) this.close();
  }

  async #abort(err: unknown, code: number, what: string): Promise<void> {
    const e = err as { code?: number; message?: string };
    const tftp = typeof e?.code === "number" && typeof e.message === "string";
    const c = tftp ? e.code! : code;
    const message = tftp ? e.message! : `${what}: ${(err as Error)?.message}`;
    if (this.#t.end("error", `ERROR ${c}: ${message}`) === Act.NONE) return;
    this.localError = { code: c, message };
    await this.send(encodeError(c, message), this.#t.peer as Deno.NetAddr);
    this.close();
  }

  /**
   * Cancels the transfer from this side: ERROR 0 to the peer once it has
   * answered (a client still in its request phase has nobody to tell),
   * then close.
   */
  async cancel(message: string): Promise<void> {
    const t = this.#t;
    const answered = t.receiver !== undefined;
    if (t.end("cancelled", message) === Act.NONE) return;
    if (answered) {
      const pkt = encodeError(ErrorCode.NOT_DEFINED, message);
      await this.send(pkt, t.peer as Deno.NetAddr);
    }
    this.close();
  }

  /** Fails the transfer locally: ERROR to the peer, then close. */
  abort(code: number, message: string): Promise<void> {
    return this.#abort({ code, message }, code, message);
  }
}
