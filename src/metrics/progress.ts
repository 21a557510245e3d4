/**
 * Progress of running transfers without per-block cost: a live view of a
 * session in this thread, and, for worker threads, a once-a-second report
 * (one message per thread, not per transfer) that the main thread applies
 * to cached copies the monitor reads.
 *
 * @module
 */

import type { LiveSource } from "./types.ts";

/** What {@linkcode liveSession} reads of a session (`Session` fits). */
export interface SessionLike {
  /** Payload bytes moved so far. */
  readonly bytes: number;
  /** Negotiated parameters; `oack` holds the options as sent. */
  readonly negotiated: { readonly oack: ReadonlyMap<string, string> };
  /** Size in bytes when known. */
  readonly size?: number;
}

/**
 * A live source reading a session's own fields when asked.
 *
 * @example
 * ```ts
 * import { liveSession } from "./progress.ts";
 * const session = { bytes: 0, negotiated: { oack: new Map([["tsize", "9"]]) } };
 * const live = liveSession(session);
 * session.bytes = 3;
 * if (live.bytes !== 3 || live.options?.get("tsize") !== "9") throw new Error();
 * ```
 *
 * @param session The session.
 * @returns Getters over it (nothing copied, nothing run per block).
 */
export function liveSession(
  session: SessionLike,
): LiveSource & { readonly options: ReadonlyMap<string, string> } {
  return {
    get bytes() {
      return session.bytes;
    },
    get options() {
      return session.negotiated.oack;
    },
    get size() {
      return session.size;
    },
  };
}

/**
 * One transfer in a {@linkcode ProgressReport}: `[id, bytes]`, with the
 * negotiated options (and size, when known) in the first report after
 * negotiation only.
 */
export type ProgressEntry =
  | [id: number, bytes: number]
  | [id: number, bytes: number, options: Record<string, string>, size?: number];

/** The message a worker thread posts once a second while it runs transfers. */
export interface ProgressReport {
  /** Message type (beside the pool's `stats`, `done`, ...). */
  type: "progress";
  /** One entry per running transfer of that thread. */
  transfers: ProgressEntry[];
}

/**
 * Builds a worker thread's progress reports: bytes of each running
 * transfer, options once per transfer.
 *
 * @example
 * ```ts
 * import { ProgressReporter } from "./progress.ts";
 * const sessions = new Map([[7, { bytes: 512, negotiated: { oack: new Map([["blksize", "1468"]]) } }]]);
 * const reporter = new ProgressReporter();
 * const first = reporter.report(sessions);
 * sessions.get(7)!.bytes = 1024;
 * const second = reporter.report(sessions);
 * if (JSON.stringify(first?.transfers) !== '[[7,512,{"blksize":"1468"}]]') throw new Error();
 * if (JSON.stringify(second?.transfers) !== "[[7,1024]]") throw new Error();
 * if (reporter.report(new Map()) !== undefined) throw new Error("nothing to say");
 * ```
 */
export class ProgressReporter {
  #described = new Set<number>();

  /**
   * The report for the sessions running now, or undefined when none run
   * (then nothing needs posting).
   *
   * @param sessions Running transfers by the id the main thread gave them.
   * @returns The message to post.
   */
  report(
    sessions: ReadonlyMap<number, SessionLike>,
  ): ProgressReport | undefined {
    const transfers: ProgressEntry[] = [];
    const described = new Set<number>();
    for (const [id, s] of sessions) {
      if (this.#described.has(id)) {
        described.add(id);
        transfers.push([id, s.bytes]);
      } else if (s.negotiated.oack.size > 0 || s.bytes > 0) {
        described.add(id);
        const options = Object.fromEntries(s.negotiated.oack);
        transfers.push(
          s.size === undefined
            ? [id, s.bytes, options]
            : [id, s.bytes, options, s.size],
        );
      } else {
        transfers.push([id, s.bytes]);
      }
    }
    this.#described = described;
    return transfers.length > 0 ? { type: "progress", transfers } : undefined;
  }
}

/**
 * A transfer in another thread as the main thread last heard of it: the
 * monitor's live source for it.
 *
 * @example
 * ```ts
 * import { CachedProgress } from "./progress.ts";
 * const cached = new CachedProgress();
 * cached.apply([7, 512, { tsize: "2048" }]);
 * cached.apply([7, 1024]);
 * if (cached.bytes !== 1024 || cached.options?.tsize !== "2048") throw new Error();
 * ```
 */
export class CachedProgress implements LiveSource {
  /** Bytes as last reported. */
  bytes = 0;
  /** Options as reported once negotiated. */
  options?: Record<string, string>;
  /** Size, when reported. */
  size?: number;

  /**
   * Takes one entry of a report (entries never lower the byte count: a
   * late message cannot move progress back).
   *
   * @param entry The entry for this transfer.
   */
  apply(entry: ProgressEntry): void {
    if (entry[1] > this.bytes) this.bytes = entry[1];
    if (entry.length > 2) {
      this.options = entry[2];
      if (entry[3] !== undefined) this.size = entry[3];
    }
  }
}
