/**
 * Integration over 127.0.0.1 with a raw UDP client: the start and end log
 * lines of a transfer, and a finished (or lingering) transfer never blocking
 * a new request from the same port.
 */

import assert from "node:assert/strict";
import { encodeError, encodeRequest } from "../../src/protocol/packet.ts";
import { startServer } from "../../testing/server.ts";
import { randomBytes, RawClient } from "../../testing/raw_client.ts";
import { RRQ } from "./transfer_cases.ts";

Deno.test("transfer log lines: start and end with peer, file, direction, options, bytes, outcome", async () => {
  const data = randomBytes(1300);
  // timeout 1: the upload's stats come after its 1 s linger.
  await using srv = await startServer({ timeout: 1, files: { "a.bin": data } });
  // Each transfer from its own port, as real clients do.
  using c1 = RawClient.open();
  using c2 = RawClient.open();
  using c3 = RawClient.open();
  const peer = (c: RawClient) => `127\\.0\\.0\\.1:${c.addr.port}`;
  await c1.get(srv.addr, "a.bin", { options: { blksize: "1024" } });
  await srv.waitForLine(
    new RegExp(`\\[INFO\\] ${peer(c1)} RRQ "a\\.bin" octet blksize=1024$`),
  );
  await srv.waitForLine(
    new RegExp(
      `\\[INFO\\] ${
        peer(c1)
      } RRQ "a\\.bin" octet blksize=1024: ok, 1300 bytes in [\\d.]+ s, 0 retransmits$`,
    ),
  );
  await c2.put(srv.addr, "up.bin", {
    data: data.subarray(0, 600),
    options: { tsize: "600" },
  });
  await srv.waitForLine(
    new RegExp(`\\[INFO\\] ${peer(c2)} WRQ "up\\.bin" octet tsize=600$`),
  );
  await srv.waitForLine(
    new RegExp(
      `\\[INFO\\] ${
        peer(c2)
      } WRQ "up\\.bin" octet tsize=600: ok, 600 bytes in `,
    ),
  );
  await c3.get(srv.addr, "missing.bin");
  await srv.waitForLine(
    new RegExp(
      `\\[INFO\\] ${
        peer(c3)
      } RRQ "missing\\.bin" octet: error \\(ERROR 1: .*\\), 0 bytes`,
    ),
  );
  // The stats handed to onTransferEnd agree.
  const s = await srv.waitForTransferEnd((t) => t.direction === "write");
  assert.equal(s.peer, `127.0.0.1:${c2.addr.port}`);
  assert.equal(s.filename, "up.bin");
  assert.equal(s.bytes, 600);
  assert.deepEqual(s.options, { tsize: "600" });
  assert.equal(s.outcome, "ok");
});

// A finished transfer (or one lingering after an upload) must not block its
// peer: UEFI PXE probes and then asks again from the same port, and
// tftp-hpa's interactive client uses one port for all its commands.
Deno.test({
  name: "a PXE probe, then the real RRQ from the same port: it is served",
  fn: async () => {
    await using srv = await startServer({
      verbose: true,
      files: { "boot.efi": randomBytes(3000) },
    });
    using client = RawClient.open();
    const probe = await client.get(srv.addr, "boot.efi", {
      options: { tsize: "0" },
      ackOack: false,
    });
    await client.send(encodeError(8, "tsize only"), probe.tid!);
    await client.send(
      encodeRequest(RRQ, "boot.efi", {
        options: new Map([["blksize", "1468"]]),
      }),
      srv.addr,
    );
    const line = await srv.waitForLine(
      /RRQ "boot\.efi" octet blksize=1468$|repeated request ignored/,
    );
    assert.match(line, /RRQ "boot\.efi" octet blksize=1468$/);
  },
});

Deno.test({
  name:
    "a new RRQ right after a finished download from the same port is served",
  fn: async () => {
    await using srv = await startServer({
      verbose: true,
      files: { "a.bin": "abc", "b.bin": "def" },
    });
    using client = RawClient.open();
    const g = await client.get(srv.addr, "a.bin");
    assert.equal(g.error, undefined);
    await client.send(encodeRequest(RRQ, "b.bin"), srv.addr);
    const line = await srv.waitForLine(
      /RRQ "b\.bin" octet$|repeated request ignored/,
    );
    assert.match(line, /RRQ "b\.bin" octet$/);
  },
});

Deno.test({
  name:
    "a new request right after a finished upload from the same port is served",
  fn: async () => {
    await using srv = await startServer({
      verbose: true,
      files: { "a.bin": "abc" },
    });
    using client = RawClient.open();
    const p = await client.put(srv.addr, "up.bin", { data: randomBytes(10) });
    assert.equal(p.error, undefined);
    await client.send(encodeRequest(RRQ, "a.bin"), srv.addr);
    const line = await srv.waitForLine(
      /RRQ "a\.bin" octet$|repeated request ignored/,
    );
    assert.match(line, /RRQ "a\.bin" octet$/);
  },
});
