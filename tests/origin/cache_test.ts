/**
 * The origin cache through the real server, asserted on the origin's own
 * request log: hits, revalidation with conditional requests and 304 reuse,
 * no-store, per-client responses never crossing clients, the LRU bound, and
 * the directory cache across restarts.
 */

import assert from "node:assert/strict";
import {
  getFile,
  HttpOrigin,
  randomBody,
  RawHttpOrigin,
  startOriginServer,
  tempDir,
  writeAll,
  writeHead,
} from "./harness.ts";
import { listTree } from "../../testing/server.ts";

const text = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("a fresh response (max-age) is served from the cache: one origin request", async () => {
  const data = randomBody(2000);
  await using origin = new HttpOrigin(() =>
    new Response(data, { headers: { "cache-control": "max-age=600" } })
  );
  await using srv = await startOriginServer({
    origin: origin.url,
    originOnly: true,
  });
  for (let i = 0; i < 3; i++) {
    const r = await getFile(srv.addr, "kernel", { options: { tsize: "0" } });
    assert.equal(r.error, undefined);
    assert.deepEqual(r.data, data);
    assert.equal(r.oack?.get("tsize"), "2000");
  }
  assert.equal(origin.to("/kernel").length, 1);
});

Deno.test("only a body whose end the origin marks is cached; a close-delimited one is served but fetched again", async (t) => {
  const data = randomBody(3000);
  const enc = new TextEncoder();
  const framings: Record<string, (conn: Deno.Conn) => Promise<void>> = {
    "length.bin": async (conn) => {
      await writeHead(conn, 200, {
        "content-length": String(data.length),
        "cache-control": "max-age=600",
      });
      await writeAll(conn, data);
    },
    "chunked.bin": async (conn) => {
      await writeHead(conn, 200, {
        "transfer-encoding": "chunked",
        "cache-control": "max-age=600",
      });
      for (const part of [data.subarray(0, 1000), data.subarray(1000)]) {
        await writeAll(conn, enc.encode(`${part.length.toString(16)}\r\n`));
        await writeAll(conn, part);
        await writeAll(conn, enc.encode("\r\n"));
      }
      await writeAll(conn, enc.encode("0\r\n\r\n"));
    },
    "unframed.bin": async (conn) => {
      await writeHead(conn, 200, { "cache-control": "max-age=600" });
      await writeAll(conn, data);
    },
  };
  await using origin = new RawHttpOrigin(async (req, conn) => {
    await framings[req.target.slice(1)](conn);
    conn.close();
  });
  await using srv = await startOriginServer({
    origin: origin.url,
    originOnly: true,
  });
  const expected: Record<string, number> = {
    "length.bin": 1,
    "chunked.bin": 1,
    "unframed.bin": 2,
  };
  for (const [name, requests] of Object.entries(expected)) {
    await t.step(
      `${name}: ${requests} origin request(s) for 2 reads`,
      async () => {
        for (let i = 0; i < 2; i++) {
          const r = await getFile(srv.addr, name);
          assert.equal(r.error, undefined);
          assert.deepEqual(r.data, data);
        }
        const seen = origin.requests.filter((q) => q.target === `/${name}`);
        assert.equal(seen.length, requests);
      },
    );
  }
  assert.ok(
    srv.lines.some((l) => /origin cache skipped "unframed\.bin"/.test(l)),
    srv.lines.join("\n"),
  );
});

