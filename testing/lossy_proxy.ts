/**
 * A loopback UDP proxy for fault-injection tests. It sits between TFTP
 * clients and a server and, per direction and with a fixed seed, drops,
 * duplicates, reorders and delays datagrams.
 *
 * Clients send their requests to the proxy's one port. Each client
 * endpoint becomes a {@linkcode ProxyFlow} with its own socket towards the
 * server, so the server sees one distinct peer per client, and its own
 * socket towards the client, from which replies reach the client (a
 * transfer port, as a server's would be). A flow sends requests (RRQ, WRQ)
 * to the server's listen port and everything else to the server's transfer
 * port once it has answered from one, so it follows the switch to a
 * transfer port. Since the client sees the flow's port and not the
 * server's, the proxy does the client's TID check itself (see
 * {@linkcode ProxyFlow.serverPort}).
 *
 * One socket per flow and direction matters under load: all flows sharing
 * one client-facing socket (whose receive buffer holds some 200 KB) lost
 * windows of many flows at once in the kernel whenever the event loop fell
 * behind, faults nobody injected or counted.
 *
 * Every datagram the proxy sees is logged per flow and direction (opcode
 * and block number), before and after the faults, so tests can count what
 * the server really sent. The faults are taken in `fault_lane.ts`, the log
 * and its counts live in `packet_log.ts`; this module re-exports the parts
 * tests use.
 *
 * @example
 * ```ts ignore
 * import { LossyProxy } from "./lossy_proxy.ts";
 * const proxy = new LossyProxy({
 *   target: { hostname: "127.0.0.1", port: serverPort },
 *   seed: 7,
 *   toClient: { drop: 0.05 },
 *   toServer: { drop: 0.05, duplicate: 0.05 },
 * });
 * // client uses proxy.port ...
 * const flow = proxy.flowFor("file.bin");
 * await proxy.close();
 * ```
 *
 * @module
 */

import { FaultLane, type FaultProfile } from "./fault_lane.ts";
import { type DirectionLog, newDirectionLog } from "./packet_log.ts";
import { mixSeed, Rng } from "./rng.ts";

export type { FaultProfile } from "./fault_lane.ts";
export {
  advancingAcks,
  blockOf,
  countOp,
  type DirectionLog,
  type LoggedPacket,
  opOf,
} from "./packet_log.ts";

/** Options of {@linkcode LossyProxy}. */
export interface LossyProxyOptions {
  /** The server's listen address. */
  target: { hostname: string; port: number };
  /** Address to bind the proxy's sockets (default `127.0.0.1`). */
  host?: string;
  /** Seed for the fault decisions (default 1). */
  seed?: number;
  /** Faults on client -> server datagrams. */
  toServer?: FaultProfile;
  /** Faults on server -> client datagrams. */
  toClient?: FaultProfile;
}

/** One client endpoint and its socket towards the server. */
export interface ProxyFlow {
  /** Creation order, from 0. */
  readonly id: number;
  /** The client's address. */
  readonly client: Deno.NetAddr;
  /** Local port of the proxy's socket towards the server (the peer the server sees). */
  readonly backPort: number;
  /**
   * The server's transfer port: the first port other than the listen port
   * that answered. Later datagrams from any other port (a second transfer)
   * are answered with ERROR 5 as the client would, and not passed on.
   */
  serverPort?: number;
  /** Datagrams from a port other than {@linkcode ProxyFlow.serverPort}. */
  foreignTid: number;
  /** File name of the flow's first request, if it started with one. */
  filename?: string;
  /** Opcode of the flow's first request (1 RRQ, 2 WRQ), if any. */
  requestOp?: number;
  /** Client -> server. */
  readonly toServer: DirectionLog;
  /** Server -> client. */
  readonly toClient: DirectionLog;
}

/** A timer id as `setTimeout` returns it. */
type Timer = ReturnType<typeof setTimeout>;

const decoder = new TextDecoder();
/** ERROR 5, as a client answers a stranger. */
const UNKNOWN_TID = new Uint8Array([
  0,
  5,
  0,
  5,
  ...new TextEncoder().encode("unknown transfer ID"),
  0,
]);

