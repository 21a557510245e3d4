/**
 * Scripts for the transfer machines' tables: a case is a machine and a
 * sequence of events (a datagram's bytes from an endpoint, a timer, an end
 * from outside, each at a time), each with the {@linkcode Act} bits it must
 * return, what a driver does about them (the packets it sends, the writes
 * and the commit), and the read-only state after it. What a step does not
 * list it must not do: a step without `sends` sends nothing.
 *
 * The models play the driver's part the way `src/transport/driver.ts`
 * does it, without sockets: a send model reads blocks of a file of `size`
 * bytes (a short block is the last one) and calls `sent(now)`; a receive
 * model writes, commits, sends `control` and calls `acked(now)`.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  encodeAck,
  encodeData,
  encodeError,
  encodeOack,
  Opcode,
} from "../../src/protocol/packet.ts";
import {
  SendTransfer,
  type SendTransferOptions,
} from "../../src/protocol/send_transfer.ts";
import {
  ReceiveTransfer,
  type ReceiveTransferOptions,
} from "../../src/protocol/receive_transfer.ts";
import { Act, type Outcome } from "../../src/protocol/transfer.ts";
import type { Endpoint } from "../../src/protocol/peer.ts";

/** A server's peer: the client that sent the request. */
export const CLIENT: Endpoint = { hostname: "10.0.0.9", port: 2000 };
/** A client's peer before the lock: the server's listen address. */
export const SERVER: Endpoint = { hostname: "10.0.0.1", port: 69 };
/** The server's transfer port, as its first reply shows it. */
export const SERVER_TID: Endpoint = { hostname: "10.0.0.1", port: 50001 };
/** Another port on the server's host. */
export const SERVER_OTHER: Endpoint = { hostname: "10.0.0.1", port: 50002 };
/** Another port on the client's host. */
export const CLIENT_OTHER: Endpoint = { hostname: "10.0.0.9", port: 2001 };
/** Another host. */
export const STRANGER: Endpoint = { hostname: "10.6.6.6", port: 2000 };

/** ACK of wire block `n`. */
export const ack = (n: number): Uint8Array => encodeAck(n);
/** DATA of wire block `n` with `length` payload bytes. */
export const data = (n: number, length: number): Uint8Array =>
  encodeData(n, new Uint8Array(length));
/** ERROR with `code` and `message`. */
export const error = (code: number, message = "x"): Uint8Array =>
  encodeError(code, message);
/** OACK listing `options` in order. */
export const oack = (options: Record<string, string>): Uint8Array =>
  encodeOack(new Map(Object.entries(options)));

const ACT_NAMES: [number, string][] = Object.entries(Act)
  .filter(([, v]) => v !== 0)
  .map(([k, v]) => [v, k]);

/**
 * Act bits as text ("DELIVER|FINAL|SEND"), so a failed step says which.
 *
 * @param bits Act bits.
 * @returns Their names, or NONE.
 */
export function acts(bits: number): string {
  const names = ACT_NAMES.filter(([v]) => bits & v).map(([, k]) => k);
  const rest = ACT_NAMES.reduce((b, [v]) => b & ~v, bits);
  if (rest) names.push(`0x${rest.toString(16)}`);
  return names.length ? names.join("|") : "NONE";
}

/** One event of a script and what it must cause. */
export interface Step {
  /** The time of the event, in ms. */
  at: number;
  /** `start(now)`. */
  start?: true;
  /** The retransmit timer fired (`onTimer(now)`). */
  timer?: true;
  /** `end(outcome)` from outside (shutdown, local failure). */
  end?: Outcome;
  /** A datagram arrived... */
  dg?: Uint8Array;
  /** ...from here (default: the case's peer). */
  from?: Endpoint;
  /**
   * Receive model: the driver is still committing, so the control packet
   * this step asks for goes out only at a later `ackNow` step.
   */
  ackLater?: true;
  /** Receive model: the held control packet goes out now (not an event). */
  ackNow?: true;
  /** Act bits the machine returns. */
  act: number;
  /** What the driver does about them, in order (default: nothing). */
  sends?: string[];
  /** Read-only state after the step (a RegExp matches text). */
  state?: Record<string, unknown>;
}

