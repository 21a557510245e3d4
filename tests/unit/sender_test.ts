import assert from "node:assert/strict";
import { Sender, SenderEvent } from "../../src/protocol/sender.ts";

const { IGNORE, SEND, DONE, FAIL } = SenderEvent;

/** Everything `nextBlock` yields until the window is full. */
function drain(s: Sender): number[] {
  const out: number[] = [];
  for (let b = s.nextBlock(); b >= 0; b = s.nextBlock()) {
    out.push(b);
    assert.ok(out.length <= 70000, "nextBlock never stops");
  }
  return out;
}

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i <= to; i++) out.push(i);
  return out;
}

/** Wire number of an absolute block. */
const wire = (block: number) => block & 0xffff;

Deno.test("sender: lock-step sends one block per ACK", () => {
  const s = new Sender({}, 0);
  assert.equal(s.windowsize, 1);
  assert.equal(s.awaitingOack, false);
  assert.deepEqual(drain(s), [1]);
  assert.equal(s.onAck(1, 0), SEND);
  assert.deepEqual(drain(s), [2]);
  assert.equal(s.onAck(2, 0), SEND);
  assert.deepEqual(drain(s), [3]);
  s.setLast(3);
  assert.equal(s.done, false);
  assert.equal(s.onAck(3, 0), DONE);
  assert.equal(s.done, true);
  assert.deepEqual(drain(s), []);
});

Deno.test("sender: single short block is done after its ACK", () => {
  const s = new Sender({}, 0);
  assert.equal(s.nextBlock(), 1);
  s.setLast(1);
  assert.equal(s.nextBlock(), -1);
  assert.equal(s.onAck(1, 0), DONE);
});

Deno.test("sender: windowed sends a whole window per ACK", () => {
  const s = new Sender({ windowsize: 4 }, 0);
  assert.deepEqual(drain(s), [1, 2, 3, 4]);
  assert.equal(s.onAck(4, 0), SEND);
  assert.deepEqual(drain(s), [5, 6, 7, 8]);
  assert.equal(s.onAck(8, 0), SEND);
  assert.deepEqual(drain(s), [9, 10, 11, 12]);
  s.setLast(12);
  assert.equal(s.onAck(12, 0), DONE);
});

Deno.test("sender: OACK goes first as block 0 and alone", () => {
  const s = new Sender({ windowsize: 8, oack: true }, 0);
  assert.equal(s.awaitingOack, true);
  assert.deepEqual(drain(s), [0]);
  assert.equal(s.onAck(0, 0), SEND);
  assert.equal(s.awaitingOack, false);
  assert.deepEqual(drain(s), range(1, 8));
});

Deno.test("sender: while the OACK is outstanding only ACK 0 counts", () => {
  const s = new Sender({ windowsize: 4, oack: true }, 0);
  assert.deepEqual(drain(s), [0]);
  for (const w of [1, 2, 4, 65535]) assert.equal(s.onAck(w, 0), IGNORE);
  assert.equal(s.awaitingOack, true);
  assert.deepEqual(drain(s), []);
  assert.equal(s.onAck(0, 0), SEND);
  assert.deepEqual(drain(s), [1, 2, 3, 4]);
});

Deno.test("sender: duplicate ACK is ignored, never a resend (Sorcerer's Apprentice)", () => {
  const s = new Sender({}, 0);
  drain(s);
  assert.equal(s.onAck(1, 0), SEND);
  assert.deepEqual(drain(s), [2]);
  for (let i = 0; i < 5; i++) {
    assert.equal(s.onAck(1, 0), IGNORE);
    assert.deepEqual(drain(s), [], "duplicate ACK must not cause a resend");
  }
  assert.equal(s.retransmits, 0);
  assert.equal(s.onAck(2, 0), SEND);
  assert.deepEqual(drain(s), [3]);
});

Deno.test("sender: duplicate ACK 0 after the OACK is ignored", () => {
  const s = new Sender({ oack: true }, 0);
  drain(s);
  assert.equal(s.onAck(0, 0), SEND);
  assert.deepEqual(drain(s), [1]);
  assert.equal(s.onAck(0, 0), IGNORE);
  assert.deepEqual(drain(s), []);
});

Deno.test("sender: ACK 0 without an OACK is ignored", () => {
  const s = new Sender({ windowsize: 4 }, 0);
  drain(s);
  assert.equal(s.onAck(0, 0), IGNORE);
  assert.deepEqual(drain(s), []);
  assert.equal(s.base, 1);
});

Deno.test("sender: duplicate window ACK is ignored", () => {
  const s = new Sender({ windowsize: 4 }, 0);
  drain(s);
  assert.equal(s.onAck(4, 0), SEND);
  assert.deepEqual(drain(s), [5, 6, 7, 8]);
  assert.equal(s.onAck(4, 0), IGNORE);
  assert.equal(s.onAck(3, 0), IGNORE, "older ACK too");
  assert.deepEqual(drain(s), []);
});

