/**
 * `workers` (`--workers N`): the main thread admits requests and worker
 * threads run the transfers. What a user must see is the same server: exact
 * bytes both ways, the same log lines and hooks, the same confinement and
 * limits, and a shutdown that leaves no partial upload, plus each
 * transfer's thread in its stats.
 */

import assert from "node:assert/strict";
import type { RequestPacket } from "../../src/protocol/packet.ts";
import { Opcode } from "../../src/protocol/packet.ts";
import { ErrorCode } from "../../src/protocol/packet.ts";
import { TftpServer } from "../../src/server/server.ts";
import { MemoryStorage } from "../../src/storage/memory.ts";
import { getFile, putFile, RawClient } from "../../testing/raw_client.ts";
import { fdTargets } from "../../tools/soak.ts";
import {
  download,
  randomBytes,
  startFeatureServer,
  upload,
  WAIT_MS,
} from "./fixture.ts";

Deno.test("workers: concurrent downloads are exact and spread over the threads", async () => {
  const files: Record<string, Uint8Array> = {};
  for (let i = 0; i < 24; i++) files[`f${i}.bin`] = randomBytes(40_000 + i);
  let hooked!: () => void;
  const allHooked = new Promise<void>((r) => hooked = r);
  let calls = 0;
  await using srv = await startFeatureServer({
    workers: 2,
    files,
    onTransferEnd: () => {
      if (++calls === 24) hooked();
    },
  });
  await srv.server.startWorkers();
  assert.ok(
    srv.lines.some((l) =>
      /listening on .*, 2 worker threads on demand$/.test(l)
    ),
    srv.lines.join("\n"),
  );

  const got = await Promise.all(
    Object.keys(files).map((name) => download(srv, name, { blksize: 1428 })),
  );
  for (const [i, name] of Object.keys(files).entries()) {
    assert.deepEqual(got[i].data, files[name], name);
    assert.equal(got[i].result.options.get("blksize"), "1428");
  }
  // Every end is both logged (with stats) and handed to the hook.
  for (const name of Object.keys(files)) {
    const s = await srv.waitForTransfer((t) => t.filename === name);
    assert.equal(s.outcome, "ok");
    assert.equal(s.bytes, files[name].length);
  }
  // The hook follows the log line (a message later, from a worker).
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    allHooked,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error("hooks missing")), WAIT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
  assert.equal(srv.hookCalls.length, 24);
  const threads = new Set(srv.hookCalls.map((s) => s.worker));
  assert.deepEqual([...threads].sort(), [1, 2]);
  assert.equal(
    srv.lines.filter((l) => / RRQ "f\d+\.bin" octet .*: ok/.test(l)).length,
    24,
  );
});

Deno.test("workers: uploads land whole; names outside the root get ERROR 2", async () => {
  await using srv = await startFeatureServer({ workers: 2, dirs: ["up"] });
  await srv.server.startWorkers();
  const bodies = [randomBytes(70_000), randomBytes(512 * 3), randomBytes(1)];
  const results = await Promise.all(
    bodies.map((data, i) => upload(srv, `up/u${i}.bin`, { data })),
  );
  assert.equal(results.length, 3);
  for (const [i, data] of bodies.entries()) {
    await srv.waitForTransfer((t) => t.filename === `up/u${i}.bin`);
    assert.deepEqual(await srv.readFile(`up/u${i}.bin`), data);
  }
  for (const name of ["../etc/passwd", "/../x", "up/../../x"]) {
    const r = await getFile(srv.addr, name);
    assert.equal(r.error?.code, ErrorCode.ACCESS_VIOLATION, `RRQ ${name}`);
    assert.equal(r.dataPackets, 0);
  }
  const w = await putFile(srv.addr, "../escape.bin", { data: randomBytes(9) });
  assert.equal(w.error?.code, ErrorCode.ACCESS_VIOLATION);
  assert.equal(
    await Deno.stat(`${srv.root}/../escape.bin`).then(() => true, () => false),
    false,
  );
});

