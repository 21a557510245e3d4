/**
 * A server's monitoring (the `metrics` option): what it tells the
 * {@linkcode TransferMonitor} (transfers started and ended, requests
 * refused) and the status listener that serves it.
 *
 * @module
 */

import denoJson from "../../deno.json" with { type: "json" };
import type { Logger } from "../log.ts";
import { Opcode } from "../protocol/packet.ts";
import { TransferMonitor } from "../metrics/monitor.ts";
import {
  startStatusServer,
  type StatusListen,
  type StatusServer,
} from "../metrics/status_server.ts";
import type { LiveSource, RefusalReason } from "../metrics/types.ts";
import { formatPeer } from "./session.ts";
import type { StartRequest } from "./start.ts";
import type { TransferHandle } from "./transfers.ts";

/**
 * The monitor of one server and, once listening, its status listener.
 *
 * @example Count a refusal; no listener until `open`
 * ```ts
 * import { ServerStatus } from "./status.ts";
 * const status = new ServerStatus({ workers: 1 });
 * status.refused("busy");
 * if (status.addr !== undefined) throw new Error("not open yet");
 * await status.close();
 * ```
 */
export class ServerStatus {
  /** Counts and recent transfers. */
  readonly monitor: TransferMonitor;
  #listener?: StatusServer;

  /**
   * Makes the monitor; {@linkcode ServerStatus.open} serves it.
   *
   * @param options `workers`: the server's `workers` option (each thread
   * gets a series from the start when there are several).
   */
  constructor(options: { workers?: number }) {
    const workers = options.workers ?? 1;
    this.monitor = new TransferMonitor({
      version: denoJson.version,
      threads: workers > 1 ? workers : 0,
    });
  }

  /** The status listener's address, once open. */
  get addr(): Deno.NetAddr | undefined {
    return this.#listener?.addr;
  }

  /**
   * Starts the status listener and logs where it is.
   *
   * @param listen Its address.
   * @param log The server's logger (also for the listener's errors).
   * @throws {Error} Naming the address, when it cannot listen there.
   */
  open(listen: StatusListen, log: Logger): void {
    try {
      this.#listener = startStatusServer(listen, this.monitor, {
        onError: (err) => log.error(`status page: ${err}`),
      });
    } catch (err) {
      const at = formatPeer(listen);
      if (err instanceof Deno.errors.NotCapable) throw err;
      const why = err instanceof Deno.errors.AddrInUse
        ? "the port is already in use"
        : err instanceof Deno.errors.AddrNotAvailable
        ? "not an address of this host"
        : (err as Error).message;
      throw new Error(`cannot serve metrics on ${at}: ${why}`);
    }
    log.info(
      `metrics and status page on http://${formatPeer(this.#listener.addr)}/`,
    );
  }

  /**
   * Counts a request that started no transfer.
   *
   * @param reason Why.
   */
  refused(reason: RefusalReason): void {
    this.monitor.refused(reason);
  }

  /**
   * Tells the monitor about a started transfer, and later its end.
   *
   * @param start The request and the client.
   * @param watched `handle`: the transfer; `live`: its progress;
   * `worker`: the thread running it (1-based; absent: the main thread).
   */
  watch(
    start: StartRequest,
    watched: { handle: TransferHandle; live: LiveSource; worker?: number },
  ): void {
    const monitor = this.monitor;
    const { handle, live, worker } = watched;
    const id = monitor.started({
      peer: formatPeer(start.peer),
      filename: start.request.filename,
      direction: start.request.op === Opcode.RRQ ? "read" : "write",
      mode: start.request.mode,
      worker,
    }, live);
    handle.stats.then((stats) => monitor.ended(id, stats));
    // A transfer a worker dropped (a repeated request, no free port) ends
    // without stats: withdrawn, counted as refused.
    handle.done.then(() => monitor.refused("duplicate", id));
  }

  /** Stops the status listener. */
  async close(): Promise<void> {
    await this.#listener?.close();
  }
}
