/**
 * With worker threads a repeated request is judged by the worker that runs
 * the transfer; the main thread must keep the running transfer as the
 * peer's, so a second and third repeat are still repeats of it.
 */

import assert from "node:assert/strict";
import { encodeAck, encodeRequest, Opcode } from "../../src/protocol/packet.ts";
import { randomBytes, RawClient } from "../../testing/raw_client.ts";
import { rootPermissions, startServer } from "../../testing/process.ts";
import { tempDir } from "../../testing/server.ts";
import { RRQ } from "./transfer_cases.ts";

Deno.test("worker threads: requests repeated mid-transfer start no second transfer", async () => {
  const root = await tempDir("tftpd-repeat-");
  try {
    const blocks = 40;
    const file = randomBytes(blocks * 512 - 1);
    await Deno.writeFile(`${root}/big.bin`, file);
    await using server = await startServer(root, {
      args: ["--workers-start", "listen", "-v"],
      permissions: rootPermissions(root),
    });
    assert.ok(server.threads.count >= 2, server.stderr.text);
    const listen = { hostname: server.host, port: server.port };
    using client = RawClient.open();
    const rrq = encodeRequest(RRQ, "big.bin");
    await client.send(rrq, listen);
    const got: Uint8Array[] = [];
    let tid: Deno.NetAddr | undefined;
    for (let block = 1; block <= blocks; block++) {
      const r = await client.receive();
      assert.ok(r, `no DATA ${block}`);
      assert.equal(r.packet.op, Opcode.DATA, `DATA ${block}`);
      if (r.packet.op !== Opcode.DATA) break;
      tid ??= r.from;
      // Every DATA comes from the one transfer's port.
      assert.equal(r.from.port, tid.port, `DATA ${block} from another port`);
      assert.equal(r.packet.block, block);
      got.push(r.packet.data.slice());
      if (block === 2 || block === 3 || block === 5) {
        // The same request again, from the same port, three times over.
        const from = server.lines.length;
        await client.send(rrq, listen);
        await server.waitForLine(
          /repeated request ignored|RRQ "big\.bin" octet$/,
          { from },
        );
      }
      await client.send(encodeAck(block), tid);
    }
    const size = got.reduce((n, d) => n + d.length, 0);
    assert.equal(size, file.length);
    await server.waitForLine(/RRQ "big\.bin".*: ok, /);
    const starts = server.lines.filter((l) => /RRQ "big\.bin" octet$/.test(l));
    assert.equal(starts.length, 1, server.stderr.text);
    const ignored = server.lines.filter((l) =>
      /repeated request ignored/.test(l)
    );
    assert.equal(ignored.length, 3, server.stderr.text);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
