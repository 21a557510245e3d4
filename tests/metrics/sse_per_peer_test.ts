/**
 * The live page's event streams per client: one address holds at most
 * `streamsPerPeer` of them (IPv4-mapped IPv6 is its IPv4 address), a
 * request over its share gets the same 503 as one over the limit, another
 * address still gets a stream, and every way a stream ends (renew, client
 * gone, slow reader dropped, shutdown) gives its share back exactly once.
 */

import assert from "node:assert/strict";
import { TransferMonitor } from "../../src/metrics/monitor.ts";
import { startStatusServer } from "../../src/metrics/status_server.ts";
import { EventHub } from "../../src/metrics/sse.ts";
import { EventReader, openStream } from "./common.ts";

const OVER_SHARE =
  "too many live pages open from your address (at most 4); poll /api/status\n";

/** Requests made from a given loopback address. */
function from(localAddress: string): Deno.HttpClient {
  return Deno.createHttpClient({ localAddress });
}

/** Opens `/api/events` and waits for its first event. */
async function openEvents(
  url: string,
  client: Deno.HttpClient,
): Promise<EventReader> {
  const res = await fetch(url, { client });
  if (res.status !== 200) {
    assert.fail(`${res.status} ${await res.text()}`);
  }
  const events = new EventReader(res.body!);
  assert.equal((await events.next()).event, "status");
  return events;
}

/** The status and body of a request that must not open a stream. */
async function refused(
  url: string,
  client: Deno.HttpClient,
): Promise<[number, string]> {
  const res = await fetch(url, { client });
  // A stream granted by mistake would never end: do not read it.
  if (res.status === 200) {
    await res.body?.cancel();
    return [200, "(a stream)"];
  }
  return [res.status, await res.text()];
}

Deno.test("/api/events: one address gets 4 streams, the 5th a 503 saying why, and another address still gets one", async () => {
  await using server = startStatusServer(
    { hostname: "127.0.0.1", port: 17431 },
    new TransferMonitor(),
  );
  const url = "http://127.0.0.1:17431/api/events";
  using one = from("127.0.0.1");
  using other = from("127.0.0.2");
  const held: EventReader[] = [];
  try {
    for (let i = 0; i < 4; i++) held.push(await openEvents(url, one));
    assert.deepEqual(await refused(url, one), [503, OVER_SHARE]);
    held.push(await openEvents(url, other));
    assert.equal(server.streams, 5, "16 slots, 11 still free");

    // The refused page polls, and that still works.
    const poll = await fetch("http://127.0.0.1:17431/api/status", {
      client: one,
    });
    assert.equal(poll.status, 200);
    assert.equal((await poll.json()).activeCount, 0);

    // A page that goes away gives its share back, once: the address gets
    // exactly one stream more, not two. The server notices the cancel
    // asynchronously, so ask again (bounded) until it has.
    await held.shift()!.cancel();
    let again: Response | undefined;
    for (let i = 0; i < 200; i++) {
      const res = await fetch(url, { client: one });
      if (res.status === 200) {
        again = res;
        break;
      }
      await res.arrayBuffer();
    }
    assert.ok(again, "the cancelled stream's share came back");
    held.push(new EventReader(again.body!));
    assert.deepEqual(await refused(url, one), [503, OVER_SHARE]);
  } finally {
    for (const events of held) await events.cancel();
  }
});

Deno.test("/api/events: streams renewed at their lifetime give their share back, cycle after cycle", async () => {
  await using server = startStatusServer(
    { hostname: "127.0.0.1", port: 17432 },
    new TransferMonitor(),
    { streamsPerPeer: 2, intervalMs: 250, streamLifetimeMs: 300 },
  );
  const url = "http://127.0.0.1:17432/api/events";
  using one = from("127.0.0.1");
  const over =
    "too many live pages open from your address (at most 2); poll /api/status\n";
  for (let cycle = 0; cycle < 3; cycle++) {
    const pair = [await openEvents(url, one), await openEvents(url, one)];
    assert.deepEqual(await refused(url, one), [503, over], `cycle ${cycle}`);
    for (const events of pair) {
      let event = await events.next();
      for (let i = 0; i < 40 && event.event === "status"; i++) {
        event = await events.next();
      }
      assert.equal(event.event, "renew");
      await assert.rejects(() => events.next());
    }
  }
  assert.equal(server.streams, 0);
});

