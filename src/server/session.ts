/**
 * Sessions: one transfer each, driving a {@linkcode Sender} or
 * {@linkcode Receiver} over its own socket with one lazily re-armed timer.
 *
 * Subclass {@linkcode ReadSession} or {@linkcode WriteSession} to add an
 * option (override `negotiate`) or change file handling (override
 * `openFile`), and return the subclass from `TftpServer.selectProtocol`.
 *
 * @module
 */

import {
  decode,
  encodeError,
  encodeOack,
  ErrorCode,
  type ErrorPacket,
  Opcode,
  type Packet,
  type RequestPacket,
  TftpError,
  writeAck,
  writeDataHeader,
} from "../protocol/packet.ts";
import { negotiate, type Negotiated } from "../protocol/options.ts";
import { Sender, SenderEvent } from "../protocol/sender.ts";
import { ReceiveFlag, Receiver } from "../protocol/receiver.ts";
import { NetasciiDecoder } from "../protocol/netascii.ts";
import type { Logger } from "../log.ts";
import type {
  ReadHandle,
  RequestInfo,
  Storage,
  WriteHandle,
} from "../storage/types.ts";
import {
  type BlockSource,
  NetasciiBlockSource,
  netasciiSize,
  OctetBlockSource,
} from "../transport/block_source.ts";
import { normalizeHost, sameEndpoint } from "../net/address.ts";
import { BusyPoll, spin } from "../transport/busy_poll.ts";

/** A datagram socket: `Deno.DatagramConn` fits, and so does a test fake. */
export interface Transport {
  /** Sends one datagram. */
  send(data: Uint8Array, addr: Deno.NetAddr): Promise<number>;
  /** Receives one datagram into `buf` (or a fresh buffer). */
  receive(buf?: Uint8Array): Promise<[Uint8Array, Deno.Addr]>;
  /** Closes the socket; a pending receive rejects. */
  close(): void;
  /** The local address. */
  readonly addr: Deno.Addr;
}

/** Time source and timers (real by default, fake in tests). */
export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  /** Runs `fn` after `ms` milliseconds; returns an id. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a timer. */
  clearTimeout(id: unknown): void;
}

/**
 * Transfers running in this thread. Busy-polling is only for a transfer
 * that is alone: with others, the spin would take their time.
 */
let liveTransfers = 0;

/** The real clock. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as number),
};

/** Server-wide transfer settings. */
export interface SessionConfig {
  /** Retransmit interval in seconds when the client sets no timeout. */
  ackTimeout: number;
  /** Seconds without progress before a transfer is abandoned. */
  connTimeout: number;
  /** Retransmit rounds without progress before a transfer is abandoned. */
  maxRetries: number;
  /** Largest blksize granted. */
  maxBlksize: number;
  /** Largest windowsize granted. */
  maxWindowsize: number;
  /** Largest upload in bytes (undefined: no limit). */
  maxUpload?: number;
  /**
   * Floor in ms of the adaptive retransmit timer. When the client sets no
   * timeout option, the interval follows the measured round trip (RFC 6298
   * style, between this floor and `ackTimeout`); 0 turns adaptation off.
   */
  minRtoMs?: number;
  /**
   * Longest busy-poll spin in µs before a receive, used only while the
   * transfer is alone in its thread (see `busy_poll.ts`); 0 turns it off.
   * Default 50.
   */
  busyPollUs?: number;
}

/** Default settings (py3tftp's timeouts). */
export const DEFAULT_SESSION_CONFIG: SessionConfig = {
  ackTimeout: 0.5,
  connTimeout: 3,
  maxRetries: 5,
  maxBlksize: 65464,
  maxWindowsize: 64,
  minRtoMs: 50,
  busyPollUs: 50,
};

/** How a transfer ended. */
export type Outcome =
  | "ok"
  | "error"
  | "aborted"
  | "probe"
  | "timeout"
  | "cancelled";

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
}

/** A session class, as returned by `TftpServer.selectProtocol`. */
export type SessionClass = new (init: SessionInit) => Session;

