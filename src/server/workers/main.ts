/**
 * Entry point of a server worker thread (`--workers`): runs the transfers
 * the main thread hands over, each on its own socket, with the same storage
 * rules and the same {@linkcode startTransfer} as the main thread, and
 * reports each one's progress and outcome back.
 *
 * The main thread runs this module from the sources when it may read them,
 * else from its bundle (see `bundle.ts`): Deno needs read permission on a
 * worker's module files, which a least-privilege run does not grant.
 *
 * @module
 */

import { Logger, type LogLevel } from "../../log.ts";
import { ErrorCode, Opcode } from "../../protocol/packet.ts";
import { openRootStorage } from "../../storage/fs_root.ts";
import {
  type ClosableStorage,
  CompositeStorage,
  openOriginStorage,
  originOptions,
} from "../../storage/origin.ts";
import type { Storage } from "../../storage/types.ts";
import { parseCidr } from "../../net/cidr.ts";
import { PortAllocator } from "../../transport/ports.ts";
import { BufferBudget } from "../../transport/buffers.ts";
import { ProgressReporter } from "../../metrics/progress.ts";
import { allowed } from "../admission.ts";
import { ReadSession } from "../read_session.ts";
import { formatPeer } from "../session.ts";
import { type LocalTransfer, startTransfer, type ThreadEnv } from "../start.ts";
import { WriteSession } from "../write_session.ts";
import {
  failedStats,
  type FromWorker,
  type ToWorker,
  type WorkerSetup,
} from "./protocol.ts";

/** The worker global, typed for what is used here. */
interface WorkerScope {
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker): void;
}

/**
 * Hands every line to the main thread, which writes it with its own logger
 * (one writer, one format, the same hooks as for local transfers).
 */
class ForwardingLogger extends Logger {
  #post: (m: FromWorker) => void;

  constructor(verbose: boolean, post: (m: FromWorker) => void) {
    super({ verbose, stderr: false });
    this.#post = post;
  }

  override log(
    level: LogLevel,
    message: string,
    fields?: Record<string, unknown>,
  ): void {
    if (level === "debug" && !this.debugEnabled) return;
    this.#post({ type: "log", level, message, fields });
  }
}

/** One worker thread: its environment and its transfers. */
class WorkerThread {
  #post: (m: FromWorker) => void;
  #env: ThreadEnv;
  #transfers = new Map<number, LocalTransfer>();
  #progressMs: number;
  #progress?: ReturnType<typeof setInterval>;
  #reporter = new ProgressReporter();
  #origin?: ClosableStorage;

  constructor(
    env: ThreadEnv,
    post: (m: FromWorker) => void,
    progressMs: number,
    origin?: ClosableStorage,
  ) {
    this.#env = env;
    this.#post = post;
    this.#progressMs = progressMs;
    this.#origin = origin;
  }

  /** Posts running transfers' progress while any runs (for the monitor). */
  #report(): void {
    if (this.#progressMs <= 0 || this.#progress !== undefined) return;
    this.#progress = setInterval(() => {
      if (this.#transfers.size === 0) {
        clearInterval(this.#progress);
        this.#progress = undefined;
        return;
      }
      const sessions = new Map(
        [...this.#transfers].map(([id, t]) => [id, t.session]),
      );
      const report = this.#reporter.report(sessions);
      if (report) this.#post(report);
    }, this.#progressMs);
  }

  start(msg: Extract<ToWorker, { type: "start" }>): void {
    const previous = msg.repeatOf === undefined
      ? undefined
      : this.#transfers.get(msg.repeatOf);
    if (!previous) return this.#run(msg);
    // Let that transfer's pending datagrams have their turn first.
    setTimeout(() => {
      if (previous.finished) return this.#run(msg);
      this.#env.log.debug(
        `${
          formatPeer(msg.peer)
        } repeated request ignored: transfer in progress`,
      );
      this.#post({ type: "done", id: msg.id });
    }, 0);
  }

