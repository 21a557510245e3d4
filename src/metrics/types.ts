/**
 * What the server tells a {@linkcode TransferMonitor} and what the monitor
 * shows: the start of a transfer, its live progress, refusals, and the JSON
 * document of `/api/status`.
 *
 * @module
 */

import type { Outcome } from "../server/session.ts";

const REFUSAL_SET: Record<RefusalReason, true> = {
  "malformed": true,
  "not-a-request": true,
  "busy": true,
  "per-client": true,
  "remap": true,
  "name": true,
  "refused": true,
  "no-port": true,
  "allow-list": true,
  "duplicate": true,
  "other": true,
};

/**
 * Why a request did not become a transfer: admission's reasons
 * (`malformed`, `not-a-request`, `busy`, `per-client`, `remap`, `name`,
 * `refused`, `no-port`), plus `allow-list` (a source outside `--allow-from`,
 * dropped silently), `duplicate` (a repeated request ignored while the
 * peer's transfer runs) and `other`. These are the only values of the
 * `reason` label: a fixed set, never text from the network.
 */
export const REFUSAL_REASONS: readonly RefusalReason[] = Object.keys(
  REFUSAL_SET,
) as RefusalReason[];

/** One of {@linkcode REFUSAL_REASONS}. */
export type RefusalReason =
  | "malformed"
  | "not-a-request"
  | "busy"
  | "per-client"
  | "remap"
  | "name"
  | "refused"
  | "no-port"
  | "allow-list"
  | "duplicate"
  | "other";

const OUTCOME_SET: Record<Outcome, true> = {
  ok: true,
  error: true,
  aborted: true,
  probe: true,
  timeout: true,
  cancelled: true,
};

/** Every transfer outcome, the values of the `outcome` label. */
export const OUTCOMES: readonly Outcome[] = Object.keys(
  OUTCOME_SET,
) as Outcome[];

/** Transfer directions, the values of the `direction` label. */
export const DIRECTIONS = ["read", "write"] as const;

/** `read` (RRQ) or `write` (WRQ). */
export type Direction = typeof DIRECTIONS[number];

/** What is known of a transfer when it is admitted. */
export interface TransferInfo {
  /** Client `host:port`. */
  peer: string;
  /** File name as requested (shown as text, never as a label). */
  filename: string;
  /** `read` or `write`. */
  direction: Direction;
  /** Transfer mode. */
  mode: string;
  /** Worker thread (1-based) running it; absent for the main thread. */
  worker?: number;
}

/**
 * Where the monitor reads a running transfer's progress when a page or a
 * scrape asks (never per block). A session fits with getters; a transfer in
 * a worker thread fits with a cached copy that the worker's periodic
 * progress messages update.
 */
export interface LiveSource {
  /** Payload bytes moved so far. */
  readonly bytes: number;
  /** Negotiated options (as in the OACK), once known. */
  readonly options?:
    | ReadonlyMap<string, string>
    | Readonly<Record<string, string>>;
  /**
   * Size in bytes when known (the file being read, or an upload's `tsize`);
   * when absent, a `tsize` option is used.
   */
  readonly size?: number;
}

/** A running transfer in {@linkcode StatusDocument}. */
export interface ActiveTransferView {
  /** Monitor-assigned id. */
  id: number;
  /** Client `host:port`. */
  peer: string;
  /** File name (clipped to a bounded length). */
  file: string;
  /** `read` or `write`. */
  direction: Direction;
  /** Transfer mode. */
  mode: string;
  /** Negotiated options so far. */
  options: Record<string, string>;
  /** Bytes moved so far. */
  bytes: number;
  /** Total size, when known. */
  size: number | null;
  /** `bytes / size` in percent (0 to 100), when the size is known. */
  percent: number | null;
  /** Recent rate in bytes per second. */
  rate: number;
  /** When it started, ms since the epoch. */
  startedAt: number;
  /** Seconds since it started. */
  elapsedSeconds: number;
  /** Worker thread (1-based), or null for the main thread. */
  worker: number | null;
}

/** A finished transfer in {@linkcode StatusDocument}. */
export interface FinishedTransferView {
  /** Monitor-assigned id. */
  id: number;
  /** Client `host:port`. */
  peer: string;
  /** File name (clipped to a bounded length). */
  file: string;
  /** `read` or `write`. */
  direction: Direction;
  /** Transfer mode. */
  mode: string;
  /** Negotiated options. */
  options: Record<string, string>;
  /** Bytes moved. */
  bytes: number;
  /** How long it took, in seconds. */
  durationSeconds: number;
  /** Average rate in bytes per second. */
  rate: number;
  /** Retransmit rounds. */
  retransmits: number;
  /** How it ended. */
  outcome: Outcome;
  /** Error text (clipped), or null. */
  error: string | null;
  /** When it ended, ms since the epoch. */
  endedAt: number;
  /** Worker thread (1-based), or null for the main thread. */
  worker: number | null;
}

/** Counts since the monitor started. */
export interface StatusTotals {
  /** Finished transfers per outcome. */
  outcomes: Record<Outcome, number>;
  /** Finished transfers per direction and outcome. */
  transfers: Record<Direction, Record<Outcome, number>>;
  /** Bytes moved per direction (running transfers included). */
  bytes: Record<Direction, number>;
  /** Retransmit rounds of finished transfers. */
  retransmits: number;
  /** Refused requests per reason. */
  refusals: Record<RefusalReason, number>;
  /** Failed transfers per TFTP error code (`"0"` to `"8"`, or `"other"`). */
  errors: Record<string, number>;
}

/** The document `/api/status` serves (and the page's live updates carry). */
export interface StatusDocument {
  /** Schema version of this document. */
  schema: 1;
  /** When it was made, ms since the epoch. */
  now: number;
  /** Seconds since the monitor was created. */
  uptimeSeconds: number;
  /** Server version and runtime. */
  build: { version: string; deno: string };
  /** Running transfers in all. */
  activeCount: number;
  /** Running transfers, oldest first (at most the listing bound). */
  active: ActiveTransferView[];
  /** Running transfers per thread (`"main"`, `"1"`, ...). */
  threads: Record<string, number>;
  /** The last finished transfers, newest first. */
  recent: FinishedTransferView[];
  /** Counts since start. */
  totals: StatusTotals;
  /**
   * Throughput, one point per sample interval, oldest first:
   * `[ms since the epoch, read bytes/s, write bytes/s]`.
   */
  throughput: {
    intervalSeconds: number;
    points: [number, number, number][];
  };
}
