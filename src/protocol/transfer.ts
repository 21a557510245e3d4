/**
 * What both transfer machines share ({@linkcode SendTransfer} and
 * {@linkcode ReceiveTransfer}): the actions they ask of their driver, how a
 * transfer ends, the client's request phase, and the client's check of an
 * OACK. Pure.
 *
 * A transfer runs in two phases. A client first sends its request (RRQ or
 * WRQ) to the server's listen port and retransmits it until the server
 * answers from its transfer port, whose port the client then locks onto; a
 * server starts with its first reply already decided (OACK, DATA 1 or ACK
 * 0). Then the data phase: the sending side runs a {@linkcode Sender}, the
 * receiving side a {@linkcode Receiver}.
 *
 * @module
 */

import { ErrorCode } from "./packet.ts";
import { RetryBudget } from "./budget.ts";
import { Rto, type RtoOptions } from "./rto.ts";
import { MAX_BLKSIZE, MIN_BLKSIZE } from "./options.ts";
import { SERVER_DEFAULTS } from "../defaults.ts";

/**
 * Bits of what a machine asks its driver to do after an event. Several may
 * be set (a final DATA block is DELIVER | FINAL | SEND).
 */
export const Act = {
  /** Nothing to do. */
  NONE: 0,
  /**
   * Sending side: send what `nextBlock()` yields, then call `sent(now)`.
   * Receiving side: send `control` (the OACK or an ACK), then `acked(now)`.
   */
  SEND: 1,
  /** Receiving side: write the payload of the datagram (bytes from 4 on). */
  DELIVER: 2,
  /** Receiving side: that was the final block: publish it before the ACK. */
  FINAL: 4,
  /** Send `strangerReply` (ERROR 5) to the datagram's source. */
  STRANGER: 8,
  /** Client: (re)send the request to the server's listen port. */
  REQUEST: 16,
  /** The transfer is complete. */
  DONE: 32,
  /**
   * The transfer ended otherwise (`outcome`, `error`); send `farewell` to
   * the peer first when it is set.
   */
  END: 64,
} as const;

/** How a transfer ended. */
export type Outcome =
  | "ok"
  | "error"
  | "aborted"
  | "probe"
  | "timeout"
  | "cancelled";

/** Which end of the protocol a machine plays. */
export type Role = "server" | "client";

/** An ERROR packet's content. */
export interface ErrorInfo {
  /** TFTP error code. */
  code: number;
  /** Text. */
  message: string;
}

/** Retry settings shared by both machines (and both phases). */
export interface RetryOptions {
  /** Retransmits allowed without progress (default 5). */
  maxRetries?: number;
  /** Ms without progress before giving up (default 3000). */
  giveUpMs?: number;
  /** Once out of retransmits: ms without progress before giving up. */
  patienceMs?: number;
  /** Give-up once the peer has made progress (default: as before). */
  giveUpAfterProgressMs?: number;
  /** The retransmit interval (default: a fixed 1000 ms). */
  rto?: RtoOptions;
}

/** A server's timing settings, in seconds (as its flags give them). */
export interface ServerTiming {
  /** Retransmit interval when the client sets no timeout option. */
  ackTimeout: number;
  /** Seconds without progress before giving up, at that interval. */
  connTimeout: number;
  /** Retransmits without progress before giving up. */
  maxRetries: number;
  /** The hard cap on time without progress (default `--max-idle`'s). */
  maxIdle?: number;
  /** Floor in ms of the adaptive interval (0: a fixed interval). */
  minRtoMs?: number;
}

/**
 * A server transfer's retry settings. Without a client `timeout` option the
 * interval adapts from `ackTimeout` and the transfer gives up after
 * `connTimeout` s without progress. A client's option T fixes the interval
 * at T and stretches the no-progress bound by the same factor (T /
 * `ackTimeout`, never below 1): a client that asks us to wait longer per
 * packet gets as many of our resends as any other, which a firmware with a
 * 5 s timer (U-Boot) needs on a lossy link. Once the retransmits are spent,
 * waiting ends when they would have run out at the fixed interval. Nothing
 * lasts past `maxIdle` without progress, whatever the flags or the option.
 *
 * @example
 * ```ts
 * import { serverRetry } from "./transfer.ts";
 * const flags = { ackTimeout: 0.5, connTimeout: 3, maxRetries: 5, maxIdle: 30 };
 * if (serverRetry(flags).giveUpMs !== 3000) throw new Error();
 * if (serverRetry(flags, 5).giveUpMs !== 30_000) throw new Error();
 * if (serverRetry({ ...flags, maxIdle: 2 }).giveUpMs !== 2000) throw new Error();
 * ```
 *
 * @param timing The server's flags.
 * @param clientTimeout The client's accepted `timeout` option in seconds.
 * @returns Settings for either transfer machine.
 */
