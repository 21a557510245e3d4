import assert from "node:assert/strict";
import {
  ReceiveFlag,
  Receiver,
  ReceiverTimer,
} from "../../src/protocol/receiver.ts";

const { REACK, WAIT, FAIL } = ReceiverTimer;

const { DELIVER, ACK, FINAL } = ReceiveFlag;
const FULL = 512;

/** Feeds full blocks with absolute numbers `from..to` (wire = low 16 bits). */
function feedFull(r: Receiver, from: number, to: number): number[] {
  const flags: number[] = [];
  for (let b = from; b <= to; b++) {
    flags.push(r.onData(b & 0xffff, r.blksize, 0));
  }
  return flags;
}

Deno.test("receiver: in-order delivery in lock-step ACKs every block", () => {
  const r = new Receiver({ blksize: FULL }, 0);
  assert.equal(r.ackBlock, 0);
  assert.equal(r.onData(1, FULL, 0), DELIVER | ACK);
  assert.equal(r.ackBlock, 1);
  assert.equal(r.onData(2, FULL, 0), DELIVER | ACK);
  assert.equal(r.ackBlock, 2);
  assert.equal(r.onData(3, 100, 0), DELIVER | ACK | FINAL);
  assert.equal(r.ackBlock, 3);
  assert.equal(r.finished, true);
  assert.equal(r.blocksReceived, 3);
});

Deno.test("receiver: final block is decided by payload length only", () => {
  for (let len = 0; len < FULL; len++) {
    const r = new Receiver({ blksize: FULL }, 0);
    assert.equal(r.onData(1, len, 0), DELIVER | ACK | FINAL, `length ${len}`);
  }
  const r = new Receiver({ blksize: FULL }, 0);
  assert.equal(r.onData(1, FULL, 0) & FINAL, 0);
});

Deno.test("receiver: lengths blksize-4..blksize-1 are final (py3tftp's bug)", () => {
  for (const blksize of [512, 1428, 8]) {
    for (let d = 1; d <= 4; d++) {
      const r = new Receiver({ blksize }, 0);
      assert.equal(r.onData(1, blksize, 0), DELIVER | ACK);
      const f = r.onData(2, blksize - d, 0);
      assert.ok(f & FINAL, `blksize ${blksize}, length ${blksize - d}`);
      assert.ok(f & DELIVER);
      assert.equal(r.finished, true);
    }
  }
});

Deno.test("receiver: exact multiple ends with an empty block", () => {
  const r = new Receiver({ blksize: FULL }, 0);
  assert.deepEqual(feedFull(r, 1, 3), [
    DELIVER | ACK,
    DELIVER | ACK,
    DELIVER | ACK,
  ]);
  assert.equal(r.finished, false);
  assert.equal(r.onData(4, 0, 0), DELIVER | ACK | FINAL);
  assert.equal(r.finished, true);
  assert.equal(r.ackBlock, 4);
});

Deno.test("receiver: lock-step duplicates are re-ACKed every time", () => {
  const r = new Receiver({ blksize: FULL }, 0);
  r.onData(1, FULL, 0);
  r.onData(2, FULL, 0);
  for (let i = 0; i < 4; i++) {
    assert.equal(r.onData(2, FULL, 0), ACK, `duplicate ${i + 1}`);
    assert.equal(r.ackBlock, 2);
  }
  assert.equal(r.onData(1, FULL, 0), ACK, "older duplicate");
  assert.equal(r.ackBlock, 2);
  assert.equal(r.blocksReceived, 2);
  assert.equal(r.onData(3, 5, 0), DELIVER | ACK | FINAL);
});

Deno.test("receiver: ACK 0 for a duplicate before anything arrived", () => {
  const r = new Receiver({ blksize: FULL }, 0);
  assert.equal(r.onData(0, FULL, 0), ACK);
  assert.equal(r.ackBlock, 0);
  assert.equal(r.onData(1, FULL, 0), DELIVER | ACK);
});

