/**
 * The whole receiving side of a transfer, for a server's WRQ and a client's
 * RRQ alike: the client's request phase, the TID lock, the OACK handshake,
 * the data phase of {@linkcode Receiver} (with its linger), and how it ends.
 * Pure: datagrams and time come in, {@linkcode Act} bits come out; the
 * driver owns the socket, the timer and the file.
 *
 * @module
 */

import { decode, ErrorCode, Opcode, replyOpcode, TftpError } from "./packet.ts";
import { type Endpoint, PeerLock, Source } from "./peer.ts";
import { ReceiveFlag, Receiver, ReceiverTimer } from "./receiver.ts";
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

/** Settings of a {@linkcode ReceiveTransfer}. */
export interface ReceiveTransferOptions extends RetryOptions {
  /** Server (answers a WRQ) or client (sent an RRQ). */
  role: Role;
  /**
   * The other end: a server's is the client; a client's is the server's
   * listen address (the port is learnt from the first reply).
   */
  peer: Endpoint;
  /** Server: the negotiated blksize. */
  blksize?: number;
  /** Server: the negotiated windowsize. */
  windowsize?: number;
  /** Server: the OACK to send first (and again until block 1 arrives). */
  oack?: Uint8Array;
  /** Client: the options it asked for (to check the OACK). */
  asked?: ReadonlyMap<string, string>;
  /** Most payload bytes accepted (ERROR 3 beyond). */
  maxBytes?: number;
  /** Ms to stay after the final ACK to re-ACK a retransmitted last block. */
  lingerMs?: number;
  /** Retry settings of the client's request phase (default: as the rest). */
  request?: RetryOptions;
  /** ERROR 5 replies a stranger may get at once, and the refill (ms). */
  strangers?: { burst?: number; refillMs?: number };
}

/**
 * Receiving transfer machine.
 *
 * @example
 * ```ts
 * import { ReceiveTransfer } from "./receive_transfer.ts";
 * import { Act } from "./transfer.ts";
 * const peer = { hostname: "10.0.0.9", port: 2000 };
 * const t = new ReceiveTransfer({ role: "server", peer, lingerMs: 3000 }, 0);
 * if (t.start(0) !== Act.SEND) throw new Error(); // ACK 0
 * const act = t.onDatagram(new Uint8Array([0, 3, 0, 1, 65]), peer, 2);
 * // Write the payload, publish it, then ACK; the machine lingers 3 s.
 * if (act !== (Act.DELIVER | Act.FINAL | Act.SEND)) throw new Error();
 * ```
 */
export class ReceiveTransfer {
  /** Which end this machine plays. */
  readonly role: Role;
  #lock: PeerLock;
  #options: ReceiveTransferOptions;
  #request?: RequestPhase;
  #receiver?: Receiver;
  #ackBuf = new Uint8Array(4);
  #offered = new Map<string, string>();
  #tsize?: number;
  #outcome?: Outcome;
  #error?: string;
  #peerError?: ErrorInfo;
  #farewell?: ErrorInfo;
  #lingering = false;
  #completing = false;

