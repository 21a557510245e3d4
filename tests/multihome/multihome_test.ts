/**
 * Replies leave from the address the request was sent to (issue 14, part
 * 1). Each scenario runs in a network namespace of its own whose `lo` has
 * two IPv4, two global IPv6 and two link-local addresses
 * (`agent.ts`); the server listens on `::`. Without per-address sockets the
 * kernel answers a request sent to 192.0.2.2 by a client on 192.0.2.1 from
 * 192.0.2.1 (the route to a local destination prefers the destination as
 * source), which a PXE client drops.
 */

import assert from "node:assert/strict";
import { runAgent } from "../../testing/netns.ts";
import { needs } from "../../testing/gates.ts";
import { NS, type Report, type Seen, STORE_NS, TARGETS } from "./agent.ts";

const AGENT = "tests/multihome/agent.ts";
const ROOT = Deno.uid() === 0;
const ignore = needs("root (network namespaces: unshare -n)", ROOT);

function run(
  scenario: string,
  permissions?: string[],
  addresses = NS,
): Promise<Report> {
  return runAgent<Report>(AGENT, [scenario], {
    addresses,
    permissions,
    timeoutMs: 90_000,
  });
}

function hostOf(source: string): string {
  return source.slice(0, source.lastIndexOf(":")).replace(/^\[|\]$/g, "");
}

function portOf(source: string): number {
  return Number(source.slice(source.lastIndexOf(":") + 1));
}

/** Every transfer whole, and every server datagram from where it was sent. */
function assertFromTarget(seen: Seen[], r: Report): void {
  const text = JSON.stringify(r, null, 1);
  for (const s of seen) {
    const what = `${s.op} from ${s.client} to ${s.to}`;
    assert.equal(s.error, undefined, `${what}: ${s.error}\n${text}`);
    assert.ok(s.ok, `${what}: bytes differ\n${text}`);
    assert.equal(s.sources.length, 1, `${what}: ${s.sources}`);
    assert.equal(hostOf(s.sources[0]), s.to, `${what}: ${s.sources}\n${text}`);
  }
}

function assertListensOnEach(r: Report): void {
  for (const a of NS) {
    const host = a.slice(0, a.indexOf("/"));
    const shown = host.startsWith("fe80:")
      ? `[${host}%1]`
      : host.includes(":")
      ? `[${host}]`
      : host;
    assert.ok(r.listening.includes(`${shown}:${r.port}`), r.listening.join());
  }
  for (const lo of ["127.0.0.1", "[::1]"]) {
    assert.ok(r.listening.includes(`${lo}:${r.port}`), r.listening.join());
  }
}

Deno.test({
  name:
    "multihome: RRQ and WRQ over IPv4, IPv6 and link-local are answered from the address they were sent to",
  ignore,
  fn: async () => {
    const r = await run("ports");
    assertListensOnEach(r);
    assert.equal(r.seen.length, TARGETS.length * 2);
    assertFromTarget(r.seen, r);
    for (const s of r.seen) assert.notEqual(portOf(s.sources[0]), r.port);
    assert.ok(
      r.lines.some((l) =>
        /serving each local address on its own socket \(8 now\)/.test(l)
      ),
      r.lines.join("\n"),
    );
  },
});

Deno.test({
  name:
    "multihome: worker threads bind each transfer to the address its request arrived on",
  ignore,
  fn: async () => {
    const r = await run("workers");
    assertFromTarget(r.seen, r);
    assert.equal(r.workers?.length, TARGETS.length * 2);
    assert.ok(r.workers?.every((w) => w > 0), `threads: ${r.workers}`);
  },
});

Deno.test({
  name:
    "multihome: single-port mode answers each address from that address's listen port",
  ignore,
  fn: async () => {
    const r = await run("single-port");
    assertListensOnEach(r);
    assertFromTarget(r.seen, r);
    for (const s of r.seen) assert.equal(portOf(s.sources[0]), r.port);
  },
});

Deno.test({
  name:
    "multihome: a two-port range holds four transfers at once over two addresses (the range is per address)",
  ignore,
  fn: async () => {
    const r = await run("port-range");
    const held = r.seen.slice(0, 4);
    const text = JSON.stringify(held);
    for (const s of held) {
      assert.ok(s.ok, `no DATA for ${s.client} -> ${s.to}: ${text}`);
      assert.equal(hostOf(s.sources[0]), s.to, text);
      assert.ok([41000, 41001].includes(portOf(s.sources[0])), text);
    }
    const ports = (to: string) =>
      held.filter((s) => s.to === to).map((s) => portOf(s.sources[0])).sort();
    assert.deepEqual(ports("192.0.2.2"), [41000, 41001], text);
    assert.deepEqual(ports("192.0.2.1"), [41000, 41001], text);
    assertFromTarget(r.seen.slice(4), r);
  },
});

Deno.test({
  name:
    "multihome: an address added while running is served after the rescan; a removed one loses its socket",
  ignore,
  fn: async () => {
    const r = await run("rescan");
    assertFromTarget(r.seen, r);
    assert.deepEqual(r.seen.map((s) => s.to), ["192.0.2.3", "2001:db8::3"]);
    assert.ok(!r.listening.includes(`192.0.2.3:${r.port}`));
    assert.ok(!r.after?.includes(`192.0.2.3:${r.port}`), r.after?.join());
    assert.ok(r.after?.includes(`[2001:db8::3]:${r.port}`), r.after?.join());
    const lines = r.lines.join("\n");
    assert.match(
      lines,
      new RegExp(
        `local address 192\\.0\\.2\\.3 appeared: serving 192\\.0\\.2\\.3:${r.port}`,
      ),
    );
    assert.match(
      lines,
      new RegExp(`local address 192\\.0\\.2\\.3 went away: stopped serving`),
    );
  },
});