Deno.test("receiver: windowed ACKs at the end of each window", () => {
  const r = new Receiver({ blksize: FULL, windowsize: 4 }, 0);
  assert.deepEqual(feedFull(r, 1, 4), [
    DELIVER,
    DELIVER,
    DELIVER,
    DELIVER | ACK,
  ]);
  assert.equal(r.ackBlock, 4);
  assert.deepEqual(feedFull(r, 5, 8), [
    DELIVER,
    DELIVER,
    DELIVER,
    DELIVER | ACK,
  ]);
  assert.equal(r.ackBlock, 8);
  assert.equal(
    r.onData(9, 1, 0),
    DELIVER | ACK | FINAL,
    "short block ends early",
  );
});

Deno.test("receiver: windowed duplicates are ACKed once per burst", () => {
  const r = new Receiver({ blksize: FULL, windowsize: 4 }, 0);
  feedFull(r, 1, 4);
  // Our ACK 4 was lost; the sender resends the window.
  assert.deepEqual(feedFull(r, 1, 4), [ACK, 0, 0, 0]);
  assert.equal(r.ackBlock, 4);
  // Progress resets it.
  assert.deepEqual(feedFull(r, 5, 8), [
    DELIVER,
    DELIVER,
    DELIVER,
    DELIVER | ACK,
  ]);
  assert.deepEqual(feedFull(r, 6, 8), [ACK, 0, 0]);
  // A timer round resets it too.
  assert.equal(r.onTimeout(0), REACK);
  assert.equal(r.onData(8, FULL, 0), ACK);
});

Deno.test("receiver: a gap is ACKed once, then the window restarts", () => {
  const r = new Receiver({ blksize: FULL, windowsize: 4 }, 0);
  assert.equal(r.onData(1, FULL, 0), DELIVER);
  // Block 2 lost.
  assert.equal(r.onData(3, FULL, 0), ACK);
  assert.equal(r.ackBlock, 1);
  assert.equal(r.onData(4, FULL, 0), 0);
  assert.equal(r.onData(5, FULL, 0), 0, "still ahead of us, already ACKed");
  assert.equal(r.blocksReceived, 1);
  // Sender resumes at 2 and sends a full window.
  assert.deepEqual(feedFull(r, 2, 5), [
    DELIVER,
    DELIVER,
    DELIVER,
    DELIVER | ACK,
  ]);
  assert.equal(r.ackBlock, 5);
});

Deno.test("receiver: in lock-step a block ahead is treated as a duplicate", () => {
  const r = new Receiver({ blksize: FULL }, 0);
  r.onData(1, FULL, 0);
  assert.equal(r.onData(3, FULL, 0), ACK);
  assert.equal(r.onData(3, FULL, 0), ACK);
  assert.equal(r.ackBlock, 1);
  assert.equal(r.blocksReceived, 1);
});

Deno.test("receiver: rollover to 0 in lock-step", () => {
  const r = new Receiver({ blksize: 8 }, 0);
  feedFull(r, 1, 65535);
  assert.equal(r.ackBlock, 65535);
  assert.equal(r.onData(0, 8, 0), DELIVER | ACK);
  assert.equal(r.ackBlock, 0);
  assert.equal(r.onData(0, 8, 0), ACK, "duplicate of wire 0");
  assert.equal(r.onData(1, 8, 0), DELIVER | ACK);
  assert.equal(r.ackBlock, 1);
  assert.equal(r.onData(2, 3, 0), DELIVER | ACK | FINAL);
  assert.equal(r.ackBlock, 2);
  assert.equal(r.blocksReceived, 65538);
});

