/**
 * driveSend (src/transport/driver.ts) on the fakes, the peer played by the
 * test: its one timer, the datagrams it sends (and never after the end),
 * strangers, and the window buffers it takes from the Lane's BufferBudget.
 */

import assert from "node:assert/strict";
import {
  decode,
  encodeAck,
  encodeError,
  ErrorCode,
  TftpError,
} from "../../src/protocol/packet.ts";
import { SendTransfer } from "../../src/protocol/send_transfer.ts";
import { BytesReadHandle } from "../../src/storage/memory.ts";
import { OctetBlockSource } from "../../src/transport/block_source.ts";
import type { BlockSource } from "../../src/transport/block_source.ts";
import { BufferBudget } from "../../src/transport/buffers.ts";
import { driveSend } from "../../src/transport/driver.ts";
import type { Lane } from "../../src/transport/types.ts";
import {
  elapse,
  FakeClock,
  FakeTransport,
  settle,
} from "../../testing/fake.ts";
import {
  CountingClock,
  deferred,
  finished,
  pattern,
  PEER,
  what,
} from "./driver_cases.ts";

const OTHER: Deno.NetAddr = { ...PEER, port: 50001 };

/** A FakeTransport whose sends complete only when the test releases them. */
class HeldTransport extends FakeTransport {
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
function serverRead(
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
async function ackWindows(
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
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
Deno.test("driveSend keeps one timer for a whole lock-step transfer: each ACK moves the deadline", async () => {
  const file = pattern(200 * 512 + 7);
  const clock = new CountingClock();
  const { t, run, transport } = serverRead(file, { clock });
  const got = await ackWindows(transport, clock);
  await finished(run);
  assert.equal(t.outcome, "ok");
  assert.deepEqual(got, file);
  assert.equal(transport.sent.length, 201, "one DATA per block, no resend");
  assert.equal(clock.created, 1, "one timer, armed at the start");
  assert.equal(clock.maxPending, 1);
  assert.equal(clock.pending, 0, "no timer left after the end");
  assert.deepEqual(transport.violations, []);
});

Deno.test("driveSend re-arms its timer once per interval that passes, not once per block", async () => {
  const file = pattern(300 * 512);
  const clock = new CountingClock();
  const { t, run, transport } = serverRead(file, { clock });
  // 301 blocks, an ACK 10 ms after each: about 3 s at a 1000 ms interval.
  await ackWindows(transport, clock, { stepMs: 10 });
  await finished(run);
  assert.equal(t.outcome, "ok");
  assert.equal(t.retransmits, 0);
  assert.equal(transport.sent.length, 301);
  assert.ok(clock.created <= 5, `${clock.created} timers for 301 blocks`);
  assert.equal(clock.maxPending, 1, "never two timers at once");
  assert.equal(clock.pending, 0);
});

Deno.test("driveSend keeps one timer while it retransmits to a silent peer, and none after giving up", async () => {
  const clock = new CountingClock();
  const { t, run, transport } = serverRead(pattern(100), { clock });
  await elapse(clock, 10_000);
  await finished(run);
  assert.equal(t.outcome, "timeout");
  assert.deepEqual(transport.sent.map(what), [
    "DATA 1 (100)",
    "DATA 1 (100)",
    "DATA 1 (100)",
  ]);
  assert.equal(clock.maxPending, 1);
  assert.equal(clock.pending, 0);
  assert.equal(transport.closed, true);
});

Deno.test("driveSend sends nothing after the transfer ended, whatever arrives or fires", async () => {
  const clock = new CountingClock();
  const { t, run, transport } = serverRead(pattern(10), { clock });
  await transport.waitForSent(1);
  transport.inject(encodeAck(1), PEER);
  await finished(run);
  assert.equal(t.outcome, "ok");
  assert.equal(transport.inject(encodeAck(1), PEER), false);
  await elapse(clock, 10_000);
  assert.equal(transport.sent.length, 1);
  assert.equal(transport.sendsAfterClose, 0);
  assert.equal(clock.pending, 0);
});

Deno.test("driveSend sends no DATA after the peer's ERROR ended it during a block read", async () => {
  const read = deferred<number>();
  let reads = 0;
  const source: BlockSource = {
    read: (_block, buf) => {
      reads++;
      return read.promise.then((n) => {
        buf.fill(1, 0, n);
        return n;
      });
    },
    release: () => {},
  };
  const { t, run, transport } = serverRead(new Uint8Array(0), {
    source: () => source,
  });
  await settle();
  assert.equal(reads, 1, "block 1 is being read");
  transport.inject(encodeError(ErrorCode.NOT_DEFINED, "cancelled"), PEER);
  await settle();
  assert.equal(t.outcome, "aborted");
  read.resolve(512);
  await finished(run);
  assert.deepEqual(transport.sent.map(what), [], "no DATA after the ERROR");
  assert.equal(transport.sendsAfterClose, 0);
});

Deno.test("driveSend answers a stranger with ERROR 5, unless answerStranger refuses its host", async () => {
  for (const allowed of [true, false]) {
    const transport = new FakeTransport();
    const clock = new FakeClock();
    const t = new SendTransfer({ role: "server", peer: PEER }, clock.now());
    const run = driveSend(t, {
      transport,
      clock,
      answerStranger: () => allowed,
      source: (b) => new OctetBlockSource(new BytesReadHandle(pattern(10)), b),
    });
    await transport.waitForSent(1);
    transport.inject(encodeAck(1), OTHER);
    await settle();
    const sent = transport.sent.slice(1);
    assert.deepEqual(
      sent.map((d) => [what(d), d.addr.port]),
      allowed ? [["ERROR 5 unknown transfer ID", OTHER.port]] : [],
    );
    assert.equal(t.outcome, undefined, "the transfer goes on");
    transport.inject(encodeAck(1), PEER);
    await finished(run);
    assert.equal(t.outcome, "ok");
  }
});

Deno.test("driveSend sends a window beyond the Lane's BufferBudget in bursts, and completes", async () => {
  const file = pattern(16 * 512 + 100);
  const transport = new HeldTransport();
  const clock = new CountingClock();
  // Room for two buffers beyond the transfer's own: three in flight.
  const budget = new BufferBudget(2 * 516);
  const lane: Lane = { active: 0, windowBuffers: budget };
  const { t, run } = serverRead(file, {
    windowsize: 8,
    transport,
    clock,
    lane,
  });
  await settle();
  assert.deepEqual(transport.sent.map(what), [
    "DATA 1 (512)",
    "DATA 2 (512)",
    "DATA 3 (512)",
  ], "as many DATA in flight as buffers");
  assert.equal(budget.used, 2 * 516);
  let bursts = 1;
  const got = await ackWindows(transport, clock, {
    w: 8,
    onRound: () => {
      if (transport.held > 0) {
        assert.ok(transport.held <= 3, `${transport.held} sends in flight`);
        bursts++;
        transport.release();
      }
    },
  });
  await finished(run);
  assert.equal(t.outcome, "ok");
  assert.deepEqual(got, file);
  assert.equal(transport.sent.length, 17, "no block sent twice");
  assert.ok(bursts >= 6, `${bursts} bursts for 17 blocks of 3 buffers`);
  assert.equal(budget.used, 0, "the budget is given back");
});

Deno.test("driveSend with an empty BufferBudget sends a window one block at a time, and completes", async () => {
  const file = pattern(8 * 512 + 1);
  const transport = new HeldTransport();
  const budget = new BufferBudget(0);
  const clock = new CountingClock();
  const { t, run } = serverRead(file, {
    windowsize: 4,
    transport,
    clock,
    lane: { active: 0, windowBuffers: budget },
  });
  const got = await ackWindows(transport, clock, {
    w: 4,
    onRound: () => {
      assert.ok(transport.held <= 1, `${transport.held} sends in flight`);
      transport.release();
    },
  });
  await finished(run);
  assert.equal(t.outcome, "ok");
  assert.deepEqual(got, file);
  assert.equal(budget.used, 0);
});

Deno.test("driveSend takes window buffers only while the budget lasts, and gives them back however it ends", async () => {
  const budget = new BufferBudget(100 * 516);
  const lane: Lane = { active: 0, windowBuffers: budget };
  // Two transfers share the budget; one is aborted by its peer, one times out.
  const a = serverRead(pattern(64 * 512), { windowsize: 8, lane });
  const b = serverRead(pattern(64 * 512), { windowsize: 8, lane });
  await settle();
  assert.equal(budget.used, 2 * 7 * 516, "seven buffers beyond the first each");
  a.transport.inject(encodeError(ErrorCode.NOT_DEFINED, "stop"), PEER);
  await finished(a.run);
  assert.equal(a.t.outcome, "aborted");
  assert.equal(budget.used, 7 * 516);
  await elapse(b.clock as FakeClock, 10_000);
  await finished(b.run);
  assert.equal(b.t.outcome, "timeout");
  assert.equal(budget.used, 0);
});

Deno.test("driveSend in lock-step receives again only once the DATA it sent has gone out", async () => {
  const file = pattern(3 * 512 + 9);
  const transport = new HeldTransport();
  const { t, run } = serverRead(file, { transport });
  await settle();
  assert.deepEqual(transport.sent.map(what), ["DATA 1 (512)"]);
  assert.equal(transport.receives, 1, "the loop waits for the first ACK");
  for (let block = 1; block <= 4; block++) {
    transport.release();
    await settle();
    transport.inject(encodeAck(block), PEER);
    await settle();
    if (block === 4) break;
    assert.equal(transport.sent.length, block + 1, `DATA ${block + 1} sent`);
    assert.equal(transport.held, 1);
    // Its ACK cannot come before it is out: a receive now would only find
    // an empty socket and wait on it.
    assert.equal(transport.receives, block, "no receive while DATA is held");
    transport.release();
    await settle();
    assert.equal(transport.receives, block + 1, "then the next receive");
  }
  await finished(run);
  assert.equal(t.outcome, "ok");
  assert.deepEqual(transport.violations, []);
});

Deno.test("driveSend with a window keeps receiving while its DATA is in flight", async () => {
  const transport = new HeldTransport();
  const { t, run } = serverRead(pattern(8 * 512 + 1), {
    windowsize: 4,
    transport,
  });
  await settle();
  assert.equal(transport.held, 4, "a whole window in flight");
  assert.equal(transport.receives, 1);
  // A mid-window ACK (a receiver that holds fewer) is read at once.
  transport.inject(encodeAck(2), PEER);
  await settle();
  assert.equal(transport.receives, 2, "read and waiting for the next");
  assert.equal(transport.held, 4, "nothing completed meanwhile");
  transport.inject(encodeError(ErrorCode.NOT_DEFINED, "stop"), PEER);
  transport.release();
  await finished(run);
  assert.equal(t.outcome, "aborted");
});

Deno.test("driveSend in lock-step still reads the peer while the next block is being read", async () => {
  const read = deferred<number>();
  let reads = 0;
  const source: BlockSource = {
    read: (block, buf) => {
      reads++;
      if (block === 1) return buf.fill(1, 0, 512) && 512;
      return read.promise.then((n) => buf.fill(2, 0, n) && n);
    },
    release: () => {},
  };
  const { t, run, transport } = serverRead(new Uint8Array(0), {
    source: () => source,
  });
  await settle();
  transport.inject(encodeAck(1), PEER);
  await settle();
  assert.equal(reads, 2, "block 2 is being read");
  transport.inject(encodeError(ErrorCode.NOT_DEFINED, "cancelled"), PEER);
  await settle();
  assert.equal(t.outcome, "aborted", "the ERROR is read meanwhile");
  read.resolve(512);
  await finished(run);
  assert.deepEqual(transport.sent.map(what), ["DATA 1 (512)"]);
  assert.equal(transport.sendsAfterClose, 0);
});

/**
 * A source of `file` whose `time`-th read (from 1) of block b answers as
 * `how(b, time)` says: at once, later (a promise), throwing, or rejecting.
 */
function mixedSource(
  file: Uint8Array,
  how: (block: number, time: number) => "now" | "later" | "throw" | "reject",
): BlockSource {
  const inner = new OctetBlockSource(new BytesReadHandle(file), 512);
  const reads = new Map<number, number>();
  return {
    read: (block, buf) => {
      const n = inner.read(block, buf) as number;
      const time = (reads.get(block) ?? 0) + 1;
      reads.set(block, time);
      switch (how(block, time)) {
        case "now":
          return n;
        case "later":
          return Promise.resolve().then(() => n);
        case "throw":
          throw new TftpError(ErrorCode.NOT_DEFINED, `block ${block} unread`);
        case "reject":
          return Promise.reject(
            new TftpError(ErrorCode.NOT_DEFINED, `block ${block} unread`),
          );
      }
    },
    release: () => {},
  };
}

Deno.test("driveSend in lock-step sends every block once and in order, whether its read answers at once or later", async () => {
  const file = pattern(40 * 512 + 77);
  const ways: ((block: number) => "now" | "later")[] = [
    () => "now",
    () => "later",
    (b) => b % 3 ? "now" : "later",
    (b) => b % 2 ? "later" : "now",
  ];
  for (const how of ways) {
    const { t, run, transport, clock } = serverRead(file, {
      source: () => mixedSource(file, how),
    });
    const got = await ackWindows(transport, clock);
    await finished(run);
    assert.equal(t.outcome, "ok");
    assert.deepEqual(got, file);
    assert.deepEqual(
      transport.sent.map((d) => decode(d.data)).map((p) =>
        p.op === 3 && p.block
      ),
      Array.from({ length: 41 }, (_, i) => i + 1),
    );
  }
});

Deno.test("driveSend in lock-step ends with the read's ERROR when a read fails, thrown or rejected", async () => {
  const file = pattern(10 * 512);
  for (const fail of ["throw", "reject"] as const) {
    for (const at of [1, 2, 5]) {
      const { t, run, transport, clock } = serverRead(file, {
        source: () => mixedSource(file, (b) => b === at ? fail : "now"),
      });
      await ackWindows(transport, clock);
      await finished(run);
      assert.equal(t.outcome, "error", `${fail} at ${at}`);
      const sent = transport.sent.map(what);
      assert.deepEqual(sent, [
        ...Array.from({ length: at - 1 }, (_, i) => `DATA ${i + 1} (512)`),
        `ERROR 0 block ${at} unread`,
      ]);
      assert.equal(transport.closed, true);
      assert.equal(transport.sendsAfterClose, 0);
    }
  }
});

Deno.test("driveSend in lock-step resends a block whose timeout came while it was going out, once it is out", async () => {
  const transport = new HeldTransport();
  const clock = new CountingClock();
  const { t, run } = serverRead(pattern(3 * 512 + 1), { transport, clock });
  await settle();
  transport.release();
  await settle();
  transport.inject(encodeAck(1), PEER);
  await settle();
  assert.deepEqual(transport.sent.map(what), ["DATA 1 (512)", "DATA 2 (512)"]);
  assert.equal(transport.held, 1, "DATA 2 still going out");
  await elapse(clock, 1500);
  assert.equal(transport.sent.length, 2, "no second send while one is out");
  transport.release();
  await settle();
  assert.deepEqual(transport.sent.map(what).slice(2), ["DATA 2 (512)"]);
  for (const block of [2, 3, 4]) {
    transport.release();
    await settle();
    transport.inject(encodeAck(block), PEER);
    await settle();
  }
  await finished(run);
  assert.equal(t.outcome, "ok");
  assert.deepEqual(transport.sent.map(what), [
    "DATA 1 (512)",
    "DATA 2 (512)",
    "DATA 2 (512)",
    "DATA 3 (512)",
    "DATA 4 (1)",
  ]);
  assert.equal(clock.pending, 0);
});

Deno.test("driveSend in lock-step ends, without a crash, when a send fails", async () => {
  class FailingTransport extends FakeTransport {
    override send(data: Uint8Array, addr: Deno.NetAddr): Promise<number> {
      const p = super.send(data, addr);
      const op = (data[0] << 8) | data[1];
      return op === 3 && data[3] === 3 ? Promise.reject(new Error("EPERM")) : p;
    }
  }
  const transport = new FailingTransport();
  const { t, run, clock } = serverRead(pattern(5 * 512), { transport });
  await ackWindows(transport, clock);
  await finished(run);
  assert.equal(t.outcome, "error");
  assert.deepEqual(transport.sent.map(what), [
    "DATA 1 (512)",
    "DATA 2 (512)",
    "DATA 3 (512)",
    "ERROR 0 internal error",
  ]);
  assert.equal(transport.closed, true);
});

Deno.test("driveSend in lock-step ends with the read's ERROR when the resend after a timeout cannot be read", async () => {
  const file = pattern(3 * 512 + 1);
  for (const fail of ["throw", "reject"] as const) {
    const transport = new HeldTransport();
    const clock = new CountingClock();
    const { t, run } = serverRead(file, {
      transport,
      clock,
      source: () =>
        mixedSource(file, (b, time) => b === 2 && time === 2 ? fail : "now"),
    });
    await settle();
    transport.release();
    await settle();
    transport.inject(encodeAck(1), PEER);
    await settle();
    await elapse(clock, 1500);
    // DATA 2 goes out only now, and its resend is due.
    transport.release();
    await settle();
    transport.release();
    await finished(run);
    assert.equal(t.outcome, "error", fail);
    assert.deepEqual(transport.sent.map(what), [
      "DATA 1 (512)",
      "DATA 2 (512)",
      "ERROR 0 block 2 unread",
    ]);
    assert.equal(transport.closed, true);
  }
});
