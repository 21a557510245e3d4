/**
 * Which ports transfers use: `portRange` (`--port-range LOW:HIGH`) binds
 * transfer sockets in a range and answers with an ERROR when it is used up;
 * `singlePort` (`--single-port`) runs every transfer on the listen port.
 * What a client sees is the source port of the server's packets.
 */

import assert from "node:assert/strict";
import { encodeData, ErrorCode, Opcode } from "../../src/protocol/packet.ts";
import { runMain, startServer } from "../../testing/process.ts";
import {
  download,
  randomBytes,
  sha256,
  startFeatureServer,
  tempDir,
  upload,
} from "./fixture.ts";
import { RawClient } from "../../testing/raw_client.ts";
import { freeUdpRange } from "../../testing/net.ts";

/**
 * Sends an RRQ for a one-block file and finishes the transfer; returns the
 * address the DATA came from.
 */
async function fetchTid(
  peer: RawClient,
  server: Deno.NetAddr,
  name: string,
): Promise<Deno.NetAddr> {
  await peer.request(server, { op: "RRQ", name });
  const { packet, from } = await peer.expect();
  assert.equal(packet.op, Opcode.DATA, JSON.stringify(packet));
  await peer.ack(from, 1);
  return from;
}

// The same with transfers in worker threads: each thread binds its own
// sockets in the range, and a refusal still comes from the listen port.
for (const workers of [1, 2]) {
  const label = workers > 1 ? ` (${workers} worker threads)` : "";
  Deno.test(`portRange${label}: every transfer socket is bound inside the range`, async () => {
    const range = freeUdpRange(3);
    await using srv = await startFeatureServer({
      portRange: range,
      workers,
      files: { "small.txt": "one block" },
    });
    await srv.server.startWorkers();
    for (let i = 0; i < 6; i++) {
      using peer = RawClient.open();
      const tid = await fetchTid(peer, srv.addr, "small.txt");
      assert.ok(
        tid.port >= range[0] && tid.port <= range[1],
        `transfer port ${tid.port} outside ${range}`,
      );
      await srv.waitForTransfer((s) =>
        s.peer === `127.0.0.1:${peer.port}` && s.outcome === "ok"
      );
    }
    // Whole transfers with options work too.
    const data = randomBytes(50_000);
    await srv.writeFile("big.bin", data);
    const { data: got } = await download(srv, "big.bin", {
      blksize: 1468,
      windowsize: 4,
    });
    assert.equal(sha256(got), sha256(data));
    await upload(srv, "up.bin", { data, windowsize: 4 });
    assert.equal(
      sha256(await Deno.readFile(`${srv.root}/up.bin`)),
      sha256(data),
    );
  });

  Deno.test(`portRange${label}: a taken port is skipped, by our transfers or another program`, async () => {
    const range = freeUdpRange(3);
    await using srv = await startFeatureServer({
      portRange: range,
      workers,
      files: { "two.bin": randomBytes(600) },
    });
    await srv.server.startWorkers();
    // Another program holds the first port of the range.
    const squatter = Deno.listenDatagram({
      transport: "udp",
      hostname: "127.0.0.1",
      port: range[0],
    });
    using _close = { [Symbol.dispose]: () => squatter.close() };
    // Two unfinished transfers at once: each on a port of its own, neither
    // on the taken one.
    using a = RawClient.open();
    using b = RawClient.open();
    await a.request(srv.addr, { op: "RRQ", name: "two.bin" });
    const fromA = await a.expect();
    await b.request(srv.addr, { op: "RRQ", name: "two.bin" });
    const fromB = await b.expect();
    assert.equal(fromA.packet.op, Opcode.DATA, JSON.stringify(fromA.packet));
    assert.equal(fromB.packet.op, Opcode.DATA, JSON.stringify(fromB.packet));
    const ports = [fromA.from.port, fromB.from.port].sort();
    assert.deepEqual(ports, [range[0] + 1, range[0] + 2]);
  });

  Deno.test(`portRange exhausted${label}: the next request gets ERROR 0 about ports, then works again`, async () => {
    const range = freeUdpRange(1);
    await using srv = await startFeatureServer({
      portRange: range,
      workers,
      files: { "two.bin": randomBytes(600) },
    });
    await srv.server.startWorkers();
    using holder = RawClient.open();
    await holder.request(srv.addr, { op: "RRQ", name: "two.bin" });
    const first = await holder.expect();
    assert.equal(first.packet.op, Opcode.DATA);
    assert.equal(first.from.port, range[0]);
    // The only port is taken by the unfinished transfer.
    using late = RawClient.open();
    await late.request(srv.addr, { op: "RRQ", name: "two.bin" });
    const refused = await late.expect();
    assert.equal(
      refused.packet.op,
      Opcode.ERROR,
      JSON.stringify(refused.packet),
    );
    if (refused.packet.op === Opcode.ERROR) {
      assert.equal(refused.packet.code, 0);
      assert.match(refused.packet.message, /port/);
    }
    assert.equal(refused.from.port, srv.port);
    // Finish the first transfer; its port is free again.
    await holder.ack(first.from, 1);
    const second = await holder.expect();
    assert.equal(second.packet.op, Opcode.DATA);
    await holder.ack(first.from, 2);
    await srv.waitForTransfer((s) => s.peer === `127.0.0.1:${holder.port}`);
    // The outcome is logged before the transfer has closed its socket (in
    // a worker thread, a message earlier): wait until every transfer is
    // done, which is when the port is free.
    await srv.server.whenIdle();
    using again = RawClient.open();
    await again.request(srv.addr, { op: "RRQ", name: "two.bin" });
    const ok = await again.expect();
    assert.equal(ok.packet.op, Opcode.DATA);
    assert.equal(ok.from.port, range[0]);
  });

  // Was a bug: a transfer ended by its timer was done (and the server
  // idle) while its socket still held the port, until the receive pending
  // on it settled a turn of the event loop later; the next request could
  // then find the range used up.
  Deno.test(`portRange${label}: when the server is idle, the transfer ports are free`, async () => {
    const range = freeUdpRange(1);
    await using srv = await startFeatureServer({
      portRange: range,
      workers,
      ackTimeout: 0.05,
      retries: 1,
      files: {
        "small.txt": "one block",
        ...Object.fromEntries([0, 2, 4].map((i) => [`f${i}.txt`, "x"])),
      },
    });
    await srv.server.startWorkers();
    for (let i = 0; i < 6; i++) {
      // A download nobody acknowledges, an upload that never sends DATA:
      // both end when their timer gives up.
      using silent = RawClient.open();
      const op = i % 2 === 0 ? "RRQ" : "WRQ";
      await silent.request(srv.addr, { op, name: `f${i}.txt` });
      await srv.waitForTransfer((s) =>
        s.peer === `127.0.0.1:${silent.port}` && s.outcome === "timeout"
      );
      await srv.server.whenIdle();
      // The port is free: we can bind it, and the next request gets it.
      Deno.listenDatagram({
        transport: "udp",
        hostname: "127.0.0.1",
        port: range[0],
      }).close();
      using next = RawClient.open();
      assert.equal(
        (await fetchTid(next, srv.addr, "small.txt")).port,
        range[0],
      );
      await srv.server.whenIdle();
    }
  });
}