/** A machine with a model of its driver. */
export interface Model {
  /** The default source of datagrams. */
  readonly peer: Endpoint;
  /** Feeds one event; returns the Act bits. */
  event(step: Step): number;
  /** Does what the Act bits ask; returns what was done. */
  apply(act: number, step: Step): string[];
  /** The read-only state. */
  state(): Record<string, unknown>;
}

/** One row of a rule's table. */
export interface Case {
  /** The rule, as a sentence (the test's name). */
  name: string;
  /** The machine. */
  make: () => Model;
  /** The events and what each must cause. */
  steps: Step[];
}

function describe(step: Step): string {
  if (step.start) return "start";
  if (step.timer) return "timer";
  if (step.end) return `end(${step.end})`;
  if (step.ackNow) return "held ACK goes out";
  const d = step.dg!;
  const op = d.length >= 2 ? (d[0] << 8) | d[1] : -1;
  const n = d.length >= 4 ? (d[2] << 8) | d[3] : -1;
  const name = ["?", "RRQ", "WRQ", "DATA", "ACK", "ERROR", "OACK"][op] ??
    `opcode ${op}`;
  const from = step.from ? ` from ${step.from.hostname}:${step.from.port}` : "";
  return `${name} ${n} (${d.length} bytes)${from}`;
}

/**
 * Runs a script, checking every step.
 *
 * @param model The machine and its driver model.
 * @param steps The script.
 */
export function run(model: Model, steps: Step[]): void {
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i];
    const where = `step ${i} at ${step.at} (${describe(step)})`;
    const act = model.event(step);
    assert.equal(acts(act), acts(step.act), `${where}: Act bits`);
    assert.deepEqual(model.apply(act, step), step.sends ?? [], `${where}`);
    const state = model.state();
    for (const [key, want] of Object.entries(step.state ?? {})) {
      if (!(key in state)) throw new Error(`${where}: no state ${key}`);
      if (want instanceof RegExp) {
        assert.match(String(state[key]), want, `${where}: ${key}`);
      } else {
        assert.deepEqual(state[key], want, `${where}: ${key}`);
      }
    }
  }
}

/**
 * Registers each case as a test named by its rule.
 *
 * @param cases A rule's table.
 */
export function register(cases: Case[]): void {
  for (const c of cases) Deno.test(c.name, () => run(c.make(), c.steps));
}

function feed(
  t: SendTransfer | ReceiveTransfer,
  step: Step,
  peer: Endpoint,
): number {
  if (step.start) return t.start(step.at);
  if (step.timer) return t.onTimer(step.at);
  if (step.end) return t.end(step.end, "ended from outside");
  if (step.ackNow) return Act.NONE;
  return t.onDatagram(step.dg!, step.from ?? peer, step.at);
}

/** Settings of a {@linkcode sendModel}. */
export interface SendModelOptions {
  /** Bytes in the file sent (default: three blocks and a bit). */
  size?: number;
}

/**
 * A {@linkcode SendTransfer} and a driver that reads blocks of a file of
 * `size` bytes: sends are `OACK`, `DATA n` (absolute block numbers; the
 * wire carries the low 16 bits), `request`, `ERROR c` (the farewell) and
 * `ERROR 5 to stranger`.
 *
 * @param options The machine's settings (time 0 is its creation).
 * @param model The file.
 * @returns The model.
 */
