/**
 * Class 3 of issue 12, never answer an ERROR. Today a stranger's datagram
 * at a transfer port gets ERROR 5 whatever it is, an ERROR included, so one
 * forged datagram between two transfer ports (of this server or of two
 * servers) starts an endless exchange of ERROR 5: the "Loop DoS" class,
 * CVE-2024-2169. The rules:
 *
 * - an ERROR from a stranger at a transfer port gets nothing back;
 * - one forged datagram between two transfer ports makes at most
 *   {@linkcode LOOP_MAX} datagrams in the next second;
 * - ERROR 5 replies to one source are rate-limited: 1,000 stranger
 *   datagrams get at most {@linkcode FLOOD_BURST} +
 *   {@linkcode FLOOD_RATE} per second of flood.
 *
 * The loop runs in a network namespace of its own (`agents/error_loop.ts`),
 * where a raw socket forges the datagram and the namespace's UDP counters
 * count every datagram, with the server processes as operators start them
 * (default flags, so worker threads).
 */

import assert from "node:assert/strict";
import {
  encodeAck,
  encodeError,
  encodeRequest,
  ErrorCode,
  Opcode,
} from "../../src/protocol/packet.ts";
import { type Endpoint, RawClient } from "../../testing/raw_client.ts";
import { startServer } from "../../testing/server.ts";
import { runAgent } from "../../testing/netns.ts";

/** Most datagrams one forged datagram may cause in a second. */
const LOOP_MAX = 10;
/** ERROR 5 replies allowed at once to one source ... */
const FLOOD_BURST = 10;
/** ... and per second after that. */
const FLOOD_RATE = 10;

interface LoopReport {
  t1: number;
  t2: number;
  sent: number;
  received: number;
  toClients: number;
}

/** A server with one transfer held open (nothing resent for 10 s). */
async function withTransfer() {
  const srv = await startServer({
    files: { "f.bin": new Uint8Array(512 * 20).fill(1) },
    ackTimeout: 10,
    timeout: 30,
    fixedInterval: true,
  });
  const owner = RawClient.open();
  await owner.send(encodeRequest(Opcode.RRQ, "f.bin"), {
    hostname: "127.0.0.1",
    port: srv.port,
  });
  const first = await owner.receive(5000);
  assert.ok(first?.packet.op === Opcode.DATA, "no DATA 1");
  return { srv, owner, tport: first.from as Endpoint };
}

Deno.test("error loop: an ERROR from a stranger at a transfer port gets nothing back", async () => {
  const { srv, owner, tport } = await withTransfer();
  await using _srv = srv;
  using _owner = owner;
  using stranger = RawClient.open();
  using marker = RawClient.open();
  const answered: string[] = [];
  for (const code of [0, 1, 4, 5, 8]) {
    await stranger.send(encodeError(code, "stranger"), tport);
    // The session reads its socket in order: once the marker's datagram has
    // been handled (its reply arrived, or 2 s passed), any reply to the
    // stranger's ERROR is already in the stranger's socket.
    await marker.send(encodeAck(1), tport);
    await marker.receive(2000);
    const got = await stranger.receive(300);
    if (got) answered.push(`ERROR ${code} got ${got.data.length} bytes back`);
  }
  assert.deepEqual(answered, []);
});

const LOOP_SETUPS: [string, string, string[]][] = [
  ["one", "two transfer ports of one server", []],
  ["one", "two transfer ports of one server (--workers 1)", ["--workers", "1"]],
  ["two", "transfer ports of two servers", []],
];
for (const [servers, where, flags] of LOOP_SETUPS) {
  for (const kind of ["ack", "error", "data"]) {
    Deno.test(`error loop: one forged ${kind.toUpperCase()} between ${where} makes at most ${LOOP_MAX} datagrams in the next second`, async () => {
      const r = await runAgent<LoopReport>(
        "tests/security/agents/error_loop.ts",
        [kind, servers, ...flags],
        { timeoutMs: 60_000 },
      );
      assert.ok(
        r.sent <= LOOP_MAX,
        `${r.sent} datagrams sent in the second after one forged datagram ` +
          `from port ${r.t1} to port ${r.t2}`,
      );
    });
  }
}

Deno.test(`error loop: 1,000 stranger datagrams at a transfer port get at most ${FLOOD_BURST} + ${FLOOD_RATE}/s ERROR 5`, async () => {
  const { srv, owner, tport } = await withTransfer();
  await using _srv = srv;
  using _owner = owner;
  using stranger = RawClient.open();
  let errors = 0;
  let other = 0;
  let flooding = true;
  const reader = (async () => {
    for (;;) {
      const r = await stranger.receive(flooding ? 2000 : 500);
      if (!r) {
        if (!flooding) return;
        continue;
      }
      if (
        r.packet.op === Opcode.ERROR && r.packet.code === ErrorCode.UNKNOWN_TID
      ) {
        errors++;
      } else other++;
    }
  })();
  const start = performance.now();
  for (let i = 0; i < 1000; i++) {
    await stranger.send(encodeAck(i & 0xffff), tport);
    if (i % 50 === 49) await new Promise((r) => setTimeout(r, 0));
  }
  flooding = false;
  await reader;
  const seconds = (performance.now() - start) / 1000;
  const max = FLOOD_BURST + Math.ceil(FLOOD_RATE * seconds);
  assert.equal(other, 0, "replies other than ERROR 5");
  assert.ok(
    errors <= max,
    `${errors} ERROR 5 for 1,000 datagrams in ${seconds.toFixed(2)} s ` +
      `(bound ${max})`,
  );
});