Deno.test("workers: a missing file gets ERROR 1 and the stats say which thread", async () => {
  await using srv = await startFeatureServer({ workers: 2 });
  await srv.server.startWorkers();
  const r = await getFile(srv.addr, "nope.bin");
  assert.equal(r.error?.code, ErrorCode.FILE_NOT_FOUND);
  const s = await srv.waitForTransfer((t) => t.filename === "nope.bin");
  assert.equal(s.outcome, "error");
  assert.ok(s.worker === 1 || s.worker === 2, JSON.stringify(s));
});

Deno.test("workers: the per-client limit holds across threads", async () => {
  await using srv = await startFeatureServer({
    workers: 2,
    maxSessionsPerClient: 1,
    files: { "big.bin": randomBytes(100_000) },
  });
  await srv.server.startWorkers();
  using a = RawClient.open();
  using b = RawClient.open();
  await a.request(srv.addr, { op: "RRQ", name: "big.bin" });
  const first = await a.expect();
  assert.equal(first.packet.op, Opcode.DATA);
  // The first transfer waits for its ACK; a second one from the same IP is
  // refused by the main thread, whichever thread would have run it.
  await b.request(srv.addr, { op: "RRQ", name: "big.bin" });
  const second = await b.expect();
  assert.equal(second.packet.op, Opcode.ERROR);
  assert.match(
    (second.packet as { message: string }).message,
    /too many transfers from 127\.0\.0\.1 \(limit 1\)/,
  );
});

Deno.test("workers: closing the server mid-upload leaves no file", async () => {
  await using srv = await startFeatureServer({ workers: 2 });
  await srv.server.startWorkers();
  using peer = RawClient.open();
  await peer.request(srv.addr, { op: "WRQ", name: "half.bin" });
  const ack0 = await peer.expect();
  assert.equal(ack0.packet.op, Opcode.ACK);
  await peer.conn.send(
    new Uint8Array([0, Opcode.DATA, 0, 1, ...randomBytes(512)]),
    ack0.from,
  );
  const ack1 = await peer.expect();
  assert.equal(ack1.packet.op, Opcode.ACK);
  await srv.server.close();
  assert.equal(await srv.readFile("half.bin"), undefined);
  const s = await srv.waitForTransfer((t) => t.filename === "half.bin");
  assert.equal(s.outcome, "cancelled");
  assert.equal(srv.hookCalls.length, 1);
  assert.deepEqual(
    [...Deno.readDirSync(srv.root)].map((e) => e.name),
    [],
  );
});

Deno.test("workers: requests that come before the threads are ready are served", async () => {
  const data = randomBytes(30_000);
  await using srv = await startFeatureServer({
    workers: 2,
    files: { "early.bin": data },
  });
  // No wait for workersReady: the first request may run in the main thread.
  const got = await download(srv, "early.bin");
  assert.deepEqual(got.data, data);
  await srv.server.startWorkers();
  const late = await download(srv, "early.bin");
  assert.deepEqual(late.data, data);
  const s = await srv.waitForTransfer((t) => t.filename === "early.bin");
  assert.equal(s.outcome, "ok");
});

Deno.test("workers: on demand a lone transfer stays in the main thread; requests that come while it runs start the threads and run there", async () => {
  const files: Record<string, Uint8Array> = {};
  for (let i = 0; i < 16; i++) files[`s${i}.bin`] = randomBytes(30_000 + i);
  await using srv = await startFeatureServer({ workers: 2, files });
  const lone = await download(srv, "s0.bin");
  assert.deepEqual(lone.data, files["s0.bin"]);
  const first = await srv.waitForTransfer((t) => t.filename === "s0.bin");
  assert.equal(first.worker, undefined);
  assert.ok(!srv.lines.some((l) => /worker threads ready/.test(l)));
  // A transfer that waits for its ACK keeps the main thread busy.
  using held = RawClient.open();
  await held.request(srv.addr, { op: "RRQ", name: "s1.bin" });
  assert.equal((await held.expect()).packet.op, Opcode.DATA);
  const got = await Promise.all(
    Object.keys(files).map((name) => download(srv, name, { blksize: 1428 })),
  );
  for (const [i, name] of Object.keys(files).entries()) {
    assert.deepEqual(got[i].data, files[name], name);
  }
  await srv.server.startWorkers();
  assert.ok(srv.lines.some((l) => /2 worker threads ready/.test(l)));
  // A worker's end reaches the main thread a message after the client is done.
  const ends = [];
  for (const name of Object.keys(files)) {
    ends.push(
      await srv.waitForTransfer((t) => t.filename === name && t !== first),
    );
  }
  assert.ok(ends.every((t) => t.outcome === "ok"));
  // Handed to the threads while they started, or once they ran.
  assert.deepEqual(
    ends.filter((t) => t.worker === undefined).map((t) => t.filename),
    [],
  );
});

