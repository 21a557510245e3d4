/**
 * The client library must retransmit after `retransmitMs` without progress,
 * even while the server keeps sending packets that bring no progress
 * (retransmitted ACKs or windows). A raw UDP "server" plays the peer.
 */

import assert from "node:assert/strict";
import { tftpGet, tftpPut } from "../../src/client/client.ts";
import {
  decode,
  encodeAck,
  encodeData,
  encodeOack,
  Opcode,
} from "../../src/protocol/packet.ts";
import { RawClient } from "../../testing/raw_client.ts";

/** Pace of the repeats: faster than the client's interval. */
const ROUND_MS = 30;
const CLIENT_RETRANSMIT_MS = 100;
/**
 * How long the repeats go on at most, waiting for the client to act: it
 * should within one interval, so only a client that never does reaches
 * this (a loaded machine only makes it later, never wrong).
 */
const BOUND_MS = 10_000;

/** Whether the bound has passed since `start`. */
function past(start: number): boolean {
  return performance.now() - start > BOUND_MS;
}

// Was a bug: the client restarted its wait on every datagram received, so a
// server re-ACKing the last block faster than the client's interval (0.5 s
// vs 1 s with the defaults) kept it from ever resending the lost DATA.
Deno.test({
  name: "client: tftpPut resends DATA while the server repeats an old ACK",
  fn: async () => {
    using listen = RawClient.open();
    using transfer = RawClient.open();
    const put = tftpPut("up.bin", {
      host: "127.0.0.1",
      port: listen.port,
      data: new Uint8Array(3 * 512 + 1),
      retransmitMs: CLIENT_RETRANSMIT_MS,
      retries: 3,
    }).catch((err) => err);
    const req = await listen.receiveRaw(5000);
    assert.ok(req, "no WRQ");
    const client = req.from;
    await transfer.send(encodeAck(0), client);
    const first = await transfer.receiveRaw(5000);
    assert.ok(first, "no DATA 1");
    assert.equal(decode(first.data).op, Opcode.DATA);
    // DATA 1 "was lost": keep re-ACKing block 0 as a server does.
    let resent = false;
    const start = performance.now();
    while (!resent && !past(start)) {
      await transfer.send(encodeAck(0), client);
      const got = await transfer.receiveRaw(ROUND_MS);
      if (got) {
        const p = decode(got.data);
        resent = p.op === Opcode.DATA && p.block === 1;
      }
    }
    listen.close();
    transfer.close();
    await put;
    assert.ok(
      resent,
      `the client did not resend DATA 1 within ${BOUND_MS} ms of old ACKs ` +
        `every ${ROUND_MS} ms (${CLIENT_RETRANSMIT_MS} ms retransmit interval)`,
    );
  },
});

// Was a bug, same cause: while the server resent a window whose ACK was
// lost, the duplicates kept the client's timer from firing, and the
// Receiver ACKs duplicates once per round, so the client went silent.
Deno.test({
  name: "client: tftpGet re-ACKs while the server repeats a window",
  fn: async () => {
    using listen = RawClient.open();
    using transfer = RawClient.open();
    const get = tftpGet("down.bin", {
      host: "127.0.0.1",
      port: listen.port,
      windowsize: 4,
      retransmitMs: CLIENT_RETRANSMIT_MS,
      retries: 3,
      sink: { write: () => {} },
    }).catch((err) => err);
    const req = await listen.receiveRaw(5000);
    assert.ok(req, "no RRQ");
    const client = req.from;
    await transfer.send(encodeOack(new Map([["windowsize", "4"]])), client);
    const ack0 = await transfer.receiveRaw(5000);
    assert.ok(ack0, "no ACK 0");
    const window = [1, 2, 3, 4].map((b) =>
      encodeData(b, new Uint8Array(512).fill(b))
    );
    // The first ACK 4, one for the first repeated window, then at least
    // one per retransmit interval without progress.
    let acks = 0;
    const start = performance.now();
    for (let i = 0; acks < 3 && !past(start); i++) {
      for (const d of window) await transfer.send(d, client);
      for (;;) {
        const got = await transfer.receiveRaw(i === 0 ? BOUND_MS : ROUND_MS);
        if (!got) break;
        const p = decode(got.data);
        if (p.op === Opcode.ACK && p.block === 4) acks++;
        if (i === 0) break;
      }
    }
    listen.close();
    transfer.close();
    await get;
    assert.ok(
      acks >= 3,
      `the client sent ACK 4 only ${acks} times in ${BOUND_MS} ms of ` +
        `windows repeated every ${ROUND_MS} ms (${CLIENT_RETRANSMIT_MS} ms ` +
        `retransmit interval)`,
    );
  },
});