  #run(msg: Extract<ToWorker, { type: "start" }>): void {
    const { id, request, name, peer, local } = msg;
    const cls = request.op === Opcode.RRQ ? ReadSession : WriteSession;
    let t: LocalTransfer;
    try {
      t = startTransfer(cls, { request, name, peer, local }, {
        ...this.#env,
        onEstablished: () => this.#post({ type: "established", id }),
      });
    } catch (err) {
      this.#env.log.error(
        `${formatPeer(peer)} cannot open a transfer socket: ${err}`,
      );
      this.#post({
        type: "refused",
        id,
        code: ErrorCode.NOT_DEFINED,
        message: "no transfer port available, try again later",
      });
      this.#post({
        type: "stats",
        id,
        stats: failedStats("no transfer port available", {
          peer: formatPeer(peer),
          filename: request.filename,
          direction: request.op === Opcode.RRQ ? "read" : "write",
          mode: request.mode,
        }),
      });
      this.#post({ type: "done", id });
      return;
    }
    this.#transfers.set(id, t);
    this.#report();
    t.stats.then((stats) => this.#post({ type: "stats", id, stats }));
    t.done.finally(() => {
      this.#transfers.delete(id);
      this.#post({ type: "done", id });
    });
  }

  cancel(id: number, reason?: string): void {
    this.#transfers.get(id)?.cancel(reason);
  }

  async close(): Promise<void> {
    clearInterval(this.#progress);
    const all = [...this.#transfers.values()];
    for (const t of all) t.cancel();
    await Promise.allSettled(all.map((t) => t.done));
    await this.#origin?.close();
    this.#post({ type: "closed" });
  }
}

async function setUp(
  setup: WorkerSetup,
  post: (m: FromWorker) => void,
): Promise<WorkerThread> {
  const log = new ForwardingLogger(setup.verbose, post);
  // The root opens quietly (the main thread has said what it lacks); the
  // origin logs its failures from here.
  let origin: ClosableStorage | undefined;
  let storage: Storage;
  if (setup.origin) {
    const only = { ...setup.origin, only: true };
    const slots = setup.originSlots;
    origin = await openOriginStorage(
      originOptions(only, setup, { slots }),
      log,
    );
    try {
      storage = setup.origin.only ? origin : new CompositeStorage(
        await openRootStorage(setup, undefined, log),
        origin,
      );
    } catch (err) {
      await origin.close();
      throw err;
    }
  } else {
    storage = await openRootStorage(setup, undefined, log);
  }
  const ports = new PortAllocator(setup.host, {
    range: setup.portRange,
    start: setup.portStart,
  });
  const allow = setup.allowFrom?.length
    ? setup.allowFrom.map((c) => parseCidr(c))
    : undefined;
  return new WorkerThread(
    {
      storage,
      config: setup.config,
      log,
      lane: { active: 0, windowBuffers: new BufferBudget(setup.windowMemory) },
      openTransport: (_peer, local) => ports.open(local?.hostname),
      answerStranger: allow ? (host) => allowed(allow, host) : undefined,
    },
    post,
    setup.progressMs,
    origin,
  );
}

/** Serves the main thread's messages in this worker. */
function serve(scope: WorkerScope): void {
  const post = (m: FromWorker) => scope.postMessage(m);
  let thread: Promise<WorkerThread> | undefined;
  scope.onmessage = (e: MessageEvent<ToWorker>) => {
    const msg = e.data;
    if (msg.type === "setup") {
      thread = setUp(msg.setup, post);
      thread.then(
        () => post({ type: "ready" }),
        (err) => post({ type: "failed", error: (err as Error).message }),
      );
      return;
    }
    thread?.then((t) => {
      switch (msg.type) {
        case "start":
          t.start(msg);
          break;
        case "cancel":
          t.cancel(msg.id, msg.reason);
          break;
        case "close":
          t.close();
          break;
      }
    }, () => {});
  };
}

serve(globalThis as unknown as WorkerScope);
