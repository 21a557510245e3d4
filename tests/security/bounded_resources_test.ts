/**
 * Class 6 of issue 12, bounded time and memory:
 *
 * - a client's `timeout=255` (RFC 2349 allows it, and today it stretches
 *   the give-up to 255 x (1 + retries) s, about 25 minutes) cannot keep a
 *   transfer without progress for longer than the server's cap:
 *   {@linkcode MAX_IDLE_DEFAULT_S} s by default, `--max-idle N` when set;
 * - 256 windowed sessions (blksize 65464, windowsize 64) draw their window
 *   buffers from one bounded budget: together they add at most
 *   {@linkcode RSS_BUDGET_MB} MiB to the server's peak RSS (today 1.08 GB);
 * - a finished upload that lingers to re-ACK its last block still counts
 *   against the per-client limit, so one address cannot fill
 *   `--max-sessions` that way;
 * - the per-client limits count an IPv6 client per /64 by default.
 */

import assert from "node:assert/strict";
import {
  encodeAck,
  encodeData,
  encodeRequest,
  Opcode,
} from "../../src/protocol/packet.ts";
import { type Endpoint, RawClient } from "../../testing/raw_client.ts";
import { startServer, tempDir, writeInto } from "../../testing/server.ts";
import { startServer as startProcess } from "../../testing/process.ts";
import { runAgent } from "../../testing/netns.ts";

/** The cap the server applies by default, seconds without progress. */
const MAX_IDLE_DEFAULT_S = 30;
/** What a loaded machine may add to a give-up, ms. */
const SLACK_MS = 15_000;
/** Most the 256 windowed sessions may add to the peak RSS, MiB. */
const RSS_BUDGET_MB = 256;
const HOST = "127.0.0.1";
/** For the /64 test: the server, three clients in its /64, one outside. */
const ADDRESSES = [
  "fd00:0:0:1::1",
  "fd00:0:0:1::a",
  "fd00:0:0:1::b",
  "fd00:0:0:1::c",
  "fd00:0:0:2::a",
];

/** A temporary root with files, removed on dispose. */
async function rootWith(
  files: Record<string, Uint8Array>,
): Promise<{ path: string } & AsyncDisposable> {
  const path = await tempDir("tftpd-security-");
  for (const [name, data] of Object.entries(files)) {
    await writeInto(path, name, data);
  }
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}

/** RRQ with `timeout=255`; returns the client and the OACK's sender. */
async function idleClient(
  port: number,
): Promise<{ c: RawClient; tid: Endpoint }> {
  const c = RawClient.open();
  await c.send(
    encodeRequest(Opcode.RRQ, "f.bin", {
      options: new Map([["timeout", "255"]]),
    }),
    { hostname: HOST, port },
  );
  const r = await c.receive(10_000);
  assert.ok(r?.packet.op === Opcode.OACK, "no OACK");
  assert.equal(r.packet.options.get("timeout"), "255", "timeout not granted");
  return { c, tid: r.from };
}

Deno.test({
  name:
    `bounded: a client's timeout=255 cannot hold a transfer without progress past the default cap of ${MAX_IDLE_DEFAULT_S} s`,
  fn: async () => {
    await using srv = await startServer({
      files: { "f.bin": new Uint8Array(4096) },
    });
    const start = performance.now();
    const { c } = await idleClient(srv.port);
    using _c = c;
    const stats = await srv.waitForTransferEnd(() => true, {
      timeoutMs: MAX_IDLE_DEFAULT_S * 1000 + SLACK_MS,
    }).catch(() => undefined);
    const heldMs = performance.now() - start;
    assert.ok(
      stats,
      `the transfer was still open after ${(heldMs / 1000).toFixed(1)} s`,
    );
  },
});

Deno.test("bounded: with --max-idle 2 a client's timeout=255 holds a transfer without progress for at most 2 s", async () => {
  await using dir = await rootWith({ "f.bin": new Uint8Array(4096) });
  await using srv = await startProcess(dir.path, { args: ["--max-idle", "2"] });
  const { c } = await idleClient(srv.port);
  using _c = c;
  const peer = `${HOST.replaceAll(".", "\\.")}:${c.addr.port}`;
  await srv.waitForLine(new RegExp(`${peer} RRQ .*: (timeout|error)`), {
    timeoutMs: 2000 + SLACK_MS,
  });
});

/** Peak and current resident memory of a process, in KiB. */
async function memory(pid: number): Promise<{ hwm: number; rss: number }> {
  // Deno reads another process's /proc entries only with --allow-all.
  const out = await new Deno.Command("cat", {
    args: [`/proc/${pid}/status`],
    stdout: "piped",
  }).output();
  const status = new TextDecoder().decode(out.stdout);
  const kb = (key: string) =>
    Number(status.match(new RegExp(`${key}:\\s+(\\d+)`))?.[1]);
  return { hwm: kb("VmHWM"), rss: kb("VmRSS") };
}

