/**
 * The monitor wired into the server, end to end: the command line's
 * `--metrics` opens the listener, real transfers (through the worker
 * threads and in the main thread) and refusals are counted, running
 * transfers show their progress (from a worker thread's progress
 * messages), and `/metrics` still passes `promtool check metrics`.
 */

import assert from "node:assert/strict";
import { tftpGet } from "../../src/client/client.ts";
import { TftpServer } from "../../src/server/server.ts";
import { Logger } from "../../src/log.ts";
import { encodeRequest, Opcode } from "../../src/protocol/packet.ts";
import { startServer } from "../../testing/process.ts";
import { RawClient } from "../../testing/raw_client.ts";
import { tempDir, writeInto } from "../../testing/server.ts";
import { requireProgram } from "./common.ts";

const PROMTOOL = requireProgram("promtool", "prometheus");

async function get(url: string): Promise<string> {
  const r = await fetch(url);
  assert.equal(r.status, 200, url);
  return await r.text();
}

function sample(metrics: string, name: string): number {
  const line = metrics.split("\n").find((l) => l.startsWith(name + " "));
  return line === undefined ? NaN : Number(line.slice(name.length + 1));
}

Deno.test("--metrics: transfers through the worker threads are counted and /metrics passes promtool", async () => {
  const root = await tempDir("tftpd-metrics-");
  try {
    await writeInto(root, "a.bin", new Uint8Array(3000).fill(1));
    await using srv = await startServer(root, {
      args: ["--metrics", "127.0.0.1:0", "--workers-start", "listen"],
    });
    const at = await srv.waitForLine(/metrics and status page on http:\/\//);
    const base = /http:\/\/[^/ ]+/.exec(at)![0];
    await srv.waitForLine(/worker threads ready/);
    for (let i = 0; i < 3; i++) {
      await tftpGet("a.bin", {
        host: "127.0.0.1",
        port: srv.port,
        blksize: 1468,
        sink: { write: () => {} },
      });
    }
    const missing = await tftpGet("nope.bin", {
      host: "127.0.0.1",
      port: srv.port,
      sink: { write: () => {} },
    }).catch((e) => e);
    assert.equal(missing.code, 1);
    // The outcomes reach the main thread just after each client is done:
    // wait for their log lines, then for the monitor (each request to the
    // listener is a turn of the server's event loop).
    const outcome = / RRQ "(a|nope)\.bin" octet.*: (ok|error)/;
    while (srv.lines.filter((l) => outcome.test(l)).length < 4) {
      await srv.waitForLine(/./, { from: srv.lines.length });
    }
    let metrics = "";
    for (let i = 0; i < 50; i++) {
      metrics = await get(`${base}/metrics`);
      const done = sample(
        metrics,
        'tftp_transfers_total{direction="read",outcome="ok"}',
      ) + sample(
        metrics,
        'tftp_transfers_total{direction="read",outcome="error"}',
      );
      if (done === 4) break;
    }
    assert.equal(
      sample(metrics, 'tftp_transfers_total{direction="read",outcome="ok"}'),
      3,
      metrics,
    );
    assert.equal(
      sample(metrics, 'tftp_bytes_total{direction="read"}'),
      9000,
    );
    const status = JSON.parse(await get(`${base}/api/status`));
    assert.equal(status.recent.length, 4);
    assert.ok(
      status.recent.every((t: { worker: number | null }) => t.worker !== null),
      "every transfer ran in a worker thread",
    );
    if (!PROMTOOL.ignore) {
      const child = new Deno.Command(PROMTOOL.path, {
        args: ["check", "metrics"],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(metrics));
      await w.close();
      const out = await child.output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stdout));
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the monitor sees refusals, and a running transfer's progress (main thread)", async () => {
  const root = await tempDir("tftpd-metrics-");
  try {
    await writeInto(root, "big.bin", new Uint8Array(512 * 50));
    const server = new TftpServer({
      host: "127.0.0.1",
      port: 0,
      root,
      metrics: { hostname: "127.0.0.1", port: 0 },
      allowFrom: ["127.0.0.1/32"],
      logger: new Logger({ stderr: false }),
    });
    const { port } = await server.listen();
    try {
      const base = `http://127.0.0.1:${server.metricsAddr!.port}`;
      using c = RawClient.open();
      await c.send(encodeRequest(Opcode.RRQ, "big.bin"), {
        hostname: "127.0.0.1",
        port,
      });
      const d1 = await c.receive(5000);
      assert.equal(d1?.packet.op, Opcode.DATA);
      // Mid-transfer: one block sent, not yet acknowledged.
      const status = JSON.parse(await get(`${base}/api/status`));
      assert.equal(status.active.length, 1);
      assert.equal(status.active[0].file, "big.bin");
      assert.equal(status.active[0].size, 512 * 50);
      // A malformed request is refused and counted.
      await c.send(new Uint8Array([0, 1, 0]), { hostname: "127.0.0.1", port });
      await c.receive(5000);
      const metrics = await get(`${base}/metrics`);
      assert.equal(
        sample(metrics, 'tftp_refusals_total{reason="malformed"}'),
        1,
        metrics,
      );
      assert.equal(sample(metrics, "tftp_active_transfers"), 1, metrics);
    } finally {
      await server.close();
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("closing the server while status pages are open logs no error", async () => {
  const lines: [string, string][] = [];
  const root = await tempDir("tftpd-metrics-");
  const server = new TftpServer({
    host: "127.0.0.1",
    port: 0,
    root,
    metrics: { hostname: "127.0.0.1", port: 0 },
    logger: new Logger({
      stderr: false,
      verbose: true,
      sink: (line, level) => lines.push([level, line]),
    }),
  });
  await server.listen();
  try {
    const base = `http://127.0.0.1:${server.metricsAddr!.port}`;
    // One page that went away, one still open at the shutdown.
    const gone = await fetch(`${base}/api/events`);
    const goneReader = gone.body!.getReader();
    await goneReader.read();
    await goneReader.cancel();
    const open = await fetch(`${base}/api/events`);
    assert.equal(open.status, 200);
    const reader = open.body!.getReader();
    await reader.read();
    await server.close();
    try {
      for (let i = 0; i < 100 && !(await reader.read()).done; i++);
    } catch { /* ended by the shutdown, as it should */ }
    assert.ok(lines.some(([, line]) => /metrics and status page/.test(line)));
    assert.deepEqual(lines.filter(([level]) => level === "error"), []);
  } finally {
    await server.close();
    await Deno.remove(root, { recursive: true });
  }
});
