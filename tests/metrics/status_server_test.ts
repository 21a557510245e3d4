/**
 * The status listener over real HTTP on loopback: routes, headers,
 * read-only methods, the JSON schema, server-sent events and their bounds.
 */

import assert from "node:assert/strict";
import { TransferMonitor } from "../../src/metrics/monitor.ts";
import { startStatusServer } from "../../src/metrics/status_server.ts";
import { EventHub, STREAM_LIFETIME_MS } from "../../src/metrics/sse.ts";
import {
  EventReader,
  HOSTILE_NAMES,
  info,
  type MutableLive,
  openStream,
  transfer,
} from "./common.ts";
import { schemaProblems } from "./schema.ts";

const LOOPBACK = { hostname: "127.0.0.1", port: 0 };

function base(server: { addr: Deno.NetAddr }): string {
  return `http://127.0.0.1:${server.addr.port}`;
}

/** A monitor with a few transfers of each kind, hostile names included. */
function populated(): TransferMonitor {
  const m = new TransferMonitor({ version: "0.1.0", threads: 2 });
  transfer(m, "pxelinux.0", { bytes: 42_000 });
  transfer(m, HOSTILE_NAMES[0], {
    outcome: "error",
    error: "ERROR 1: File not found",
  });
  transfer(m, "up.bin", { direction: "write", outcome: "timeout", worker: 1 });
  m.started(info("vmlinuz", { worker: 2 }), { bytes: 1000, size: 4000 });
  m.started(info(HOSTILE_NAMES[1]), {
    bytes: 10,
    options: { blksize: "1468", windowsize: "16" },
  });
  m.refused("busy");
  return m;
}

Deno.test("status server: each path serves its content type with the security headers", async () => {
  await using server = startStatusServer(LOOPBACK, populated());
  const want: [string, number, RegExp][] = [
    ["/", 200, /^text\/html/],
    ["/status.js", 200, /^text\/javascript/],
    ["/status.css", 200, /^text\/css/],
    ["/metrics", 200, /^text\/plain; version=0\.0\.4/],
    ["/api/status", 200, /^application\/json/],
    ["/nope", 404, /^text\/plain/],
    ["/metrics/", 404, /^text\/plain/],
  ];
  for (const [path, status, type] of want) {
    const res = await fetch(base(server) + path);
    await res.arrayBuffer();
    assert.equal(res.status, status, path);
    assert.match(res.headers.get("content-type") ?? "", type, path);
    const csp = res.headers.get("content-security-policy") ?? "";
    assert.match(csp, /script-src 'self'/, path);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, path);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    assert.equal(res.headers.get("access-control-allow-origin"), null);
  }
  const icon = await fetch(base(server) + "/favicon.ico");
  await icon.arrayBuffer();
  assert.equal(icon.status, 204);
});

