/**
 * What operators get to see after each transfer: the `onTransferEnd` hook's
 * stats, and `--log-format json` turning every log line into one JSON
 * object (transfer ends carry a `stats` field).
 */

import assert from "node:assert/strict";
import { Opcode } from "../../src/protocol/packet.ts";
import type { TransferStats } from "../../src/server/session.ts";
import { runMain, startServer } from "../../testing/process.ts";
import { download, startFeatureServer, tempDir, upload } from "./fixture.ts";
import { RawClient } from "../../testing/raw_client.ts";

Deno.test("onTransferEnd: one call per transfer with what happened", async () => {
  await using srv = await startFeatureServer({
    files: { "a.bin": new Uint8Array(3000) },
  });
  // A read by a raw peer, so the peer's port is known.
  using peer = RawClient.open();
  await peer.request(srv.addr, {
    op: "RRQ",
    name: "a.bin",
    options: { blksize: "1024", tsize: "0" },
  });
  const oack = await peer.expect();
  assert.equal(oack.packet.op, Opcode.OACK);
  await peer.ack(oack.from, 0);
  for (let block = 1; block <= 3; block++) {
    const { packet } = await peer.expect();
    assert.equal(packet.op, Opcode.DATA);
    await peer.ack(oack.from, block);
  }
  await upload(srv, "up.txt", { data: "12345", tsize: true });
  await download(srv, "missing.txt").catch(() => {});
  await srv.waitForTransfer((s) => s.filename === "missing.txt");
  await srv.waitForTransfer((s) => s.filename === "up.txt");
  // The hook runs once the session is fully done (an upload lingers first):
  // close the server, which waits for every session.
  await srv.server.close();
  const byName = new Map<string, TransferStats>(
    srv.hookCalls.map((s) => [s.filename, s]),
  );
  assert.equal(srv.hookCalls.length, 3);
  const read = byName.get("a.bin")!;
  assert.equal(read.peer, `127.0.0.1:${peer.port}`);
  assert.equal(read.direction, "read");
  assert.equal(read.mode, "octet");
  assert.deepEqual(read.options, { blksize: "1024", tsize: "3000" });
  assert.equal(read.bytes, 3000);
  assert.equal(typeof read.retransmits, "number");
  assert.equal(read.outcome, "ok");
  assert.equal(typeof read.durationMs, "number");
  assert.ok(read.durationMs >= 0);
  const write = byName.get("up.txt")!;
  assert.equal(write.direction, "write");
  assert.equal(write.bytes, 5);
  assert.equal(write.options.tsize, "5");
  assert.equal(write.outcome, "ok");
  const missing = byName.get("missing.txt")!;
  assert.equal(missing.outcome, "error");
  assert.equal(missing.bytes, 0);
  assert.match(missing.error ?? "", /ERROR 1/);
});

Deno.test("the command: --log-format json makes every line a JSON object", async () => {
  const root = await tempDir("tftpd-json-");
  try {
    await Deno.writeTextFile(`${root}/a.txt`, "hello");
    const server = await startServer(root, {
      args: ["--log-format", "json", "-v"],
    });
    const target = { target: { host: server.host, port: server.port } };
    try {
      await download(target, "a.txt", { blksize: 1024 });
      await upload(target, "up.txt", { data: "uploaded" });
      await download(target, "missing.txt").catch(() => {});
      await download(target, "../outside.txt").catch(() => {});
      await server.waitForLine(/"missing\.txt".*"outcome"/);
      await server.waitForLine(/outside\.txt.* octet: error/);
      await server.waitForLine(/"up\.txt".*"outcome"/);
    } finally {
      assert.equal((await server.stop()).code, 0);
    }
    assert.ok(server.lines.length >= 5, server.lines.join("\n"));
    const records = server.lines.map((line) => {
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line);
      } catch {
        throw new Error(`not JSON: ${line}`);
      }
      assert.equal(typeof rec.msg, "string", line);
      assert.ok(
        ["debug", "info", "warning", "error"].includes(rec.level as string),
        line,
      );
      assert.ok(
        !Number.isNaN(Date.parse(rec.time as string)),
        `bad time: ${line}`,
      );
      return rec;
    });
    assert.ok(records.some((r) => /listening on/.test(r.msg as string)));
    const ends = records.filter((r) => r.stats !== undefined).map((r) =>
      r.stats as TransferStats
    );
    const read = ends.find((s) => s.filename === "a.txt");
    assert.ok(read, JSON.stringify(ends));
    assert.equal(read.outcome, "ok");
    assert.equal(read.direction, "read");
    assert.equal(read.bytes, 5);
    assert.deepEqual(read.options, { blksize: "1024" });
    assert.match(read.peer, /^127\.0\.0\.1:\d+$/);
    const write = ends.find((s) => s.filename === "up.txt");
    assert.equal(write?.outcome, "ok");
    assert.equal(write?.bytes, 8);
    const missing = ends.find((s) => s.filename === "missing.txt");
    assert.equal(missing?.outcome, "error");
    // A missing file to read is logged at info level (boot loaders probe).
    const missingLine = records.find((r) =>
      (r.stats as TransferStats | undefined)?.filename === "missing.txt"
    );
    assert.equal(missingLine?.level, "info");
    // A name refused for where it points is logged at warning level.
    const outside = records.find((r) =>
      /outside\.txt.* octet: error/.test(r.msg as string)
    );
    assert.equal(outside?.level, "warning");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the command: text log lines by default, --log-format must be text or json", async () => {
  const root = await tempDir("tftpd-text-");
  try {
    await Deno.writeTextFile(`${root}/a.txt`, "hello");
    {
      await using server = await startServer(root);
      await download(
        { target: { host: server.host, port: server.port } },
        "a.txt",
      );
      const line = await server.waitForLine(/RRQ "a\.txt" octet: ok/);
      assert.match(line, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \[INFO\] /);
    }
    const r = await runMain(["--log-format", "xml", "--root", root], {
      permissions: ["--allow-net", `--allow-read=${root}`],
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /log-format/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
