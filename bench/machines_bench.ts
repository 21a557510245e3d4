/**
 * Micro-benchmarks of the transfer state machines: one iteration is a whole
 * 1024-block transfer's worth of steps (so divide by 1024 for per-block).
 *
 * @module
 */

import { Sender, SenderEvent } from "../src/protocol/sender.ts";
import { ReceiveFlag, Receiver } from "../src/protocol/receiver.ts";

const BLOCKS = 1024;

Deno.bench("Sender lock-step, 1024 blocks", { group: "sender" }, () => {
  const s = new Sender({ oack: true }, 0);
  s.nextBlock();
  s.onAck(0, 0);
  for (let n = 1; n <= BLOCKS; n++) {
    const b = s.nextBlock();
    if (n === BLOCKS) s.setLast(b);
    const ev = s.onAck(b & 0xffff, 0);
    if (ev === SenderEvent.FAIL) throw new Error("unexpected");
  }
});

Deno.bench("Sender windowsize 16, 1024 blocks", { group: "sender" }, () => {
  const s = new Sender({ oack: true, windowsize: 16 }, 0);
  s.nextBlock();
  s.onAck(0, 0);
  let last = 0;
  while (!s.done) {
    let b: number;
    while ((b = s.nextBlock()) >= 0) {
      last = b;
      if (b === BLOCKS) s.setLast(b);
    }
    s.onAck(last & 0xffff, 0);
  }
});

Deno.bench("Receiver lock-step, 1024 blocks", { group: "receiver" }, () => {
  const r = new Receiver({ blksize: 1468 }, 0);
  for (let n = 1; n <= BLOCKS; n++) {
    const f = r.onData(n & 0xffff, n === BLOCKS ? 10 : 1468, 0);
    if (!(f & ReceiveFlag.DELIVER)) throw new Error("unexpected");
  }
});

Deno.bench("Receiver windowsize 16, 1024 blocks", { group: "receiver" }, () => {
  const r = new Receiver({ blksize: 1468, windowsize: 16 }, 0);
  for (let n = 1; n <= BLOCKS; n++) {
    r.onData(n & 0xffff, n === BLOCKS ? 10 : 1468, 0);
  }
});
