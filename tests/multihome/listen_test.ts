/**
 * Several listen hosts on the machine's own loopback (no namespace): one
 * port shared by every address, each address answering from itself, and
 * the exact failures for a taken port and an address the machine lacks.
 */

import assert from "node:assert/strict";
import { TftpServer } from "../../src/server/server.ts";
import { Logger } from "../../src/log.ts";
import { MemoryStorage } from "../../src/storage/memory.ts";
import { ipv6Available } from "../../testing/net.ts";
import { RawClient } from "../../testing/raw_client.ts";
import { needs } from "../../testing/gates.ts";

const ignore = needs("IPv6 loopback (::1)", ipv6Available());

function quiet(lines: string[] = []): Logger {
  return new Logger({ stderr: false, sink: (l) => lines.push(l) });
}

Deno.test({
  name: "listen: two hosts share one free port, and each answers from itself",
  ignore,
  fn: async () => {
    const lines: string[] = [];
    const server = new TftpServer({
      host: ["127.0.0.1", "::1"],
      port: 0,
      storage: new MemoryStorage({ "a.txt": "hello" }),
      logger: quiet(lines),
    });
    const addr = await server.listen();
    try {
      assert.equal(addr.hostname, "127.0.0.1");
      assert.deepEqual(
        server.addrs.map((a) => `${a.hostname} ${a.port}`),
        [`127.0.0.1 ${addr.port}`, `::1 ${addr.port}`],
      );
      assert.match(
        lines.join("\n"),
        new RegExp(
          `listening on 127\\.0\\.0\\.1:${addr.port}, \\[::1\\]:${addr.port}, `,
        ),
      );
      for (const host of ["127.0.0.1", "::1"]) {
        using c = RawClient.open(host);
        const r = await c.get({ hostname: host, port: addr.port }, "a.txt");
        assert.equal(new TextDecoder().decode(r.data), "hello");
        assert.equal(r.tid?.hostname, host);
      }
      await server.whenIdle();
    } finally {
      await server.close();
    }
  },
});

Deno.test({
  name:
    "listen: a port taken on one of the hosts fails the start, naming that host",
  ignore,
  fn: async () => {
    using held = RawClient.open("::1");
    const port = held.addr.port;
    const server = new TftpServer({
      host: ["127.0.0.1", "::1"],
      port,
      storage: new MemoryStorage({}),
      logger: quiet(),
    });
    await assert.rejects(
      () => server.listen(),
      (err: Error) =>
        err instanceof Deno.errors.AddrInUse &&
        err.message === `port ${port} on ::1 is already in use`,
    );
    // Nothing stays bound on the other host.
    const again = Deno.listenDatagram({
      transport: "udp",
      hostname: "127.0.0.1",
      port,
    });
    again.close();
    await server.close();
  },
});

Deno.test("listen: a host the machine does not have fails the start", async () => {
  const server = new TftpServer({
    host: ["127.0.0.1", "192.0.2.77"],
    port: 0,
    storage: new MemoryStorage({}),
    logger: quiet(),
  });
  await assert.rejects(
    () => server.listen(),
    (err: Error) => {
      assert.ok(err instanceof Deno.errors.AddrNotAvailable, String(err));
      assert.equal(
        err.message,
        "cannot listen on 192.0.2.77: not an address of this host",
      );
      return true;
    },
  );
  await server.close();
});
