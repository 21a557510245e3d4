/**
 * The whole sending side of a transfer, for a server's RRQ and a client's
 * WRQ alike: the client's request phase, the TID lock, the OACK handshake
 * (and the UEFI size-probe rule), the data phase of {@linkcode Sender}, and
 * how it ends. Pure: datagrams and time come in, {@linkcode Act} bits come
 * out; the driver owns the socket, the timer and the file.
 *
 * @module
 */

import { decode, ErrorCode, Opcode, replyOpcode } from "./packet.ts";
import { type Endpoint, PeerLock, Source } from "./peer.ts";
import { Sender, SenderEvent } from "./sender.ts";
import {
  acceptOack,
  Act,
  type ErrorInfo,
  OACK_REFUSED,
  type Outcome,
  RequestPhase,
  type RetryOptions,
  type Role,
} from "./transfer.ts";
import { quote } from "../escape.ts";

/** Settings of a {@linkcode SendTransfer}. */
export interface SendTransferOptions extends RetryOptions {
  /** Server (answers an RRQ) or client (sent a WRQ). */
  role: Role;
  /**
   * The other end. A server's peer is the client that sent the request; a
   * client's is the server's listen address (its port is replaced by the
   * transfer port of the server's first reply).
   */
  peer: Endpoint;
  /** Server: the negotiated windowsize. */
  windowsize?: number;
  /** Blocks in the first window (default: the whole windowsize). */
  initialWindow?: number;
  /** Server: the negotiated blksize. */
  blksize?: number;
  /** Server: whether an OACK goes first (it is then block 0). */
  oack?: boolean;
  /** Client: the options it asked for (to check the OACK). */
  asked?: ReadonlyMap<string, string>;
  /** Retry settings of the client's request phase (default: as the rest). */
  request?: RetryOptions;
  /** ERROR 5 replies a stranger may get at once, and the refill (ms). */
  strangers?: { burst?: number; refillMs?: number };
}

/**
 * Sending transfer machine.
 *
 * @example
 * ```ts
 * import { SendTransfer } from "./send_transfer.ts";
 * import { Act } from "./transfer.ts";
 * const peer = { hostname: "10.0.0.9", port: 2000 };
 * const t = new SendTransfer({ role: "server", peer, windowsize: 1 }, 0);
 * if (t.start(0) !== Act.SEND || t.nextBlock() !== 1) throw new Error();
 * t.setLast(1);
 * t.sent(0);
 * if (t.onDatagram(new Uint8Array([0, 4, 0, 1]), peer, 3) !== Act.DONE) throw new Error();
 * ```
 */
export class SendTransfer {
  /** Which end this machine plays. */
  readonly role: Role;
  #lock: PeerLock;
  #options: SendTransferOptions;
  #request?: RequestPhase;
  #sender?: Sender;
  #blksize: number;
  #offered = new Map<string, string>();
  #outcome?: Outcome;
  #error?: string;
  #peerError?: ErrorInfo;
  #farewell?: ErrorInfo;
  #tsize?: number;