Deno.test("singlePort: DATA comes from the listen port; concurrent transfers stay apart", async () => {
  const a = randomBytes(200_000);
  const b = randomBytes(150_001);
  await using srv = await startFeatureServer({
    singlePort: true,
    files: { "a.bin": a, "b.bin": b, "small.txt": "one block" },
  });
  using peer = RawClient.open();
  const tid = await fetchTid(peer, srv.addr, "small.txt");
  assert.equal(tid.port, srv.port);
  // Two downloads and an upload at once, all on the one server port.
  const [ga, gb] = await Promise.all([
    download(srv, "a.bin", { blksize: 1024, windowsize: 4 }),
    download(srv, "b.bin", { blksize: 512 }),
    upload(srv, "up.bin", { data: b, windowsize: 8 }),
  ]);
  assert.equal(sha256(ga.data), sha256(a));
  assert.equal(sha256(gb.data), sha256(b));
  assert.equal(sha256(await Deno.readFile(`${srv.root}/up.bin`)), sha256(b));
});

Deno.test("singlePort: an ACK or DATA from an endpoint with no transfer gets ERROR 5 (unknown transfer ID), and the transfer goes on", async () => {
  const data = randomBytes(5000);
  await using srv = await startFeatureServer({
    singlePort: true,
    files: { "f.bin": data },
  });
  using peer = RawClient.open();
  using stranger = RawClient.open();
  await peer.request(srv.addr, { op: "RRQ", name: "f.bin" });
  const first = await peer.expect();
  assert.equal(first.packet.op, Opcode.DATA);
  for (
    const send of [
      () => stranger.ack(srv.addr, 1),
      () => stranger.send(encodeData(1, new Uint8Array(10)), srv.addr),
    ]
  ) {
    await send();
    const got = await stranger.expect();
    assert.equal(got.packet.op, Opcode.ERROR, JSON.stringify(got.packet));
    if (got.packet.op === Opcode.ERROR) {
      assert.equal(got.packet.code, ErrorCode.UNKNOWN_TID);
      assert.equal(got.packet.message, "unknown transfer ID");
    }
  }
  // Its own ACKs still drive the transfer to the end.
  let block = 1;
  await peer.ack(first.from, 1);
  for (let i = 0; i < 20 && block < 10; i++) {
    const { packet, from } = await peer.expect();
    if (packet.op !== Opcode.DATA) break;
    block = packet.block;
    await peer.ack(from, block);
  }
  assert.equal(block, 10);
  await srv.waitForTransfer((s) =>
    s.filename === "f.bin" && s.outcome === "ok"
  );
});

