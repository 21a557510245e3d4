/**
 * More flag effects through the server process (the index of every flag's
 * test is in flag_effects_test.ts): the session limit, the worker threads
 * seen through the ports they bind and when they start, the window-buffer budget seen in the
 * server's memory, and the long names of -p, -l and -v.
 */

import assert from "node:assert/strict";
import {
  encodeAck,
  encodeError,
  encodeRequest,
  ErrorCode,
  Opcode,
} from "../../src/protocol/packet.ts";
import { type ServerProcess, startServer } from "../../testing/process.ts";
import { freeUdpPort, freeUdpRange } from "../../testing/net.ts";
import { getFile, RawClient } from "../../testing/raw_client.ts";
import { endpoint, tempDir } from "./common.ts";
import { describe } from "./silent_client.ts";

const FILE = new Uint8Array(2000).map((_, i) => (i * 13) & 0xff);

/** The "listening" line (start-up warnings may come before it). */
function listeningLine(server: ServerProcess): string {
  return server.lines.find((l) => /listening on /.test(l)) ?? "";
}

Deno.test("--max-sessions N: request N+1 gets ERROR 0 from the listen port while N run; a finished one frees its slot", async () => {
  await using dir = await tempDir({ "a.bin": FILE });
  await using server = await startServer(dir.path, {
    args: ["--max-sessions", "1", "--ack-timeout", "10", "--timeout", "60"],
  });
  const listen = endpoint(server);
  using first = RawClient.open();
  await first.send(encodeRequest(Opcode.RRQ, "a.bin"), listen);
  const data = await first.receive(5000);
  assert.equal(data?.packet.op, Opcode.DATA);

  using second = RawClient.open();
  await second.send(encodeRequest(Opcode.RRQ, "a.bin"), listen);
  const refused = await second.receive(5000);
  assert.ok(refused, "no answer to the second request");
  assert.equal(
    refused.from.port,
    server.port,
    "refusal not from the listen port",
  );
  assert.equal(
    describe(refused.packet),
    "ERROR 0 server busy: too many transfers (limit 1)",
  );
  await server.waitForLine(
    new RegExp(
      `127\\.0\\.0\\.1:${second.addr.port} refused: 1 transfers in progress`,
    ),
  );

  await first.send(encodeError(ErrorCode.NOT_DEFINED, "bye"), data!.from);
  await server.waitForLine(
    new RegExp(
      `127\\.0\\.0\\.1:${first.addr.port} RRQ "a\\.bin" octet: aborted`,
    ),
  );
  // The slot comes back when the transfer's port is closed, a moment after
  // its end is logged; a request in that moment is refused as busy, which
  // is itself the signal to ask again (bounded).
  let third = await getFile(listen, "a.bin");
  for (let i = 0; i < 100 && third.error?.message.includes("busy"); i++) {
    await new Promise((r) => setTimeout(r, 10));
    third = await getFile(listen, "a.bin");
  }
  assert.equal(third.error, undefined);
  assert.deepEqual(third.data, FILE);
});

/** Threads `--workers auto` starts on this machine. */
const AUTO_WORKERS = Math.max(
  2,
  Math.min(navigator.hardwareConcurrency || 1, 8),
);

/**
 * Starts two transfers that stay open (no ACK) from two clients and returns
 * the ports they run on, sorted.
 */
async function twoTransferPorts(server: ServerProcess): Promise<number[]> {
  using a = RawClient.open();
  using b = RawClient.open();
  const ports: number[] = [];
  const peers: Deno.NetAddr[] = [];
  for (const c of [a, b]) {
    await c.send(encodeRequest(Opcode.RRQ, "a.bin"), endpoint(server));
    const r = await c.receive(5000);
    assert.equal(r?.packet.op, Opcode.DATA);
    ports.push(r!.from.port);
    peers.push(r!.from);
  }
  // Both stay open until both have started: a transfer that ended first
  // would leave its thread idle again, and the second could go there too.
  for (const [i, c] of [a, b].entries()) {
    await c.send(encodeError(ErrorCode.NOT_DEFINED, "bye"), peers[i]);
  }
  for (const c of [a, b]) {
    await server.waitForLine(
      new RegExp(`127\\.0\\.0\\.1:${c.addr.port} RRQ "a\\.bin" octet: aborted`),
    );
  }
  return ports.sort((x, y) => x - y);
}