/** Formats `host:port`, bracketing IPv6. */
export function formatPeer(addr: Deno.NetAddr): string {
  const host = normalizeHost(addr.hostname);
  return host.includes(":") ? `[${host}]:${addr.port}` : `${host}:${addr.port}`;
}

function optionsText(opts: Map<string, string>): string {
  return [...opts].map(([k, v]) => `${k}=${v}`).join(" ");
}

/**
 * The common part of a transfer: socket loop, TID check, timer, logging.
 * Subclasses implement {@linkcode Session.start}, {@linkcode Session.onPacket}
 * and {@linkcode Session.onTimeout}.
 */
export abstract class Session {
  /** The request being served. */
  readonly request: RequestPacket;
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
  /** Payload bytes moved so far. */
  bytes = 0;
  /** Whether the transfer has ended (socket closed). */
  closed = false;
  /**
   * Set when a packet was just sent that the client answers at once (an
   * upload's ACK): the next receive may busy-poll even in window mode.
   */
  protected replyDue = false;
  /** Receive buffer; subclasses may size it in `start`. */
  protected rxBuf: Uint8Array = new Uint8Array(1024);
  /** Time of the last progress, for the overall give-up. */
  protected lastProgress: number;
  #started: number;
  #deadline = 0;
  #timer: unknown;
  #timerAt = 0;
  #outcome: Outcome | undefined;
  #error: string | undefined;
  #srtt: number | undefined;
  #rttvar = 0;
  #rto: number | undefined;
  #poll: BusyPoll;
  #statsResolve!: (s: TransferStats) => void;
  #statsValue?: TransferStats;
  #stats: Promise<TransferStats>;

