/**
 * Sessions: one server transfer each. A session opens the file, negotiates
 * the options, builds the transfer machine and hands it to the driver; the
 * protocol's rules are the machine's (`src/protocol/`), the socket loop is
 * the driver's (`src/transport/driver.ts`).
 *
 * Subclass {@linkcode ReadSession} or {@linkcode WriteSession} (in
 * `read_session.ts`, `write_session.ts`) to add an option (override
 * `negotiate`) or change file handling (override `openFile`), and return
 * the subclass from `TftpServer.selectProtocol`.
 *
 * @module
 */

import {
  encodeError,
  ErrorCode,
  type RequestPacket,
  TftpError,
} from "../protocol/packet.ts";
import { checkMode, type Negotiated } from "../protocol/options.ts";
import {
  type Outcome,
  type RetryOptions,
  serverRetry,
} from "../protocol/transfer.ts";
import { type Logger, quote } from "../log.ts";
import { clip, parenthesize } from "../escape.ts";
import type { RequestInfo, Storage } from "../storage/types.ts";
import { normalizeHost } from "../net/address.ts";
import type { Driven, DriveOptions } from "../transport/driver.ts";
import {
  type Clock,
  type Lane,
  systemClock,
  type Transport,
} from "../transport/types.ts";
import { SERVER_DEFAULTS } from "../defaults.ts";

export type { Outcome };

/** Server-wide transfer settings. */
export interface SessionConfig {
  /** Retransmit interval in seconds when the client sets no timeout. */
  ackTimeout: number;
  /** Seconds without progress before a transfer is abandoned. */
  connTimeout: number;
  /** The same for an upload once DATA has come (default `connTimeout`). */
  uploadTimeout?: number;
  /**
   * Longest wait in seconds for storage: to open a file for reading, and
   * for a block's bytes (default `connTimeout`; longer when an origin's
   * own bounds are).
   */
  storageTimeout?: number;
  /** Retransmit rounds without progress before a transfer is abandoned. */
  maxRetries: number;
  /** Largest blksize granted. */
  maxBlksize: number;
  /** Largest windowsize granted. */
  maxWindowsize: number;
  /** Largest upload in bytes (undefined: no limit). */
  maxUpload?: number;
  /**
   * Bytes a transfer socket can queue: an upload's windowsize is capped so
   * one window fits (see `negotiate`). Undefined: no cap.
   */
  receiveBuffer?: number;
  /**
   * Longest time without progress in seconds, whatever timeout option the
   * client asks for (default 30).
   */
  maxIdle?: number;
  /**
   * Floor in ms of the adaptive retransmit timer. When the client sets no
   * timeout option, the interval follows the measured round trip (RFC 6298
   * style, between this floor and `ackTimeout`); 0 turns adaptation off.
   */
  minRtoMs?: number;
  /**
   * Longest busy-poll spin in µs before a receive, used only while the
   * transfer is alone in its thread (see `busy_poll.ts`); 0 turns it off.
   */
  busyPollUs?: number;
  /**
   * Transfer ports can be guessed (single-port mode, a small port range):
   * windows start small, so a blind ACK pulls little (reflection).
   */
  guessableTid?: boolean;
}

/** Default settings (py3tftp's timeouts). */
export const DEFAULT_SESSION_CONFIG: SessionConfig = {
  ackTimeout: SERVER_DEFAULTS.ackTimeout,
  connTimeout: SERVER_DEFAULTS.timeout,
  uploadTimeout: SERVER_DEFAULTS.uploadTimeout,
  maxRetries: SERVER_DEFAULTS.retries,
  maxBlksize: SERVER_DEFAULTS.maxBlksize,
  maxWindowsize: SERVER_DEFAULTS.maxWindowsize,
  maxIdle: SERVER_DEFAULTS.maxIdle,
  minRtoMs: SERVER_DEFAULTS.minRtoMs,
  busyPollUs: SERVER_DEFAULTS.busyPollUs,
};

/** What happened in one transfer (logged, and handed to hooks). */
export interface TransferStats {
  /** Client `host:port` (`[v6]:port` for IPv6). */
  peer: string;
  /** File name as requested. */
  filename: string;
  /** `read` (RRQ) or `write` (WRQ). */
  direction: "read" | "write";
  /** Transfer mode. */
  mode: string;
  /** Negotiated options (as in the OACK). */
  options: Record<string, string>;
  /** Payload bytes transferred (on the wire). */
  bytes: number;
  /** Milliseconds from request to end. */
  durationMs: number;
  /** Retransmit rounds. */
  retransmits: number;
  /** How it ended. */
  outcome: Outcome;
  /** Error text, when it did not end well. */
  error?: string;
  /** Worker thread (1-based) that ran it; absent for the main thread. */
  worker?: number;
}