Deno.test("a stale entry is revalidated (If-None-Match, If-Modified-Since) and a 304 reuses it", async () => {
  let version = 1;
  let maxAge = 0;
  const lastModified = "Tue, 01 Dec 2026 10:00:00 GMT";
  await using origin = new HttpOrigin((req) => {
    const etag = `"v${version}"`;
    const headers = {
      etag,
      "last-modified": lastModified,
      "cache-control": `max-age=${maxAge}`,
    };
    if (req.headers.get("if-none-match") === etag) {
      return new Response(null, { status: 304, headers });
    }
    return new Response(`version ${version}`, { headers });
  });
  await using srv = await startOriginServer({
    origin: origin.url,
    originOnly: true,
  });
  const get = async () => text((await getFile(srv.addr, "menu.ipxe")).data);
  const sent = () => origin.requests.map((r) => r.headers.get("if-none-match"));

  assert.equal(await get(), "version 1");
  assert.equal(await get(), "version 1");
  assert.deepEqual(sent(), [null, '"v1"']);
  assert.equal(
    origin.requests[1].headers.get("if-modified-since"),
    lastModified,
  );

  // The origin changed: the conditional request gets a 200, which replaces
  // the entry (the next revalidation names the new ETag).
  version = 2;
  assert.equal(await get(), "version 2");
  assert.equal(await get(), "version 2");
  assert.deepEqual(sent(), [null, '"v1"', '"v1"', '"v2"']);

  // A 304 that makes the entry fresh: after it, nobody is asked.
  maxAge = 600;
  assert.equal(await get(), "version 2");
  assert.equal(await get(), "version 2");
  assert.equal(await get(), "version 2");
  assert.deepEqual(sent(), [null, '"v1"', '"v1"', '"v2"', '"v2"']);
});

Deno.test("a no-cache entry is revalidated before every use", async () => {
  await using origin = new HttpOrigin((req) => {
    const headers = { etag: '"x"', "cache-control": "no-cache, max-age=600" };
    if (req.headers.get("if-none-match") === '"x"') {
      return new Response(null, { status: 304, headers });
    }
    return new Response("body", { headers });
  });
  await using srv = await startOriginServer({
    origin: origin.url,
    originOnly: true,
  });
  for (let i = 0; i < 3; i++) {
    assert.equal(text((await getFile(srv.addr, "nc")).data), "body");
  }
  const statuses = origin.requests.map((r) => r.headers.get("if-none-match"));
  assert.deepEqual(statuses, [null, '"x"', '"x"']);
});

Deno.test("no-store is never cached", async () => {
  let n = 0;
  await using origin = new HttpOrigin(() =>
    new Response(`n=${++n}`, {
      headers: { "cache-control": "no-store, max-age=600", etag: '"e"' },
    })
  );
  await using srv = await startOriginServer({
    origin: origin.url,
    originOnly: true,
  });
  assert.equal(text((await getFile(srv.addr, "ns")).data), "n=1");
  assert.equal(text((await getFile(srv.addr, "ns")).data), "n=2");
  assert.equal(origin.requests[1].headers.get("if-none-match"), null);
});

for (
  const [what, headers] of [
    ["Vary: X-TFTP-Client", {
      vary: "X-TFTP-Client",
      "cache-control": "max-age=600",
    }],
    ["Cache-Control: private", { "cache-control": "private, max-age=600" }],
    ["Vary: *", { vary: "*", "cache-control": "max-age=600" }],
  ] as const
) {
  Deno.test(`a response with ${what} is never served to another client`, async () => {
    await using origin = new HttpOrigin((req) =>
      new Response(`for ${req.headers.get("x-tftp-client")}`, { headers })
    );
    await using srv = await startOriginServer({
      origin: origin.url,
      originOnly: true,
    });
    const a = await getFile(srv.addr, "per-host.cfg", { bind: "127.0.0.1" });
    const b = await getFile(srv.addr, "per-host.cfg", { bind: "127.0.0.2" });
    const a2 = await getFile(srv.addr, "per-host.cfg", { bind: "127.0.0.1" });
    assert.equal(text(a.data), "for 127.0.0.1");
    assert.equal(text(b.data), "for 127.0.0.2");
    assert.equal(text(a2.data), "for 127.0.0.1");
    assert.deepEqual(
      origin.requests.map((r) => r.headers.get("x-tftp-client")),
      ["127.0.0.1", "127.0.0.2", "127.0.0.1"],
    );
  });
}

Deno.test("Vary on a header sent alike for every client still caches", async () => {
  await using origin = new HttpOrigin(() =>
    new Response("same", {
      headers: { vary: "Accept-Encoding", "cache-control": "max-age=600" },
    })
  );
  await using srv = await startOriginServer({
    origin: origin.url,
    originOnly: true,
  });
  assert.equal(
    text((await getFile(srv.addr, "v", { bind: "127.0.0.1" })).data),
    "same",
  );
  assert.equal(
    text((await getFile(srv.addr, "v", { bind: "127.0.0.2" })).data),
    "same",
  );
  assert.equal(origin.requests.length, 1);
});