  /**
   * Creates an instance.
   *
   * @param init Request, peer, socket, storage, settings.
   */
  constructor(init: SessionInit) {
    this.request = init.request;
    this.peer = init.peer;
    this.transport = init.transport;
    this.storage = init.storage;
    this.config = init.config;
    this.log = init.log;
    this.clock = init.clock ?? systemClock;
    this.peerText = formatPeer(init.peer);
    this.#started = this.clock.now();
    this.lastProgress = this.#started;
    this.#stats = new Promise((r) => this.#statsResolve = r);
    // Spinning needs the real clock (a test clock would never advance).
    this.#poll = new BusyPoll({
      maxUs: this.clock === systemClock ? init.config.busyPollUs : 0,
    });
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

  /**
   * Retransmit interval in ms: the client's timeout option if it set one,
   * else the adaptive estimate (ack-timeout until a round trip is measured).
   */
  get intervalMs(): number {
    const t = this.negotiated.timeout;
    if (t !== undefined) return t * 1000;
    return this.#rto ?? this.config.ackTimeout * 1000;
  }

  /**
   * Feeds one round-trip sample (ms) to the adaptive timer. Only samples of
   * packets that were not retransmitted may be fed (Karn's rule).
   *
   * @param ms Measured round trip.
   */
  protected sampleRtt(ms: number): void {
    const floor = this.config.minRtoMs ?? 0;
    if (floor <= 0) return;
    if (this.#srtt === undefined) {
      this.#srtt = ms;
      this.#rttvar = ms / 2;
    } else {
      this.#rttvar = 0.75 * this.#rttvar + 0.25 * Math.abs(this.#srtt - ms);
      this.#srtt = 0.875 * this.#srtt + 0.125 * ms;
    }
    this.#rto = Math.min(
      Math.max(this.#srtt + 4 * this.#rttvar, floor),
      this.config.ackTimeout * 1000,
    );
  }

  /** Doubles the adaptive interval after a timeout (capped at ack-timeout). */
  protected backoff(): void {
    if (this.#rto !== undefined) {
      this.#rto = Math.min(this.#rto * 2, this.config.ackTimeout * 1000);
    }
  }

  /** Ms without progress after which the transfer is abandoned. */
  get giveUpMs(): number {
    const t = this.negotiated.timeout;
    return t !== undefined
      ? t * 1000 * (this.config.maxRetries + 1)
      : this.config.connTimeout * 1000;
  }

  /** Whether the outcome is known (an upload may still linger to re-ACK). */
  get finished(): boolean {
    return this.#outcome !== undefined;
  }

  /**
   * Resolves with the stats when the outcome is known: at once for a
   * success, after cleanup for anything else.
   */
  get stats(): Promise<TransferStats> {
    return this.#stats;
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
      `${this.peerText} ${verb} ${JSON.stringify(this.request.filename)} ` +
        `${this.request.mode}${req ? " " + req : ""}`,
    );
    liveTransfers++;
    try {
      if (this.request.mode !== "octet" && this.request.mode !== "netascii") {
        throw new TftpError(
          ErrorCode.ILLEGAL_OPERATION,
          `unsupported transfer mode '${this.request.mode}'`,
        );
      }
      await this.start();
      await this.#receiveLoop();
    } catch (err) {
      await this.fail(err);
    } finally {
      liveTransfers--;
      this.#closeSocket();
      await this.cleanup();
      this.complete(this.#outcome ?? "cancelled");
      this.#statsResolve(this.#statsValue!);
    }
    return this.#stats;
  }

  /** Sets up the transfer and sends the first packet. */
  protected abstract start(): Promise<void>;

  /** Handles a packet from the client (not ERROR: see `onClientError`). */
  protected abstract onPacket(p: Packet): void | Promise<void>;

  /** Handles the retransmit timer. */
  protected abstract onTimeout(): void | Promise<void>;

  /** Releases files; called once when the transfer ends. */
  protected abstract cleanup(): Promise<void>;

  /** Retransmit rounds so far (for stats). */
  protected abstract get retransmits(): number;

  /**
   * Ends the transfer because of `err`: sends a TFTP ERROR (the error's own
   * code, or 0) and logs.
   *
   * @param err What went wrong.
   */
  protected async fail(err: unknown): Promise<void> {
    if (this.closed) return;
    const tftp = err instanceof TftpError
      ? err
      : new TftpError(ErrorCode.NOT_DEFINED, "internal error");
    if (!(err instanceof TftpError)) {
      this.log.error(`${this.peerText} internal error: ${String(err)}`);
    }
    await this.sendError(tftp.code, tftp.message);
    const detail = tftp.detail ? ` [${tftp.detail}]` : "";
    this.end("error", `ERROR ${tftp.code}: ${tftp.message}${detail}`);
  }

  /**
   * Sends an ERROR packet to the client (errors while sending are ignored).
   *
   * @param code TFTP error code.
   * @param message Text.
   */
  protected async sendError(code: number, message: string): Promise<void> {
    await this.send(encodeError(code, message)).catch(() => {});
  }

  /**
   * Sends one datagram to the client.
   *
   * @param data The datagram.
   */
  protected async send(data: Uint8Array): Promise<void> {
    if (this.closed) return;
    await this.transport.send(data, this.peer);
  }

  /**
   * Records the outcome and stops the receive loop (closes the socket).
   *
   * @param outcome How it ended.
   * @param error Error text.
   */
  protected end(outcome: Outcome, error?: string): void {
    this.complete(outcome, error);
    this.#closeSocket();
  }

  /**
   * Records and logs the outcome once, without closing the socket (a
   * finished upload lingers to re-ACK a retransmitted last block).
   *
   * @param outcome How it ended.
   * @param error Error text.
   */
  protected complete(outcome: Outcome, error?: string): void {
    if (this.#outcome !== undefined) return;
    this.#outcome = outcome;
    this.#error = error;
    const durationMs = this.clock.now() - this.#started;
    const stats: TransferStats = {
      peer: this.peerText,
      filename: this.request.filename,
      direction: this.direction,
      mode: this.request.mode,
      options: Object.fromEntries(this.negotiated.oack),
      bytes: this.bytes,
      durationMs,
      retransmits: this.retransmits,
      outcome,
      error,
    };
    if (this.#poll.spins > 0) {
      this.log.debug(
        `${this.peerText} busy-poll: ${this.#poll.hits} of ` +
          `${this.#poll.spins} replies taken without sleeping`,
      );
    }
    const verb = this.direction === "read" ? "RRQ" : "WRQ";
    const opts = optionsText(this.negotiated.oack);
    const line =
      `${this.peerText} ${verb} ${
        JSON.stringify(this.request.filename)
      } ${this.request.mode}${opts ? " " + opts : ""}: ${outcome}${
        error ? ` (${error})` : ""
      }, ${this.bytes} bytes in ${(durationMs / 1000).toFixed(3)} s, ` +
      `${stats.retransmits} retransmits`;
    if (outcome === "ok" || outcome === "probe" || outcome === "cancelled") {
      if (outcome === "probe") this.log.debug(line, { stats });
      else this.log.info(line, { stats });
    } else {
      this.log.warn(line, { stats });
    }
    this.#statsValue = stats;
    // A success is announced at once (an upload is already published); a
    // failure only after cleanup, once nothing is left behind.
    if (outcome === "ok") this.#statsResolve(stats);
  }

  /**
   * Stops the transfer from outside (server shutdown); an unfinished upload
   * is discarded.
   */
  cancel(): void {
    if (this.closed) return;
    this.end(this.#outcome ?? "cancelled", this.#error ?? "server shutdown");
  }

  /**
   * Records progress, or a sign of life such as a duplicate (resets the
   * overall give-up clock; the retransmit timer keeps its backoff).
   */
  protected progress(): void {
    this.lastProgress = this.clock.now();
  }

  /**
   * (Re-)arms the retransmit timer `ms` from now. Cheap enough to call per
   * window: it moves a deadline; the real timer is re-created only when it
   * fires early.
   *
   * @param ms Delay (default: the retransmit interval).
   */
  protected armTimer(ms: number = this.intervalMs): void {
    if (this.closed) return;
    const now = this.clock.now();
    this.#deadline = now + ms;
    if (this.#timer !== undefined) {
      // Moving the deadline later is free; an earlier one (the adaptive
      // interval shrank) needs the real timer moved too.
      if (this.#timerAt <= this.#deadline) return;
      this.clock.clearTimeout(this.#timer);
    }
    this.#schedule(now, ms);
  }

  #schedule(now: number, ms: number): void {
    this.#timerAt = now + ms;
    this.#timer = this.clock.setTimeout(this.#onTimer, ms);
  }

  #onTimer = (): void => {
    this.#timer = undefined;
    if (this.closed) return;
    const now = this.clock.now();
    const left = this.#deadline - now;
    if (left > 0.5) {
      this.#schedule(now, left);
      return;
    }
    Promise.resolve().then(() => this.onTimeout()).catch((err) =>
      this.fail(err)
    );
  };

  /**
   * Out of retransmits: stay silent (the count bounds what a spoofed request
   * can make us send) but keep listening as long as the retransmits would
   * have lasted at the fixed interval. The adaptive interval can be much
   * shorter than a client's own timer, and must not shorten our patience.
   *
   * @returns true while still waiting, false when it is time to give up.
   */
  protected waitOut(): boolean {
    const fixed = (this.negotiated.timeout ?? this.config.ackTimeout) * 1000;
    const patience = Math.min(
      this.giveUpMs,
      (this.config.maxRetries + 1) * fixed,
    );
    const left = patience - (this.clock.now() - this.lastProgress);
    if (left <= 0.5) return false;
    this.armTimer(left);
    return true;
  }

  /**
   * Whether the overall time without progress has run out.
   *
   * @returns true when the transfer should be abandoned.
   */
  protected timedOut(): boolean {
    return this.clock.now() - this.lastProgress >= this.giveUpMs;
  }

  #closeSocket(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.#timer !== undefined) {
      this.clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    try {
      this.transport.close();
    } catch { /* already closed */ }
  }

  async #receiveLoop(): Promise<void> {
    while (!this.closed) {
      let data: Uint8Array;
      let addr: Deno.Addr;
      // Lock-step, or the first DATA of an upload's next window (right
      // after our ACK). Not before every packet of a window, nor for the
      // ACK of a sent window, which comes a whole window later (measured:
      // spinning there cost 10% at windowsize 64).
      const spinFirst = liveTransfers === 1 && this.#poll.enabled &&
        (this.negotiated.windowsize === 1 || this.replyDue);
      this.replyDue = false;
      try {
        if (spinFirst) {
          spin(this.#poll.spinUs);
          const t0 = performance.now();
          [data, addr] = await this.transport.receive(this.rxBuf);
          this.#poll.record((performance.now() - t0) * 1000);
        } else {
          [data, addr] = await this.transport.receive(this.rxBuf);
        }
      } catch (err) {
        if (this.closed) return;
        throw err;
      }
      if (this.closed) return;
      const from = addr as Deno.NetAddr;
      if (!sameEndpoint(from, this.peer)) {
        this.log.debug(
          `${this.peerText} datagram from unknown TID ${formatPeer(from)}`,
        );
        await this.transport.send(
          encodeError(ErrorCode.UNKNOWN_TID, "unknown transfer ID"),
          from,
        ).catch(() => {});
        continue;
      }
      let p: Packet;
      try {
        p = decode(data);
      } catch (err) {
        this.log.debug(`${this.peerText} malformed datagram: ${err}`);
        continue;
      }
      if (p.op === Opcode.ERROR) {
        this.onClientError(p);
        continue;
      }
      await this.onPacket(p);
    }
  }

  /**
   * The client sent ERROR: end quietly (no reply).
   *
   * @param p The ERROR packet.
   */
  protected onClientError(p: ErrorPacket): void {
    this.end("aborted", `client sent ERROR ${p.code}: ${p.message}`);
  }
}