/** Everything a session is constructed with. */
export interface SessionInit {
  /** The decoded request. */
  request: RequestPacket;
  /**
   * The name storage is asked for, from the server's name pipeline
   * (default: the request's file name as sent).
   */
  name?: string;
  /** Client address. */
  peer: Deno.NetAddr;
  /** This transfer's socket. */
  transport: Transport;
  /** Where files come from and go to. */
  storage: Storage;
  /** Timeouts and limits. */
  config: SessionConfig;
  /** Logger. */
  log: Logger;
  /** Clock (defaults to the real one). */
  clock?: Clock;
  /** The transfers of this thread (for busy-polling). */
  lane?: Lane;
  /** Whether a stranger may get ERROR 5 (the server's allow-list). */
  answerStranger?: (hostname: string) => boolean;
  /** Called once when the client first answers. */
  onEstablished?: () => void;
}

/** A session class, as returned by `TftpServer.selectProtocol`. */
export type SessionClass = new (init: SessionInit) => Session;

/**
 * Formats `host:port`, bracketing IPv6.
 *
 * @example
 * ```ts
 * import { formatPeer } from "./session.ts";
 * if (formatPeer({ hostname: "::1", port: 69 }) !== "[::1]:69") throw new Error();
 * ```
 *
 * @param addr The address.
 * @returns The text.
 */
export function formatPeer(addr: { hostname: string; port: number }): string {
  const host = normalizeHost(addr.hostname);
  return host.includes(":") ? `[${host}]:${addr.port}` : `${host}:${addr.port}`;
}

/** Options (client-supplied names and values) as log text, quoted. */
export function optionsText(opts: ReadonlyMap<string, string>): string {
  const parts: string[] = [];
  for (const [k, v] of opts) {
    if (parts.length === 16) {
      parts.push(`...(+${opts.size - 16} options)`);
      break;
    }
    parts.push(`${safeWord(k)}=${safeWord(v)}`);
  }
  return parts.join(" ");
}

/** A word as is when it is plain, else quoted. */
export function safeWord(s: string): string {
  return /^[\w.+-]{1,64}$/.test(s) ? s : quote(s, { max: 64 });
}

/**
 * The common part of a server transfer: start-up, the driver, the outcome,
 * the log lines. Subclasses implement {@linkcode Session.start}.
 *
 * @example Route requests to session classes
 * ```ts
 * import { TftpServer } from "./server.ts";
 * import { ReadSession } from "./read_session.ts";
 * import type { SessionClass } from "./session.ts";
 * import type { RequestPacket } from "../protocol/packet.ts";
 * class OnlyReads extends TftpServer {
 *   override selectProtocol(r: RequestPacket): SessionClass | undefined {
 *     return r.op === 1 ? ReadSession : undefined; // uploads get ERROR 4
 *   }
 * }
 * if (new OnlyReads({ port: 0 }).selectProtocol({ op: 2, filename: "x", mode: "octet", options: new Map() })) {
 *   throw new Error();
 * }
 * ```
 */
export abstract class Session {
  /** The request being served. */
  readonly request: RequestPacket;
  /** The name storage is asked for (normalised by the server). */
  readonly name: string;
  /** Client address. */
  readonly peer: Deno.NetAddr;
  /** This transfer's socket. */
  readonly transport: Transport;
  /** Storage. */
  readonly storage: Storage;
  /** Settings. */
  readonly config: SessionConfig;
  /** Logger. */
  readonly log: Logger;
  /** Clock. */
  readonly clock: Clock;
  /** Client `host:port`. */
  readonly peerText: string;
  /** Negotiated parameters (set by `start`). */
  negotiated: Negotiated = { oack: new Map(), blksize: 512, windowsize: 1 };
  /** The transfers of this thread. */
  protected readonly lane?: Lane;
  /** The allow-list check for strangers. */
  protected readonly answerStranger?: (hostname: string) => boolean;
  /** Called once when the client first answers. */
  protected readonly onEstablished?: () => void;
  /** The running driver, once started. */
  protected driven?: Driven;
  #started: number;
  #outcome?: Outcome;
  #missing = false;
  #error?: string;
  #statsResolve!: (s: TransferStats) => void;
  #statsValue?: TransferStats;
  #stats: Promise<TransferStats>;
  #cancelled = false;
  #cancelReason = "server shutdown";
  #stop = new AbortController();
  /** Aborted by {@linkcode Session.cancel}: waits on storage end then. */
  protected readonly cancelSignal: AbortSignal = this.#stop.signal;