Deno.test("status server: the page has no inline script, handler or style, and carries no data", async () => {
  await using server = startStatusServer(LOOPBACK, populated());
  const html = await (await fetch(base(server) + "/")).text();
  const scripts = [...html.matchAll(/<script\b[^>]*>/g)].map((m) => m[0]);
  assert.deepEqual(scripts, ['<script src="/status.js" defer>']);
  assert.doesNotMatch(html, /<script>|\son[a-z]+=|\sstyle=|<style/i);
  assert.doesNotMatch(html, /https?:\/\//, "no external asset");
  for (const name of HOSTILE_NAMES) assert.ok(!html.includes(name));
  const js = await (await fetch(base(server) + "/status.js")).text();
  assert.doesNotMatch(
    js,
    /innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/,
  );
  assert.doesNotMatch(js, /https?:\/\//);
});

Deno.test("status server: only GET and HEAD; every other method is 405 and changes nothing", async () => {
  const monitor = populated();
  await using server = startStatusServer(LOOPBACK, monitor);
  const before = JSON.stringify(monitor.totals());
  for (const method of ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PURGE"]) {
    for (
      const path of ["/", "/metrics", "/api/status", "/api/events", "/nope"]
    ) {
      const res = await fetch(base(server) + path, {
        method,
        body: method === "OPTIONS" ? undefined : "x=1",
      });
      await res.arrayBuffer();
      assert.equal(res.status, 405, `${method} ${path}`);
      assert.equal(res.headers.get("allow"), "GET, HEAD");
    }
  }
  assert.equal(JSON.stringify(monitor.totals()), before);
  assert.equal(monitor.activeCount, 2);
  const head = await fetch(base(server) + "/api/status", { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(await head.text(), "");
  const headEvents = await fetch(base(server) + "/api/events", {
    method: "HEAD",
  });
  assert.equal(headEvents.status, 200);
  assert.equal(await headEvents.text(), "");
  assert.equal(server.streams, 0, "HEAD opens no event stream");
});

Deno.test("/api/status conforms to the schema, with running and finished transfers", async () => {
  await using server = startStatusServer(LOOPBACK, populated());
  const doc = await (await fetch(base(server) + "/api/status")).json();
  assert.deepEqual(schemaProblems(doc), []);
  assert.equal(doc.activeCount, 2);
  assert.deepEqual(doc.active.map((a: { file: string }) => a.file), [
    "vmlinuz",
    HOSTILE_NAMES[1],
  ]);
  assert.equal(doc.active[0].percent, 25);
  assert.equal(doc.active[0].worker, 2);
  assert.deepEqual(doc.active[1].options, {
    blksize: "1468",
    windowsize: "16",
  });
  assert.deepEqual(doc.recent.map((r: { outcome: string }) => r.outcome), [
    "timeout",
    "error",
    "ok",
  ]);
  assert.equal(
    doc.recent[1].file,
    HOSTILE_NAMES[0],
    "names are data, unchanged",
  );
  assert.equal(doc.totals.refusals.busy, 1);
  assert.deepEqual(doc.threads, { main: 1, "1": 0, "2": 1 });

  // The checker itself rejects what does not conform.
  assert.ok(schemaProblems({ ...doc, extra: 1 }).length > 0);
  assert.ok(schemaProblems({ ...doc, activeCount: "2" }).length > 0);
  const bad = structuredClone(doc);
  bad.recent[0].outcome = "<b>";
  assert.ok(schemaProblems(bad).length > 0);
});

Deno.test("/api/events pushes the status document at once and then every interval", async () => {
  const monitor = new TransferMonitor();
  await using server = startStatusServer(LOOPBACK, monitor, {
    intervalMs: 250,
  });
  const res = await fetch(base(server) + "/api/events");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
  const events = new EventReader(res.body!);
  const first = await events.next();
  assert.equal(first.event, "status");
  assert.equal(JSON.parse(first.data).activeCount, 0);
  assert.equal(server.streams, 1);
  const live: MutableLive = { bytes: 0, size: 100 };
  monitor.started(info("later.bin"), live);
  live.bytes = 50;
  // An update made before the change may already be queued: read on until
  // the change shows (bounded by a count, each ~250 ms apart).
  let second = JSON.parse((await events.next()).data);
  for (let i = 0; i < 40 && second.activeCount === 0; i++) {
    second = JSON.parse((await events.next()).data);
  }
  assert.deepEqual(schemaProblems(second), []);
  assert.equal(second.activeCount, 1);
  assert.equal(second.active[0].percent, 50);
  await events.cancel();
});

Deno.test("/api/events: more streams than the limit get 503, and close() ends open streams", async () => {
  const server = startStatusServer(LOOPBACK, new TransferMonitor(), {
    streams: 2,
  });
  const open: EventReader[] = [];
  for (let i = 0; i < 2; i++) {
    const res = await fetch(base(server) + "/api/events");
    assert.equal(res.status, 200);
    const r = new EventReader(res.body!);
    await r.next();
    open.push(r);
  }
  const third = await fetch(base(server) + "/api/events");
  assert.equal(third.status, 503);
  assert.match(await third.text(), /too many/);
  assert.equal(server.streams, 2);
  await server.close();
  for (const r of open) await assert.rejects(() => r.next());
  assert.equal(server.streams, 0);
});

Deno.test("EventHub drops a reader that stopped reading instead of queueing without end", async () => {
  const hub = new EventHub({ limit: 3, backlog: 2 });
  const slow = openStream(hub);
  const fast = openStream(hub).getReader();
  assert.match(new TextDecoder().decode((await fast.read()).value), /^retry: /);
  for (let i = 0; i < 10; i++) {
    hub.broadcast("status", `{"n":${i}}`);
    await fast.read();
  }
  assert.equal(hub.size, 1, "the slow one is gone");
  await assert.rejects(() => slow.getReader().read());
  const cancelled = openStream(hub);
  await cancelled.cancel();
  assert.equal(hub.size, 1, "a cancelled stream frees its slot");
  hub.broadcast("status", "line1\nline2");
  const framed = new TextDecoder().decode((await fast.read()).value);
  assert.equal(framed, "event: status\ndata: line1 line2\n\n");
  hub.close();
  assert.equal(hub.size, 0);
});

/** Opens `/api/events` on a raw socket and never reads from it. */
async function stalledReader(
  server: { addr: Deno.NetAddr },
): Promise<Deno.Conn> {
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.addr.port,
  });
  await conn.write(
    new TextEncoder().encode(
      "GET /api/events HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n",
    ),
  );
  return conn;
}

/** Reads a socket to its end; false when it is still open after `ms`. */
async function endsWithin(conn: Deno.Conn, ms: number): Promise<boolean> {
  const buf = new Uint8Array(65536);
  const deadline = Date.now() + ms;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), ms);
  });
  try {
    while (Date.now() < deadline) {
      const n = await Promise.race([conn.read(buf).catch(() => null), late]);
      if (n === "late") return false;
      if (n === null) return true;
    }
    return false;
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("/api/events: readers that connect and never read lose their slots after the stream lifetime", async () => {
  await using server = startStatusServer(LOOPBACK, populated(), {
    streams: 2,
    intervalMs: 250,
    streamLifetimeMs: 500,
  });
  const stalled = [await stalledReader(server), await stalledReader(server)];
  try {
    for (let i = 0; i < 100 && server.streams < 2; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(server.streams, 2);
    const refused = await fetch(base(server) + "/api/events");
    await refused.arrayBuffer();
    assert.equal(refused.status, 503, "both slots held");
    // Bounded polling: the lifetime (500 ms) plus an interval frees them.
    let status = 503;
    for (let i = 0; i < 100 && status !== 200; i++) {
      const res = await fetch(base(server) + "/api/events");
      status = res.status;
      if (status === 200) await new EventReader(res.body!).cancel();
      else await res.arrayBuffer();
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(status, 200, "a page gets a stream once the stalled expire");
    // Their connections are closed too, not just their slots freed.
    for (const conn of stalled) assert.ok(await endsWithin(conn, 10_000));
  } finally {
    for (const conn of stalled) conn.close();
  }
});

Deno.test("/api/events: a stream past its lifetime gets a renew event, then ends", async () => {
  await using server = startStatusServer(LOOPBACK, new TransferMonitor(), {
    intervalMs: 250,
    streamLifetimeMs: 600,
  });
  const res = await fetch(base(server) + "/api/events");
  const events = new EventReader(res.body!);
  let event = await events.next();
  for (let i = 0; i < 40 && event.event === "status"; i++) {
    event = await events.next();
  }
  assert.equal(event.event, "renew");
  assert.equal(server.streams, 0, "its slot is free");
  await assert.rejects(() => events.next());
});

Deno.test("EventHub: a stream past its lifetime gives up its slot to the next page", () => {
  let now = 0;
  const hub = new EventHub({ limit: 1, lifetimeMs: 1000, now: () => now });
  openStream(hub);
  now = 999;
  assert.equal(hub.open(), "limit", "still within its lifetime");
  now = 1000;
  openStream(hub);
  assert.equal(hub.size, 1);
  hub.close();
  assert.ok(STREAM_LIFETIME_MS <= 60_000, "the documented bound is small");
});