  /**
   * Creates the machine; call {@linkcode SendTransfer.start} next.
   *
   * @param options Role, peer, negotiated parameters, retry settings.
   * @param now The current time in ms.
   */
  constructor(options: SendTransferOptions, now: number) {
    this.role = options.role;
    this.#options = options;
    this.#lock = new PeerLock(options.peer, {
      locked: options.role === "server",
      ...options.strangers,
    }, now);
    this.#blksize = options.blksize ?? 512;
    if (options.role === "server") {
      this.#sender = this.#newSender(options.windowsize ?? 1, options, now);
    } else {
      this.#request = new RequestPhase(options.request ?? options, now);
    }
  }

  #newSender(
    windowsize: number,
    o: SendTransferOptions,
    now: number,
  ): Sender {
    return new Sender({
      windowsize,
      initialWindow: o.initialWindow,
      oack: o.oack,
      blksize: this.#blksize,
      maxRetries: o.maxRetries,
      giveUpMs: o.giveUpMs,
      patienceMs: o.patienceMs,
      rto: o.rto,
    }, now);
  }

  /** The peer's endpoint (a client's: the server's transfer port, once known). */
  get peer(): Endpoint {
    return this.#lock.peer;
  }

  /** Payload bytes per block (a client's is known once the server answered). */
  get blksize(): number {
    return this.#blksize;
  }

  /** Client: the options the server accepted (empty without an OACK). */
  get offered(): ReadonlyMap<string, string> {
    return this.#offered;
  }

  /** Client: the transfer size the server announced, if any. */
  get tsize(): number | undefined {
    return this.#tsize;
  }

  /** The data phase's machine (absent during a client's request phase). */
  get sender(): Sender | undefined {
    return this.#sender;
  }

  /** Whether the peer has answered (a server: the client ACKed something). */
  get established(): boolean {
    const s = this.#sender;
    return s !== undefined && (this.role === "client" || s.base > 1 ||
      (s.base === 1 && this.#options.oack === true));
  }

  /** How the transfer ended, once it has. */
  get outcome(): Outcome | undefined {
    return this.#outcome;
  }

  /** Why it ended, when not `ok`. */
  get error(): string | undefined {
    return this.#error;
  }

  /** The peer's ERROR, when it sent one. */
  get peerError(): ErrorInfo | undefined {
    return this.#peerError;
  }

  /** An ERROR to send to the peer before closing (with {@linkcode Act.END}). */
  get farewell(): ErrorInfo | undefined {
    return this.#farewell;
  }

  /** Retransmit rounds over the whole transfer (request phase included). */
  get retransmits(): number {
    return (this.#request?.retransmits ?? 0) +
      (this.#sender?.retransmits ?? 0);
  }

  /** Blocks acknowledged so far (the OACK not counted). */
  get blocksAcked(): number {
    const s = this.#sender;
    return s ? Math.max(0, s.base - 1) : 0;
  }

  /** When the driver's timer should fire next. */
  get deadline(): number {
    if (this.#sender) return this.#sender.deadline;
    return this.#request!.deadline;
  }

  /**
   * The first packet: a server's OACK or first window, a client's request.
   *
   * @param _now The current time in ms.
   * @returns {@linkcode Act.SEND} or {@linkcode Act.REQUEST}.
   */
  start(_now: number): number {
    return this.#sender ? Act.SEND : Act.REQUEST;
  }

  /**
   * The next block to send (see {@linkcode Sender.nextBlock}); 0 is the OACK.
   *
   * @returns Absolute block number, or -1 when nothing is due.
   */
  nextBlock(): number {
    return this.#sender ? this.#sender.nextBlock() : -1;
  }

  /**
   * How long to pause before the rest of a paced window, ms (0: none); then
   * call {@linkcode SendTransfer.resume}.
   */
  get pauseMs(): number {
    return this.#sender?.pauseMs ?? 0;
  }

  /** The pause is over: the next burst of the window may go. */
  resume(): void {
    this.#sender?.resume();
  }

  /**
   * Records the final block (its payload was shorter than blksize).
   *
   * @param block Absolute block number.
   */
  setLast(block: number): void {
    this.#sender?.setLast(block);
  }

  /**
   * What `nextBlock` yielded is on the wire.
   *
   * @param now The current time in ms.
   */
  sent(now: number): void {
    this.#sender?.sent(now);
  }

  /**
   * The source kept the next block waiting for `ms` (see
   * {@linkcode Sender.sourceWaited}).
   *
   * @param ms How long the block's bytes took.
   */
  sourceWaited(ms: number): void {
    this.#sender?.sourceWaited(ms);
  }

  /**
   * Handles one datagram.
   *
   * @param data The datagram.
   * @param from Its source.
   * @param now The current time in ms.
   * @returns {@linkcode Act} bits.
   */
  onDatagram(data: Uint8Array, from: Endpoint, now: number): number {
    if (this.#outcome !== undefined) return Act.NONE;
    const op = replyOpcode(data);
    // Only a reply a server can send first may lock a client's TID.
    const source = this.#lock.check(from, {
      lock: op === Opcode.DATA || op === Opcode.ACK || op === Opcode.OACK ||
        op === Opcode.ERROR,
    });
    if (source === Source.STRANGER) {
      const error = data.length >= 2 && data[0] === 0 &&
        data[1] === Opcode.ERROR;
      return this.#lock.answerStranger(error, now) ? Act.STRANGER : Act.NONE;
    }
    if (op === Opcode.ACK && data.length >= 4 && this.#sender) {
      switch (this.#sender.onAck((data[2] << 8) | data[3], now)) {
        case SenderEvent.SEND:
          return Act.SEND;
        case SenderEvent.DONE:
          return this.#end("ok");
      }
      return Act.NONE;
    }
    if (op === Opcode.ERROR && data.length >= 4) return this.#onError(data);
    if (this.#request && op === Opcode.OACK) return this.#onOack(data, now);
    if (this.#request && op === Opcode.ACK && data.length >= 4) {
      // A server that takes no options answers a WRQ with ACK 0.
      if ((data[2] << 8 | data[3]) !== 0) return Act.NONE;
      this.#request = undefined;
      this.#sender = this.#newSender(1, this.#options, now);
      return Act.SEND;
    }
    return Act.NONE;
  }

  #onOack(data: Uint8Array, now: number): number {
    let offered: Map<string, string>;
    try {
      const p = decode(data);
      if (p.op !== Opcode.OACK) return Act.NONE;
      offered = p.options;
    } catch {
      return Act.NONE;
    }
    const accepted = acceptOack(this.#options.asked ?? new Map(), offered);
    if (typeof accepted === "string") {
      this.#farewell = OACK_REFUSED;
      return this.#end(
        "error",
        `server sent an unacceptable OACK: ${accepted}`,
      );
    }
    this.#offered = offered;
    this.#blksize = accepted.blksize;
    this.#tsize = accepted.tsize;
    this.#request = undefined;
    this.#sender = this.#newSender(accepted.windowsize, this.#options, now);
    return Act.SEND;
  }

  #onError(data: Uint8Array): number {
    let info: ErrorInfo;
    try {
      const p = decode(data);
      if (p.op !== Opcode.ERROR) return Act.NONE;
      info = { code: p.code, message: p.message };
    } catch {
      return Act.NONE;
    }
    this.#peerError = info;
    if (this.role === "client") {
      return this.#end(
        "error",
        `server error ${info.code}: ${quote(info.message, { max: 100 })}`,
      );
    }
    // UEFI PXE asks for tsize, reads it from the OACK and ends the transfer
    // with ERROR 8: a size probe, not a failure.
    if (this.#sender?.awaitingOack && info.code === ErrorCode.OPTION_REFUSED) {
      return this.#end(
        "probe",
        `client ended after OACK (ERROR 8: ${
          quote(info.message, { max: 100 })
        })`,
      );
    }
    return this.#end(
      "aborted",
      `client sent ERROR ${info.code}: ${quote(info.message, { max: 100 })}`,
    );
  }

  /**
   * Handles the timer at {@linkcode SendTransfer.deadline}.
   *
   * @param now The current time in ms.
   * @returns {@linkcode Act} bits.
   */
  onTimer(now: number): number {
    if (this.#outcome !== undefined) return Act.NONE;
    if (this.#request) {
      switch (this.#request.onTimer(now)) {
        case "retransmit":
          return Act.REQUEST;
        case "wait":
          return Act.NONE;
      }
      return this.#end("timeout", "timed out waiting for the server");
    }
    switch (this.#sender!.onTimeout(now)) {
      case SenderEvent.SEND:
        return Act.SEND;
      case SenderEvent.FAIL:
        return this.#end(
          "timeout",
          this.role === "server"
            ? "no ACK from client"
            : "timed out waiting for ACK",
        );
    }
    return Act.NONE;
  }

  /**
   * Ends the transfer from outside (shutdown, a local failure).
   *
   * @param outcome How it ended.
   * @param error Why.
   * @returns {@linkcode Act.END}, or NONE if it had already ended.
   */
  end(outcome: Outcome, error?: string): number {
    if (this.#outcome !== undefined) return Act.NONE;
    return this.#end(outcome, error);
  }

  #end(outcome: Outcome, error?: string): number {
    this.#outcome = outcome;
    this.#error = error;
    return outcome === "ok" ? Act.DONE : Act.END;
  }
}