  /**
   * Takes the request and its resources; {@linkcode Session.run} serves it.
   *
   * @param init Request, peer, socket, storage, settings.
   */
  constructor(init: SessionInit) {
    this.request = init.request;
    this.name = init.name ?? init.request.filename;
    this.peer = init.peer;
    this.transport = init.transport;
    this.storage = init.storage;
    this.config = init.config;
    this.log = init.log;
    this.clock = init.clock ?? systemClock;
    this.lane = init.lane;
    this.answerStranger = init.answerStranger;
    this.onEstablished = init.onEstablished;
    this.peerText = formatPeer(init.peer);
    this.#started = this.clock.now();
    this.#stats = new Promise((r) => this.#statsResolve = r);
  }

  /** `read` or `write`. */
  abstract get direction(): "read" | "write";

  /** Facts about the requester, for storage. */
  get info(): RequestInfo {
    return {
      hostname: normalizeHost(this.peer.hostname),
      port: this.peer.port,
      mode: this.request.mode,
    };
  }

  /** Payload bytes moved so far. */
  get bytes(): number {
    return this.driven?.bytes ?? 0;
  }

  /**
   * The transfer's size when known (a read's file size, an upload's
   * announced tsize), for progress displays.
   */
  abstract get size(): number | undefined;

  /** Whether the outcome is known (an upload may still linger to re-ACK). */
  get finished(): boolean {
    return this.#outcome !== undefined || this.machineOutcome !== undefined;
  }

  /** How the machine ended, as soon as it has (before the cleanup). */
  protected abstract get machineOutcome(): Outcome | undefined;

  /** Whether the client has answered, so a repeated request is a new one. */
  abstract get established(): boolean;

  /**
   * Resolves with the stats when the outcome is known: at once for a
   * success, after cleanup for anything else.
   */
  get stats(): Promise<TransferStats> {
    return this.#stats;
  }

  /** What every driver of a server session is given. */
  protected driveOptions(): DriveOptions {
    return {
      transport: this.transport,
      clock: this.clock,
      lane: this.lane,
      busyPollUs: this.config.busyPollUs,
      answerStranger: this.answerStranger,
      onEstablished: this.onEstablished,
      debug: this.log.debugEnabled
        ? (m) => this.log.debug(`${this.peerText} ${m}`)
        : undefined,
    };
  }

  /** The retry settings for this transfer's machine (see `serverRetry`). */
  protected retry(): RetryOptions {
    return serverRetry(this.config, this.negotiated.timeout);
  }

