/**
 * driveSend (src/transport/driver.ts) in lock-step on the fakes: when it
 * receives (only once its DATA is out), and every path of a block: a read
 * that answers at once or later, a read or a send that fails, a timeout
 * while the block is still going out.
 */

import assert from "node:assert/strict";
import {
  decode,
  encodeAck,
  encodeError,
  ErrorCode,
  TftpError,
} from "../../src/protocol/packet.ts";
import { BytesReadHandle } from "../../src/storage/memory.ts";
import { OctetBlockSource } from "../../src/transport/block_source.ts";
import type { BlockSource } from "../../src/transport/block_source.ts";
import { elapse, FakeTransport, settle } from "../../testing/fake.ts";
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