export function sendModel(
  options: SendTransferOptions,
  model: SendModelOptions = {},
): Model {
  const t = new SendTransfer(options, 0);
  const size = model.size ?? 3 * 512 + 100;
  const peer = options.role === "server" ? options.peer : SERVER_TID;
  return {
    peer,
    event: (step) => feed(t, step, peer),
    apply(act, step) {
      const out: string[] = [];
      if (act & Act.STRANGER) return ["ERROR 5 to stranger"];
      if (act & Act.REQUEST) out.push("request");
      if (act & Act.SEND) {
        for (let b = t.nextBlock(); b >= 0; b = t.nextBlock()) {
          if (b === 0) {
            out.push("OACK");
            continue;
          }
          const left = size - (b - 1) * t.blksize;
          if (left < t.blksize) t.setLast(b);
          out.push(`DATA ${b}`);
          if (out.length > 70000) throw new Error("nextBlock never stops");
        }
        t.sent(step.at);
      }
      if (act & (Act.DONE | Act.END) && t.farewell) {
        out.push(`ERROR ${t.farewell.code}`);
      }
      return out;
    },
    state() {
      const s = t.sender;
      return {
        outcome: t.outcome,
        error: t.error,
        farewell: t.farewell,
        peerError: t.peerError,
        established: t.established,
        peerPort: t.peer.port,
        blksize: t.blksize,
        tsize: t.tsize,
        offered: Object.fromEntries(t.offered),
        blocksAcked: t.blocksAcked,
        retransmits: t.retransmits,
        deadline: t.deadline,
        base: s?.base,
        window: s?.window,
        windowsize: s?.windowsize,
        retries: s?.retries,
        intervalMs: s?.intervalMs,
        awaitingOack: s?.awaitingOack,
      };
    },
  };
}

/**
 * A {@linkcode ReceiveTransfer} and a driver that writes, commits and sends
 * `control`: effects are `write n` (payload bytes), `commit`, `OACK`,
 * `ACK n` (wire block numbers), `request`, `ERROR c` (the farewell) and
 * `ERROR 5 to stranger`.
 *
 * @param options The machine's settings (time 0 is its creation).
 * @returns The model.
 */
export function receiveModel(options: ReceiveTransferOptions): Model {
  const t = new ReceiveTransfer(options, 0);
  const peer = options.role === "server" ? options.peer : SERVER_TID;
  let held = false;
  const control = (now: number): string => {
    const c = t.control;
    const text = c[1] === Opcode.OACK ? "OACK" : `ACK ${(c[2] << 8) | c[3]}`;
    t.acked(now);
    return text;
  };
  return {
    peer,
    event: (step) => feed(t, step, peer),
    apply(act, step) {
      if (step.ackNow) {
        if (!held) throw new Error("no control packet is held");
        held = false;
        return [control(step.at)];
      }
      if (act & Act.STRANGER) return ["ERROR 5 to stranger"];
      const out: string[] = [];
      if (act & Act.REQUEST) out.push("request");
      if (act & Act.DELIVER) out.push(`write ${step.dg!.length - 4}`);
      if (act & Act.FINAL) out.push("commit");
      if (act & Act.SEND) {
        if (step.ackLater) held = true;
        else out.push(control(step.at));
      }
      if (act & Act.END && t.farewell) out.push(`ERROR ${t.farewell.code}`);
      return out;
    },
    state() {
      const r = t.receiver;
      return {
        outcome: t.outcome,
        error: t.error,
        farewell: t.farewell,
        peerError: t.peerError,
        established: t.established,
        lingering: t.lingering,
        peerPort: t.peer.port,
        tsize: t.tsize,
        offered: Object.fromEntries(t.offered),
        bytes: t.bytes,
        retransmits: t.retransmits,
        deadline: t.deadline,
        maxDatagram: t.maxDatagram,
        blksize: r?.blksize,
        windowsize: r?.windowsize,
        ackBlock: r?.ackBlock,
        blocksReceived: r?.blocksReceived,
        retries: r?.retries,
        intervalMs: r?.intervalMs,
      };
    },
  };
}
