/**
 * Transfers from an HTTP origin through the real server: content and
 * tsize, streaming before the body is complete, big files past the block
 * rollover, a slow origin, an origin dying mid-body, and the status
 * mapping (404, 401/403, 5xx, timeouts, refused connections).
 */

import assert from "node:assert/strict";
import {
  gate,
  getFile,
  HttpOrigin,
  randomBody,
  RawClient,
  RawHttpOrigin,
  startOriginServer,
  writeAll,
  writeHead,
} from "./harness.ts";
import {
  decode,
  encodeAck,
  encodeRequest,
  Opcode,
} from "../../src/protocol/packet.ts";

Deno.test("origin-only: a file comes from the origin, tsize from Content-Length", async () => {
  const data = randomBody(3000);
  await using origin = new HttpOrigin((_req, url) =>
    url.pathname === "/boot/pxelinux.0"
      ? new Response(data)
      : new Response("no", { status: 404 })
  );
  await using srv = await startOriginServer({
    origin: origin.url + "boot",
    originOnly: true,
  });
  const r = await getFile(srv.addr, "pxelinux.0", {
    options: { tsize: "0", blksize: "1024" },
  });
  assert.equal(r.error, undefined);
  assert.deepEqual(r.data, data);
  assert.equal(r.oack?.get("tsize"), "3000");
  assert.equal(origin.requests.length, 1);
  const seen = origin.requests[0];
  assert.equal(seen.headers.get("x-tftp-client"), "127.0.0.1");
  assert.equal(seen.headers.get("x-tftp-file"), "pxelinux.0");
  assert.equal(seen.headers.get("accept-encoding"), "identity");
});

Deno.test("a body without Content-Length streams and declines tsize", async () => {
  const data = randomBody(5000);
  await using origin = new HttpOrigin(() =>
    new Response(
      new ReadableStream({
        start(c) {
          c.enqueue(data.subarray(0, 2000));
          c.enqueue(data.subarray(2000));
          c.close();
        },
      }),
    )
  );
  await using srv = await startOriginServer({
    origin: origin.url,
    originOnly: true,
  });
  const r = await getFile(srv.addr, "gen.bin", {
    options: { tsize: "0", blksize: "512" },
  });
  assert.equal(r.error, undefined);
  assert.deepEqual(r.data, data);
  assert.equal(r.oack?.get("tsize"), undefined);
  assert.equal(r.oack?.get("blksize"), "512");
});

Deno.test("netascii from the origin, with tsize counted in netascii", async () => {
  await using origin = new HttpOrigin(() => new Response("a\nb\n"));
  await using srv = await startOriginServer({
    origin: origin.url,
    originOnly: true,
  });
  const r = await getFile(srv.addr, "t.txt", {
    mode: "netascii",
    options: { tsize: "0" },
  });
  assert.equal(r.error, undefined);
  assert.equal(new TextDecoder().decode(r.data), "a\r\nb\r\n");
  assert.equal(r.oack?.get("tsize"), "6");
});

Deno.test("the transfer starts before the origin has sent the whole body", async () => {
  const data = randomBody(4096);
  const rest = gate();
  await using origin = new HttpOrigin(() =>
    new Response(
      new ReadableStream({
        async start(c) {
          c.enqueue(data.subarray(0, 1024));
          await rest.promise;
          c.enqueue(data.subarray(1024));
          c.close();
        },
      }),
      { headers: { "content-length": String(data.length) } },
    )
  );
  await using srv = await startOriginServer({
    origin: origin.url,
    originOnly: true,
  });
  using client = RawClient.open();
  await client.send(
    encodeRequest(Opcode.RRQ, "slow.bin", { mode: "octet" }),
    srv.addr,
  );
  // Blocks 1 and 2 (the first 1024 bytes) arrive while the origin still
  // holds back the rest; only then is the rest released.
  const got: Uint8Array[] = [];
  let tid: Deno.NetAddr | undefined;
  for (let block = 1; block <= 2; block++) {
    const r = await client.receive(10_000);
    assert.ok(r, `DATA ${block} did not arrive while the body was incomplete`);
    const p = r.packet;
    assert.equal(p.op, Opcode.DATA);
    if (p.op !== Opcode.DATA) return;
    assert.equal(p.block, block);
    got.push(p.data.slice());
    tid = r.from;
    await client.send(encodeAck(block), tid);
  }
  rest.open();
  for (let block = 3;; block++) {
    const r = await client.receive(10_000);
    assert.ok(r);
    const p = decode(r.data);
    assert.equal(p.op, Opcode.DATA);
    if (p.op !== Opcode.DATA) return;
    got.push(p.data.slice());
    await client.send(encodeAck(block), tid!);
    if (p.data.length < 512) break;
  }
  const all = new Uint8Array(got.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of got) {
    all.set(c, off);
    off += c.length;
  }
  assert.deepEqual(all, data);
  assert.equal((await srv.waitForTransfer()).outcome, "ok");
});

