/**
 * Messages between the server's main thread and its worker threads
 * (`--workers`). Everything here survives structured cloning.
 *
 * @module
 */

import type { LogLevel } from "../../log.ts";
import type { RequestPacket } from "../../protocol/packet.ts";
import type { RootOptions } from "../../storage/fs_root.ts";
import type { OriginSettings } from "../../storage/origin.ts";
import type { SharedSlots } from "../../storage/origin/shared_limit.ts";
import type { SessionConfig, TransferStats } from "../session.ts";
import type { ProgressReport } from "../../metrics/progress.ts";

/** What a worker needs to serve transfers like the main thread would. */
export interface WorkerSetup extends RootOptions {
  /** Address transfer sockets bind to when a start message names none. */
  host: string;
  /** Inclusive transfer port range, if any. */
  portRange?: [number, number];
  /** Where in the range this worker starts looking for a free port. */
  portStart: number;
  /** How often to post progress of running transfers, ms (0: never). */
  progressMs: number;
  /** This thread's bytes for window buffers. */
  windowMemory: number;
  /** The origin behind (or instead of) the root, with this thread's bounds. */
  origin?: OriginSettings;
  /**
   * The whole server's origin requests at once, shared by every thread;
   * the pool numbers each worker's handle (the main thread is 0).
   */
  originSlots?: SharedSlots;
  /** Networks allowed to get any reply (also at transfer ports). */
  allowFrom?: string[];
  /** Session timeouts and limits. */
  config: SessionConfig;
  /** Whether debug lines are wanted (they are sent to the main thread). */
  verbose: boolean;
}

/** Main thread to worker. */
export type ToWorker =
  | { type: "setup"; setup: WorkerSetup }
  | {
    type: "start";
    id: number;
    request: RequestPacket;
    name: string;
    /**
     * The same request as this transfer of this worker: a retransmit if that
     * transfer has not heard from its client yet (then drop this one).
     */
    repeatOf?: number;
    peer: Deno.NetAddr;
    /** The listen address the request arrived on: the transfer binds to it. */
    local?: Deno.NetAddr;
  }
  | { type: "cancel"; id: number; reason?: string }
  | { type: "close" };

/** Worker to main thread. */
export type FromWorker =
  | { type: "ready" }
  | { type: "failed"; error: string }
  | { type: "established"; id: number }
  | ProgressReport
  | { type: "stats"; id: number; stats: TransferStats }
  | { type: "refused"; id: number; code: number; message: string }
  | {
    type: "log";
    level: LogLevel;
    message: string;
    fields?: Record<string, unknown>;
  }
  | { type: "done"; id: number }
  | { type: "closed" };

/**
 * Stats for a transfer that ended before it could run or report (no port,
 * its worker died, the server stopped).
 *
 * @param error What happened.
 * @param about What is known of the transfer.
 * @returns Stats with outcome `error` and nothing transferred.
 */
export function failedStats(
  error: string,
  about: Partial<
    Pick<TransferStats, "peer" | "filename" | "direction" | "mode">
  > = {},
): TransferStats {
  return {
    peer: about.peer ?? "",
    filename: about.filename ?? "",
    direction: about.direction ?? "read",
    mode: about.mode ?? "octet",
    options: {},
    bytes: 0,
    durationMs: 0,
    retransmits: 0,
    outcome: "error",
    error,
  };
}
