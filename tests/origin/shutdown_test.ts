/**
 * SIGTERM while a request waits for the origin's response headers: the
 * server stops at once (cancelled, nothing left behind), in the main thread
 * and in a worker thread alike, instead of waiting for the origin up to
 * `--origin-timeout` (600 s at most, far past systemd's stop timeout).
 *
 * @module
 */

import assert from "node:assert/strict";
import { startServer } from "../../testing/process.ts";
import { RawClient } from "../../testing/raw_client.ts";
import { gate, HttpOrigin, tempDir, WAIT_MS } from "./harness.ts";

const HOST = "127.0.0.2";
const CLIENT = "127.0.0.3";

for (
  const [where, args] of [
    ["the main thread", ["--workers", "1"]],
    ["a worker thread", ["--workers", "2", "--workers-start", "listen"]],
  ] as [string, string[]][]
) {
  Deno.test(`main.ts --origin: SIGTERM while ${where} waits for the origin's headers stops the server at once`, async () => {
    const root = await tempDir("tftpd-origin-stop-");
    const hold = gate();
    let asked!: () => void;
    const seen = new Promise<void>((r) => asked = r);
    await using origin = new HttpOrigin(async () => {
      asked();
      await hold.promise;
      return new Response("too late");
    });
    try {
      const srv = await startServer(root, {
        host: HOST,
        permissions: [
          `--allow-net=${HOST},${CLIENT},127.0.0.1:${origin.port}`,
          `--allow-read=${root}`,
        ],
        args: [
          "--read-only",
          "--origin",
          origin.url,
          "--origin-timeout",
          "600",
          ...args,
        ],
      });
      if (args.includes("listen")) {
        await srv.waitForLine(/\d+ worker threads ready/);
      }
      using client = RawClient.open(CLIENT);
      await client.request({ hostname: HOST, port: srv.port }, {
        op: "RRQ",
        name: "slow.bin",
      });
      await seen;
      let bound: ReturnType<typeof setTimeout> | undefined;
      const status = await Promise.race([
        srv.stop("SIGTERM"),
        new Promise<"hung">((r) =>
          bound = setTimeout(() => r("hung"), WAIT_MS)
        ),
      ]);
      clearTimeout(bound);
      // Stopped while the origin still holds its answer.
      assert.notEqual(status, "hung", srv.lines.join("\n"));
      if (status !== "hung") assert.equal(status.code, 0);
      assert.ok(
        srv.lines.some((l) => /RRQ "slow\.bin" octet: cancelled/.test(l)),
        srv.lines.join("\n"),
      );
      assert.ok(srv.lines.some((l) => /\] stopped$/.test(l)));
    } finally {
      hold.open();
      await Deno.remove(root, { recursive: true });
    }
  });
}