Deno.test("a file past the block rollover (more than 65535 blocks of 512) from a slow-ish origin", async () => {
  const data = randomBody(65_540 * 512 + 100);
  await using origin = new HttpOrigin(() =>
    new Response(
      new ReadableStream({
        async start(c) {
          // 1 MiB pieces with a pause between them: the transfer catches up
          // with the body and waits for it several times.
          for (let off = 0; off < data.length; off += 1 << 20) {
            c.enqueue(data.subarray(off, off + (1 << 20)));
            await new Promise((r) => setTimeout(r, 20));
          }
          c.close();
        },
      }),
      { headers: { "content-length": String(data.length) } },
    )
  );
  await using srv = await startOriginServer({
    origin: origin.url,
    originOnly: true,
  });
  const r = await getFile(srv.addr, "big.img", {
    options: { tsize: "0", windowsize: "16" },
  });
  assert.equal(r.error, undefined);
  assert.equal(r.oack?.get("tsize"), String(data.length));
  assert.equal(r.blocks, 65_541);
  assert.ok(
    r.data.length === data.length && r.data.every((b, i) => b === data[i]),
  );
  assert.equal(origin.requests.length, 1);
});

Deno.test("an origin dying mid-body ends the transfer with ERROR 0 and caches nothing", async () => {
  const data = randomBody(200_000);
  await using origin = new RawHttpOrigin(async (_req, conn) => {
    await writeHead(conn, 200, {
      "content-length": String(data.length),
      "cache-control": "max-age=600",
      etag: '"v1"',
    });
    await writeAll(conn, data.subarray(0, 70_000));
    conn.close();
  });
  await using srv = await startOriginServer({
    origin: origin.url,
    originOnly: true,
  });
  for (let i = 1; i <= 2; i++) {
    const r = await getFile(srv.addr, "dies.bin");
    assert.equal(r.error?.code, 0);
    assert.equal(r.error?.message, "origin unavailable");
    assert.ok(r.data.length <= 70_000);
    assert.deepEqual(r.data, data.subarray(0, r.data.length));
    // Nothing was cached: the second attempt asks the origin again.
    assert.equal(origin.requests.length, i);
  }
  const stats = await srv.waitForTransfer((s) => s.outcome === "error");
  assert.match(stats.error ?? "", /origin unavailable/);
  assert.ok(
    srv.lines.some((l) => /origin GET .*dies\.bin: .*body/.test(l)),
    srv.lines.join("\n"),
  );
});

Deno.test("a chunked body cut off before its last chunk is ERROR 0 and not cached", async () => {
  await using origin = new RawHttpOrigin(async (_req, conn) => {
    await writeHead(conn, 200, {
      "transfer-encoding": "chunked",
      "cache-control": "max-age=600",
    });
    const chunk = new Uint8Array(4000).fill(65);
    for (let i = 0; i < 3; i++) {
      await writeAll(
        conn,
        new TextEncoder().encode(`${chunk.length.toString(16)}\r\n`),
      );
      await writeAll(conn, chunk);
      await writeAll(conn, new TextEncoder().encode("\r\n"));
    }
    conn.close(); // no terminating 0-length chunk
  });
  await using srv = await startOriginServer({
    origin: origin.url,
    originOnly: true,
  });
  for (let i = 1; i <= 2; i++) {
    const r = await getFile(srv.addr, "cut.bin");
    assert.equal(r.error?.code, 0);
    assert.equal(r.error?.message, "origin unavailable");
    assert.equal(origin.requests.length, i);
  }
});

