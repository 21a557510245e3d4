/**
 * Entry point of a server worker thread (`--workers`): runs the transfers
 * the main thread hands over, each on its own socket, with the same storage
 * rules, and reports each outcome back.
 *
 * The main thread loads this module as a bundle (see `worker_bundle.ts`),
 * because Deno would otherwise need read permission on the program's own
 * source files to start a worker.
 *
 * @module
 */

import { Logger, type LogLevel } from "../../log.ts";
import { ErrorCode, Opcode } from "../../protocol/packet.ts";
import type { Storage } from "../../storage/types.ts";
import { openRootStorage } from "../../storage/fs_root.ts";
import { PortAllocator } from "../../transport/ports.ts";
import {
  formatPeer,
  ReadSession,
  type Session,
  WriteSession,
} from "../session.ts";
import {
  failedStats,
  type FromWorker,
  type ToWorker,
  type WorkerSetup,
} from "./protocol.ts";

/** The state of one worker thread. */
interface WorkerState {
  setup: WorkerSetup;
  storage: Storage;
  log: Logger;
  ports: PortAllocator;
  sessions: Map<number, Session>;
  runs: Set<Promise<void>>;
}

/** The worker global, typed for what is used here. */
interface WorkerScope {
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker): void;
}

const scope = globalThis as unknown as WorkerScope;
let state: WorkerState | undefined;

function post(message: FromWorker): void {
  scope.postMessage(message);
}

/**
 * Hands every line to the main thread, which writes it with its own logger
 * (one writer, one format, the same hooks as for local transfers).
 */
class ForwardingLogger extends Logger {
  /**
   * @param verbose Whether debug lines are wanted.
   */
  constructor(verbose: boolean) {
    super({ verbose, stderr: false });
  }

  /**
   * Sends one line to the main thread.
   *
   * @param level Severity.
   * @param message Text.
   * @param fields Extra data.
   */
  override log(
    level: LogLevel,
    message: string,
    fields?: Record<string, unknown>,
  ): void {
    if (level === "debug" && !this.debugEnabled) return;
    post({ type: "log", level, message, fields });
  }
}

async function setUp(setup: WorkerSetup): Promise<void> {
  try {
    const storage = await openRootStorage(setup);
    state = {
      setup,
      storage,
      log: new ForwardingLogger(setup.verbose),
      ports: new PortAllocator(setup.host, {
        range: setup.portRange,
        start: setup.portStart,
      }),
      sessions: new Map(),
      runs: new Set(),
    };
    post({ type: "ready" });
  } catch (err) {
    post({ type: "failed", error: (err as Error).message ?? String(err) });
  }
}

function start(
  s: WorkerState,
  msg: Extract<ToWorker, { type: "start" }>,
): void {
  const { id, request, peer } = msg;
  let transport: Deno.DatagramConn;
  try {
    transport = s.ports.open();
  } catch (err) {
    s.log.error(`${formatPeer(peer)} cannot open a transfer socket: ${err}`);
    post({
      type: "refused",
      id,
      code: ErrorCode.NOT_DEFINED,
      message: "no transfer port available, try again later",
    });
    post({
      type: "stats",
      id,
      stats: failedStats("no transfer port available", {
        peer: formatPeer(peer),
        filename: request.filename,
        direction: request.op === Opcode.RRQ ? "read" : "write",
        mode: request.mode,
      }),
    });
    post({ type: "done", id });
    return;
  }
  const cls = request.op === Opcode.RRQ ? ReadSession : WriteSession;
  const session = new cls({
    request,
    peer,
    transport,
    storage: s.storage,
    config: s.setup.config,
    log: s.log,
  });
  s.sessions.set(id, session);
  session.stats.then((stats) => post({ type: "stats", id, stats }));
  const run = session.run().then(
    () => {},
    (err) => s.log.error(`${session.peerText} session crashed: ${err}`),
  ).finally(() => {
    s.sessions.delete(id);
    s.runs.delete(run);
    post({ type: "done", id });
  });
  s.runs.add(run);
}

async function closeAll(s: WorkerState): Promise<void> {
  for (const session of s.sessions.values()) session.cancel();
  await Promise.allSettled([...s.runs]);
  post({ type: "closed" });
}

scope.onmessage = (e: MessageEvent<ToWorker>) => {
  const msg = e.data;
  if (msg.type === "setup") {
    setUp(msg.setup);
    return;
  }
  if (!state) return;
  switch (msg.type) {
    case "start":
      start(state, msg);
      break;
    case "cancel":
      state.sessions.get(msg.id)?.cancel();
      break;
    case "close":
      closeAll(state);
      break;
  }
};
