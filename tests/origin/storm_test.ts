/**
 * A boot storm: many clients asking for one uncached file at once make one
 * origin request, and every one of them reads the shared body as it fills.
 * Per-client responses are the exception: each client gets its own.
 */

import assert from "node:assert/strict";
import type { ClosableStorage } from "../../src/storage/origin/composite.ts";
import type { ReadHandle, RequestInfo } from "../../src/storage/types.ts";
import { encodeError, Opcode } from "../../src/protocol/packet.ts";
import {
  gate,
  getFile,
  HttpOrigin,
  randomBody,
  RawClient,
  startOriginServer,
} from "./harness.ts";

/** Calls `onCount(n)` after the n-th openRead has been made. */
function counting(
  onCount: (n: number) => void,
): (s: ClosableStorage) => ClosableStorage {
  return (inner) => {
    let n = 0;
    return {
      openRead(name: string, info: RequestInfo): Promise<ReadHandle> {
        const p = inner.openRead(name, info);
        onCount(++n);
        return p;
      },
      openWrite: (name, info) => inner.openWrite(name, info),
      close: () => inner.close(),
    };
  };
}

const CLIENTS = 200;
const ADDRESSES = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"];

Deno.test(`${CLIENTS} clients for one uncached file make exactly one origin request`, async () => {
  const data = randomBody(48 * 1024 + 7);
  const allAsked = gate();
  await using origin = new HttpOrigin(() =>
    new Response(
      new ReadableStream({
        async start(c) {
          // Headers go out at once; the body waits until every client has
          // asked, then arrives in pieces.
          await allAsked.promise;
          for (let off = 0; off < data.length; off += 8192) {
            c.enqueue(data.subarray(off, off + 8192));
          }
          c.close();
        },
      }),
      {
        headers: {
          "content-length": String(data.length),
          "cache-control": "max-age=600",
        },
      },
    )
  );
  await using srv = await startOriginServer({
    origin: origin.url,
    originOnly: true,
    wrap: counting((n) => n === CLIENTS && allAsked.open()),
  });
  const results = await Promise.all(
    Array.from({ length: CLIENTS }, (_, i) =>
      getFile(srv.addr, "ipxe.efi", {
        bind: ADDRESSES[i % ADDRESSES.length],
        options: { tsize: "0", blksize: "1428" },
        packetTimeoutMs: 5000,
      })),
  );
  for (const r of results) {
    assert.equal(r.error, undefined);
    assert.equal(r.oack?.get("tsize"), String(data.length));
    assert.deepEqual(r.data, data);
  }
  assert.equal(origin.requests.length, 1);
  // Nobody was served from the cache: all of them shared the one fetch.
  assert.equal(srv.lines.filter((l) => /origin cache hit/.test(l)).length, 0);
});

Deno.test("a storm for a per-client file: one origin request per client, none crossed", async () => {
  const clients = Array.from({ length: 20 }, (_, i) => `127.0.0.${i + 1}`);
  const allAsked = gate();
  await using origin = new HttpOrigin(async (req) => {
    await allAsked.promise;
    return new Response(`host ${req.headers.get("x-tftp-client")}\n`, {
      headers: { vary: "X-TFTP-Client", "cache-control": "max-age=600" },
    });
  });
  await using srv = await startOriginServer({
    origin: origin.url,
    originOnly: true,
    wrap: counting((n) => n === clients.length && allAsked.open()),
  });
  const results = await Promise.all(
    clients.map((bind) =>
      getFile(srv.addr, "host.cfg", { bind, packetTimeoutMs: 5000 })
    ),
  );
  results.forEach((r, i) => {
    assert.equal(r.error, undefined);
    assert.equal(new TextDecoder().decode(r.data), `host ${clients[i]}\n`);
  });
  const asked = origin.requests.map((r) => r.headers.get("x-tftp-client"))
    .sort();
  assert.deepEqual(asked, [...clients].sort());
});

Deno.test("a storm on a stale entry makes one conditional request, and the 304 serves everyone", async () => {
  const clients = 50;
  const allAsked = gate();
  await using origin = new HttpOrigin(async (req) => {
    const headers = { etag: '"s1"', "cache-control": "no-cache" };
    if (req.headers.get("if-none-match") === '"s1"') {
      await allAsked.promise;
      return new Response(null, { status: 304, headers });
    }
    return new Response("stale but valid", { headers });
  });
  let counted = 0;
  await using srv = await startOriginServer({
    origin: origin.url,
    originOnly: true,
    wrap: counting((n) => {
      counted = n;
      if (n === 1 + clients) allAsked.open();
    }),
  });
  assert.equal(
    new TextDecoder().decode((await getFile(srv.addr, "s")).data),
    "stale but valid",
  );
  assert.equal(counted, 1);
  const results = await Promise.all(
    Array.from(
      { length: clients },
      (_, i) =>
        getFile(srv.addr, "s", {
          bind: ADDRESSES[i % ADDRESSES.length],
          packetTimeoutMs: 5000,
        }),
    ),
  );
  for (const r of results) {
    assert.equal(new TextDecoder().decode(r.data), "stale but valid");
  }
  assert.deepEqual(
    origin.requests.map((r) => r.headers.get("if-none-match")),
    [null, '"s1"'],
  );
});

