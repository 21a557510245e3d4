/**
 * Worker threads that fail to start never cost a client its transfer: the
 * requests handed to them while they were starting are served in the main
 * thread. Here they fail as they do for an operator: the server runs with
 * read access to its root only (so threads load the embedded bundle), and
 * the bundle changes on disk under it (a `git pull`), which Deno then
 * refuses to load.
 */

import assert from "node:assert/strict";
import { decode, encodeRequest, Opcode } from "../../src/protocol/packet.ts";
import { REPO_ROOT, startServer } from "../../testing/process.ts";
import { RawClient } from "../../testing/raw_client.ts";
import { tempDir } from "../../testing/server.ts";

Deno.test("worker threads that fail to start: the request that started them is served in the main thread", async () => {
  const base = await tempDir("workers-fallback-");
  try {
    const app = `${base}/app`;
    const root = `${base}/root`;
    await Deno.mkdir(root);
    await Deno.mkdir(app);
    for (const f of ["main.ts", "deno.json"]) {
      await Deno.copyFile(`${REPO_ROOT}/${f}`, `${app}/${f}`);
    }
    const cp = new Deno.Command("cp", {
      args: ["-r", `${REPO_ROOT}/src`, app],
    });
    assert.equal((await cp.output()).code, 0);
    await Deno.writeFile(`${root}/big.bin`, new Uint8Array(1 << 20));
    await Deno.writeTextFile(`${root}/small.txt`, "served anyway\n");
    await using server = await startServer(root, {
      main: `${app}/main.ts`,
      permissions: ["--allow-net", `--allow-read=${root}`],
      args: ["--workers", "2"],
      waitForWorkers: false,
    });
    await Deno.writeTextFile(
      `${app}/src/server/workers/bundle.ts`,
      "\n// changed on disk\n",
      { append: true },
    );
    const to = { hostname: server.host, port: server.port };
    // One transfer held open in the main thread makes it busy, so the next
    // request starts the threads and is handed to them.
    using holder = RawClient.open();
    await holder.send(encodeRequest(Opcode.RRQ, "big.bin"), to);
    assert.equal((await holder.expect()).packet.op, Opcode.DATA);
    using client = RawClient.open();
    await client.send(encodeRequest(Opcode.RRQ, "small.txt"), to);
    const got = await client.expect();
    const p = decode(got.data);
    assert.equal(p.op, Opcode.DATA, `got ${JSON.stringify(p)}`);
    assert.equal(new TextDecoder().decode(p.data), "served anyway\n");
    await client.ack(got.from, 1);
    await server.waitForLine(/RRQ "small\.txt" octet: ok, 14 bytes/);
    assert.ok(
      server.lines.some((l) => /worker threads failed to start/.test(l)),
      server.lines.join("\n"),
    );
    assert.ok(
      !server.lines.some((l) => /try again/.test(l)),
      server.lines.join("\n"),
    );
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});