Deno.test("--workers: auto runs transfers in one thread per CPU (2 to 8); --workers 1 runs them in the main thread", async () => {
  // Each thread binds transfer ports from its own offset into the range
  // (thread i from 2i when the range is twice the thread count), so two
  // transfers at once show on the wire which threads ran them.
  await using dir = await tempDir({ "a.bin": FILE });
  const [low, high] = freeUdpRange(2 * AUTO_WORKERS);
  const range = ["--port-range", `${low}:${high}`];
  {
    await using server = await startServer(dir.path, {
      args: [
        "-v",
        "--ack-timeout",
        "10",
        "--workers-start",
        "listen",
        ...range,
      ],
    });
    assert.match(
      listeningLine(server),
      new RegExp(`listening on .*, ${AUTO_WORKERS} worker threads$`),
    );
    await server.waitForLine(
      new RegExp(`\\] ${AUTO_WORKERS} worker threads ready\\b`),
    );
    // The least busy thread gets each transfer: two threads, offsets 0, 2.
    const ports = await twoTransferPorts(server);
    assert.deepEqual(ports, [low, low + 2]);
    assert.equal((await server.stop()).code, 0, server.stderr.text);
  }
  {
    await using server = await startServer(dir.path, {
      args: ["-v", "--ack-timeout", "10", "--workers", "1", ...range],
    });
    assert.match(listeningLine(server), /listening on .*\(read-write\)$/);
    // One thread: its allocator hands out the range in turn.
    assert.deepEqual(await twoTransferPorts(server), [low, low + 1]);
    assert.equal((await server.stop()).code, 0, server.stderr.text);
    assert.ok(
      !server.lines.some((l) => /worker thread/.test(l)),
      server.stderr.text,
    );
  }
});

/** The transfer-end JSON record of `client`'s transfer. */
async function endRecord(
  server: ServerProcess,
  client: RawClient,
): Promise<{ stats: { worker?: number; outcome: string } }> {
  const line = await server.waitForLine(
    new RegExp(`"peer":"127\\.0\\.0\\.1:${client.addr.port}".*"outcome"`),
  );
  return JSON.parse(line);
}

/** Sends an RRQ, returns where DATA 1 came from (the transfer stays open). */
async function openRead(server: ServerProcess, c: RawClient) {
  await c.send(encodeRequest(Opcode.RRQ, "a.bin"), endpoint(server));
  const r = await c.receive(5000);
  assert.equal(r?.packet.op, Opcode.DATA, server.stderr.text);
  return r!.from;
}

Deno.test("--workers-start: on demand (the default) a lone transfer runs in the main thread and the threads start once two run at once; listen starts them at start-up", async () => {
  await using dir = await tempDir({ "a.bin": FILE });
  const args = ["--log-format", "json", "--ack-timeout", "10"];
  const bye = encodeError(ErrorCode.NOT_DEFINED, "bye");
  {
    await using server = await startServer(dir.path, { args });
    assert.match(
      listeningLine(server),
      new RegExp(`listening on .*, ${AUTO_WORKERS} worker threads on demand"`),
    );
    using a = RawClient.open();
    await a.send(bye, await openRead(server, a));
    assert.equal((await endRecord(server, a)).stats.worker, undefined);
    assert.ok(
      !server.lines.some((l) => /worker threads ready/.test(l)),
      server.stderr.text,
    );
    // b's transfer stays open in the main thread while c asks.
    using b = RawClient.open();
    using c = RawClient.open();
    const atB = await openRead(server, b);
    await c.send(bye, await openRead(server, c));
    const cEnd = await endRecord(server, c);
    assert.ok((cEnd.stats.worker ?? 0) >= 1, server.stderr.text);
    await server.waitForLine(
      new RegExp(`"${AUTO_WORKERS} worker threads ready \\(bundle\\)"`),
    );
    await b.send(bye, atB);
    assert.equal((await endRecord(server, b)).stats.worker, undefined);
    assert.equal((await server.stop()).code, 0, server.stderr.text);
  }
  {
    await using server = await startServer(dir.path, {
      args: [...args, "--workers-start", "listen"],
    });
    assert.match(
      listeningLine(server),
      new RegExp(`listening on .*, ${AUTO_WORKERS} worker threads"`),
    );
    assert.equal(server.threads.count, AUTO_WORKERS);
    using a = RawClient.open();
    await a.send(bye, await openRead(server, a));
    assert.ok(((await endRecord(server, a)).stats.worker ?? 0) >= 1);
    assert.equal((await server.stop()).code, 0, server.stderr.text);
  }
});

