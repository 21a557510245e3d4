/**
 * Shared pieces of the driver_*_test.ts suites (the transfer driver,
 * src/transport/driver.ts, on the fakes): the peer's address, a clock that
 * counts its timers, deferred promises, sent datagrams as text, waiting
 * for a run to finish, and a server read over the fakes with a transport
 * that holds its sends and a client that ACKs what arrives.
 *
 * @module
 */

import { decode, encodeAck } from "../../src/protocol/packet.ts";
import { concat } from "../../testing/bytes.ts";
import { SendTransfer } from "../../src/protocol/send_transfer.ts";
import { BytesReadHandle } from "../../src/storage/memory.ts";
import {
  type BlockSource,
  OctetBlockSource,
} from "../../src/transport/block_source.ts";
import { type Driven, driveSend } from "../../src/transport/driver.ts";
import type { Lane } from "../../src/transport/types.ts";
import {
  FakeClock,
  FakeTransport,
  type SentDatagram,
  settle,
} from "../../testing/fake.ts";

export const PEER: Deno.NetAddr = {
  transport: "udp",
  hostname: "127.0.0.1",
  port: 50000,
};

/** A FakeClock that counts the timers it was asked for. */
export class CountingClock extends FakeClock {
  created = 0;
  maxPending = 0;
  override setTimeout(fn: () => void, ms: number): unknown {
    this.created++;
    const id = super.setTimeout(fn, ms);
    this.maxPending = Math.max(this.maxPending, this.pending);
    return id;
  }
}

/** A promise and its resolvers. */
export function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** What a sent datagram is, as text ("DATA 3 (512)", "ACK 2", "ERROR 5"). */
export function what(d: SentDatagram): string {
  const p = decode(d.data);
  switch (p.op) {
    case 3:
      return `DATA ${p.block} (${p.data.length})`;
    case 4:
      return `ACK ${p.block}`;
    case 5:
      return `ERROR ${p.code} ${p.message}`;
    case 6:
      return "OACK";
  }
  return `opcode ${p.op}`;
}

export function pattern(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 7 + (i >> 9)) & 0xff;
  return out;
}

export async function finished(run: Driven): Promise<void> {
  await run.finished;
  await settle();
}

/** A FakeTransport whose sends complete only when the test releases them. */
export class HeldTransport extends FakeTransport {
  #held: (() => void)[] = [];
  override send(data: Uint8Array, addr: Deno.NetAddr): Promise<number> {
    const p = super.send(data, addr);
    if (this.closed) return p;
    return new Promise((resolve) =>
      this.#held.push(() => resolve(data.length))
    );
  }
  /** receive() calls so far. */
  receives = 0;
  override receive(buf?: Uint8Array): Promise<[Uint8Array, Deno.Addr]> {
    this.receives++;
    return super.receive(buf);
  }
  /** Sends not yet completed. */
  get held(): number {
    return this.#held.length;
  }
  /** Completes every held send. */
  release(): void {
    for (const r of this.#held.splice(0)) r();
  }
}

/** A server read of `file` over fakes, not started until `go()`. */
export function serverRead(
  file: Uint8Array,
  o: {
    windowsize?: number;
    transport?: FakeTransport;
    clock?: FakeClock;
    lane?: Lane;
    source?: (blksize: number) => BlockSource;
    giveUpMs?: number;
  } = {},
) {
  const transport = o.transport ?? new FakeTransport();
  const clock = o.clock ?? new CountingClock();
  const t = new SendTransfer({
    role: "server",
    peer: PEER,
    windowsize: o.windowsize ?? 1,
    giveUpMs: o.giveUpMs,
  }, clock.now());
  const run = driveSend(t, {
    transport,
    clock,
    lane: o.lane,
    source: o.source ??
      ((b) => new OctetBlockSource(new BytesReadHandle(file), b)),
  });
  return { t, run, transport, clock };
}

/**
 * Plays a client that ACKs each window (every `w`-th block and the short
 * one) as soon as it is sent, `stepMs` later, until the transfer ends.
 * Returns the payload received.
 */
export async function ackWindows(
  transport: FakeTransport,
  clock: FakeClock,
  o: { w?: number; stepMs?: number; onRound?: () => void } = {},
): Promise<Uint8Array> {
  const w = o.w ?? 1;
  const parts: Uint8Array[] = [];
  let seen = 0;
  for (let round = 0; round < 100_000 && !transport.closed; round++) {
    await settle();
    o.onRound?.();
    const fresh = transport.sent.slice(seen);
    seen = transport.sent.length;
    for (const d of fresh) {
      const p = decode(d.data);
      if (p.op !== 3) continue;
      parts.push(p.data.slice());
      if (p.block % w === 0 || p.data.length < 512) {
        if (o.stepMs) clock.advance(o.stepMs);
        transport.inject(encodeAck(p.block), PEER);
      }
    }
    if (fresh.length === 0 && transport.closed) break;
  }
  return concat(parts);
}