export function serverRetry(
  timing: ServerTiming,
  clientTimeout?: number,
): RetryOptions {
  const capMs = (timing.maxIdle ?? SERVER_DEFAULTS.maxIdle) * 1000;
  const intervalMs = (clientTimeout ?? timing.ackTimeout) * 1000;
  const stretch = clientTimeout === undefined
    ? 1
    : Math.max(1, clientTimeout / timing.ackTimeout);
  return {
    maxRetries: timing.maxRetries,
    giveUpMs: Math.min(timing.connTimeout * 1000 * stretch, capMs),
    patienceMs: intervalMs * (timing.maxRetries + 1),
    rto: clientTimeout !== undefined
      ? { initialMs: intervalMs, fixed: true }
      : { initialMs: intervalMs, minMs: timing.minRtoMs ?? 0 },
  };
}

/**
 * A client's request phase: the request is retransmitted on the same rules
 * as any packet (interval, count, give-up), until the server answers.
 *
 * @example
 * ```ts
 * import { RequestPhase } from "./transfer.ts";
 * const r = new RequestPhase({ maxRetries: 1, giveUpMs: 2000, rto: { initialMs: 1000, fixed: true } }, 0);
 * if (r.deadline !== 1000) throw new Error();
 * if (r.onTimer(1000) !== "retransmit") throw new Error();
 * if (r.onTimer(2000) !== "give-up") throw new Error();
 * ```
 */
export class RequestPhase {
  #budget: RetryBudget;
  #rto: Rto;
  #sentAt: number;
  #silent = false;

  /**
   * The request goes out at `now`.
   *
   * @param options Retry settings.
   * @param now The current time in ms.
   */
  constructor(options: RetryOptions, now: number) {
    this.#budget = new RetryBudget({
      maxRetries: options.maxRetries ?? 5,
      giveUpMs: options.giveUpMs ?? 3000,
      patienceMs: options.patienceMs,
    }, now);
    this.#rto = new Rto(options.rto ?? { initialMs: 1000, fixed: true });
    this.#sentAt = now;
  }

  /** Request retransmits so far. */
  get retransmits(): number {
    return this.#budget.retransmits;
  }

  /** When the timer should fire next. */
  get deadline(): number {
    const giveUp = this.#budget.giveUpAt;
    return this.#silent
      ? giveUp
      : Math.min(this.#sentAt + this.#rto.ms, giveUp);
  }

  /**
   * The timer fired.
   *
   * @param now The current time in ms.
   * @returns Retransmit the request, wait, or give up.
   */
  onTimer(now: number): "retransmit" | "wait" | "give-up" {
    const verdict = this.#budget.onTimer(now);
    if (verdict === "wait") this.#silent = true;
    if (verdict === "retransmit") {
      this.#rto.backoff();
      this.#sentAt = now;
    }
    return verdict;
  }
}

/** Transfer parameters a client accepts from an OACK. */
export interface Accepted {
  /** Payload bytes per block. */
  blksize: number;
  /** Blocks per window. */
  windowsize: number;
  /** The announced transfer size, if the server sent tsize. */
  tsize?: number;
}

/**
 * A client's check of an OACK against what it asked (RFC 2347: a server
 * may only lower blksize and windowsize, and only answer what was asked).
 *
 * @example
 * ```ts
 * import { acceptOack } from "./transfer.ts";
 * const asked = new Map([["blksize", "1468"], ["tsize", "0"]]);
 * const ok = acceptOack(asked, new Map([["blksize", "1024"], ["tsize", "77"]]));
 * if (typeof ok === "string" || ok.blksize !== 1024 || ok.tsize !== 77) throw new Error();
 * if (typeof acceptOack(asked, new Map([["blksize", "9000"]])) !== "string") throw new Error();
 * ```
 *
 * @param asked Options the client requested.
 * @param offered Options in the server's OACK.
 * @returns The accepted parameters, or why the OACK is refused.
 */
export function acceptOack(
  asked: ReadonlyMap<string, string>,
  offered: ReadonlyMap<string, string>,
): Accepted | string {
  const result: Accepted = { blksize: 512, windowsize: 1 };
  for (const [name, value] of offered) {
    if (!asked.has(name)) return `option ${name} was not requested`;
    const numeric = name === "blksize" || name === "windowsize" ||
      name === "timeout" || name === "tsize";
    if (numeric && !/^\d{1,15}$/.test(value)) return `bad ${name} value`;
    const n = Number(value);
    const limit = Number(asked.get(name));
    switch (name) {
      case "blksize":
        if (n < MIN_BLKSIZE || n > Math.min(limit, MAX_BLKSIZE)) {
          return `blksize ${n} out of range`;
        }
        result.blksize = n;
        break;
      case "windowsize":
        if (n < 1 || n > limit) return `windowsize ${n} out of range`;
        result.windowsize = n;
        break;
      case "timeout":
        if (n !== limit) return `timeout ${n} differs from the request`;
        break;
      case "tsize":
        result.tsize = n;
        break;
    }
  }
  return result;
}

/** The farewell a client sends when it refuses an OACK. */
export const OACK_REFUSED: ErrorInfo = {
  code: ErrorCode.OPTION_REFUSED,
  message: "bad OACK",
};
