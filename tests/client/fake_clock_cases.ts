/**
 * Shared pieces of the fake_clock_*_test.ts suites (the client library on a
 * FakeTransport and a FakeClock): the server's addresses, a transport whose
 * replies a handler scripts, scripted read and write servers, a collecting
 * sink, and running a call while the clock moves.
 *
 * @module
 */

import type {
  ClientOptions,
  TftpClientError,
} from "../../src/client/client.ts";
import {
  decode,
  encodeAck,
  encodeData,
  encodeOack,
  Opcode,
  type Packet,
} from "../../src/protocol/packet.ts";
import { elapse, FakeClock, FakeTransport } from "../../testing/fake.ts";

export const HOST = "127.0.0.1";
/** The server's listen port, where requests go. */
export const LISTEN: Deno.NetAddr = {
  transport: "udp",
  hostname: HOST,
  port: 69,
};
/** The server's transfer port, where its replies come from. */
export const TID: Deno.NetAddr = { ...LISTEN, port: 50001 };
/** Another port on the server's host. */
export const OTHER: Deno.NetAddr = { ...LISTEN, port: 50002 };

export type Reply = [Uint8Array, Deno.NetAddr];

/**
 * A FakeTransport that hands each datagram the client sends to the
 * scripted server and delivers its replies, and records when each went out.
 */
export class ScriptedTransport extends FakeTransport {
  readonly at: number[] = [];
  #clock: FakeClock;
  #serve: (p: Packet, to: Deno.NetAddr) => Reply[] | void;

  constructor(
    clock: FakeClock,
    serve: (p: Packet, to: Deno.NetAddr) => Reply[] | void = () => {},
  ) {
    super();
    this.#clock = clock;
    this.#serve = serve;
  }

  override send(data: Uint8Array, addr: Deno.NetAddr): Promise<number> {
    const sent = super.send(data, addr);
    if (this.closed) return sent;
    this.at.push(this.#clock.now());
    for (const [bytes, from] of this.#serve(decode(data), addr) ?? []) {
      queueMicrotask(() => this.inject(bytes, from));
    }
    return sent;
  }

  /** The datagrams sent, as text, with where they went. */
  get wire(): string[] {
    return this.sent.map(({ data, addr }) => {
      const p = decode(data);
      const to = addr.port === 69 ? "" : ` -> ${addr.port}`;
      switch (p.op) {
        case Opcode.RRQ:
        case Opcode.WRQ: {
          const o = [...p.options].map(([k, v]) => ` ${k}=${v}`).join("");
          return `${
            p.op === Opcode.RRQ ? "RRQ" : "WRQ"
          } ${p.filename} ${p.mode}${o}${to}`;
        }
        case Opcode.DATA:
          return `DATA ${p.block} (${p.data.length})${to}`;
        case Opcode.ACK:
          return `ACK ${p.block}${to}`;
        case Opcode.ERROR:
          return `ERROR ${p.code} ${p.message}${to}`;
      }
      return `OACK${to}`;
    });
  }
}

export function pattern(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 13 + (i >> 8)) & 0xff;
  return out;
}

/** A sink that keeps what it is given. */
export function collector() {
  const chunks: Uint8Array[] = [];
  return {
    sink: { write: (d: Uint8Array) => void chunks.push(d.slice()) },
    bytes: () => {
      const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
      let off = 0;
      for (const c of chunks) {
        out.set(c, off);
        off += c.length;
      }
      return out;
    },
  };
}

/** A scripted read server: DATA from `content` in windows of `w`. */
export function readServer(
  content: Uint8Array,
  o: { blksize?: number; w?: number; oack?: Record<string, string> } = {},
) {
  const blksize = o.blksize ?? 512;
  const w = o.w ?? 1;
  const last = Math.floor(content.length / blksize) + 1;
  const block = (n: number): Reply => [
    encodeData(n, content.subarray((n - 1) * blksize, n * blksize)),
    TID,
  ];
  const windowFrom = (n: number): Reply[] => {
    const out: Reply[] = [];
    for (let b = n; b < n + w && b <= last; b++) out.push(block(b));
    return out;
  };
  return (p: Packet): Reply[] => {
    if (p.op === Opcode.RRQ) {
      return o.oack
        ? [[encodeOack(new Map(Object.entries(o.oack))), TID]]
        : windowFrom(1);
    }
    if (p.op === Opcode.ACK && p.block < last) return windowFrom(p.block + 1);
    return [];
  };
}

/** A scripted write server: ACKs each window; keeps what it gets. */
export function writeServer(
  o: { w?: number; oack?: Record<string, string>; blksize?: number } = {},
) {
  const got: Uint8Array[] = [];
  const w = o.w ?? 1;
  const blksize = o.blksize ?? 512;
  const serve = (p: Packet): Reply[] => {
    if (p.op === Opcode.WRQ) {
      return [[
        o.oack ? encodeOack(new Map(Object.entries(o.oack))) : encodeAck(0),
        TID,
      ]];
    }
    if (p.op !== Opcode.DATA) return [];
    got.push(p.data.slice());
    const short = p.data.length < blksize;
    return p.block % w === 0 || short ? [[encodeAck(p.block), TID]] : [];
  };
  return { serve, got };
}

export function setup(serve?: (p: Packet, to: Deno.NetAddr) => Reply[] | void) {
  const clock = new FakeClock();
  const transport = new ScriptedTransport(clock, serve);
  const opts: ClientOptions = { host: HOST, port: 69, transport, clock };
  return { clock, transport, opts };
}

/** Runs `p` while the fake clock moves `ms`; returns its result or error. */
export async function within<T>(
  clock: FakeClock,
  ms: number,
  p: Promise<T>,
): Promise<T | TftpClientError> {
  const settled = p.catch((e) => e);
  await elapse(clock, ms);
  return await settled;
}