Deno.test("origin requests at once are bounded by maxConcurrent; the rest wait their turn", async () => {
  const bodies = { a: gate(), b: gate() };
  await using origin = new HttpOrigin((_req, url) => {
    const held = bodies[url.pathname.slice(1) as "a" | "b"];
    return new Response(
      new ReadableStream({
        async start(c) {
          // Headers at once; a and b then hold their slot until released.
          await held?.promise;
          c.enqueue(new TextEncoder().encode(url.pathname));
          c.close();
        },
      }),
    );
  });
  await using srv = await startOriginServer({
    origin: origin.url,
    originOnly: true,
    maxConcurrent: 2,
    timeoutMs: 1000,
  });
  const a = getFile(srv.addr, "a", { packetTimeoutMs: 5000 });
  const b = getFile(srv.addr, "b", { packetTimeoutMs: 5000 });
  await srv.waitForLines(/origin GET \S+\/[ab] -> 200/, 2);
  // Both slots are taken: c waits in the queue until its time is up, and
  // never reaches the origin (which would have answered it at once).
  const c = await getFile(srv.addr, "c", { packetTimeoutMs: 5000 });
  assert.equal(c.error?.code, 0);
  assert.equal(c.error?.message, "origin unavailable");
  assert.deepEqual(origin.requests.map((r) => r.path).sort(), ["/a", "/b"]);
  assert.ok(srv.lines.some((l) => /c: queued behind 2 requests/.test(l)));
  assert.ok(srv.lines.some((l) => /\/c: no response within 1000 ms/.test(l)));
  // d is queued too, and goes out as soon as a's body has ended.
  const d = getFile(srv.addr, "d", { packetTimeoutMs: 5000 });
  await srv.waitForLines(/d: queued behind 2 requests/);
  bodies.a.open();
  assert.equal(new TextDecoder().decode((await d).data), "/d");
  bodies.b.open();
  assert.equal(new TextDecoder().decode((await a).data), "/a");
  assert.equal(new TextDecoder().decode((await b).data), "/b");
});

for (const order of ["left, then asked", "asked, then left"]) {
  Deno.test(`a body every reader left gives its slot to a waiting request (${order})`, async () => {
    const never = gate();
    await using origin = new HttpOrigin((_req, url) => {
      if (url.pathname !== "/slow") return new Response(url.pathname);
      // A cacheable body that would take its time: its first bytes at
      // once, the rest never (within the idle timeout).
      return new Response(
        new ReadableStream({
          async start(c) {
            c.enqueue(new Uint8Array(4096));
            await never.promise;
            c.close();
          },
        }),
        {
          headers: {
            "content-length": String(1 << 20),
            "cache-control": "max-age=600",
          },
        },
      );
    });
    await using srv = await startOriginServer({
      origin: origin.url,
      originOnly: true,
      maxConcurrent: 1,
      timeoutMs: 2000,
      idleTimeoutMs: 60_000,
    });
    try {
      using a = RawClient.open();
      await a.request(srv.addr, { op: "RRQ", name: "slow" });
      const first = await a.expect();
      assert.equal(first.packet.op, Opcode.DATA);
      const leave = async () => {
        await a.send(encodeError(0, "cancelled"), first.from);
        await srv.waitForLines(
          /RRQ "slow" octet: aborted \(client sent ERROR 0/,
        );
      };
      let other;
      if (order === "left, then asked") {
        await leave();
        other = await getFile(srv.addr, "other", { packetTimeoutMs: 5000 });
      } else {
        const pending = getFile(srv.addr, "other", { packetTimeoutMs: 5000 });
        await srv.waitForLines(/other: queued behind 1 requests/);
        await leave();
        other = await pending;
      }
      assert.equal(other.error, undefined);
      assert.equal(new TextDecoder().decode(other.data), "/other");
      assert.ok(
        srv.lines.some((l) =>
          /\/slow: cache fill given up at 4096 bytes, every reader left/.test(l)
        ),
      );
      // Given up, not stored: the next read of it asks the origin again.
      assert.ok(!srv.lines.some((l) => /cache stored "slow"/.test(l)));
      assert.ok(
        !srv.lines.some((l) => /WARNING\] origin/.test(l)),
        srv.lines.join("\n"),
      );
      assert.deepEqual(origin.requests.map((r) => r.path), ["/slow", "/other"]);
    } finally {
      never.open();
    }
  });
}
