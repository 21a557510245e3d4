/**
 * Who a transfer talks to: the transfer ID (TID) lock of RFC 1350 and what
 * a stranger gets. Pure: addresses are compared as text, time comes in as
 * `now`.
 *
 * A transfer belongs to one endpoint (address and port). A server knows it
 * from the request; a client knows the server's address but learns its port
 * from the first reply, and locks onto it. Datagrams from anyone else are a
 * stranger's: they get ERROR 5, except that an ERROR is never answered (two
 * endpoints answering each other's errors loop forever: the "Loop DoS"
 * class, CVE-2024-2169), and the ERROR 5 replies are rate-limited, so a
 * flood of spoofed datagrams cannot turn a transfer into a reflector.
 *
 * @module
 */

import { type Endpoint, normalizeHost, sameEndpoint } from "../net/address.ts";
import { ReplyBudget } from "./budget.ts";

export type { Endpoint };

/** What a datagram's source is to the transfer, from {@linkcode PeerLock.check}. */
export const Source = {
  /** The transfer's peer. */
  PEER: 0,
  /** The peer, heard for the first time: now locked to this port. */
  LOCKED: 1,
  /** Someone else. */
  STRANGER: 2,
} as const;

/** A {@linkcode Source} value. */
export type Source = typeof Source[keyof typeof Source];

/** Settings of a {@linkcode PeerLock}. */
export interface PeerLockOptions {
  /**
   * false for a client that knows the server's address but not yet the
   * port its transfer runs on (default true: the endpoint is known).
   */
  locked?: boolean;
  /** ERROR 5 replies allowed at once (default 4). */
  burst?: number;
  /** Ms to earn one more ERROR 5 reply (default 250). */
  refillMs?: number;
}

/**
 * The TID lock of one transfer and its budget of replies to strangers.
 *
 * @example
 * ```ts
 * import { PeerLock, Source } from "./peer.ts";
 * const lock = new PeerLock({ hostname: "10.0.0.1", port: 69 }, { locked: false }, 0);
 * if (lock.check({ hostname: "10.0.0.1", port: 40000 }) !== Source.LOCKED) throw new Error();
 * if (lock.check({ hostname: "10.0.0.1", port: 40001 }) !== Source.STRANGER) throw new Error();
 * if (lock.answerStranger(false, 0) !== true) throw new Error();
 * if (lock.answerStranger(true, 0) !== false) throw new Error(); // never answer an ERROR
 * ```
 */
export class PeerLock {
  #peer: Endpoint;
  #locked: boolean;
  #replies: ReplyBudget;

  /**
   * Starts the lock with a full budget of replies to strangers.
   *
   * @param peer The peer (a client: the server's listen address).
   * @param options Whether the port is known; the ERROR 5 rate.
   * @param now The current time in ms.
   */
  constructor(peer: Endpoint, options: PeerLockOptions, now: number) {
    this.#peer = { ...peer };
    this.#locked = options.locked ?? true;
    this.#replies = new ReplyBudget({
      burst: options.burst ?? 4,
      refillMs: options.refillMs ?? 250,
    }, now);
  }

  /** The peer's endpoint (its port is final once locked). */
  get peer(): Endpoint {
    return this.#peer;
  }

  /** Whether the peer's port is known. */
  get locked(): boolean {
    return this.#locked;
  }

  /**
   * Classifies a datagram's source. An unlocked lock takes the first
   * datagram from the peer's address as the peer's, and locks onto its port
   * (unless `lock` is false: that datagram cannot be a first reply).
   *
   * @param from Where the datagram came from.
   * @param options `lock: false` to never lock on this datagram.
   * @returns {@linkcode Source.PEER}, `LOCKED` or `STRANGER`.
   */
  check(from: Endpoint, options: { lock?: boolean } = {}): Source {
    if (this.#locked) {
      return sameEndpoint(from, this.#peer) ? Source.PEER : Source.STRANGER;
    }
    if (
      options.lock === false ||
      normalizeHost(from.hostname) !== normalizeHost(this.#peer.hostname)
    ) {
      return Source.STRANGER;
    }
    this.#peer = { ...this.#peer, port: from.port };
    this.#locked = true;
    return Source.LOCKED;
  }

  /**
   * Whether a stranger's datagram gets an ERROR 5 reply: never for an
   * ERROR, and at most `burst` at once, one more per `refillMs`.
   *
   * @param isError Whether the stranger's datagram is an ERROR packet.
   * @param now The current time in ms.
   * @returns true to send ERROR 5 to the stranger.
   */
  answerStranger(isError: boolean, now: number): boolean {
    return !isError && this.#replies.take(now);
  }
}