Deno.test("workers: on demand an upload lingering for its last ACK is not load: the next client stays in the main thread", async () => {
  const data = randomBytes(3000);
  await using srv = await startFeatureServer({
    workers: 2,
    files: { "a.bin": data },
  });
  await upload(srv, "up.bin", { data: randomBytes(2000) });
  await srv.waitForTransfer((t) => t.filename === "up.bin");
  // The upload's socket lingers to re-ACK a repeated last block meanwhile.
  const got = await download(srv, "a.bin");
  assert.deepEqual(got.data, data);
  const s = await srv.waitForTransfer((t) => t.filename === "a.bin");
  assert.equal(s.worker, undefined);
  assert.ok(!srv.lines.some((l) => /worker threads ready/.test(l)));
});

Deno.test("workers: closing before the threads start leaves no thread or timer behind", async () => {
  // The test sanitizers fail this test on a leaked timer, op or worker.
  const srv = await startFeatureServer({ workers: 2 });
  await srv.server.close();
  await srv.server.startWorkers();
  await srv[Symbol.asyncDispose]();
  assert.ok(!srv.lines.some((l) => /worker threads ready/.test(l)));
});

Deno.test("workers: transfers in worker threads leave no socket or file open", async () => {
  const files: Record<string, Uint8Array> = {};
  for (let i = 0; i < 20; i++) files[`f${i}.bin`] = randomBytes(20_000 + i);
  // A short linger, so finished uploads close their sockets soon.
  await using srv = await startFeatureServer({
    workers: 2,
    timeout: 0.2,
    files,
    dirs: ["up"],
  });
  await srv.server.startWorkers();
  // Warm both threads up (the least busy one gets each transfer).
  await Promise.all([download(srv, "f0.bin"), download(srv, "f1.bin")]);
  await srv.server.whenIdle();
  const before = fdTargets();
  const results = await Promise.all([
    ...Object.keys(files).map((n) => download(srv, n)),
    ...[0, 1, 2, 3, 4].map((i) =>
      upload(srv, `up/u${i}.bin`, { data: randomBytes(5000 + i) })
    ),
    getFile(srv.addr, "missing.bin"),
  ]);
  assert.equal(results.length, 26);
  await srv.server.whenIdle();
  const after = fdTargets();
  const opened = [...after].filter(([fd, what]) => before.get(fd) !== what);
  assert.deepEqual(opened, [], "descriptors left open by finished transfers");
  const threads = new Set(srv.hookCalls.map((s) => s.worker));
  assert.deepEqual([...threads].sort(), [1, 2]);
});

Deno.test("workers: refused, saying why, with what cannot run in the threads", () => {
  assert.throws(
    () => new TftpServer({ workers: 2, storage: new MemoryStorage() }),
    /workers: 2 cannot be combined with custom storage: .*use workers: 1/,
  );
  assert.throws(
    () => new TftpServer({ workers: 2, singlePort: true }),
    /cannot be combined with single-port mode/,
  );
  class Routing extends TftpServer {
    override selectProtocol(r: RequestPacket, p: Deno.NetAddr) {
      return super.selectProtocol(r, p);
    }
  }
  assert.throws(
    () => new Routing({ workers: 2 }),
    /cannot be combined with a custom selectProtocol/,
  );
  assert.doesNotThrow(() => new Routing({ workers: 1 }));
  assert.throws(() => new TftpServer({ workers: 0 }), /invalid number/);
});
