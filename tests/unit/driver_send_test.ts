/**
 * driveSend (src/transport/driver.ts) on the fakes, the peer played by the
 * test: its one timer, the datagrams it sends (and never after the end),
 * strangers, and the window buffers it takes from the Lane's BufferBudget.
 */

import assert from "node:assert/strict";
import {
  encodeAck,
  encodeError,
  ErrorCode,
} from "../../src/protocol/packet.ts";
import { SendTransfer } from "../../src/protocol/send_transfer.ts";
import { BytesReadHandle } from "../../src/storage/memory.ts";
import {
  type BlockSource,
  OctetBlockSource,
} from "../../src/transport/block_source.ts";
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
  ackWindows,
  CountingClock,
  deferred,
  finished,
  HeldTransport,
  pattern,
  PEER,
  serverRead,
  what,
} from "./driver_cases.ts";

const OTHER: Deno.NetAddr = { ...PEER, port: 50001 };

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
