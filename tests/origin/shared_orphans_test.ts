/**
 * Bodies every reader left give their origin slots up when threads share
 * the slots: one per request that starts waiting, also when several start
 * waiting at once (a burst), so none of them waits out the origin timeout
 * behind a body nobody reads.
 */

import assert from "node:assert/strict";
import { OriginFetcher } from "../../src/storage/origin/fetcher.ts";
import { sharedSlots } from "../../src/storage/origin/shared_limit.ts";

/** An origin whose `trickle*` bodies send 10 bytes a tick, never all. */
function trickleOrigin(): { url: URL; close: () => Promise<void> } {
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    () => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull: (c) =>
          new Promise((done) => {
            timer = setTimeout(() => {
              if (sent++ < 50) c.enqueue(new Uint8Array(10));
              done();
            }, 100);
          }),
        cancel: () => clearTimeout(timer),
      });
      return new Response(body, { headers: { "content-length": "100000" } });
    },
  );
  return {
    url: new URL(`http://127.0.0.1:${server.addr.port}/`),
    close: async () => {
      ac.abort();
      await server.finished;
    },
  };
}

Deno.test("shared origin slots: two requests that start waiting at once each get a slot an unread body held", async () => {
  const origin = trickleOrigin();
  const fetcher = new OriginFetcher(origin.url, {
    timeoutMs: 5000,
    idleTimeoutMs: 20_000,
    maxConcurrent: 2,
    slots: sharedSlots(2, 1),
    maxRedirects: 0,
    maxObjectBytes: 1 << 20,
    normalizeNames: true,
  });
  try {
    for (const name of ["trickle-a", "trickle-b"]) {
      const r = await fetcher.get(name, "192.0.2.1");
      assert.equal(r.status, 200);
      if (r.status === 200) r.body.open().close(); // its one reader leaves
    }
    assert.equal(fetcher.active, 2);
    const burst = await Promise.allSettled(
      ["trickle-c", "trickle-d"].map((name) => fetcher.get(name, "192.0.2.1")),
    );
    assert.deepEqual(
      burst.map((r) => r.status === "fulfilled" ? r.value.status : r.reason),
      [200, 200],
    );
  } finally {
    fetcher.close();
    await origin.close();
  }
});