Deno.test("the memory cache is bounded and evicts the least recently used", async () => {
  await using origin = new HttpOrigin(() =>
    new Response(new Uint8Array(4000), {
      headers: { "cache-control": "max-age=600" },
    })
  );
  await using srv = await startOriginServer({
    origin: origin.url,
    originOnly: true,
    cacheMemoryBytes: 10_000,
  });
  for (const name of ["a", "b", "a", "c", "b", "a"]) {
    assert.equal((await getFile(srv.addr, name)).data.length, 4000);
  }
  // Room for two: a, b fetched; a hit (b is now least recent); c evicts b;
  // b is fetched again and evicts a, so a is fetched again.
  assert.deepEqual(origin.requests.map((r) => r.path), [
    "/a",
    "/b",
    "/c",
    "/b",
    "/a",
  ]);
});

Deno.test("the directory cache survives a restart: fresh entries are served, stale ones revalidated", async () => {
  const dir = await tempDir("tftpd-origin-cache-");
  try {
    const data = randomBody(10_000);
    await using origin = new HttpOrigin((req, url) => {
      const headers = {
        etag: '"d1"',
        "cache-control": url.pathname === "/fresh"
          ? "max-age=600"
          : "max-age=0",
      };
      if (req.headers.get("if-none-match") === '"d1"') {
        return new Response(null, { status: 304, headers });
      }
      return new Response(data, { headers });
    });
    const opts = {
      origin: origin.url,
      originOnly: true,
      cacheDir: dir,
      cacheMemoryBytes: 0,
    };
    {
      await using srv = await startOriginServer(opts);
      for (const name of ["fresh", "stale", "fresh", "stale"]) {
        assert.deepEqual((await getFile(srv.addr, name)).data, data);
      }
    }
    const files = await listTree(dir);
    assert.equal(files.length, 2);
    assert.ok(files.every((f) => /^[0-9a-f]{64}$/.test(f)), files.join());
    assert.deepEqual(
      origin.requests.map((r) => [r.path, r.headers.get("if-none-match")]),
      [["/fresh", null], ["/stale", null], ["/stale", '"d1"']],
    );
    {
      // A new process (here: a new storage on the same directory) finds
      // both entries on disk: the fresh one is served as it is, the stale
      // one revalidated with the validator stored beside it.
      await using srv = await startOriginServer(opts);
      for (const name of ["fresh", "stale"]) {
        const r = await getFile(srv.addr, name, { options: { tsize: "0" } });
        assert.deepEqual(r.data, data);
        assert.equal(r.oack?.get("tsize"), "10000");
      }
    }
    assert.deepEqual(
      origin.requests.slice(3).map((
        r,
      ) => [r.path, r.headers.get("if-none-match")]),
      [["/stale", '"d1"']],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the directory cache is bounded: least recently used entries are removed", async () => {
  const dir = await tempDir("tftpd-origin-cache-");
  try {
    await using origin = new HttpOrigin(() =>
      new Response(new Uint8Array(30_000), {
        headers: { "cache-control": "max-age=600" },
      })
    );
    await using srv = await startOriginServer({
      origin: origin.url,
      originOnly: true,
      cacheDir: dir,
      cacheDirBytes: 100_000,
      cacheMemoryBytes: 0,
    });
    let stored = 0;
    for (const name of ["a", "b", "c", "a", "d", "a", "b"]) {
      const fetched = origin.requests.length;
      assert.equal((await getFile(srv.addr, name)).data.length, 30_000);
      // A fetched entry is on disk (and the directory trimmed) once logged.
      if (origin.requests.length > fetched) {
        await srv.waitForLines(/origin cache stored/, ++stored);
      }
      let total = 0;
      for await (const e of Deno.readDir(dir)) {
        total += (await Deno.stat(`${dir}/${e.name}`)).size;
      }
      assert.ok(total <= 100_000, `cache holds ${total} bytes`);
    }
    // a, b, c stored; a hit; d evicts b (least recent); a hit; b refetched.
    assert.deepEqual(origin.requests.map((r) => r.path), [
      "/a",
      "/b",
      "/c",
      "/d",
      "/b",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