Deno.test(`bounded: 256 windowed sessions (blksize 65464, windowsize 64) add at most ${RSS_BUDGET_MB} MiB to the server's peak RSS`, async () => {
  const sessions = 256;
  await using dir = await rootWith({
    "big.bin": new Uint8Array(65464 * 128).fill(9),
  });
  await using srv = await startProcess(dir.path, {
    // Long timers: no session may give up while 256 of them share two
    // threads on a loaded machine.
    args: [
      "-v",
      "--workers-start",
      "listen",
      "--max-sessions-per-client",
      String(sessions * 2),
      "--ack-timeout",
      "2",
      "--timeout",
      "120",
    ],
  });
  await srv.waitForLine(/worker threads ready/);
  const windowed = {
    options: new Map([["blksize", "65464"], ["windowsize", "64"]]),
  };
  // Warm up: one complete download, so the baseline includes the code
  // paths (lock-step: a 4 MB window overflows a client's socket buffer).
  {
    using w = RawClient.open();
    const r = await w.get({ hostname: HOST, port: srv.port }, "big.bin", {
      options: { blksize: "65464" },
    });
    assert.equal(r.data.length, 65464 * 128);
  }
  const before = await memory(srv.pid);
  const clients = Array.from({ length: sessions }, () => RawClient.open());
  try {
    await Promise.all(clients.map(async (c) => {
      await c.send(
        encodeRequest(Opcode.RRQ, "big.bin", windowed),
        { hostname: HOST, port: srv.port },
      );
      const oack = await c.receive(60_000);
      assert.ok(oack?.packet.op === Opcode.OACK, "no OACK");
      await c.send(encodeAck(0), oack.from);
      // Then hold: never another ACK. Once DATA 1 comes a second time the
      // session has sent its whole first window and is resending it.
      for (let ones = 0; ones < 2;) {
        const d = await c.receive(60_000);
        assert.ok(d, `DATA 1 came ${ones} times after ACK 0`);
        if (d.packet.op === Opcode.DATA && d.packet.block === 1) ones++;
      }
    }));
  } finally {
    for (const c of clients) c.close();
  }
  const after = await memory(srv.pid);
  const addedMb = (after.hwm - before.hwm) / 1024;
  assert.ok(
    addedMb <= RSS_BUDGET_MB,
    `peak RSS grew by ${addedMb.toFixed(0)} MiB (${
      (before.hwm / 1024).toFixed(0)
    } -> ${(after.hwm / 1024).toFixed(0)} MiB) for ${sessions} sessions`,
  );
});

Deno.test({
  name:
    "bounded: finished uploads lingering to re-ACK count against the per-client limit, so one address cannot fill --max-sessions",
  fn: async () => {
    const perClient = 4;
    const total = 16;
    await using srv = await startServer({
      files: { "f.bin": "served\n" },
      timeout: 10, // uploads linger this long to re-ACK their last block
      server: { maxSessions: total, maxSessionsPerClient: perClient },
    });
    const listen = { hostname: HOST, port: srv.port };
    let accepted = 0;
    for (let i = 0; i < total; i++) {
      using c = RawClient.open(HOST);
      await c.send(encodeRequest(Opcode.WRQ, `up${i}.bin`), listen);
      const r = await c.receive(5000);
      assert.ok(r, `no answer to upload ${i}`);
      if (r.packet.op !== Opcode.ACK) continue;
      accepted++;
      await c.send(encodeData(1, new Uint8Array(10)), r.from);
      const fin = await c.receive(5000);
      assert.ok(fin?.packet.op === Opcode.ACK, `upload ${i} not acknowledged`);
    }
    using other = RawClient.open("127.0.0.2");
    await other.send(encodeRequest(Opcode.RRQ, "f.bin"), listen);
    const r = await other.receive(5000);
    assert.ok(r, "no answer to another address");
    assert.equal(
      r.packet.op,
      Opcode.DATA,
      `127.0.0.2 was refused (${
        r.packet.op === Opcode.ERROR ? r.packet.message : r.packet.op
      }) after 127.0.0.1 finished ${accepted} uploads`,
    );
    assert.ok(
      accepted <= perClient,
      `${accepted} uploads from one address accepted while earlier ones ` +
        `lingered (limit ${perClient})`,
    );
  },
});

Deno.test("bounded: per-client limits count IPv6 clients per /64 by default", async () => {
  const answers = await runAgent<Record<string, string>>(
    "tests/security/agents/ipv6_limit.ts",
    ADDRESSES,
    { addresses: ADDRESSES.map((a) => `${a}/64`) },
  );
  const [, a, b, c, other] = ADDRESSES;
  assert.equal(answers[a], "DATA 1", JSON.stringify(answers));
  assert.equal(answers[b], "DATA 1", JSON.stringify(answers));
  assert.match(answers[c], /^ERROR 0: .*too many/, JSON.stringify(answers));
  assert.equal(answers[other], "DATA 1", JSON.stringify(answers));
});
