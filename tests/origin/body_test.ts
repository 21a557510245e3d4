/** The shared body, the request limiter and the memory LRU, without sockets. */

import assert from "node:assert/strict";
import { TftpError } from "../../src/protocol/packet.ts";
import { SharedBody, unavailable } from "../../src/storage/origin/body.ts";
import { Limiter } from "../../src/storage/origin/limiter.ts";
import { MemoryCache } from "../../src/storage/origin/memory_cache.ts";

const bytes = (...v: number[]) => new Uint8Array(v);

Deno.test("SharedBody: a read waits until its bytes are there, never returning short early", async () => {
  const body = new SharedBody({ limit: 1024 });
  const h = body.open();
  const buf = new Uint8Array(4);
  const read = h.read(0, buf);
  assert.ok(read instanceof Promise);
  let settled = false;
  read.then(() => settled = true);
  body.append(bytes(1, 2));
  await Promise.resolve();
  assert.equal(settled, false);
  body.append(bytes(3, 4, 5));
  assert.equal(await read, 4);
  assert.deepEqual(buf, bytes(1, 2, 3, 4));
  // Available bytes are read synchronously.
  assert.equal(h.read(1, new Uint8Array(2)), 2);
  // At the end, a short read.
  const tail = h.read(3, new Uint8Array(4));
  body.finish();
  assert.equal(await tail, 2);
  assert.equal(h.read(5, new Uint8Array(4)), 0);
  h.close();
});

Deno.test("SharedBody: a body shorter or longer than its Content-Length fails every reader", async () => {
  const short = new SharedBody({ size: 4, limit: 1024 });
  const a = short.open();
  const pending = a.read(0, new Uint8Array(4));
  short.append(bytes(1, 2));
  short.finish();
  await assert.rejects(
    Promise.resolve(pending),
    (e) =>
      e instanceof TftpError && e.code === 0 &&
      /ended at 2 of 4/.test(e.detail ?? ""),
  );
  assert.throws(() => a.read(0, new Uint8Array(1)), TftpError);

  const long = new SharedBody({ size: 2, limit: 1024 });
  assert.equal(long.append(bytes(1, 2, 3)), false);
  assert.match(long.error?.detail ?? "", /longer than its Content-Length/);
});

Deno.test("SharedBody: more than the limit fails with ERROR 3", () => {
  const body = new SharedBody({ limit: 4 });
  assert.equal(body.append(bytes(1, 2, 3)), true);
  assert.equal(body.append(bytes(4, 5)), false);
  assert.equal(body.error?.code, 3);
  assert.equal(body.done, false);
});

Deno.test("SharedBody: the last reader leaving early calls onAbandon; a pending read ends", async () => {
  let abandoned = 0;
  const body = new SharedBody({ limit: 1024, onAbandon: () => abandoned++ });
  const a = body.open();
  const b = body.open();
  const pending = a.read(0, new Uint8Array(8));
  a.close();
  await assert.rejects(Promise.resolve(pending), TftpError);
  assert.equal(abandoned, 0);
  b.close();
  assert.equal(abandoned, 1);
  const done = new SharedBody({ limit: 1024, onAbandon: () => abandoned++ });
  const c = done.open();
  done.finish();
  c.close();
  assert.equal(abandoned, 1);
});

Deno.test("SharedBody: fail() reaches pending reads with the error", async () => {
  const body = new SharedBody({ limit: 1024 });
  const h = body.open();
  const pending = h.read(0, new Uint8Array(8));
  body.fail(unavailable("reset by peer\nforged line"));
  await assert.rejects(
    Promise.resolve(pending),
    (e) =>
      e instanceof TftpError && e.message === "origin unavailable" &&
      e.detail === "reset by peer\\nforged line",
  );
  await body.settled;
});

Deno.test("Limiter: at most max at once, FIFO, and an aborted wait leaves the queue", async () => {
  const limit = new Limiter(2);
  const r1 = await limit.acquire();
  const r2 = await limit.acquire();
  const order: number[] = [];
  const ac = new AbortController();
  const w3 = limit.acquire().then((r) => (order.push(3), r));
  const w4 = limit.acquire(ac.signal);
  const w5 = limit.acquire().then((r) => (order.push(5), r));
  assert.equal(limit.waiting, 3);
  ac.abort(new Error("gave up"));
  await assert.rejects(w4, /gave up/);
  assert.equal(limit.waiting, 2);
  r1();
  r1(); // a second call does nothing
  const r3 = await w3;
  assert.equal(limit.active, 2);
  r2();
  const r5 = await w5;
  assert.deepEqual(order, [3, 5]);
  r3();
  r5();
  assert.equal(limit.active, 0);
  assert.throws(() => new Limiter(0));
});

Deno.test("MemoryCache: bounded in bytes, LRU, oversized entries refused", () => {
  const policy = { shared: true, freshUntil: 0, noCache: false };
  const cache = new MemoryCache(10);
  const put = (k: string, n: number) =>
    cache.set(k, { policy, bytes: new Uint8Array(n) });
  assert.equal(put("a", 4), true);
  assert.equal(put("b", 4), true);
  cache.get("a");
  assert.equal(put("c", 4), true);
  assert.equal(cache.get("b"), undefined);
  assert.ok(cache.get("a") && cache.get("c"));
  assert.equal(cache.bytes, 8);
  assert.equal(put("a", 11), false);
  assert.equal(cache.get("a"), undefined);
  assert.equal(cache.bytes, 4);
  put("c", 2);
  assert.equal(cache.bytes, 2);
  assert.equal(cache.size, 1);
});

Deno.test("MemoryCache: holds only the bytes it counts, not the buffer a body grew in", async () => {
  const policy = { shared: true, freshUntil: 0, noCache: false };
  const cache = new MemoryCache(1 << 20);
  // A body of unknown size (no Content-Length) grows in a larger buffer.
  const body = new SharedBody({ limit: 1 << 20 });
  body.append(bytes(1, 2, 3, 4, 5, 6, 7, 8, 9, 10));
  body.finish();
  await body.settled;
  const view = body.bytes();
  assert.ok(view.buffer.byteLength > 10);
  for (let i = 0; i < 100; i++) cache.set(`n${i}`, { policy, bytes: view });
  assert.equal(cache.bytes, 1000);
  let held = 0;
  for (let i = 0; i < 100; i++) {
    const e = cache.get(`n${i}`)!;
    assert.deepEqual(e.bytes, bytes(1, 2, 3, 4, 5, 6, 7, 8, 9, 10));
    held += e.bytes.buffer.byteLength;
  }
  assert.equal(held, 1000);
});
