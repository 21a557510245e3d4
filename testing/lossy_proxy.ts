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
 * the server really sent.
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

import { mixSeed, Rng } from "./rng.ts";

/** What happens to the datagrams going one way. */
export interface FaultProfile {
  /** Probability of dropping a datagram. */
  drop?: number;
  /** Probability of delivering a datagram twice. */
  duplicate?: number;
  /**
   * Probability of holding a datagram back until the next one in the same
   * direction has gone (or `holdMs` passed), so the two swap places.
   */
  reorder?: number;
  /** Longest hold of a reordered datagram, in ms (default 15). */
  holdMs?: number;
  /** Fixed delay added to every datagram, in ms. */
  delayMs?: number;
  /** Extra random delay from 0 to this many ms (reorders too). */
  jitterMs?: number;
}

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

/** Opcode and block of a logged datagram, packed as `op * 65536 + block`. */
export type LoggedPacket = number;

/** Counters and packet log of one direction of one flow. */
export interface DirectionLog {
  /** Datagrams that reached the proxy (what the sender really sent). */
  received: number;
  /** Datagrams passed on (after drops, with duplicates). */
  delivered: number;
  /** Datagrams dropped. */
  dropped: number;
  /** Datagrams delivered twice. */
  duplicated: number;
  /** Datagrams held back to swap with a later one. */
  reordered: number;
  /** Datagrams (copies) delivered late on purpose. */
  delayed: number;
  /** Bytes that reached the proxy. */
  bytesReceived: number;
  /** Deliveries the socket refused (the datagram is lost). */
  sendErrors: number;
  /** Every received datagram, in order (see {@linkcode LoggedPacket}). */
  sent: LoggedPacket[];
  /** Every delivered datagram, in order. */
  passed: LoggedPacket[];
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

/**
 * Opcode of a logged packet.
 *
 * @param p A {@linkcode LoggedPacket}.
 * @returns The opcode.
 */
export function opOf(p: LoggedPacket): number {
  return Math.floor(p / 65536);
}

/**
 * Block number (DATA, ACK) or error code (ERROR) of a logged packet.
 *
 * @param p A {@linkcode LoggedPacket}.
 * @returns The 16-bit field after the opcode, or 0.
 */
export function blockOf(p: LoggedPacket): number {
  return p % 65536;
}

/**
 * How many logged packets have opcode `op`.
 *
 * @param packets Logged packets.
 * @param op Opcode.
 * @returns The count.
 */
export function countOp(packets: readonly LoggedPacket[], op: number): number {
  let n = 0;
  for (const p of packets) if (opOf(p) === op) n++;
  return n;
}

/**
 * Counts the ACKs that move a sender's window forward: each ACK whose
 * block, unwrapped past 65535, is above every block acknowledged before.
 * Duplicate and stale ACKs do not count; a correct sender sends at most one
 * window per counted ACK (plus one per timeout).
 *
 * @param packets Client -> server packets as delivered.
 * @param opts `oack`: the transfer began with an OACK (so ACK 0 counts).
 * @returns The number of advancing ACKs.
 */
export function advancingAcks(
  packets: readonly LoggedPacket[],
  opts: { oack: boolean },
): number {
  let acked = opts.oack ? -1 : 0;
  let n = 0;
  for (const p of packets) {
    if (opOf(p) !== 4) continue;
    const delta = (blockOf(p) - acked) & 0xffff;
    if (delta !== 0 && delta < 0x8000) {
      acked += delta;
      n++;
    }
  }
  return n;
}

function newLog(): DirectionLog {
  return {
    received: 0,
    delivered: 0,
    dropped: 0,
    duplicated: 0,
    reordered: 0,
    delayed: 0,
    bytesReceived: 0,
    sendErrors: 0,
    sent: [],
    passed: [],
  };
}

function describe(data: Uint8Array): LoggedPacket {
  if (data.length < 2) return 0;
  const op = (data[0] << 8) | data[1];
  if (op > 0xff) return 0xff * 65536;
  const block = data.length >= 4 && (op === 3 || op === 4 || op === 5)
    ? (data[2] << 8) | data[3]
    : 0;
  return op * 65536 + block;
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

/** One direction of one flow: decides the faults and passes datagrams on. */
class Lane {
  #rng: Rng;
  #profile: FaultProfile;
  #log: DirectionLog;
  #emit: (data: Uint8Array) => void;
  #timers: Set<Timer>;
  #held?: Uint8Array;
  #holdTimer?: Timer;

  constructor(
    rng: Rng,
    profile: FaultProfile,
    log: DirectionLog,
    emit: (data: Uint8Array) => void,
    timers: Set<Timer>,
  ) {
    this.#rng = rng;
    this.#profile = profile;
    this.#log = log;
    this.#emit = emit;
    this.#timers = timers;
  }

  push(data: Uint8Array): void {
    const log = this.#log;
    const p = this.#profile;
    log.received++;
    log.bytesReceived += data.length;
    log.sent.push(describe(data));
    // Every random decision is taken here, in arrival order, so a flow's
    // fault pattern depends on its seed and its packets only.
    if (this.#rng.chance(p.drop ?? 0)) {
      log.dropped++;
      return;
    }
    const copies = this.#rng.chance(p.duplicate ?? 0) ? 2 : 1;
    if (copies === 2) log.duplicated++;
    for (let i = 0; i < copies; i++) {
      const jitter = p.jitterMs ? this.#rng.int(p.jitterMs + 1) : 0;
      const delay = (p.delayMs ?? 0) + jitter;
      const hold = this.#rng.chance(p.reorder ?? 0);
      if (delay > 0) {
        log.delayed++;
        const id = setTimeout(() => {
          this.#timers.delete(id);
          this.#pass(data, hold);
        }, delay);
        this.#timers.add(id);
      } else {
        this.#pass(data, hold);
      }
    }
  }

  #pass(data: Uint8Array, hold: boolean): void {
    if (hold && this.#held === undefined) {
      this.#log.reordered++;
      this.#held = data;
      const id = setTimeout(() => {
        this.#timers.delete(id);
        this.#holdTimer = undefined;
        this.#release();
      }, this.#profile.holdMs ?? 15);
      this.#holdTimer = id;
      this.#timers.add(id);
      return;
    }
    this.#deliver(data);
    if (this.#held !== undefined) {
      if (this.#holdTimer !== undefined) {
        clearTimeout(this.#holdTimer);
        this.#timers.delete(this.#holdTimer);
        this.#holdTimer = undefined;
      }
      this.#release();
    }
  }

  #release(): void {
    const held = this.#held;
    this.#held = undefined;
    if (held !== undefined) this.#deliver(held);
  }

  #deliver(data: Uint8Array): void {
    this.#log.delivered++;
    this.#log.passed.push(describe(data));
    this.#emit(data);
  }
}

interface FlowState {
  flow: ProxyFlow;
  /** Towards the server. */
  back: Deno.DatagramConn;
  /** Towards the client (its replies come from here). */
  face: Deno.DatagramConn;
  toServer: Lane;
  toClient: Lane;
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
      toServer: newLog(),
      toClient: newLog(),
    };
    this.flows.push(flow);
    const label = filename ?? `flow-${id}`;
    const seed = opts.seed ?? 1;
    const target = opts.target;
    const toServer = new Lane(
      new Rng(mixSeed(seed, label, "to-server")),
      opts.toServer ?? {},
      flow.toServer,
      (data) => {
        const isRequest = data.length >= 2 && data[0] === 0 &&
          (data[1] === 1 || data[1] === 2);
        const port = isRequest ? target.port : flow.serverPort ?? target.port;
        back.send(data, {
          transport: "udp",
          hostname: target.hostname,
          port,
        }).catch(() => void flow.toServer.sendErrors++);
      },
      this.#timers,
    );
    const toClient = new Lane(
      new Rng(mixSeed(seed, label, "to-client")),
      opts.toClient ?? {},
      flow.toClient,
      (data) => {
        if (this.#closed || state.released) return;
        face.send(data, client).catch(() => void flow.toClient.sendErrors++);
      },
      this.#timers,
    );
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
