/**
 * Class 1 of issue 12, reflection with windows. A spoofing attacker sends a
 * windowed RRQ "from" its victim and then blind ACKs (it never sees a
 * reply). When it knows the transfer port (`--single-port`, or every port
 * of a known `--port-range`), each ACK must buy little:
 *
 * - the first window after the OACK is {@linkcode FIRST_WINDOW_BLOCKS}
 *   block, sent at most `1 + retries` times (a timeout never resends more);
 * - duplicates of ACK 0 never make the session send anything more;
 * - blind ACKs 0, 1, ..., M extract at most `FIRST_WINDOW_BLOCKS + 2M`
 *   blocks (slow start: the window at most doubles per acknowledged window,
 *   so what comes back grows only with what is acknowledged).
 *
 * With per-transfer random ports the attacker cannot reach the transfer at
 * all: an unanswered request never gets a window (the README's claim).
 *
 * Every figure is counted exactly, on the wire: the scenario runs in a
 * network namespace of its own (`agents/reflection.ts`) and the loopback
 * counters give every byte the server sent to the victim address, dropped
 * by a full socket buffer or not.
 */

import assert from "node:assert/strict";
import { runAgent } from "../../testing/netns.ts";
import type { Report } from "./agents/reflection.ts";

const AGENT = "tests/security/agents/reflection.ts";
/** `RETRIES` of the agent (server `retries`). */
const R = 2;
/** Payload bytes of one DATA at blksize 65464. */
const BLOCK = 4 + 65464;
/**
 * The first window after the OACK, in blocks, at blksize 65464. One block
 * is 65,468 bytes: 1,364x the 48 bytes of request and ACK by itself.
 */
const FIRST_WINDOW_BLOCKS = 1;
/** Largest OACK for this request (it is 30 bytes today). */
const OACK_MAX = 100;
/** Largest ERROR the server may send per attacker datagram. */
const ERROR_MAX = 64;

function run(args: string[]): Promise<Report> {
  return runAgent<Report>(AGENT, args, { timeoutMs: 60_000 });
}

function explain(r: Report): string {
  return `server sent ${r.serverBytes} bytes in ${r.serverDatagrams} ` +
    `datagrams for ${r.attackerBytes} bytes in ${r.attackerDatagrams} ` +
    `(amplification ${(r.serverBytes / r.attackerBytes).toFixed(0)}x, ` +
    `outcome ${r.outcome})`;
}

/** At most: OACKs, one ERROR per attacker datagram, and `blocks` DATA. */
function bound(r: Report, oacks: number, blocks: number): number {
  return oacks * OACK_MAX + r.attackerDatagrams * ERROR_MAX + blocks * BLOCK;
}

for (const mode of ["single-port", "port-range"]) {
  Deno.test(`reflection (${mode}): a windowed RRQ and one blind ACK 0 bring back at most a first window of ${FIRST_WINDOW_BLOCKS} block, 1 + retries times`, async () => {
    const r = await run(["one-ack", mode]);
    // (1 + 2) x (100 + 65,468) + 5 x 64 = 197,024 bytes: about 3,300x.
    const max = bound(r, 1 + R, (1 + R) * FIRST_WINDOW_BLOCKS);
    assert.ok(r.serverBytes <= max, `${explain(r)}; bound ${max}`);
  });
}

Deno.test("reflection (single-port): duplicate ACK 0s after the OACK never make the session send more than one ACK 0 does", async () => {
  const r = await run(["dup-acks", "single-port"]);
  const max = bound(r, 1 + R, (1 + R) * FIRST_WINDOW_BLOCKS);
  assert.ok(
    r.serverBytes <= max,
    `${explain(r)} with ${r.duplicates} duplicates; bound ${max}`,
  );
});

Deno.test("reflection (port-range): duplicate ACK 0s sprayed over the range never make the session send more than one ACK 0 does", async () => {
  const r = await run(["dup-acks", "port-range"]);
  const max = bound(r, 1 + R, (1 + R) * FIRST_WINDOW_BLOCKS);
  assert.ok(
    r.serverBytes <= max,
    `${explain(r)} with ${r.duplicates} duplicates; bound ${max}`,
  );
});

Deno.test("reflection (single-port): blind ACKs 0..M extract at most first window + 2M blocks (slow start), each sent once with retries 0", async () => {
  const failures: string[] = [];
  for (const m of [0, 1, 4, 16]) {
    const r = await run(["stream", "single-port", String(m)]);
    const blocks = FIRST_WINDOW_BLOCKS + 2 * m;
    const max = bound(r, 1, blocks);
    if (r.serverBytes > max) {
      failures.push(`M=${m}: ${explain(r)}; bound ${max} (${blocks} blocks)`);
    }
  }
  assert.deepEqual(failures, []);
});

Deno.test("reflection (per-transfer ports): an unanswered windowed RRQ and a blind ACK 0 at the listen port get OACKs and one ERROR, never a DATA", async () => {
  const r = await run(["one-ack", "per-transfer"]);
  // Today: 3 OACKs of 30 bytes and one 24-byte ERROR 4, 114 bytes.
  const max = bound(r, 1 + R, 0);
  assert.ok(r.serverBytes <= max, `${explain(r)}; bound ${max}`);
  assert.equal(r.highestBlockSeen, 0, "a DATA reached the victim");
  assert.ok(r.serverDatagrams <= 1 + R + r.attackerDatagrams, explain(r));
});
