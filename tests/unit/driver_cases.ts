/**
 * Shared pieces of the driver_*_test.ts suites (the transfer driver,
 * src/transport/driver.ts, on the fakes): the peer's address, a clock that
 * counts its timers, deferred promises, sent datagrams as text, and waiting
 * for a run to finish.
 *
 * @module
 */

import { decode } from "../../src/protocol/packet.ts";
import type { Driven } from "../../src/transport/driver.ts";
import { FakeClock, type SentDatagram, settle } from "../../testing/fake.ts";

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