Deno.test("origin status codes map to TFTP errors; details stay in the log", async (t) => {
  await using origin = new HttpOrigin((_req, url) => {
    const status = Number(url.pathname.slice(1).split(".")[0]);
    return new Response(`secret detail ${status}`, { status });
  });
  await using srv = await startOriginServer({
    origin: origin.url,
    originOnly: true,
  });
  const cases: [string, number, string][] = [
    ["404.bin", 1, "file not found"],
    ["410.bin", 1, "file not found"],
    ["401.bin", 2, "access denied"],
    ["403.bin", 2, "access denied"],
    ["500.bin", 0, "origin unavailable"],
    ["503.bin", 0, "origin unavailable"],
    ["400.bin", 0, "origin unavailable"],
    ["204.bin", 0, "origin unavailable"],
  ];
  for (const [name, code, message] of cases) {
    await t.step(`${name} -> ERROR ${code}`, async () => {
      const r = await getFile(srv.addr, name);
      assert.equal(r.error?.code, code);
      assert.equal(r.error?.message, message);
      assert.equal(r.data.length, 0);
    });
  }
  assert.ok(
    srv.lines.some((l) => /origin GET .*500\.bin: origin answered 500/.test(l)),
  );
});

Deno.test("a silent origin times out (ERROR 0), bounded by timeoutMs", async () => {
  const release = gate();
  await using origin = new RawHttpOrigin(async () => {
    await release.promise;
  });
  await using srv = await startOriginServer({
    origin: origin.url,
    originOnly: true,
    timeoutMs: 300,
  });
  const r = await getFile(srv.addr, "hang.bin", { packetTimeoutMs: 5000 });
  release.open();
  assert.equal(r.error?.code, 0);
  assert.equal(r.error?.message, "origin unavailable");
  assert.ok(
    srv.lines.some((l) => /no response within 300 ms/.test(l)),
    srv.lines.join("\n"),
  );
});

Deno.test("a body that stalls longer than idleTimeoutMs ends with ERROR 0", async () => {
  const release = gate();
  await using origin = new RawHttpOrigin(async (_req, conn) => {
    await writeHead(conn, 200, { "content-length": "5000" });
    await writeAll(conn, new Uint8Array(1000));
    await release.promise;
  });
  await using srv = await startOriginServer({
    origin: origin.url,
    originOnly: true,
    idleTimeoutMs: 300,
  });
  const r = await getFile(srv.addr, "stall.bin", { packetTimeoutMs: 5000 });
  release.open();
  assert.equal(r.error?.code, 0);
  assert.equal(r.data.length, 512);
  assert.ok(
    srv.lines.some((l) => /body stalled for 300 ms/.test(l)),
    srv.lines.join("\n"),
  );
});

Deno.test("a refused connection or an unknown host is ERROR 0 origin unavailable, the log says why", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  const cases = [
    [`http://127.0.0.1:${port}/?token=s3cret`, /Connect|refused/i],
    ["http://no-such-host.invalid/", /dns|lookup|resolve/i],
  ] as const;
  for (const [origin, why] of cases) {
    await using srv = await startOriginServer({ origin, originOnly: true });
    const r = await getFile(srv.addr, "x.bin");
    assert.equal(r.error?.code, 0);
    assert.equal(r.error?.message, "origin unavailable");
    const line = srv.lines.find((l) => /origin GET/.test(l)) ?? "";
    assert.match(line, why, srv.lines.join("\n"));
    assert.doesNotMatch(line, /error sending request/);
    assert.doesNotMatch(srv.lines.join("\n"), /s3cret/);
  }
});

Deno.test("a body over maxObjectBytes is refused with ERROR 3, declared or not", async () => {
  await using origin = new HttpOrigin((_req, url) =>
    url.pathname === "/declared"
      ? new Response(new Uint8Array(5000))
      : new Response(
        new ReadableStream({
          start(c) {
            for (let i = 0; i < 5; i++) c.enqueue(new Uint8Array(1000));
            c.close();
          },
        }),
      )
  );
  await using srv = await startOriginServer({
    origin: origin.url,
    originOnly: true,
    maxObjectBytes: 4096,
  });
  const declared = await getFile(srv.addr, "declared");
  assert.equal(declared.error?.code, 3);
  assert.equal(declared.data.length, 0);
  const streamed = await getFile(srv.addr, "streamed");
  assert.equal(streamed.error?.code, 3);
});

Deno.test("uploads to the origin are refused with ERROR 2", async () => {
  await using origin = new HttpOrigin(() => new Response("x"));
  await using srv = await startOriginServer({
    origin: origin.url,
    originOnly: true,
  });
  using client = RawClient.open();
  await client.send(
    encodeRequest(Opcode.WRQ, "up.bin", { mode: "octet" }),
    srv.addr,
  );
  const r = await client.receive(5000);
  assert.ok(r);
  assert.equal(r.packet.op, Opcode.ERROR);
  if (r.packet.op === Opcode.ERROR) assert.equal(r.packet.code, 2);
  assert.equal(origin.requests.length, 0);
});