Deno.test("sender: ACK inside the window continues from the block after it", () => {
  const s = new Sender({ windowsize: 4 }, 0);
  assert.deepEqual(drain(s), [1, 2, 3, 4]);
  assert.equal(s.onAck(2, 0), SEND);
  assert.equal(s.base, 3);
  assert.deepEqual(drain(s), [3, 4, 5, 6]);
  assert.equal(s.onAck(3, 0), SEND);
  assert.deepEqual(drain(s), [4, 5, 6, 7]);
  assert.equal(s.onAck(7, 0), SEND);
  assert.deepEqual(drain(s), [8, 9, 10, 11]);
});

Deno.test("sender: stray ACK beyond the highest block sent is ignored", () => {
  const s = new Sender({ windowsize: 4 }, 0);
  drain(s);
  for (const w of [5, 6, 100, 30000, 65534]) {
    assert.equal(s.onAck(w, 0), IGNORE, `ACK ${w}`);
  }
  assert.equal(s.base, 1);
  assert.deepEqual(drain(s), []);
  assert.equal(s.onAck(4, 0), SEND);
});

Deno.test("sender: ACK of a block not yet sent in a partly sent window is ignored", () => {
  const s = new Sender({ windowsize: 4 }, 0);
  assert.equal(s.nextBlock(), 1);
  assert.equal(s.nextBlock(), 2);
  assert.equal(s.onAck(3, 0), IGNORE);
  assert.equal(s.onAck(2, 0), SEND);
  assert.deepEqual(drain(s), [3, 4, 5, 6]);
});

Deno.test("sender: rollover in lock-step (65535, 0, 1)", () => {
  const s = new Sender({}, 0);
  for (let b = 1; b < 65535; b++) {
    assert.equal(s.nextBlock(), b);
    assert.equal(s.onAck(wire(b), 0), SEND);
  }
  const b65535 = s.nextBlock();
  assert.equal(b65535, 65535);
  assert.equal(wire(b65535), 65535);
  assert.equal(s.onAck(65535, 0), SEND);
  const b65536 = s.nextBlock();
  assert.equal(b65536, 65536);
  assert.equal(wire(b65536), 0);
  // Duplicate ACK of 65535 across the rollover is still a duplicate.
  assert.equal(s.onAck(65535, 0), IGNORE);
  assert.equal(s.onAck(0, 0), SEND);
  const b65537 = s.nextBlock();
  assert.equal(b65537, 65537);
  assert.equal(wire(b65537), 1);
  assert.equal(s.onAck(0, 0), IGNORE);
  assert.equal(s.onAck(2, 0), IGNORE, "not sent yet");
  s.setLast(65537);
  assert.equal(s.onAck(1, 0), DONE);
  assert.equal(s.done, true);
});

Deno.test("sender: rollover with windowsize 16", () => {
  const s = new Sender({ windowsize: 16, oack: true }, 0);
  assert.deepEqual(drain(s), [0]);
  assert.equal(s.onAck(0, 0), SEND);
  // Walk whole windows up to just before the wrap.
  let top = 0;
  while (top + 16 < 65530) {
    const sent = drain(s);
    assert.equal(sent.length, 16);
    top = sent[15];
    assert.equal(s.onAck(wire(top), 0), SEND);
  }
  assert.deepEqual(drain(s), range(65521, 65536));
  // A mid-window ACK shifts the window so that it straddles the wrap.
  assert.equal(s.onAck(65525, 0), SEND);
  const window = drain(s);
  assert.deepEqual(window, range(65526, 65541));
  const wires = window.map(wire);
  assert.deepEqual(wires.slice(8, 12), [65534, 65535, 0, 1]);
  // ACK of wire 65535, inside the window: continue at 65536 (wire 0).
  assert.equal(s.onAck(65535, 0), SEND);
  assert.equal(s.base, 65536);
  const next = drain(s);
  assert.deepEqual(next, range(65536, 65551));
  assert.equal(wire(next[0]), 0);
  assert.equal(wire(next[1]), 1);
  // Duplicate of the older ACK is ignored; a stray one past the window too.
  assert.equal(s.onAck(65535, 0), IGNORE);
  assert.equal(s.onAck(wire(65552), 0), IGNORE);
  // ACK of wire 3 (block 65539) inside the window.
  assert.equal(s.onAck(3, 0), SEND);
  assert.equal(s.base, 65540);
  assert.deepEqual(drain(s), range(65540, 65555));
  assert.equal(s.onAck(wire(65555), 0), SEND);
  assert.equal(s.base, 65556);
});