/** Serves an RRQ: sends the file block by block, window by window. */
export class ReadSession extends Session {
  /** The open file. */
  protected handle?: ReadHandle;
  /** The sending state machine. */
  protected sender: Sender = new Sender();
  #source!: BlockSource;
  #slots: Uint8Array[] = [];
  #oack?: Uint8Array;
  #pumping = false;
  #total = 0;
  #sentAt = 0;
  #resent = false;

  /** Always `read`. */
  get direction(): "read" {
    return "read";
  }

  /** Retransmit rounds. */
  protected get retransmits(): number {
    return this.sender.retransmits;
  }

  /**
   * Opens the requested file. Override to change file handling.
   *
   * @returns A read handle.
   */
  protected openFile(): Promise<ReadHandle> {
    return this.storage.openRead(this.request.filename, this.info);
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

  /** Opens, negotiates and sends the OACK or the first window. */
  protected async start(): Promise<void> {
    this.handle = await this.openFile();
    const netascii = this.request.mode === "netascii";
    let size = this.handle.size;
    if (netascii && this.request.options.has("tsize")) {
      size = await netasciiSize(this.handle);
    }
    this.negotiated = this.negotiate(size);
    const { blksize, windowsize, oack } = this.negotiated;
    this.sender = new Sender({
      windowsize,
      oack: oack.size > 0,
      maxRetries: this.config.maxRetries,
    });
    if (oack.size > 0) this.#oack = encodeOack(oack);
    this.#slots = new Array(windowsize);
    this.#source = netascii
      ? new NetasciiBlockSource(this.handle, blksize)
      : new OctetBlockSource(this.handle, blksize);
    this.pump();
  }

  /** Sends whatever the sender says is due, one pump at a time. */
  protected pump(): void {
    if (this.#pumping || this.closed) return;
    this.#pumping = true;
    this.#pumpLoop().catch((err) => {
      this.#pumping = false;
      return this.fail(err);
    });
  }

