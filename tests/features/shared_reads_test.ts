/**
 * A storm of clients fetching one file, served from shared chunks: every
 * client gets the file byte for byte, whatever its blksize, windowsize or
 * mode, and the file is read about once.
 *
 * @module
 */

import assert from "node:assert/strict";
import { FsStorage } from "../../src/storage/files.ts";
import { type FsCalls, realFsCalls } from "../../src/storage/sys.ts";
import { firstDifference, randomBytes } from "../../testing/bytes.ts";
import { tempDir, TestServer } from "../../testing/server.ts";
import { download, startFeatureServer } from "./fixture.ts";
import { ErrorCode, Opcode } from "../../src/protocol/packet.ts";
import { RawClient, type ReceivedPacket } from "../../testing/raw_client.ts";

Deno.test("shared reads: 25 clients at once, mixed blksize, windowsize and mode, each get the file exactly, from about one read per chunk", async () => {
  const root = await Deno.realPath(await tempDir("tftpd-shared-"));
  const data = randomBytes(300 * 1024 + 5);
  const real = realFsCalls();
  let reads = 0;
  const calls: FsCalls = {
    ...real,
    // Files written by the test are brand new; as old ones they are shared.
    fstat: (fd) => ({ ...real.fstat(fd), mtimeMs: 5, ctimeMs: 5 }),
    read: (fd, buf, pos) => {
      reads++;
      return real.read(fd, buf, pos);
    },
  };
  const storage = new FsStorage(root, { calls, writable: false });
  await using srv = await new TestServer(root, { server: { storage } })
    .start({ files: { "boot.img": data } });
  const shapes = [
    { blksize: 512 },
    { blksize: 1468, windowsize: 8 },
    { blksize: 1000, windowsize: 3 },
    { blksize: 8192, windowsize: 4 },
    { blksize: 512, mode: "netascii" as const },
  ];
  const at = { target: { host: "127.0.0.1", port: srv.port } };
  const got = await Promise.all(
    Array.from(
      { length: 24 },
      (_, i) => download(at, "boot.img", shapes[i % shapes.length]),
    ),
  );
  for (const [i, g] of got.entries()) {
    assert.equal(g.data.length, data.length, `client ${i}`);
    assert.equal(firstDifference(g.data, data), undefined, `client ${i}`);
  }
  // Five chunks; a chunk read again after the last reader of the moment
  // let go is allowed, 25 private copies (125 reads) are not.
  assert.ok(reads <= 5 * 4, `${reads} reads`);
  assert.ok(reads >= 5, `${reads} reads`);
  assert.deepEqual(
    srv.lines.filter((l) => /\[(ERROR|WARNING)\]/.test(l)),
    [],
  );
});

Deno.test("a file cut short while a client reads it (cp over it in place) ends in ERROR 0, logged as an error, never as a whole file", async () => {
  const data = randomBytes(300 * 1024);
  await using srv = await startFeatureServer({ files: { "boot.img": data } });
  using peer = RawClient.open();
  await peer.request(srv.addr, {
    op: "RRQ",
    name: "boot.img",
    options: { tsize: "0" },
  });
  const oack = await peer.expect();
  assert.equal(oack.packet.op, Opcode.OACK);
  await peer.ack(oack.from, 0);
  let block = 0;
  let error: ReceivedPacket["packet"] | undefined;
  for (let i = 0; i < 1000 && error === undefined; i++) {
    const { packet, from } = await peer.expect();
    if (packet.op === Opcode.ERROR) {
      error = packet;
      break;
    }
    assert.equal(packet.op, Opcode.DATA);
    if (packet.op !== Opcode.DATA) break;
    assert.equal(
      packet.data.length,
      512,
      "no short block: the file is not whole",
    );
    block = packet.block;
    if (block === 10) await Deno.truncate(`${srv.root}/boot.img`, 6000);
    await peer.ack(from, block);
  }
  assert.ok(error?.op === Opcode.ERROR, `no ERROR after block ${block}`);
  assert.equal(error.code, ErrorCode.NOT_DEFINED);
  assert.equal(error.message, "file changed during the transfer");
  const end = await srv.waitForTransfer((s) => s.filename === "boot.img");
  assert.equal(end.outcome, "error");
  assert.match(end.error ?? "", /changed during the transfer/);
});
