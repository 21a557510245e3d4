/**
 * A server write (WRQ): negotiates, prepares the upload, and runs a
 * {@linkcode ReceiveTransfer} through the driver; the upload is published
 * before the final ACK and discarded on any other end.
 *
 * @module
 */

import { encodeOack, ErrorCode, TftpError } from "../protocol/packet.ts";
import { negotiate, type Negotiated } from "../protocol/options.ts";
import { NetasciiDecoder } from "../protocol/netascii.ts";
import { ReceiveTransfer } from "../protocol/receive_transfer.ts";
import {
  Act,
  type Outcome,
  type RetryOptions,
  serverRetry,
} from "../protocol/transfer.ts";
import type { WriteHandle } from "../storage/types.ts";
import { type Driven, driveReceive } from "../transport/driver.ts";
import { Session } from "./session.ts";
import { withDeadline } from "../storage/deadline.ts";

/**
 * Serves a WRQ: receives into a temporary file, published when complete.
 *
 * @example An upload that is checked as it arrives
 * ```ts
 * import { WriteSession } from "./write_session.ts";
 * class AsciiOnlyWrite extends WriteSession {
 *   protected override write(data: Uint8Array): Promise<void> {
 *     if (data.some((b) => b > 127)) throw new Error("not ASCII");
 *     return super.write(data);
 *   }
 * }
 * if (!(AsciiOnlyWrite.prototype instanceof WriteSession)) throw new Error();
 * ```
 */
export class WriteSession extends Session {
  /** The upload in progress. */
  protected writer?: WriteHandle;
  /** Whether the upload was published. */
  protected committed = false;
  #machine?: ReceiveTransfer;
  #decoder?: NetasciiDecoder;

  /** Always `write`. */
  get direction(): "write" {
    return "write";
  }

  /** The size the client announced (tsize), if it did. */
  get size(): number | undefined {
    return this.negotiated.tsize;
  }

  /** Whether the client sent any DATA yet. */
  get established(): boolean {
    return this.#machine?.established ?? false;
  }

  /** Retransmit rounds. */
  protected get retransmits(): number {
    return this.#machine?.retransmits ?? 0;
  }

  /**
   * Prepares the upload. Override to change file handling.
   *
   * @returns A write handle.
   */
  protected openFile(): Promise<WriteHandle> {
    return this.storage.openWrite(this.name, this.info);
  }

  /**
   * Negotiates options. Override to add options.
   *
   * @returns Negotiated parameters.
   */
  protected negotiate(): Negotiated {
    return negotiate("write", this.request.options, {
      maxBlksize: this.config.maxBlksize,
      maxWindowsize: this.config.maxWindowsize,
      maxUpload: this.config.maxUpload,
      receiveBuffer: this.config.receiveBuffer,
    });
  }

  /**
   * Writes one payload (converting netascii). Override to change how bytes
   * are stored.
   *
   * @param data Payload.
   */
  protected async write(data: Uint8Array): Promise<void> {
    await this.#store(this.#decoder ? this.#decoder.decode(data) : data);
  }

  async #store(bytes: Uint8Array): Promise<void> {
    try {
      await this.writer!.write(bytes);
    } catch (err) {
      throw new TftpError(
        ErrorCode.DISK_FULL,
        `write failed: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }

  async #commit(): Promise<void> {
    const tail = this.#decoder?.flush();
    if (tail?.length) await this.#store(tail);
    try {
      await this.writer!.commit();
    } catch (err) {
      if (err instanceof TftpError) throw err;
      throw new TftpError(
        ErrorCode.DISK_FULL,
        `could not store the upload: ${
          err instanceof Error ? err.message : String(err)
        }`,
      );
    }
    this.committed = true;
    this.complete("ok");
  }

  /**
   * Negotiates, opens the temporary file (within the start-up bound) and
   * starts the driver.
   *
   * @returns The running transfer.
   */
  protected async start(): Promise<Driven> {
    this.negotiated = this.negotiate();
    this.writer = await withDeadline(this.openFile(), {
      ms: this.config.connTimeout * 1000,
      clock: this.clock,
      late: (writer) => void writer.abort(),
      signal: this.cancelSignal,
    });
    const { blksize, windowsize, oack } = this.negotiated;
    if (this.request.mode === "netascii") this.#decoder = new NetasciiDecoder();
    this.#machine = new ReceiveTransfer({
      role: "server",
      peer: this.peer,
      blksize,
      windowsize,
      oack: oack.size > 0 ? encodeOack(oack) : undefined,
      maxBytes: this.config.maxUpload,
      lingerMs: this.config.connTimeout * 1000,
      ...this.retry(),
    }, this.clock.now());
    return driveReceive(this.#machine, {
      ...this.driveOptions(),
      maxBlksize: blksize,
      write: (data) => this.write(data),
      commit: () => this.#commit(),
    });
  }

  /**
   * How the machine ended.
   *
   * @returns Outcome and error text.
   */
  protected outcome(): [Outcome, string | undefined] {
    const m = this.#machine!;
    if (this.committed) return ["ok", undefined];
    return [m.outcome ?? "cancelled", m.error];
  }

  /** How the machine ended, once it has. */
  protected get machineOutcome(): Outcome | undefined {
    return this.#machine?.outcome;
  }

  /**
   * The retry settings of an upload: once DATA has come, with no `timeout`
   * option, the wait goes on after our re-ACKs are spent, for up to
   * `uploadTimeout`, since the sender resends only on a timer we do not
   * know. A WRQ that never sends DATA ends as any silent peer does.
   *
   * @returns Settings for the machine.
   */
  protected override retry(): RetryOptions {
    const c = this.config;
    const r = serverRetry(c, this.negotiated.timeout);
    if (this.negotiated.timeout !== undefined) return r;
    const upload = serverRetry({
      ...c,
      connTimeout: c.uploadTimeout ?? c.connTimeout,
    });
    return {
      ...r,
      giveUpAfterProgressMs: Math.max(r.giveUpMs ?? 0, upload.giveUpMs ?? 0),
    };
  }

  /**
   * Ends the machine as cancelled.
   *
   * @param reason For the log.
   */
  protected cancelMachine(reason: string): boolean {
    const m = this.#machine;
    return !m || m.end("cancelled", reason) === Act.END;
  }

  /** Discards an unpublished upload. */
  protected async cleanup(): Promise<void> {
    if (!this.committed) await this.writer?.abort();
  }
}