Deno.test({
  name:
    "multihome: without --allow-sys one warning, and one :: socket that still serves IPv4 clients",
  ignore,
  fn: async () => {
    const r = await run("no-permission", [
      "--allow-net",
      "--allow-read",
      "--allow-write",
    ]);
    assert.deepEqual(r.listening, [`[::]:${r.port}`]);
    const warnings = r.lines.filter((l) => /network interfaces/.test(l));
    assert.equal(warnings.length, 1, r.lines.join("\n"));
    assert.match(
      warnings[0],
      /\[WARNING\] no permission to list network interfaces \(--allow-sys=networkInterfaces\): listening on :: as one socket/,
    );
    assert.ok(!r.lines.some((l) => /serving each local address/.test(l)));
    const [s] = r.seen;
    assert.ok(s.ok, JSON.stringify(s));
    assert.equal(hostOf(s.sources[0]), "192.0.2.1", "the kernel's choice");
  },
});

Deno.test({
  name:
    "multihome: only the local addresses --allow-net grants get a socket; the others are named once",
  ignore,
  fn: async () => {
    const r = await run("net-partial", [
      "--allow-net=192.0.2.0/24",
      "--allow-read",
      "--allow-write",
      "--allow-sys=networkInterfaces",
    ]);
    assert.deepEqual(r.listening, [
      `192.0.2.1:${r.port}`,
      `192.0.2.2:${r.port}`,
    ]);
    const skipped = r.lines.filter((l) => /not serving/.test(l));
    assert.equal(skipped.length, 1, r.lines.join("\n"));
    assert.match(
      skipped[0],
      /\[WARNING\] not serving 127\.0\.0\.1, .*fe80::2%1.*: no --allow-net for them$/,
    );
    assertFromTarget(r.seen, r);
  },
});

Deno.test({
  name:
    "multihome: with no local address granted (--allow-net=0.0.0.0) the wildcard is one socket, with a warning",
  ignore,
  fn: async () => {
    const r = await run("net-none", [
      "--allow-net=0.0.0.0",
      "--allow-read",
      "--allow-write",
      "--allow-sys=networkInterfaces",
    ]);
    assert.deepEqual(r.listening, [`0.0.0.0:${r.port}`]);
    const text = r.lines.join("\n");
    assert.match(
      text,
      /\[WARNING\] no --allow-net for any local address \(127\.0\.0\.1, 192\.0\.2\.1, 192\.0\.2\.2\): listening on 0\.0\.0\.0 as one socket/,
    );
    assert.doesNotMatch(text, /serving each local address/);
  },
});

Deno.test({
  name:
    "multihome: main.ts with --host twice, and --host 0.0.0.0 with and without --allow-sys=networkInterfaces",
  ignore,
  fn: async () => {
    const r = await run("cli");
    const text = JSON.stringify(r, null, 1);
    // Two explicit hosts, then the wildcard with the permission (workers).
    assertFromTarget(r.seen.slice(0, 6), r);
    assert.ok(
      r.lines.some((l) =>
        /listening on 192\.0\.2\.2:\d+, \[2001:db8::2\]:\d+, root /.test(l)
      ),
      text,
    );
    // Without it: served, with the warning once, and from the address the
    // kernel picks (the client's own, 192.0.2.1): the behaviour that made
    // PXE clients drop the replies, and what the tests above would see
    // without per-address sockets.
    const last = r.seen.slice(6);
    assert.equal(last.length, 2, text);
    for (const s of last) {
      assert.ok(s.ok, text);
      assert.equal(hostOf(s.sources[0]), "192.0.2.1", text);
    }
    const warnings = r.lines.filter((l) => /no permission to list/.test(l));
    assert.equal(warnings.length, 1, text);
  },
});

Deno.test({
  name:
    "multihome: the README's artifact-store command, its permission flags exactly: root first, origin, cache, replies from the address asked",
  ignore,
  fn: async () => {
    const r = await run("artifact-store", undefined, STORE_NS);
    const text = JSON.stringify(r, null, 1);
    const [local, fetched, again, upload] = r.seen;
    assertFromTarget([local, fetched, again], r);
    assert.equal(upload.error?.split(" ")[0], "2", text);
    // The override from the root; the rest from the origin once, then from
    // the cache directory; the origin told who asked.
    assert.deepEqual(r.origin, ["/netboot/ipxe/undionly.kpxe 192.168.10.23"]);
    assert.equal(r.cached, 1, text);
    const lines = r.lines.join("\n");
    assert.match(
      lines,
      /listening on 192\.168\.10\.1:69, 192\.168\.10\.2:69, 192\.168\.10\.23:69, root \S+ \(read-only\), origin http:\/\/127\.0\.0\.1:\d+\/netboot\/, \d+ worker threads/,
    );
    assert.match(lines, /not serving 127\.0\.0\.1: no --allow-net for it/);
  },
});