  /**
   * Runs the transfer to its end.
   *
   * @returns What happened.
   */
  async run(): Promise<TransferStats> {
    const verb = this.direction === "read" ? "RRQ" : "WRQ";
    const req = optionsText(this.request.options);
    this.log.info(
      `${this.peerText} ${verb} ${quote(this.request.filename)} ` +
        `${safeWord(this.request.mode)}${req ? " " + req : ""}`,
    );
    try {
      checkMode(this.request.mode);
      this.driven = await this.start();
      if (this.#cancelled) this.driven.close();
      await this.driven.finished;
      const [outcome, error] = this.outcome();
      this.complete(
        outcome,
        error ?? (outcome === "cancelled" ? this.#cancelReason : undefined),
      );
    } catch (err) {
      // Cancelled while storage was opening: nobody is told (no ERROR).
      if (!this.#cancelled) await this.#fail(err);
    } finally {
      this.#closeSocket();
      await this.cleanup();
      this.complete(this.#outcome ?? "cancelled", this.#cancelReason);
      this.#statsResolve(this.#statsValue!);
    }
    return this.#stats;
  }

  /** Opens, negotiates, builds the machine and starts the driver. */
  protected abstract start(): Promise<Driven>;

  /** How the machine ended: outcome and error text. */
  protected abstract outcome(): [Outcome, string | undefined];

  /** Releases files; called once when the transfer ends. */
  protected abstract cleanup(): Promise<void>;

  /** Retransmit rounds so far (for stats). */
  protected abstract get retransmits(): number;

  async #fail(err: unknown): Promise<void> {
    const tftp = err instanceof TftpError
      ? err
      : new TftpError(ErrorCode.NOT_DEFINED, "internal error");
    if (!(err instanceof TftpError)) {
      this.log.error(`${this.peerText} internal error: ${String(err)}`);
    }
    if (!this.#cancelled) {
      await this.transport.send(
        encodeError(tftp.code, tftp.message),
        this.peer,
      ).catch(() => {});
    }
    const detail = tftp.detail ? ` [${tftp.detail}]` : "";
    // Boot loaders probe for names that need not exist (PXELINUX asks for up
    // to a dozen configs per boot): a missing file to read is not a warning.
    this.#missing = this.direction === "read" &&
      tftp.code === ErrorCode.FILE_NOT_FOUND;
    this.complete("error", `ERROR ${tftp.code}: ${tftp.message}${detail}`);
  }

  #closeSocket(): void {
    if (this.driven) {
      this.driven.close();
      return;
    }
    try {
      this.transport.close();
    } catch { /* already closed */ }
  }

  /**
   * Records and logs the outcome once (a finished upload may still linger
   * to re-ACK a retransmitted last block).
   *
   * @param outcome How it ended.
   * @param error Error text.
   */
  protected complete(outcome: Outcome, error?: string): void {
    if (this.#outcome !== undefined) return;
    this.#outcome = outcome;
    this.#error = error;
    const durationMs = this.clock.now() - this.#started;
    // Client text in the stats is bounded: they go into JSON log lines and
    // to hooks (the error may quote the name).
    error = error === undefined ? undefined : clip(error, { max: 300 });
    const stats: TransferStats = {
      peer: this.peerText,
      filename: clip(this.request.filename, { max: 256 }),
      direction: this.direction,
      mode: clip(this.request.mode, { max: 32 }),
      options: Object.fromEntries(this.negotiated.oack),
      bytes: this.bytes,
      durationMs,
      retransmits: this.retransmits,
      outcome,
      error,
    };
    const [hits, spins] = this.driven?.pollStats ?? [0, 0];
    if (spins > 0) {
      this.log.debug(
        `${this.peerText} busy-poll: ${hits} of ${spins} replies taken ` +
          `without sleeping`,
      );
    }
    const verb = this.direction === "read" ? "RRQ" : "WRQ";
    const opts = optionsText(this.negotiated.oack);
    const line = `${this.peerText} ${verb} ${quote(this.request.filename)} ` +
      `${safeWord(this.request.mode)}${opts ? " " + opts : ""}: ${outcome}${
        error ? ` ${parenthesize(error)}` : ""
      }, ${stats.bytes} bytes in ${(durationMs / 1000).toFixed(3)} s, ` +
      `${stats.retransmits} retransmits`;
    // A probe (UEFI sizes each file it boots so) is no failure.
    const calm = outcome === "ok" || outcome === "probe" || this.#missing;
    if (calm || outcome === "cancelled") {
      this.log.info(line, { stats });
    } else this.log.warn(line, { stats });
    this.#statsValue = stats;
    // A success is announced at once (an upload is already published); a
    // failure only after cleanup, once nothing is left behind.
    if (outcome === "ok") this.#statsResolve(stats);
  }

  /**
   * Stops the transfer from outside; an unfinished upload is discarded.
   *
   * @param reason For the log (default: "server shutdown").
   */
  cancel(reason = "server shutdown"): void {
    if (this.#cancelled) return;
    this.#cancelled = true;
    this.#cancelReason = reason;
    this.#stop.abort(new Error(reason));
    // A client in the middle of a transfer is told, so that it fails now
    // rather than after its retries; a stored upload waiting for a repeated
    // last block is not. UDP sends leave at once: the close cannot drop it.
    if (this.cancelMachine(reason) && this.#outcome === undefined) {
      this.transport.send(encodeError(ErrorCode.NOT_DEFINED, reason), this.peer)
        .catch(() => {});
    }
    this.driven?.close();
  }

  /**
   * Ends the machine as cancelled (its driver then stops).
   *
   * @param reason For the log.
   * @returns Whether the transfer was still running (or not yet started).
   */
  protected abstract cancelMachine(reason: string): boolean;
}
