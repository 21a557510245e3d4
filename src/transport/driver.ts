/**
 * The transfer driver: runs a transfer machine ({@linkcode SendTransfer} or
 * {@linkcode ReceiveTransfer}) over a {@linkcode Transport} and a
 * {@linkcode Clock}. It owns the socket loop, the one timer, the packet
 * buffers and the calls to the block source or sink; every decision is the
 * machine's. The server's read and write transfers and the client's get
 * and put all run here.
 *
 * @module
 */

import type { SendTransfer } from "../protocol/send_transfer.ts";
import type { ReceiveTransfer } from "../protocol/receive_transfer.ts";
import type { DriveOptions } from "./drive.ts";
import { type DriveSendOptions, SendDrive } from "./send_drive.ts";
import { type DriveReceiveOptions, ReceiveDrive } from "./receive_drive.ts";

export type { DriveOptions, DriveReceiveOptions, DriveSendOptions };

/** A running transfer, as its owner sees it. */
export interface Driven {
  /** Resolves when the socket is closed and the machine has ended. */
  readonly finished: Promise<void>;
  /** Payload bytes moved so far. */
  readonly bytes: number;
  /** An error we sent the peer because of a local failure. */
  readonly localError?: { code: number; message: string };
  /** Busy-poll statistics: [hits, spins]. */
  readonly pollStats: [number, number];
  /**
   * Cancels the transfer: the machine ends as `cancelled` and the peer,
   * once it has answered, gets one ERROR 0 with `message`; then the socket
   * closes ({@linkcode Driven.finished} resolves).
   */
  cancel(message: string): void;
  /** Stops at once (the machine must have been ended by the caller). */
  close(): void;
}

/**
 * Runs a sending transfer to its end.
 *
 * @example
 * ```ts ignore
 * const t = new SendTransfer({ role: "server", peer, windowsize: 1 }, clock.now());
 * const run = driveSend(t, { transport, source: (b) => new OctetBlockSource(handle, b) });
 * await run.finished;
 * ```
 *
 * @param t The machine.
 * @param options Socket, clock, where the blocks come from.
 * @returns The running transfer.
 */
export function driveSend(t: SendTransfer, options: DriveSendOptions): Driven {
  const d = new SendDrive(t, options);
  d.start();
  d.loop();
  return {
    finished: d.finished,
    get bytes() {
      return d.bytes;
    },
    get localError() {
      return d.localError;
    },
    get pollStats() {
      return d.pollStats;
    },
    cancel: (message) => d.cancel(message),
    close: () => d.close(),
  };
}

/**
 * Runs a receiving transfer to its end.
 *
 * @example
 * ```ts ignore
 * const t = new ReceiveTransfer({ role: "server", peer }, clock.now());
 * const run = driveReceive(t, { transport, write: (d) => file.write(d), maxBlksize: 512 });
 * await run.finished;
 * ```
 *
 * @param t The machine.
 * @param options Socket, clock, where the payloads go.
 * @returns The running transfer.
 */
export function driveReceive(
  t: ReceiveTransfer,
  options: DriveReceiveOptions,
): Driven {
  const d = new ReceiveDrive(t, options);
  d.start().then(() => d.loop(), (err) => d.abort(0, String(err)));
  return {
    finished: d.finished,
    get bytes() {
      return t.bytes;
    },
    get localError() {
      return d.localError;
    },
    get pollStats() {
      return d.pollStats;
    },
    cancel: (message) => void d.cancel(message),
    close: () => d.close(),
  };
}