Deno.test("/api/events: one address cannot take the last slots of a full server either", async () => {
  await using server = startStatusServer(
    { hostname: "127.0.0.1", port: 17433 },
    new TransferMonitor(),
    { streams: 3, streamsPerPeer: 2 },
  );
  const url = "http://127.0.0.1:17433/api/events";
  using one = from("127.0.0.1");
  using two = from("127.0.0.2");
  using three = from("127.0.0.3");
  const held = [
    await openEvents(url, one),
    await openEvents(url, one),
    await openEvents(url, two),
  ];
  try {
    // Both bounds apply to the first address: its own share is the reason.
    assert.deepEqual(await refused(url, one), [
      503,
      "too many live pages open from your address (at most 2); poll /api/status\n",
    ]);
    assert.deepEqual(await refused(url, three), [
      503,
      "too many live pages open; poll /api/status\n",
    ]);
    assert.equal(server.streams, 3);
  } finally {
    for (const events of held) await events.cancel();
  }
});

Deno.test("EventHub: IPv4-mapped IPv6, in any spelling, is the same client as its IPv4 address", () => {
  const hub = new EventHub({ perPeer: 2 });
  openStream(hub, { peer: "192.0.2.7" });
  openStream(hub, { peer: "::ffff:192.0.2.7" });
  for (const peer of ["192.0.2.7", "::FFFF:192.0.2.7", "::ffff:c000:207"]) {
    assert.equal(hub.open(undefined, { peer }), "peer", peer);
  }
  openStream(hub, { peer: "192.0.2.8" });
  // One host owns a whole IPv6 /64, as transfers count per client.
  openStream(hub, { peer: "2001:db8::1" });
  openStream(hub, { peer: "2001:db8::2" });
  assert.equal(hub.open(undefined, { peer: "2001:db8::3" }), "peer");
  openStream(hub, { peer: "2001:db8:0:1::1" });
  assert.equal(hub.size, 6);
  hub.close();
});

Deno.test("EventHub: every way a stream ends gives its share back exactly once", async () => {
  let now = 0;
  const hub = new EventHub({
    limit: 16,
    perPeer: 2,
    backlog: 1,
    lifetimeMs: 1000,
    now: () => now,
  });
  const peer = { peer: "::ffff:198.51.100.1" };
  /** The address can open exactly two streams now: no leak either way. */
  const shareIsTwo = (why: string) => {
    const pair = [openStream(hub, peer), openStream(hub, peer)];
    assert.equal(hub.open(undefined, peer), "peer", why);
    return pair;
  };

  // Client gone: cancelled twice, counted once.
  let [a, b] = shareIsTwo("at first");
  await a.cancel();
  await a.cancel();
  const c = openStream(hub, peer);
  assert.equal(hub.open(undefined, peer), "peer", "after a double cancel");
  await b.cancel();
  await c.cancel();

  // Renewed at a broadcast past the lifetime, then cancelled by its reader.
  [a, b] = shareIsTwo("after cancels");
  const reader = a.getReader();
  await reader.read();
  const next = reader.read();
  now += 1000;
  hub.broadcast("status", "{}");
  assert.match(new TextDecoder().decode((await next).value), /renew/);
  await reader.cancel().catch(() => {});
  await b.cancel().catch(() => {});

  // Ended because the address asked again after the lifetime.
  [a, b] = shareIsTwo("after renewal");
  now += 1000;
  [a, b] = shareIsTwo("after expiry on asking");

  // Dropped as a slow reader (nothing read, backlog full).
  hub.broadcast("status", "{}");
  [a, b] = shareIsTwo("after a slow reader was dropped");

  // Shutdown.
  hub.close();
  await a.cancel().catch(() => {});
  shareIsTwo("after close");
  assert.equal(hub.size, 2);
  hub.close();
  assert.equal(hub.size, 0);
});