  /**
   * Creates the machine; call {@linkcode ReceiveTransfer.start} next.
   *
   * @param options Role, peer, negotiated parameters, bounds.
   * @param now The current time in ms.
   */
  constructor(options: ReceiveTransferOptions, now: number) {
    this.role = options.role;
    this.#options = options;
    this.#lock = new PeerLock(options.peer, {
      locked: options.role === "server",
      ...options.strangers,
    }, now);
    this.#ackBuf[1] = Opcode.ACK;
    if (options.role === "server") {
      this.#receiver = this.#newReceiver(
        options.blksize ?? 512,
        options.windowsize ?? 1,
        now,
      );
    } else {
      this.#request = new RequestPhase(options.request ?? options, now);
    }
  }

  #newReceiver(blksize: number, windowsize: number, now: number): Receiver {
    const o = this.#options;
    return new Receiver({
      blksize,
      windowsize,
      maxRetries: o.maxRetries,
      giveUpMs: o.giveUpMs,
      patienceMs: o.patienceMs,
      giveUpAfterProgressMs: o.giveUpAfterProgressMs,
      rto: o.rto,
      maxBytes: o.maxBytes,
      lingerMs: o.lingerMs,
    }, now);
  }

  /** The peer's endpoint (a client's: the server's transfer port, once known). */
  get peer(): Endpoint {
    return this.#lock.peer;
  }

  /** The data phase's machine (absent during a client's request phase). */
  get receiver(): Receiver | undefined {
    return this.#receiver;
  }

  /** Client: the options the server accepted (empty without an OACK). */
  get offered(): ReadonlyMap<string, string> {
    return this.#offered;
  }

  /** Client: the transfer size the server announced, if any. */
  get tsize(): number | undefined {
    return this.#tsize;
  }

  /** Whether the peer has sent data (a repeated request is then new). */
  get established(): boolean {
    return (this.#receiver?.blocksReceived ?? 0) > 0;
  }

  /** Whether the final block is in and the machine only lingers to re-ACK. */
  get lingering(): boolean {
    return this.#lingering;
  }

  /**
   * How the transfer ended, once it has. Without a linger, a final block
   * makes it `ok` only once its ACK is out ({@linkcode ReceiveTransfer.acked}):
   * until then the driver writes and publishes it, and a failure there is
   * the outcome (`end`).
   */
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
      (this.#receiver?.retransmits ?? 0);
  }

  /** Payload bytes received in order. */
  get bytes(): number {
    return this.#receiver?.bytes ?? 0;
  }

  /** The largest datagram the peer may send (for the receive buffer). */
  get maxDatagram(): number {
    return 4 + (this.#receiver?.blksize ?? 65464);
  }

  /**
   * The packet {@linkcode Act.SEND} asks for: the OACK while a server still
   * awaits block 1, else an ACK of the last block received in order.
   */
  get control(): Uint8Array {
    const r = this.#receiver!;
    if (r.awaitingFirst && this.#options.oack) return this.#options.oack;
    const b = r.ackBlock;
    this.#ackBuf[2] = b >> 8;
    this.#ackBuf[3] = b & 0xff;
    return this.#ackBuf;
  }

  /** When the driver's timer should fire next. */
  get deadline(): number {
    if (this.#receiver) return this.#receiver.deadline;
    return this.#request!.deadline;
  }

  /**
   * The first packet: a server's OACK or ACK 0, a client's request.
   *
   * @param _now The current time in ms.
   * @returns {@linkcode Act.SEND} or {@linkcode Act.REQUEST}.
   */
  start(_now: number): number {
    return this.#receiver ? Act.SEND : Act.REQUEST;
  }

  /**
   * The packet from {@linkcode ReceiveTransfer.control} is on the wire.
   *
   * @param now The current time in ms.
   */
  acked(now: number): void {
    this.#receiver?.acked(now);
    if (this.#completing) {
      this.#completing = false;
      this.#outcome ??= "ok";
    }
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
    if (op === Opcode.DATA && data.length >= 4) {
      if (this.#request) {
        // No OACK: the server took no options and sent DATA 1 at once.
        this.#request = undefined;
        this.#receiver = this.#newReceiver(512, 1, now);
      }
      return this.#onData(data, now);
    }
    if (op === Opcode.ERROR && data.length >= 4) return this.#onError(data);
    if (this.#request && op === Opcode.OACK) return this.#onOack(data, now);
    return Act.NONE;
  }

  #onData(data: Uint8Array, now: number): number {
    let flags: number;
    try {
      flags = this.#receiver!.onData(
        (data[2] << 8) | data[3],
        data.length - 4,
        now,
      );
    } catch (err) {
      if (!(err instanceof TftpError)) throw err;
      this.#farewell = { code: err.code, message: err.message };
      return this.#end("error", `ERROR ${err.code}: ${err.message}`);
    }
    let act = Act.NONE;
    if (flags & ReceiveFlag.DELIVER) act |= Act.DELIVER;
    if (flags & ReceiveFlag.ACK) act |= Act.SEND;
    if (flags & ReceiveFlag.FINAL) {
      act |= Act.FINAL;
      if (this.role === "client" || !this.#options.lingerMs) {
        this.#completing = true;
        act |= Act.DONE;
      } else {
        this.#lingering = true;
      }
    }
    return act;
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
    this.#tsize = accepted.tsize;
    this.#request = undefined;
    this.#receiver = this.#newReceiver(
      accepted.blksize,
      accepted.windowsize,
      now,
    );
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
    if (this.#lingering) {
      // The upload is stored: an ERROR now changes nothing.
      return this.#end("ok");
    }
    this.#peerError = info;
    const message = quote(info.message, { max: 100 });
    if (this.role === "client") {
      return this.#end("error", `server error ${info.code}: ${message}`);
    }
    const text = `ERROR ${info.code}: ${message}`;
    // RFC 2347: a client that cannot take the OACK answers ERROR 8.
    const refused = info.code === ErrorCode.OPTION_REFUSED &&
      this.#receiver?.awaitingFirst === true && !!this.#options.oack;
    return this.#end(
      "aborted",
      refused ? `client refused the OACK (${text})` : `client sent ${text}`,
    );
  }

  /**
   * Handles the timer at {@linkcode ReceiveTransfer.deadline}.
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
    switch (this.#receiver!.onTimeout(now)) {
      case ReceiverTimer.REACK:
        return Act.SEND;
      case ReceiverTimer.DONE:
        return this.#end("ok");
      case ReceiverTimer.FAIL:
        return this.#end(
          "timeout",
          this.role === "server"
            ? "no DATA from client"
            : "timed out waiting for DATA",
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