function requestName(data: Uint8Array): string | undefined {
  if (data.length < 4 || data[0] !== 0 || (data[1] !== 1 && data[1] !== 2)) {
    return undefined;
  }
  const end = data.indexOf(0, 2);
  return end < 0 ? undefined : decoder.decode(data.subarray(2, end));
}

/** Whether `data` is a request for another file than the flow's first one. */
function isNewRequest(flow: ProxyFlow, data: Uint8Array): boolean {
  const name = requestName(data);
  return name !== undefined &&
    (name !== flow.filename || data[1] !== flow.requestOp);
}

interface FlowState {
  flow: ProxyFlow;
  /** Towards the server. */
  back: Deno.DatagramConn;
  /** Towards the client (its replies come from here). */
  face: Deno.DatagramConn;
  toServer: FaultLane;
  toClient: FaultLane;
  loop: Promise<void>;
  faceLoop: Promise<void>;
  /** The client is gone: its port may belong to a new client now. */
  released: boolean;
}

/** The proxy. Construct it, point clients at {@linkcode LossyProxy.port}, close it. */
export class LossyProxy implements AsyncDisposable {
  /** Every flow so far, in creation order. */
  readonly flows: ProxyFlow[] = [];
  readonly #opts: LossyProxyOptions;
  readonly #front: Deno.DatagramConn;
  readonly #states = new Map<string, FlowState>();
  readonly #retired: FlowState[] = [];
  readonly #timers = new Set<Timer>();
  readonly #loop: Promise<void>;
  #closed = false;