Deno.test("--port is -p, --file-log is -l, --verbose is -v", async () => {
  await using dir = await tempDir({ "a.bin": FILE });
  await using logs = await tempDir();
  const file = `${logs.path}/tftpd.log`;
  // startServer passes "-p" first; a later --port wins.
  const port = freeUdpPort();
  await using server = await startServer(dir.path, {
    args: ["--port", String(port), "--file-log", file, "--verbose"],
    permissions: [
      "--allow-net",
      `--allow-read=${dir.path},${file}`,
      `--allow-write=${dir.path},${file}`,
    ],
  });
  assert.match(
    listeningLine(server),
    new RegExp(`listening on 127\\.0\\.0\\.1:${port},`),
  );
  const r = await getFile({ hostname: "127.0.0.1", port }, "a.bin");
  assert.deepEqual(r.data, FILE);
  await server.waitForLine(/ RRQ "a\.bin" octet: ok/);
  assert.equal((await server.stop()).code, 0);
  const logged = (await Deno.readTextFile(file)).trimEnd().split("\n");
  assert.deepEqual(logged, server.lines);
  assert.ok(
    logged.some((l) => / \[DEBUG\] 127\.0\.0\.1:\d+ .*\bACK 4\b/.test(l)),
  );
});

/** Peak resident memory of a process, in MiB. */
async function peakMb(pid: number): Promise<number> {
  // Deno reads another process's /proc entries only with --allow-all,
  // which the test task does not grant; cat needs only --allow-run.
  const out = await new Deno.Command("cat", {
    args: [`/proc/${pid}/status`],
    stdout: "piped",
  }).output();
  const status = new TextDecoder().decode(out.stdout);
  return Number(/VmHWM:\s+(\d+)/.exec(status)![1]) / 1024;
}

/**
 * How much the server's peak memory grows while `sessions` windowed
 * downloads (blksize 32768, windowsize 16: 512 KiB of packets per window)
 * have each sent their whole first window. A windowsize of 16 starts
 * unpaced (a bigger one starts in short paced bursts, which need few
 * buffers), so each session asks for a buffer per block of its window.
 */
async function windowGrowthMb(
  root: string,
  budget: number,
  sessions: number,
): Promise<number> {
  await using server = await startServer(root, {
    args: [
      "--workers",
      "1",
      "--max-window-memory",
      String(budget),
      "--max-sessions-per-client",
      String(2 * sessions),
    ],
  });
  // Warm up the code paths with one complete windowed download.
  const warm = await getFile(endpoint(server), "big.bin", {
    options: { blksize: "16384", windowsize: "4" },
  });
  assert.equal(warm.error, undefined);
  const before = await peakMb(server.pid);
  // The timeout option fixes the retransmit interval at 1 s: when DATA 1
  // comes a second time, the session has sent its whole first window.
  const request = encodeRequest(Opcode.RRQ, "big.bin", {
    options: new Map([
      ["blksize", "32768"],
      ["windowsize", "16"],
      ["timeout", "1"],
    ]),
  });
  const clients = Array.from({ length: sessions }, () => RawClient.open());
  try {
    await Promise.all(clients.map(async (c) => {
      await c.send(request, endpoint(server));
      const oack = await c.receive(20_000);
      assert.ok(oack?.packet.op === Opcode.OACK, "no OACK");
      await c.send(encodeAck(0), oack.from);
      for (let ones = 0, n = 0; ones < 2 && n < 10_000; n++) {
        const d = await c.receive(20_000);
        assert.ok(d, `DATA 1 came ${ones} times after ACK 0`);
        if (d.packet.op === Opcode.DATA && d.packet.block === 1) ones++;
      }
    }));
    return (await peakMb(server.pid)) - before;
  } finally {
    for (const c of clients) c.close();
  }
}

Deno.test("--max-window-memory BYTES: windowed sends hold no more packet buffers than BYTES", async () => {
  // 64 sessions with a whole window each would hold 32 MiB of buffers; with
  // a budget of 0 every session keeps its one own buffer (64 x 32 KiB).
  const sessions = 64;
  await using dir = await tempDir({
    "big.bin": new Uint8Array(32768 * 100).fill(5),
  });
  const unbounded = await windowGrowthMb(dir.path, 1 << 30, sessions);
  const none = await windowGrowthMb(dir.path, 0, sessions);
  assert.ok(
    unbounded - none >= 16,
    `peak memory grew ${unbounded.toFixed(1)} MiB with a 1 GiB budget and ` +
      `${none.toFixed(1)} MiB with none`,
  );
});
