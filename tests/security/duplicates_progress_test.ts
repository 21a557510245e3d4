/**
 * Class 2 of issue 12, duplicates are not progress. A client that makes
 * progress once and then repeats itself forever (the same ACK during a
 * download, the same DATA during an upload) must not keep the transfer
 * alive: the server gives up `--timeout` after the last real progress
 * (allowing {@linkcode SLACK_MS} for a loaded machine), and resends at most
 * `--retries` times in that time, lock-step and windowed.
 *
 * Today a duplicate resets both the retry count and the give-up clock
 * (`session.ts`, `ReadSession.onPacket` and `WriteSession.onPacket`), so
 * such a transfer lasts as long as the duplicates come.
 */

import assert from "node:assert/strict";
import {
  encodeAck,
  encodeData,
  encodeRequest,
  Opcode,
  type Packet,
} from "../../src/protocol/packet.ts";
import { type Endpoint, RawClient } from "../../testing/raw_client.ts";
import { startServer, type TestServer } from "../../testing/server.ts";

/** Server `--timeout` in seconds: the give-up after the last progress. */
const TIMEOUT_S = 1;
/** Server `--retries`. */
const RETRIES = 3;
/** Server `--ack-timeout`, fixed (no adaptation). */
const ACK_TIMEOUT_S = 0.25;
/** What a loaded machine may add to the give-up. */
const SLACK_MS = 3000;
/** The client repeats itself this often ... */
const REPEAT_MS = 100;
/** ... for at most this long (well past the bound). */
const REPEAT_FOR_MS = 12_000;

interface Seen {
  /** Ms from the last progress to the end of the transfer (undefined: never). */
  endedAfterMs?: number;
  /** Copies of the packet the server re-sends (the original included). */
  copies: number;
  /** Retransmits the server counted. */
  retransmits?: number;
  /** Duplicates the client sent. */
  duplicates: number;
}

async function serve(): Promise<TestServer> {
  return await startServer({
    files: { "f.bin": new Uint8Array(512 * 100).fill(3) },
    timeout: TIMEOUT_S,
    retries: RETRIES,
    ackTimeout: ACK_TIMEOUT_S,
    fixedInterval: true,
  });
}

async function next(
  c: RawClient,
  what: string,
): Promise<Packet & { from?: Endpoint }> {
  const r = await c.receive(5000);
  assert.ok(r, `no ${what}`);
  return Object.assign(r.packet, { from: r.from });
}

/**
 * Repeats `dup` to `tid` every {@linkcode REPEAT_MS} until the transfer of
 * `c` ends or {@linkcode REPEAT_FOR_MS} pass, counting what comes back that
 * `isCopy` recognises.
 */
async function repeat(
  srv: TestServer,
  c: RawClient,
  dup: Uint8Array,
  opts: { tid: Endpoint; isCopy: (p: Packet) => boolean; start: number },
): Promise<Seen> {
  const peer = `127.0.0.1:${c.addr.port}`;
  let endedAt: number | undefined;
  let retransmits: number | undefined;
  const ended = srv.waitForTransferEnd((s) => s.peer === peer, {
    timeoutMs: REPEAT_FOR_MS + 60_000,
  }).then((s) => {
    endedAt ??= performance.now();
    retransmits = s.retransmits;
  });
  ended.catch(() => {});
  let copies = 1;
  let duplicates = 0;
  const reader = (async () => {
    for (;;) {
      const r = await c.receive(200).catch(() => undefined);
      if (r && opts.isCopy(r.packet)) copies++;
      if (!r && endedAt !== undefined) return;
    }
  })();
  while (
    endedAt === undefined && performance.now() - opts.start < REPEAT_FOR_MS
  ) {
    await c.send(dup, opts.tid);
    duplicates++;
    await new Promise((r) => setTimeout(r, REPEAT_MS));
  }
  await ended;
  await reader;
  return {
    endedAfterMs: endedAt !== undefined && endedAt - opts.start < REPEAT_FOR_MS
      ? endedAt - opts.start
      : undefined,
    copies,
    retransmits,
    duplicates,
  };
}

function check(seen: Seen, what: string, maxCopies?: number): void {
  const text = `${what}: ${JSON.stringify(seen)}`;
  assert.ok(
    seen.endedAfterMs !== undefined &&
      seen.endedAfterMs <= TIMEOUT_S * 1000 + SLACK_MS,
    `the transfer did not end within ${TIMEOUT_S} s + ${SLACK_MS} ms of ` +
      `the last progress while duplicates came (${text})`,
  );
  assert.ok(
    seen.retransmits !== undefined && seen.retransmits <= RETRIES,
    `more than ${RETRIES} retransmits (${text})`,
  );
  if (maxCopies !== undefined) {
    assert.ok(
      seen.copies <= maxCopies,
      `more than ${maxCopies} copies (${text})`,
    );
  }
}

