/**
 * Integration: IPv6 loopback, and a dual-stack server on `::` serving both
 * IPv4 and IPv6 clients.
 */

import assert from "node:assert/strict";
import { startServer } from "../../testing/server.ts";
import { ipv6Available } from "../../testing/net.ts";
import { getFile, putFile, randomBytes } from "../../testing/raw_client.ts";
import { needs } from "../../testing/gates.ts";

const V6 = ipv6Available();
if (!V6) {
  console.warn(
    "ipv6_test: skipping IPv6 tests: a UDP socket cannot be bound on ::1",
  );
}

Deno.test({
  name: "server on ::1 serves downloads and uploads to a ::1 client",
  ignore: needs("IPv6 on loopback (a UDP socket on ::1)", V6),
  fn: async () => {
    const data = randomBytes(1500);
    await using srv = await startServer({
      host: "::1",
      files: { "a.bin": data },
    });
    assert.equal(srv.addr.hostname, "::1");
    const g = await getFile(srv.addr, "a.bin", {
      bind: "::1",
      options: { blksize: "1024", windowsize: "2" },
    });
    assert.equal(g.error, undefined);
    assert.deepEqual(g.data, data);
    assert.equal(g.tid!.hostname, "::1");
    assert.notEqual(g.tid!.port, srv.port);
    const p = await putFile(srv.addr, "up.bin", { bind: "::1", data });
    assert.equal(p.error, undefined);
    assert.deepEqual(await srv.readFile("up.bin"), data);
    await srv.waitForLine(/\[::1\]:\d+ RRQ "a\.bin" octet .*: ok, 1500 bytes/);
    await srv.waitForLine(/\[::1\]:\d+ WRQ "up\.bin" octet: ok, 1500 bytes/);
  },
});

Deno.test({
  name: 'server on "::" serves both 127.0.0.1 and ::1 clients',
  ignore: needs("IPv6 on loopback (a UDP socket on ::1)", V6),
  fn: async () => {
    const data = randomBytes(3000);
    await using srv = await startServer({
      host: "::",
      files: { "a.bin": data },
    });
    const v4 = await getFile(
      { hostname: "127.0.0.1", port: srv.port },
      "a.bin",
    );
    assert.equal(v4.error, undefined);
    assert.deepEqual(v4.data, data);
    assert.equal(v4.tid!.hostname, "127.0.0.1");
    assert.notEqual(v4.tid!.port, srv.port);
    const v6 = await getFile({ hostname: "::1", port: srv.port }, "a.bin", {
      bind: "::1",
    });
    assert.equal(v6.error, undefined);
    assert.deepEqual(v6.data, data);
    assert.equal(v6.tid!.hostname, "::1");
    const up = await putFile(
      { hostname: "127.0.0.1", port: srv.port },
      "v4.bin",
      {
        data,
      },
    );
    assert.equal(up.error, undefined);
    assert.deepEqual(await srv.readFile("v4.bin"), data);
    // IPv4 peers are logged as plain IPv4, not ::ffff:127.0.0.1.
    await srv.waitForLine(/\] 127\.0\.0\.1:\d+ RRQ "a\.bin" octet: ok/);
    await srv.waitForLine(/\] \[::1\]:\d+ RRQ "a\.bin" octet: ok/);
    assert.ok(!srv.lines.some((l) => l.includes("::ffff:")));
  },
});