Deno.test("receiver: rollover to 1 accepted in lock-step only", () => {
  const r = new Receiver({ blksize: 8 }, 0);
  feedFull(r, 1, 65535);
  assert.equal(r.onData(1, 8, 0), DELIVER | ACK, "client skipped 0");
  assert.equal(r.ackBlock, 1);
  assert.equal(r.onData(1, 8, 0), ACK, "duplicate after the shift");
  assert.equal(r.onData(2, 8, 0), DELIVER | ACK);
  assert.equal(r.ackBlock, 2);
  assert.equal(r.onData(3, 0, 0), DELIVER | ACK | FINAL);
  assert.equal(r.ackBlock, 3);
  assert.equal(r.blocksReceived, 65538);
});

Deno.test("receiver: windowed rollover goes through 0 and never to 1", () => {
  const r = new Receiver({ blksize: 8, windowsize: 16 }, 0);
  // 65535 = 16 * 4095 + 15: the window ending at 65535 is not aligned.
  const flags = feedFull(r, 1, 65535);
  assert.equal(flags.filter((f) => f & ACK).length, 4095);
  assert.equal(r.ackBlock, 65535);
  // Wire 1 here is a gap (wire 0 missing), not a rollover to 1.
  assert.equal(r.onData(1, 8, 0), ACK);
  assert.equal(r.ackBlock, 65535);
  assert.equal(r.blocksReceived, 65535);
  assert.equal(r.onData(0, 8, 0), DELIVER);
  assert.equal(r.ackBlock, 0);
  assert.equal(r.onData(1, 8, 0) & DELIVER, DELIVER);
  assert.equal(r.ackBlock, 1);
});

Deno.test("receiver: after the final block a retransmitted last block is re-ACKed", () => {
  const r = new Receiver({ blksize: FULL }, 0);
  r.onData(1, FULL, 0);
  r.onData(2, 10, 0);
  assert.equal(r.finished, true);
  for (let i = 0; i < 3; i++) assert.equal(r.onData(2, 10, 0), ACK);
  assert.equal(r.ackBlock, 2);
  assert.equal(r.onData(1, FULL, 0), 0, "older blocks are not ACKed");
  assert.equal(r.onData(3, FULL, 0), 0, "nothing after the end");
  assert.equal(r.blocksReceived, 2);
});

Deno.test("receiver: re-ACKs are bounded by maxRetries, then silence until giveUpMs", () => {
  const r = new Receiver({ blksize: FULL, maxRetries: 3, giveUpMs: 3000 }, 0);
  assert.equal(r.onTimeout(500), REACK);
  assert.equal(r.onTimeout(1000), REACK);
  assert.equal(r.onTimeout(1500), REACK);
  assert.equal(r.onTimeout(2000), WAIT);
  assert.equal(r.deadline, 3000);
  assert.equal(r.onTimeout(3000), FAIL);
  assert.equal(r.retransmits, 3);
});

Deno.test("receiver: progress resets the count and the clock, a duplicate does neither", () => {
  const r = new Receiver({ giveUpMs: 3000 }, 0);
  for (let i = 0; i < 5; i++) assert.equal(r.onTimeout(i * 100), REACK);
  assert.equal(r.onData(1, 512, 1000), DELIVER | ACK);
  assert.equal(r.retries, 0);
  for (let i = 0; i < 5; i++) assert.equal(r.onTimeout(1100 + i * 100), REACK);
  assert.equal(r.onData(1, 512, 3500), ACK, "duplicate is not progress");
  assert.equal(r.onTimeout(3600), WAIT);
  assert.equal(r.onTimeout(4000), FAIL, "3000 ms after the last progress");
  assert.equal(r.retransmits, 10);
});

Deno.test("receiver: a timer round restarts the window count", () => {
  const r = new Receiver({ blksize: FULL, windowsize: 4 }, 0);
  assert.deepEqual(feedFull(r, 1, 2), [DELIVER, DELIVER]);
  assert.equal(r.onTimeout(0), REACK);
  // After we re-ACKed 2, the sender sends a new window of 4 from 3.
  assert.deepEqual(feedFull(r, 3, 6), [
    DELIVER,
    DELIVER,
    DELIVER,
    DELIVER | ACK,
  ]);
});