Deno.test("duplicates: a download whose client repeats its last ACK forever (lock-step) ends within --timeout, with at most --retries resends", async () => {
  await using srv = await serve();
  using c = RawClient.open();
  const listen = { hostname: "127.0.0.1", port: srv.port };
  await c.send(encodeRequest(Opcode.RRQ, "f.bin"), listen);
  const d1 = await next(c, "DATA 1");
  assert.equal(d1.op, Opcode.DATA);
  const tid = d1.from!;
  await c.send(encodeAck(1), tid);
  const d2 = await next(c, "DATA 2");
  const start = performance.now();
  assert.ok(d2.op === Opcode.DATA && d2.block === 2);
  const seen = await repeat(srv, c, encodeAck(1), {
    tid,
    start,
    isCopy: (p) => p.op === Opcode.DATA && p.block === 2,
  });
  check(seen, "ACK 1 repeated", 1 + RETRIES);
});

Deno.test("duplicates: a download whose client repeats its last ACK forever (windowsize 4) ends within --timeout, with at most --retries resent windows", async () => {
  await using srv = await serve();
  using c = RawClient.open();
  const listen = { hostname: "127.0.0.1", port: srv.port };
  await c.send(
    encodeRequest(Opcode.RRQ, "f.bin", {
      options: new Map([["windowsize", "4"]]),
    }),
    listen,
  );
  const oack = await next(c, "OACK");
  assert.equal(oack.op, Opcode.OACK);
  const tid = oack.from!;
  // Progress up to block 8, acknowledging each full window of 4, or what
  // arrived when the server pauses (a server in slow start sends less).
  let acked = 0;
  await c.send(encodeAck(0), tid);
  let start = 0;
  while (acked < 8) {
    const r = await c.receive(500);
    if (!r) {
      await c.send(encodeAck(acked), tid);
      continue;
    }
    const p = r.packet;
    if (p.op === Opcode.DATA && p.block === acked + 1) {
      acked++;
      if (acked % 4 === 0) await c.send(encodeAck(acked), tid);
    }
  }
  start = performance.now();
  const seen = await repeat(srv, c, encodeAck(8), {
    tid,
    start,
    isCopy: (p) => p.op === Opcode.DATA && p.block === 9,
  });
  // DATA 9 came once with the window after ACK 8, or not yet: at most
  // 1 + retries copies either way.
  check(seen, "ACK 8 repeated", 1 + 1 + RETRIES);
});

Deno.test("duplicates: an upload whose client repeats its last DATA forever (lock-step) ends within --timeout and leaves no file", async () => {
  await using srv = await serve();
  using c = RawClient.open();
  const listen = { hostname: "127.0.0.1", port: srv.port };
  await c.send(encodeRequest(Opcode.WRQ, "up.bin"), listen);
  const a0 = await next(c, "ACK 0");
  assert.ok(a0.op === Opcode.ACK && a0.block === 0);
  const tid = a0.from!;
  const block = new Uint8Array(512).fill(1);
  await c.send(encodeData(1, block), tid);
  const a1 = await next(c, "ACK 1");
  assert.ok(a1.op === Opcode.ACK && a1.block === 1);
  const start = performance.now();
  const seen = await repeat(srv, c, encodeData(1, block), {
    tid,
    start,
    isCopy: (p) => p.op === Opcode.ACK && p.block === 1,
  });
  // In lock-step each duplicate DATA may be answered (RFC 1350): no bound
  // on copies here, only on time and on the server's own resends.
  check(seen, "DATA 1 repeated");
  assert.deepEqual(await srv.listFiles(), ["f.bin"], "the upload left a file");
});

Deno.test("duplicates: an upload whose client repeats its last DATA forever (windowsize 4) ends within --timeout and leaves no file", async () => {
  await using srv = await serve();
  using c = RawClient.open();
  const listen = { hostname: "127.0.0.1", port: srv.port };
  await c.send(
    encodeRequest(Opcode.WRQ, "up.bin", {
      options: new Map([["windowsize", "4"]]),
    }),
    listen,
  );
  const oack = await next(c, "OACK");
  assert.equal(oack.op, Opcode.OACK);
  const tid = oack.from!;
  const block = new Uint8Array(512).fill(1);
  for (let b = 1; b <= 4; b++) await c.send(encodeData(b, block), tid);
  const a4 = await next(c, "ACK 4");
  assert.ok(a4.op === Opcode.ACK && a4.block === 4);
  const start = performance.now();
  const seen = await repeat(srv, c, encodeData(4, block), {
    tid,
    start,
    isCopy: (p) => p.op === Opcode.ACK && p.block === 4,
  });
  // The ACK once, then per round (before the first resend and after each)
  // at most one answer to the duplicates and one resend of its own:
  // 2 x (1 + retries) copies at most.
  check(seen, "DATA 4 repeated", 2 * (1 + RETRIES));
  assert.deepEqual(await srv.listFiles(), ["f.bin"], "the upload left a file");
});