  /**
   * Binds the client-facing socket and starts forwarding.
   *
   * @param opts Target, seed and faults.
   */
  constructor(opts: LossyProxyOptions) {
    this.#opts = opts;
    this.#front = Deno.listenDatagram({
      transport: "udp",
      hostname: opts.host ?? "127.0.0.1",
      port: 0,
    });
    this.#loop = this.#frontLoop();
  }

  /** The client-facing address. */
  get addr(): Deno.NetAddr {
    return this.#front.addr as Deno.NetAddr;
  }

  /** The client-facing port. */
  get port(): number {
    return this.addr.port;
  }

  /**
   * The flow whose first request named `filename`.
   *
   * @param filename Requested file name.
   * @returns The flow, or undefined.
   */
  flowFor(filename: string): ProxyFlow | undefined {
    return this.flows.find((f) => f.filename === filename);
  }

  /**
   * The flow the server sees as `host:port` (as in transfer stats).
   *
   * @param peer The peer text from the server's stats.
   * @returns The flow, or undefined.
   */
  flowForPeer(peer: string): ProxyFlow | undefined {
    const port = Number(peer.slice(peer.lastIndexOf(":") + 1));
    return this.flows.find((f) => f.backPort === port);
  }

  /**
   * The client of `flow` has finished: stop passing the server's datagrams
   * on to its address. Its port may soon belong to another client, which
   * must not get this flow's late retransmits (a real network would carry
   * them to the old client's host, not to a new transfer). What the server
   * sends is still logged.
   *
   * @param flow A flow of this proxy.
   */
  release(flow: ProxyFlow): void {
    for (const state of [...this.#states.values(), ...this.#retired]) {
      if (state.flow === flow) state.released = true;
    }
  }

  async #frontLoop(): Promise<void> {
    const buf = new Uint8Array(65536);
    while (!this.#closed) {
      let data: Uint8Array;
      let addr: Deno.Addr;
      try {
        [data, addr] = await this.#front.receive(buf);
      } catch {
        if (this.#closed) return;
        continue;
      }
      const from = addr as Deno.NetAddr;
      const copy = data.slice();
      const key = `${from.hostname}|${from.port}`;
      let state = this.#states.get(key);
      if (state && isNewRequest(state.flow, copy)) {
        // The client's port was reused by a new transfer: a new flow.
        this.#retired.push(state);
        state = undefined;
      }
      if (!state) {
        state = this.#newFlow(from, copy);
        this.#states.set(key, state);
      }
      state.toServer.push(copy);
    }
  }

  #newFlow(client: Deno.NetAddr, first: Uint8Array): FlowState {
    const opts = this.#opts;
    const back = Deno.listenDatagram({
      transport: "udp",
      hostname: opts.host ?? "127.0.0.1",
      port: 0,
    });
    const face = Deno.listenDatagram({
      transport: "udp",
      hostname: opts.host ?? "127.0.0.1",
      port: 0,
    });
    const id = this.flows.length;
    const filename = requestName(first);
    const flow: ProxyFlow = {
      id,
      client,
      backPort: (back.addr as Deno.NetAddr).port,
      filename,
      requestOp: filename === undefined ? undefined : first[1],
      foreignTid: 0,
      toServer: newDirectionLog(),
      toClient: newDirectionLog(),
    };
    this.flows.push(flow);
    const label = filename ?? `flow-${id}`;
    const seed = opts.seed ?? 1;
    const target = opts.target;
    const toServer = new FaultLane({
      rng: new Rng(mixSeed(seed, label, "to-server")),
      profile: opts.toServer ?? {},
      log: flow.toServer,
      emit: (data) => {
        const isRequest = data.length >= 2 && data[0] === 0 &&
          (data[1] === 1 || data[1] === 2);
        const port = isRequest ? target.port : flow.serverPort ?? target.port;
        back.send(data, {
          transport: "udp",
          hostname: target.hostname,
          port,
        }).catch(() => void flow.toServer.sendErrors++);
      },
      timers: this.#timers,
    });
    const toClient = new FaultLane({
      rng: new Rng(mixSeed(seed, label, "to-client")),
      profile: opts.toClient ?? {},
      log: flow.toClient,
      emit: (data) => {
        if (this.#closed || state.released) return;
        face.send(data, client).catch(() => void flow.toClient.sendErrors++);
      },
      timers: this.#timers,
    });
    const state: FlowState = {
      flow,
      back,
      face,
      toServer,
      toClient,
      loop: Promise.resolve(),
      faceLoop: Promise.resolve(),
      released: false,
    };
    state.loop = this.#backLoop(state);
    state.faceLoop = this.#faceLoop(state);
    return state;
  }

  /** What the client sends to the flow's port goes on to the server. */
  async #faceLoop(state: FlowState): Promise<void> {
    const buf = new Uint8Array(65536);
    const client = state.flow.client;
    while (!this.#closed) {
      let data: Uint8Array;
      let addr: Deno.Addr;
      try {
        [data, addr] = await state.face.receive(buf);
      } catch {
        if (this.#closed) return;
        continue;
      }
      const from = addr as Deno.NetAddr;
      if (from.port !== client.port || from.hostname !== client.hostname) {
        // Not this flow's client: answer as a transfer port would.
        state.face.send(UNKNOWN_TID, from).catch(() => {});
        continue;
      }
      state.toServer.push(data.slice());
    }
  }

  async #backLoop(state: FlowState): Promise<void> {
    const buf = new Uint8Array(65536);
    const listenPort = this.#opts.target.port;
    while (!this.#closed) {
      let data: Uint8Array;
      let addr: Deno.Addr;
      try {
        [data, addr] = await state.back.receive(buf);
      } catch {
        if (this.#closed) return;
        continue;
      }
      const from = addr as Deno.NetAddr;
      const flow = state.flow;
      if (flow.serverPort === undefined) {
        if (from.port !== listenPort) flow.serverPort = from.port;
      } else if (from.port !== flow.serverPort) {
        // A second transfer for this client (say, a late retransmitted
        // request started one): the client would see a new TID, so answer
        // as it would (ERROR 5) instead of passing it on.
        flow.foreignTid++;
        state.back.send(UNKNOWN_TID, from).catch(() => {});
        continue;
      }
      state.toClient.push(data.slice());
    }
  }

  /** Stops forwarding, cancels held and delayed datagrams, closes every socket. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const id of this.#timers) clearTimeout(id);
    this.#timers.clear();
    try {
      this.#front.close();
    } catch { /* closed */ }
    const all = [...this.#states.values(), ...this.#retired];
    for (const s of all) {
      for (const conn of [s.back, s.face]) {
        try {
          conn.close();
        } catch { /* closed */ }
      }
    }
    await this.#loop;
    await Promise.all(all.flatMap((s) => [s.loop, s.faceLoop]));
  }

  /** Same as {@linkcode LossyProxy.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