  async #pumpLoop(): Promise<void> {
    const sender = this.sender;
    const blksize = this.negotiated.blksize;
    const lockstep = this.#slots.length === 1;
    const pending: Promise<number>[] = [];
    let block: number;
    for (;;) {
      while (!this.closed && (block = sender.nextBlock()) >= 0) {
        if (block === 0) {
          await this.send(this.#oack!);
          continue;
        }
        const pkt = this.#slot(block);
        let n = this.#source.read(block, pkt.subarray(4));
        if (typeof n !== "number") n = await n;
        if (n < blksize) {
          sender.setLast(block);
          this.#total = (block - 1) * blksize + n;
        }
        writeDataHeader(pkt, block);
        const sent = this.transport.send(pkt.subarray(0, 4 + n), this.peer);
        if (lockstep) await sent;
        else pending.push(sent);
      }
      // A window goes out without a yield between its datagrams; then wait
      // for all of them, and look again: ACKs may have moved the window.
      if (pending.length === 0) break;
      await Promise.all(pending.splice(0));
    }
    this.#pumping = false;
    this.#sentAt = this.clock.now();
    this.armTimer();
  }

  /**
   * The packet buffer for `block`: one per window slot, so a window's sends
   * can be in flight together. A slot is rewritten only after its send was
   * awaited.
   */
  #slot(block: number): Uint8Array {
    const i = block % this.#slots.length;
    return this.#slots[i] ??= new Uint8Array(4 + this.negotiated.blksize);
  }

  /**
   * Handles ACKs; anything else from the client is ignored.
   *
   * @param p The packet.
   */
  protected onPacket(p: Packet): void {
    if (p.op !== Opcode.ACK) {
      this.log.debug(`${this.peerText} ignoring opcode ${p.op} during RRQ`);
      return;
    }
    const ev = this.sender.onAck(p.block);
    if (this.log.debugEnabled) {
      this.log.debug(`${this.peerText} ACK ${p.block} -> ${ev}`);
    }
    if (ev !== SenderEvent.IGNORE) {
      if (!this.#resent) this.sampleRtt(this.clock.now() - this.#sentAt);
      this.#resent = false;
    } else if (!this.sender.awaitingOack) {
      // A duplicate ACK is never a reason to resend (Sorcerer's Apprentice),
      // but it proves the client is alive: the retransmit timer may keep
      // trying, as the count bound is for peers that never answer.
      this.progress();
      this.sender.retries = 0;
    }
    if (ev === SenderEvent.SEND) {
      this.progress();
      this.#source.release(this.sender.base);
      this.bytes = (this.sender.base - 1) * this.negotiated.blksize;
      this.pump();
    } else if (ev === SenderEvent.DONE) {
      this.bytes = this.#total;
      this.end("ok");
    }
  }

  /** Retransmits from the first unacknowledged block, or gives up. */
  protected onTimeout(): void {
    if (this.timedOut()) {
      this.end("timeout", "no ACK from client");
      return;
    }
    if (this.sender.onTimeout() === SenderEvent.FAIL) {
      if (!this.waitOut()) this.end("timeout", "no ACK from client");
      return;
    }
    this.#resent = true;
    this.backoff();
    if (this.log.debugEnabled) {
      this.log.debug(
        `${this.peerText} timeout: resending from block ${this.sender.base}`,
      );
    }
    this.pump();
  }

  /**
   * ERROR 8 right after the OACK is a size probe (UEFI PXE does this).
   *
   * @param p The ERROR packet.
   */
  protected override onClientError(p: ErrorPacket): void {
    if (
      this.sender.awaitingOack && p.code === ErrorCode.OPTION_REFUSED
    ) {
      this.end("probe", `client ended after OACK (ERROR 8: ${p.message})`);
      return;
    }
    super.onClientError(p);
  }

  /** Closes the file. */
  protected cleanup(): Promise<void> {
    this.handle?.close();
    return Promise.resolve();
  }
}