Deno.test("sender: onTimeout resends from the first unacknowledged block", () => {
  const s = new Sender({ windowsize: 4 }, 0);
  drain(s);
  assert.equal(s.onTimeout(0), SEND);
  assert.deepEqual(drain(s), [1, 2, 3, 4]);
  assert.equal(s.onAck(2, 0), SEND);
  drain(s);
  assert.equal(s.onTimeout(0), SEND);
  assert.deepEqual(drain(s), [3, 4, 5, 6]);
  assert.equal(s.retransmits, 2);
});

Deno.test("sender: onTimeout resends the OACK while it is outstanding", () => {
  const s = new Sender({ windowsize: 4, oack: true }, 0);
  drain(s);
  assert.equal(s.onTimeout(0), SEND);
  assert.deepEqual(drain(s), [0]);
});

Deno.test("sender: after maxRetries rounds it waits in silence, then FAILs at giveUpMs", () => {
  const s = new Sender({ windowsize: 2, maxRetries: 3, giveUpMs: 3000 }, 0);
  drain(s);
  for (let i = 0; i < 3; i++) {
    assert.equal(s.onTimeout(500 * (i + 1)), SEND, `round ${i + 1}`);
    assert.deepEqual(drain(s), [1, 2]);
  }
  assert.equal(s.onTimeout(2000), IGNORE, "out of retransmits: silence");
  assert.deepEqual(drain(s), []);
  assert.equal(s.deadline, 3000, "the next wake-up is the give-up time");
  assert.equal(s.onTimeout(2999), IGNORE);
  assert.equal(s.onTimeout(3000), FAIL);
  assert.equal(s.retransmits, 3);
});

Deno.test("sender: default maxRetries is 5 and giveUpMs 3000", () => {
  const s = new Sender({}, 0);
  drain(s);
  for (let i = 0; i < 5; i++) assert.equal(s.onTimeout(i * 100), SEND);
  assert.equal(s.onTimeout(600), IGNORE);
  assert.equal(s.onTimeout(3000), FAIL);
});

Deno.test("sender: retries and the give-up clock reset on progress", () => {
  const s = new Sender({ maxRetries: 2, giveUpMs: 1000 }, 0);
  drain(s);
  assert.equal(s.onTimeout(100), SEND);
  assert.equal(s.onTimeout(200), SEND);
  assert.equal(s.retries, 2);
  assert.equal(s.onAck(1, 900), SEND);
  assert.equal(s.retries, 0);
  drain(s);
  assert.equal(s.onTimeout(1500), SEND, "the clock restarted at 900");
  assert.equal(s.onTimeout(1600), SEND);
  assert.equal(s.onTimeout(1700), IGNORE);
  assert.equal(s.onTimeout(1900), FAIL);
  assert.equal(s.retransmits, 4);
});

Deno.test("sender: a duplicate ACK is not progress: neither retries nor the clock reset", () => {
  const s = new Sender({ maxRetries: 1, giveUpMs: 1000 }, 0);
  drain(s);
  s.onAck(1, 0);
  drain(s);
  assert.equal(s.onTimeout(100), SEND);
  assert.deepEqual(drain(s), [2]);
  for (let t = 200; t < 1000; t += 100) {
    assert.equal(s.onAck(1, t), IGNORE, "a duplicate never sends");
    assert.deepEqual(drain(s), []);
  }
  assert.equal(s.retries, 1);
  assert.equal(s.onTimeout(999), IGNORE);
  assert.equal(
    s.onTimeout(1000),
    FAIL,
    "given up 1000 ms after the last progress",
  );
});

Deno.test("sender: setLast stops the window", () => {
  const s = new Sender({ windowsize: 8 }, 0);
  assert.equal(s.nextBlock(), 1);
  assert.equal(s.nextBlock(), 2);
  assert.equal(s.nextBlock(), 3);
  s.setLast(3);
  assert.equal(s.nextBlock(), -1);
  assert.equal(s.onAck(2, 0), SEND);
  assert.deepEqual(drain(s), [3]);
  assert.equal(s.onTimeout(0), SEND);
  assert.deepEqual(drain(s), [3], "resend stops at the last block");
  assert.equal(s.onAck(4, 0), IGNORE, "beyond the last block");
  assert.equal(s.onAck(3, 0), DONE);
  assert.deepEqual(drain(s), []);
});

Deno.test("sender: setLast below the next block pulls it back", () => {
  const s = new Sender({ windowsize: 8 }, 0);
  assert.deepEqual(drain(s), range(1, 8));
  s.setLast(5);
  assert.deepEqual(drain(s), []);
  assert.equal(s.onAck(4, 0), SEND);
  assert.deepEqual(drain(s), [5]);
  assert.equal(s.onAck(5, 0), DONE);
});
