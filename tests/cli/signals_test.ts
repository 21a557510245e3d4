/**
 * Stopping the server process with SIGTERM or SIGINT while an upload is in
 * progress: exit status 0, a shutdown line in the log, and nothing of the
 * upload left in the root (neither the file nor its temporary file).
 */

import assert from "node:assert/strict";
import {
  type AckPacket,
  encodeData,
  encodeRequest,
  Opcode,
} from "../../src/protocol/packet.ts";
import { randomBytes, RawClient } from "../../testing/raw_client.ts";
import { startServer } from "../../testing/process.ts";
import { endpoint, listDir, LOG_LINE, tempDir } from "./common.ts";

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test(`${signal} during an upload: exit 0, no file left`, async () => {
    await using dir = await tempDir({ "keep.txt": "stays\n" });
    await using server = await startServer(dir.path);
    using client = RawClient.open();

    // WRQ, then three full DATA blocks, each acknowledged; then silence.
    await client.send(
      encodeRequest(Opcode.WRQ, "partial.bin"),
      endpoint(server),
    );
    const ack0 = await client.receive(5000);
    assert.equal(ack0?.packet.op, Opcode.ACK, "no ACK 0");
    assert.equal((ack0!.packet as AckPacket).block, 0);
    const tid = ack0!.from;
    for (let block = 1; block <= 3; block++) {
      await client.send(encodeData(block, randomBytes(512)), tid);
      const ack = await client.receive(5000);
      assert.equal(ack?.packet.op, Opcode.ACK, `no ACK ${block}`);
      assert.equal((ack!.packet as AckPacket).block, block);
    }
    // The upload is in progress: something besides keep.txt is on disk
    // (the temporary file), so the check after the stop can fail.
    const during = await listDir(dir.path);
    assert.ok(during.length > 1, `no temporary file: ${during}`);
    assert.ok(!during.includes("partial.bin"), "published before the end");

    const status = await server.stop(signal);
    assert.equal(status.code, 0, server.stderr.text);
    assert.equal(status.signal, null);
    assert.deepEqual(await listDir(dir.path), ["keep.txt"]);

    const lines = server.lines;
    for (const line of lines) assert.match(line, LOG_LINE);
    assert.ok(
      lines.some((l) => new RegExp(`\\[INFO\\] ${signal}.*shut`, "i").test(l)),
      `no shutdown line:\n${server.stderr.text}`,
    );
    assert.ok(
      lines.some((l) => / WRQ "partial\.bin" .*: cancelled/.test(l)),
      `the upload was not reported cancelled:\n${server.stderr.text}`,
    );
  });
}

Deno.test({
  name: "SIGTERM right after the listening line: exit 0, shutdown logged",
  fn: async () => {
    await using dir = await tempDir();
    await using server = await startServer(dir.path);
    const status = await server.stop("SIGTERM");
    assert.equal(status.code, 0, server.stderr.text);
    const lines = server.lines;
    assert.match(
      lines.at(-2) ?? "",
      /\[INFO\] SIGTERM received: shutting down/,
    );
    assert.match(lines.at(-1) ?? "", /\[INFO\] stopped$/);
  },
});
