/**
 * A server read (RRQ): opens the file, negotiates, and runs a
 * {@linkcode SendTransfer} through the driver.
 *
 * @module
 */

import { encodeOack } from "../protocol/packet.ts";
import { negotiate, type Negotiated } from "../protocol/options.ts";
import { SendTransfer } from "../protocol/send_transfer.ts";
import { Act, type Outcome } from "../protocol/transfer.ts";
import { guardedInitialWindow } from "../protocol/window.ts";
import type { ReadHandle } from "../storage/types.ts";
import {
  NetasciiBlockSource,
  netasciiSize,
  OctetBlockSource,
} from "../transport/block_source.ts";
import { type Driven, driveSend } from "../transport/driver.ts";
import { Session } from "./session.ts";
import { withDeadline } from "../storage/deadline.ts";

/**
 * Files larger than this are not measured for a netascii tsize (the
 * conversion changes the length, so measuring reads the whole file): the
 * tsize option is declined instead, as RFC 2349 allows.
 */
export const NETASCII_TSIZE_LIMIT = 1024 * 1024;

/**
 * Serves an RRQ: sends the file block by block, window by window.
 *
 * @example A read that adds an option to the OACK
 * ```ts
 * import { ReadSession } from "./read_session.ts";
 * import type { Negotiated } from "../protocol/options.ts";
 * class StampedRead extends ReadSession {
 *   protected override negotiate(size: number | undefined): Negotiated {
 *     const n = super.negotiate(size);
 *     if (this.request.options.has("x-server")) n.oack.set("x-server", "tftpd");
 *     return n;
 *   }
 * }
 * if (!(StampedRead.prototype instanceof ReadSession)) throw new Error();
 * ```
 */
export class ReadSession extends Session {
  /** The open file. */
  protected handle?: ReadHandle;
  #machine?: SendTransfer;

  /** Always `read`. */
  get direction(): "read" {
    return "read";
  }

  /** The file's size on the wire, when known. */
  get size(): number | undefined {
    return this.negotiated.tsize ?? this.handle?.size;
  }

  /** Whether the client acknowledged anything yet. */
  get established(): boolean {
    return this.#machine?.established ?? false;
  }

  /** Retransmit rounds. */
  protected get retransmits(): number {
    return this.#machine?.retransmits ?? 0;
  }

  /**
   * Opens the requested file. Override to change file handling.
   *
   * @returns A read handle.
   */
  protected openFile(): Promise<ReadHandle> {
    return this.storage.openRead(this.name, this.info);
  }

  /**
   * Negotiates options. Override to add options: call `super.negotiate`,
   * then add to `oack`.
   *
   * @param size The size the client will receive, if known.
   * @returns Negotiated parameters.
   */
  protected negotiate(size: number | undefined): Negotiated {
    return negotiate("read", this.request.options, {
      maxBlksize: this.config.maxBlksize,
      maxWindowsize: this.config.maxWindowsize,
      size,
    });
  }

  /**
   * Opens (within the start-up bound), negotiates and starts the driver.
   *
   * @returns The running transfer.
   */
  protected async start(): Promise<Driven> {
    const storageMs = (this.config.storageTimeout ?? this.config.connTimeout) *
      1000;
    this.handle = await withDeadline(this.openFile(), {
      ms: storageMs,
      clock: this.clock,
      late: (handle) => handle.close(),
      signal: this.cancelSignal,
    });
    const netascii = this.request.mode === "netascii";
    let size = this.handle.size;
    if (netascii) {
      size = this.request.options.has("tsize") && size !== undefined &&
          size <= NETASCII_TSIZE_LIMIT
        ? await netasciiSize(this.handle, NETASCII_TSIZE_LIMIT)
        : undefined;
    }
    this.negotiated = this.negotiate(size);
    const { blksize, windowsize, oack } = this.negotiated;
    const now = this.clock.now();
    this.#machine = new SendTransfer({
      role: "server",
      peer: this.peer,
      blksize,
      windowsize,
      oack: oack.size > 0,
      initialWindow: this.config.guessableTid
        ? guardedInitialWindow(windowsize, blksize)
        : undefined,
      ...this.retry(),
    }, now);
    const handle = this.handle;
    return driveSend(this.#machine, {
      ...this.driveOptions(),
      oack: oack.size > 0 ? encodeOack(oack) : undefined,
      sourceWaitMs: storageMs,
      source: (b) =>
        netascii
          ? new NetasciiBlockSource(handle, b)
          : new OctetBlockSource(handle, b),
    });
  }

  /**
   * How the machine ended.
   *
   * @returns Outcome and error text.
   */
  protected outcome(): [Outcome, string | undefined] {
    const m = this.#machine!;
    const local = this.driven?.localError;
    if (local) {
      return ["error", `ERROR ${local.code}: ${local.message}`];
    }
    return [m.outcome ?? "cancelled", m.error];
  }

  /** How the machine ended, once it has. */
  protected get machineOutcome(): Outcome | undefined {
    return this.#machine?.outcome;
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

  /** Closes the file. */
  protected cleanup(): Promise<void> {
    this.handle?.close();
    return Promise.resolve();
  }
}
