/**
 * The transfers a server is running, in whichever thread: one handle type
 * for local sessions and for transfers in worker threads, and the registry
 * that counts them for the limits, finds a peer's transfer for the
 * duplicate check, and tells when the server is idle.
 *
 * @module
 */

import type { RequestPacket } from "../protocol/packet.ts";
import type { TransferStats } from "./session.ts";

/** A running transfer, as the server's main thread sees it. */
export interface TransferHandle {
  /** The request it serves. */
  readonly request: RequestPacket;
  /** Whether it runs in a worker thread (its state reaches us late). */
  readonly remote: boolean;
  /** Resolves with the stats once the outcome is known. */
  readonly stats: Promise<TransferStats>;
  /** Resolves when the transfer is over and cleaned up (after any linger). */
  readonly done: Promise<void>;
  /** Whether the outcome is known (an upload may still linger to re-ACK). */
  readonly finished: boolean;
  /** Whether the client has answered (a repeated request is then new). */
  readonly established: boolean;
  /**
   * Stops the transfer; an unfinished upload leaves nothing behind.
   *
   * @param reason For the log (default: "server shutdown").
   */
  cancel(reason?: string): void;
}

/** Options of {@linkcode TransferRegistry}. */
export interface RegistryOptions {
  /** Called with each transfer's stats once its outcome is known. */
  onEnd?: (stats: TransferStats) => void;
  /** Where a failing `onEnd` is reported. */
  onHookError?: (err: unknown) => void;
}

/**
 * Every transfer in progress. A transfer counts against the limits until
 * it is done, including an upload's linger after its final ACK (so one
 * client cannot hold every slot with finished uploads).
 *
 * @example
 * ```ts
 * import { TransferRegistry } from "./transfers.ts";
 * const reg = new TransferRegistry();
 * if (reg.size !== 0 || reg.fromClient("10.0.0.1") !== 0) throw new Error();
 * await reg.whenIdle();
 * ```
 */
export class TransferRegistry {
  #byPeer = new Map<string, TransferHandle>();
  #perClient = new Map<string, number>();
  #all = new Set<TransferHandle>();
  #idle: (() => void)[] = [];
  #options: RegistryOptions;

  /**
   * An empty registry.
   *
   * @param options The end-of-transfer hook.
   */
  constructor(options: RegistryOptions = {}) {
    this.#options = options;
  }

  /** Transfers in progress (lingering uploads included). */
  get size(): number {
    return this.#all.size;
  }

  /**
   * Transfers in progress from one client.
   *
   * @param client The client key (an IPv4 address or an IPv6 prefix).
   * @returns The count.
   */
  fromClient(client: string): number {
    return this.#perClient.get(client) ?? 0;
  }

  /**
   * The newest transfer of a peer endpoint.
   *
   * @param peer `host:port` of the client.
   * @returns Its handle, if one is running.
   */
  get(peer: string): TransferHandle | undefined {
    return this.#byPeer.get(peer);
  }

  /**
   * Books a started transfer until it is done.
   *
   * @param peer `host:port` of the client.
   * @param handle The transfer.
   * @param opts `client`: the client key for the per-client limit;
   * `behind`: the transfer it repeats, if a worker thread decides whether
   * it runs: that one stays the peer's until it is over, so a repeat the
   * worker ignores never stands in for it (and a third request is still a
   * repeat of the running one, not of the ignored one).
   */
  add(
    peer: string,
    handle: TransferHandle,
    opts: { client: string; behind?: TransferHandle },
  ): void {
    const { client, behind } = opts;
    if (
      behind && this.#byPeer.get(peer) === behind && this.#all.has(behind)
    ) {
      behind.done.finally(() => {
        if (this.#all.has(handle) && !this.#byPeer.has(peer)) {
          this.#byPeer.set(peer, handle);
        }
      });
    } else this.#byPeer.set(peer, handle);
    this.#all.add(handle);
    this.#perClient.set(client, this.fromClient(client) + 1);
    handle.stats.then((stats) => this.#options.onEnd?.(stats)).catch((err) =>
      this.#options.onHookError?.(err)
    );
    handle.done.finally(() => {
      if (this.#byPeer.get(peer) === handle) this.#byPeer.delete(peer);
      this.#all.delete(handle);
      const left = this.fromClient(client) - 1;
      if (left > 0) this.#perClient.set(client, left);
      else this.#perClient.delete(client);
      if (this.#all.size === 0) {
        for (const resolve of this.#idle.splice(0)) resolve();
      }
    });
  }

  /**
   * Resolves when no transfer is in progress (at once if none is).
   *
   * @returns A promise for that moment.
   */
  whenIdle(): Promise<void> {
    if (this.#all.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /**
   * Cancels every transfer and waits until all are cleaned up.
   *
   * @returns When they are.
   */
  async closeAll(): Promise<void> {
    const all = [...this.#all];
    for (const h of all) h.cancel();
    await Promise.allSettled(all.map((h) => h.done));
  }
}

/**
 * The transfers this thread runs, counted per peer until each one's outcome
 * is known (a finished upload lingering for a repeated last block is not
 * load): whether the thread is busy with anyone else.
 *
 * @example
 * ```ts
 * import { PeerLoad } from "./transfers.ts";
 * const load = new PeerLoad();
 * const { promise: done, resolve } = Promise.withResolvers<void>();
 * load.hold("10.0.0.1:1", { stats: done, done });
 * if (!load.busyBesides("10.0.0.2:1") || load.busyBesides("10.0.0.1:1")) {
 *   throw new Error();
 * }
 * resolve();
 * await done;
 * await Promise.resolve();
 * if (load.busyBesides("10.0.0.2:1")) throw new Error();
 * ```
 */
export class PeerLoad {
  #by = new Map<string, number>();

  /**
   * Counts a transfer of `peer` until its stats or its end.
   *
   * @param peer The peer's key.
   * @param handle The transfer.
   */
  hold(
    peer: string,
    handle: { stats: Promise<unknown>; done: Promise<void> },
  ): void {
    this.#by.set(peer, (this.#by.get(peer) ?? 0) + 1);
    let counted = true;
    const release = () => {
      if (!counted) return;
      counted = false;
      const n = this.#by.get(peer)! - 1;
      if (n) this.#by.set(peer, n);
      else this.#by.delete(peer);
    };
    handle.stats.then(release, release);
    handle.done.finally(release);
  }

  /**
   * Whether a transfer of a peer other than `peer` is counted.
   *
   * @param peer The peer asking.
   * @returns true when another peer's transfer runs here.
   */
  busyBesides(peer: string): boolean {
    return this.#by.size > (this.#by.has(peer) ? 1 : 0);
  }
}
