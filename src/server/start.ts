/**
 * Starting one transfer, the same way in the main thread and in a worker
 * thread: a socket from the thread's ports, a session of the chosen class,
 * and a handle the registry can track.
 *
 * @module
 */

import type { RequestPacket } from "../protocol/packet.ts";
import type { Logger } from "../log.ts";
import type { Storage } from "../storage/types.ts";
import type { Clock, Lane, Transport } from "../transport/types.ts";
import type { Session, SessionClass, SessionConfig } from "./session.ts";
import type { TransferHandle } from "./transfers.ts";

/** What a thread provides to the transfers it runs. */
export interface ThreadEnv {
  /** Where files come from and go to. */
  storage: Storage;
  /** Timeouts and limits. */
  config: SessionConfig;
  /** Logger. */
  log: Logger;
  /** The transfers of this thread (for busy-polling). */
  lane: Lane;
  /**
   * Opens the socket of one transfer, on `local` (the address its request
   * arrived on) when given; throws when none is free.
   */
  openTransport: (peer: Deno.NetAddr, local?: Deno.NetAddr) => Transport;
  /** Clock (tests). */
  clock?: Clock;
  /** Whether a stranger may get ERROR 5 (the allow-list). */
  answerStranger?: (hostname: string) => boolean;
  /** Called once when the client first answers (worker threads report it). */
  onEstablished?: () => void;
}

/** One admitted request. */
export interface StartRequest {
  /** The decoded request. */
  request: RequestPacket;
  /** The name storage is asked for (from the name pipeline). */
  name: string;
  /** The client. */
  peer: Deno.NetAddr;
  /** The listen address it arrived on (the transfer binds to it). */
  local?: Deno.NetAddr;
}

/** A local session as a {@linkcode TransferHandle}. */
export interface LocalTransfer extends TransferHandle {
  /** The session. */
  readonly session: Session;
}

/**
 * Opens the transfer's socket and runs a session of class `cls` on it.
 *
 * @example
 * ```ts ignore
 * const t = startTransfer(ReadSession, { request, name, peer }, env);
 * await t.done;
 * ```
 *
 * @param cls The session class (`selectProtocol`'s choice).
 * @param req The request, its resolved name and the client.
 * @param env The thread's storage, settings and ports.
 * @returns The running transfer.
 * @throws {Error} When no transfer socket can be opened.
 */
export function startTransfer(
  cls: SessionClass,
  req: StartRequest,
  env: ThreadEnv,
): LocalTransfer {
  const transport = env.openTransport(req.peer, req.local);
  const session = new cls({
    request: req.request,
    name: req.name,
    peer: req.peer,
    transport,
    storage: env.storage,
    config: env.config,
    log: env.log,
    clock: env.clock,
    lane: env.lane,
    answerStranger: env.answerStranger,
    onEstablished: env.onEstablished,
  });
  const done = session.run().then(
    () => {},
    (err) => env.log.error(`${session.peerText} session crashed: ${err}`),
  );
  return {
    session,
    request: req.request,
    remote: false,
    stats: session.stats,
    done,
    get finished() {
      return session.finished;
    },
    get established() {
      return session.established;
    },
    cancel: (reason) => session.cancel(reason),
  };
}