Deno.test("busy-poll: a lone lock-step transfer spins, except in single-port mode", async () => {
  // The reply of a single-port transfer comes through the listen loop of the
  // same thread, which a spin would hold up: no spinning there.
  for (const singlePort of [false, true]) {
    const data = randomBytes(512 * 40 + 3);
    await using srv = await startFeatureServer({
      singlePort,
      files: { "a.bin": data },
    });
    const got = await download(srv, "a.bin");
    assert.equal(sha256(got.data), sha256(data));
    await srv.waitForTransfer((s) => s.filename === "a.bin");
    const polls = srv.lines.filter((l) => / busy-poll: /.test(l));
    assert.equal(polls.length, singlePort ? 0 : 1, srv.lines.join("\n"));
  }
});

Deno.test("the command: --port-range and --single-port", async (t) => {
  const root = await tempDir("tftpd-ports-");
  try {
    await Deno.writeTextFile(`${root}/small.txt`, "one block");
    await t.step("--port-range", async () => {
      const range = freeUdpRange(2);
      await using server = await startServer(root, {
        args: ["--port-range", `${range[0]}:${range[1]}`],
      });
      using peer = RawClient.open();
      const tid = await fetchTid(
        peer,
        { transport: "udp", hostname: server.host, port: server.port },
        "small.txt",
      );
      assert.ok(tid.port >= range[0] && tid.port <= range[1], `${tid.port}`);
    });
    await t.step("--single-port", async () => {
      await using server = await startServer(root, { args: ["--single-port"] });
      using peer = RawClient.open();
      const tid = await fetchTid(
        peer,
        { transport: "udp", hostname: server.host, port: server.port },
        "small.txt",
      );
      assert.equal(tid.port, server.port);
    });
    await t.step("invalid combinations exit 2", async () => {
      for (
        const args of [
          ["--port-range", "5000:4000"],
          ["--port-range", "0:10"],
          ["--port-range", "1000"],
          ["--single-port", "--port-range", "5000:5001"],
        ]
      ) {
        const r = await runMain(["-p", "0", "--root", root, ...args], {
          permissions: ["--allow-net", `--allow-read=${root}`],
        });
        assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
        assert.match(r.stderr, /port/);
      }
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
