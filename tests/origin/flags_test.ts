/**
 * Each `--origin-*` bound observed through `main.ts`, on the wire, in the
 * origin's request log or on disk (the others are in `main_test.ts`): the
 * idle bound, redirects, the size bound, the memory cache, requests at
 * once, the directory cache and its bound. One worker thread, so the
 * per-thread share of a bound is the bound itself.
 */

import assert from "node:assert/strict";
import { ErrorCode } from "../../src/protocol/packet.ts";
import { type ServerProcess, startServer } from "../../testing/process.ts";
import { gate, getFile, HttpOrigin, randomBody, tempDir } from "./harness.ts";

const at = (srv: ServerProcess) => ({ hostname: srv.host, port: srv.port });

async function withRoot<T>(fn: (root: string) => Promise<T>): Promise<T> {
  const root = await tempDir("tftpd-origin-flags-");
  try {
    return await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("--origin-idle-timeout, --origin-redirects, --origin-max-size, --origin-cache-memory: each bound as set", async () => {
  const stalled = gate();
  const body = randomBody(2000);
  await using origin = new HttpOrigin((_req, url) => {
    switch (url.pathname) {
      case "/stall.bin":
        // The first block, then silence (900 bytes: within the size bound).
        return new Response(
          new ReadableStream({
            async start(c) {
              c.enqueue(body.subarray(0, 700));
              await stalled.promise;
              c.close();
            },
          }),
          { headers: { "content-length": "900" } },
        );
      case "/moved.bin":
        return new Response(null, {
          status: 302,
          headers: { location: "/target.bin" },
        });
      case "/big.bin":
        return new Response(body);
      default:
        return new Response(body.subarray(0, 100), {
          headers: { "cache-control": "max-age=600" },
        });
    }
  });
  await withRoot(async (root) => {
    await using srv = await startServer(root, {
      args: [
        "--workers",
        "1",
        "--origin",
        origin.url,
        "--origin-idle-timeout",
        "1",
        "--origin-redirects",
        "0",
        "--origin-max-size",
        "1000",
        "--origin-cache-memory",
        "0",
      ],
    });
    // 1 s of silence within the body ends the transfer (the client would
    // give up after 4 x 2 s of its own, long before the default 10 s).
    const idle = await getFile(at(srv), "stall.bin");
    assert.equal(idle.error?.code, ErrorCode.NOT_DEFINED, srv.stderr.text);
    assert.equal(idle.error?.message, "origin unavailable");
    stalled.open();
    // No redirect followed, even to the same origin.
    const moved = await getFile(at(srv), "moved.bin");
    assert.equal(moved.error?.code, ErrorCode.NOT_DEFINED);
    assert.equal(origin.to("/target.bin").length, 0);
    // 2000 bytes are more than 1000.
    const big = await getFile(at(srv), "big.bin");
    assert.equal(big.error?.code, ErrorCode.DISK_FULL);
    // A fresh, storable response asked for twice: no memory cache, so two
    // origin requests.
    for (let i = 0; i < 2; i++) {
      const r = await getFile(at(srv), "fresh.bin");
      assert.deepEqual(r.data, body.subarray(0, 100));
    }
    assert.equal(origin.to("/fresh.bin").length, 2);
    assert.equal((await srv.stop()).code, 0);
  });
});

Deno.test("--origin-max-requests 1: a second name waits until the first body is complete", async () => {
  const first = gate();
  await using origin = new HttpOrigin((_req, url) =>
    url.pathname === "/a.bin"
      ? new Response(
        new ReadableStream({
          async start(c) {
            c.enqueue(new Uint8Array(600));
            await first.promise;
            c.enqueue(new Uint8Array(100));
            c.close();
          },
        }),
      )
      : new Response("b")
  );
  await withRoot(async (root) => {
    await using srv = await startServer(root, {
      args: [
        "-v",
        "--workers",
        "1",
        "--origin",
        origin.url,
        "--origin-max-requests",
        "1",
        "--origin-timeout",
        "60",
      ],
    });
    const a = getFile(at(srv), "a.bin", { packetTimeoutMs: 5000 });
    await srv.waitForLine(/origin GET \S+\/a\.bin -> 200/);
    const b = getFile(at(srv), "b.bin", { packetTimeoutMs: 5000 });
    await srv.waitForLine(/origin GET \S+\/b\.bin: queued behind 1 requests/);
    assert.equal(origin.to("/b.bin").length, 0, "b asked while a ran");
    first.open();
    assert.equal((await a).data.length, 700);
    assert.equal(new TextDecoder().decode((await b).data), "b");
    assert.equal(origin.to("/b.bin").length, 1);
    assert.equal((await srv.stop()).code, 0);
  });
});

/**
 * Reads `name` through a server with `--timeout 1` and `flag 4`: what the
 * client got, the exit code and the server's log.
 */
function readPastTimeout(origin: HttpOrigin, flag: string, name: string) {
  return withRoot(async (root) => {
    await using srv = await startServer(root, {
      args: [
        "-v",
        "--workers",
        "1",
        "--timeout",
        "1",
        "--origin",
        origin.url,
        flag,
        "4",
      ],
    });
    const got = await getFile(at(srv), name, { packetTimeoutMs: 8000 });
    const code = (await srv.stop()).code;
    return { got, code, log: srv.stderr.text };
  });
}

Deno.test("--origin-timeout above --timeout: a read waits for an origin slower than --timeout, up to --origin-timeout", async () => {
  // The scenario itself is a slow origin: its headers come 1.6 s after
  // the request, past --timeout 1 and within --origin-timeout 4.
  await using origin = new HttpOrigin(async (_req, url) => {
    await new Promise((r) => setTimeout(r, 1600));
    return new Response(url.pathname);
  });
  const { got, code, log } = await readPastTimeout(
    origin,
    "--origin-timeout",
    "slow.bin",
  );
  assert.equal(got.error, undefined, log);
  assert.equal(new TextDecoder().decode(got.data), "/slow.bin");
  assert.equal(origin.to("/slow.bin").length, 1);
  assert.equal(code, 0);
  assert.doesNotMatch(log, /did not answer|origin unavailable/);
});

Deno.test("--origin-idle-timeout above --timeout: a body that pauses longer than --timeout is still served whole", async () => {
  // The first block at once, then a pause past --timeout 1 and within
  // --origin-idle-timeout 4: the client has acknowledged all it got, so
  // the server waits for the origin instead of counting retransmits.
  const body = randomBody(1200);
  await using origin = new HttpOrigin(() =>
    new Response(
      new ReadableStream({
        async start(c) {
          c.enqueue(body.slice(0, 600));
          await new Promise((r) => setTimeout(r, 1600));
          c.enqueue(body.slice(600));
          c.close();
        },
      }),
      { headers: { "content-length": "1200" } },
    )
  );
  const { got, code, log } = await readPastTimeout(
    origin,
    "--origin-idle-timeout",
    "paused.bin",
  );
  assert.equal(got.error, undefined, log);
  assert.deepEqual(got.data, body);
  assert.equal(code, 0);
  assert.doesNotMatch(log, /timeout|did not answer/);
});

Deno.test("--origin-cache-dir and --origin-cache-dir-size: entries outlive the process, the directory stays within its bound", async () => {
  const body = randomBody(1500);
  await using origin = new HttpOrigin(() =>
    new Response(body, { headers: { "cache-control": "max-age=600" } })
  );
  await withRoot(async (root) => {
    const cache = await tempDir("tftpd-origin-flags-cache-");
    try {
      const args = [
        "-v",
        "--workers",
        "1",
        "--origin",
        origin.url,
        "--origin-cache-memory",
        "0",
        "--origin-cache-dir",
        cache,
        "--origin-cache-dir-size",
        "4000",
      ];
      const permissions = [
        "--allow-net",
        `--allow-read=${root},${cache}`,
        `--allow-write=${cache}`,
      ];
      {
        await using srv = await startServer(root, { args, permissions });
        for (const name of ["one.bin", "two.bin", "three.bin"]) {
          const r = await getFile(at(srv), name);
          assert.deepEqual(r.data, body, srv.stderr.text);
          // Stored before the next one is asked for (LRU order).
          await srv.waitForLine(
            new RegExp(`origin cache stored "${name.replace(".", "\\.")}"`),
          );
        }
        assert.equal((await srv.stop()).code, 0);
      }
      // Three entries of 1500 bytes and their headers exceed 4000: the
      // least recently used went.
      let bytes = 0;
      let files = 0;
      for await (const e of Deno.readDir(cache)) {
        bytes += (await Deno.stat(`${cache}/${e.name}`)).size;
        files++;
      }
      assert.ok(bytes <= 4000, `${bytes} bytes in the cache directory`);
      assert.equal(files, 2);
      // A new process serves the kept ones from the directory.
      await using again = await startServer(root, { args, permissions });
      for (const name of ["two.bin", "three.bin"]) {
        assert.deepEqual((await getFile(at(again), name)).data, body);
      }
      assert.equal(origin.requests.length, 3);
      assert.deepEqual((await getFile(at(again), "one.bin")).data, body);
      assert.equal(origin.to("/one.bin").length, 2);
      assert.equal((await again.stop()).code, 0);
    } finally {
      await Deno.remove(cache, { recursive: true });
    }
  });
});