/** Serves a WRQ: receives into a temporary file, published when complete. */
export class WriteSession extends Session {
  /** The upload in progress. */
  protected writer?: WriteHandle;
  /** The receiving state machine. */
  protected receiver: Receiver = new Receiver();
  /** Whether the upload was published. */
  protected committed = false;
  #decoder?: NetasciiDecoder;
  #oack?: Uint8Array;
  #ackBuf = new Uint8Array(4);
  #lingering = false;
  #ackAt = -1;
  #reacked = false;

  /** Always `write`. */
  get direction(): "write" {
    return "write";
  }

  /** Retransmit rounds. */
  protected get retransmits(): number {
    return this.receiver.retransmits;
  }

  /**
   * Prepares the upload. Override to change file handling.
   *
   * @returns A write handle.
   */
  protected openFile(): Promise<WriteHandle> {
    return this.storage.openWrite(this.request.filename, this.info);
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
    });
  }

  /** Negotiates, opens the temporary file, sends OACK or ACK 0. */
  protected async start(): Promise<void> {
    this.negotiated = this.negotiate();
    this.writer = await this.openFile();
    const { blksize, windowsize, oack } = this.negotiated;
    this.receiver = new Receiver({
      blksize,
      windowsize,
      maxRetries: this.config.maxRetries,
    });
    if (this.request.mode === "netascii") this.#decoder = new NetasciiDecoder();
    // One spare byte so an oversized DATA is seen as such, not truncated.
    this.rxBuf = new Uint8Array(blksize + 5);
    if (oack.size > 0) this.#oack = encodeOack(oack);
    await this.#sendAck();
    this.armTimer();
  }

  async #sendAck(): Promise<void> {
    this.#ackAt = this.clock.now();
    this.replyDue = true;
    if (this.receiver.expected === 1 && this.#oack) {
      await this.send(this.#oack);
    } else {
      await this.send(writeAck(this.#ackBuf, this.receiver.ackBlock));
    }
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

  /**
   * Handles DATA; anything else from the client is ignored.
   *
   * @param p The packet.
   */
  protected async onPacket(p: Packet): Promise<void> {
    if (p.op !== Opcode.DATA) {
      this.log.debug(`${this.peerText} ignoring opcode ${p.op} during WRQ`);
      return;
    }
    if (p.data.length > this.negotiated.blksize) {
      throw new TftpError(
        ErrorCode.ILLEGAL_OPERATION,
        `DATA block ${p.block} larger than blksize ${this.negotiated.blksize}`,
      );
    }
    const flags = this.receiver.onData(p.block, p.data.length);
    if (!(flags & ReceiveFlag.DELIVER)) {
      // A duplicate or out-of-order block: no progress, but a live client.
      this.progress();
      this.receiver.retries = 0;
    }
    if (this.log.debugEnabled) {
      this.log.debug(
        `${this.peerText} DATA ${p.block} (${p.data.length} bytes) -> ${flags}`,
      );
    }
    if (flags & ReceiveFlag.DELIVER) {
      this.progress();
      if (this.#ackAt >= 0) {
        if (!this.#reacked) this.sampleRtt(this.clock.now() - this.#ackAt);
        this.#ackAt = -1;
        this.#reacked = false;
      }
      this.bytes += p.data.length;
      const max = this.config.maxUpload;
      if (max !== undefined && this.bytes > max) {
        throw new TftpError(
          ErrorCode.DISK_FULL,
          `upload exceeds the limit of ${max} bytes`,
        );
      }
      await this.write(p.data);
    }
    if (flags & ReceiveFlag.FINAL) {
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
      await this.#sendAck();
      this.complete("ok");
      // Stay one timeout to re-ACK a retransmitted last block.
      this.#lingering = true;
      this.armTimer(this.config.connTimeout * 1000);
      return;
    }
    if (flags & ReceiveFlag.ACK) {
      await this.#sendAck();
      // After the upload is stored, a re-ACK restarts the linger, not the
      // (possibly much shorter) retransmit interval.
      this.armTimer(
        this.#lingering ? this.config.connTimeout * 1000 : this.intervalMs,
      );
    } else if (flags & ReceiveFlag.DELIVER) {
      this.armTimer();
    }
  }

  /** Re-sends the last ACK (or OACK), or gives up; ends the linger. */
  protected async onTimeout(): Promise<void> {
    if (this.#lingering) {
      this.end("ok");
      return;
    }
    if (this.timedOut()) {
      this.end("timeout", "no DATA from client");
      return;
    }
    if (!this.receiver.onTimeout()) {
      if (!this.waitOut()) this.end("timeout", "no DATA from client");
      return;
    }
    this.#reacked = true;
    this.backoff();
    await this.#sendAck();
    this.armTimer();
  }

  /** Discards an unpublished upload. */
  protected async cleanup(): Promise<void> {
    if (!this.committed) await this.writer?.abort();
  }
}
