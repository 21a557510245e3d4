/**
 * The server under Deno's permission flags: read-only when it may not
 * write, and a clear refusal to start when it may not read its root.
 */

import assert from "node:assert/strict";
import {
  encodeRequest,
  type ErrorPacket,
  Opcode,
} from "../../src/protocol/packet.ts";
import {
  getFile,
  putFile,
  randomBytes,
  RawClient,
} from "../../testing/raw_client.ts";
import { LISTENING, runMain, startServer } from "../../testing/process.ts";
import { endpoint, listDir, oneLine, tempDir } from "./common.ts";

Deno.test("with --allow-read=ROOT only: logs read-only once, WRQ gets ERROR 2", async () => {
  const data = randomBytes(1234);
  await using dir = await tempDir({ "a.bin": data });
  await using server = await startServer(dir.path, {
    permissions: ["--allow-net", `--allow-read=${dir.path}`],
  });

  for (const name of ["up1.bin", "up2.bin"]) {
    const r = await putFile(endpoint(server), name, { data: randomBytes(700) });
    assert.equal(r.error?.code, 2, `${name}: ${JSON.stringify(r.error)}`);
    assert.equal(r.acks, 0, "the upload must be refused before any ACK");
  }
  // A WRQ with options is refused the same way (no OACK first).
  using client = RawClient.open();
  await client.send(
    encodeRequest(Opcode.WRQ, "up3.bin", {
      options: new Map([["blksize", "1468"], ["tsize", "10"]]),
    }),
    endpoint(server),
  );
  const reply = await client.receive(5000);
  assert.equal(reply?.packet.op, Opcode.ERROR);
  assert.equal((reply!.packet as ErrorPacket).code, 2);

  // Reads still work.
  const got = await getFile(endpoint(server), "a.bin");
  assert.equal(got.error, undefined);
  assert.deepEqual(got.data, data);
  await server.waitForLine(/ RRQ "a\.bin" .*: ok/);

  assert.equal((await server.stop()).code, 0);
  const notices = server.lines.filter((l) => /no write permission/.test(l));
  assert.equal(notices.length, 1, server.stderr.text);
  assert.match(notices[0], /\[(WARNING|INFO)\] .*read-only/);
  assert.deepEqual(await listDir(dir.path), ["a.bin"]);
});

Deno.test({
  name: "with --allow-read=ROOT only: the listening line says read-only",
  fn: async () => {
    await using dir = await tempDir();
    await using server = await startServer(dir.path, {
      permissions: ["--allow-net", `--allow-read=${dir.path}`],
    });
    const listening = server.lines.find((l) => LISTENING.test(l));
    assert.match(listening ?? "", /listening on .*\(read-only\)/);
    assert.equal((await server.stop()).code, 0);
  },
});

Deno.test("with no read permission on the root it refuses to start", async () => {
  await using dir = await tempDir({ "a.bin": randomBytes(10) });
  const r = await runMain(
    ["--host", "127.0.0.1", "-p", "0", "--root", dir.path],
    { permissions: ["--allow-net", `--allow-write=${dir.path}`] },
  );
  assert.notEqual(r.code, 0);
  const line = oneLine(r.stderr);
  assert.match(line, /read permission/);
  assert.ok(line.includes(`--allow-read=${dir.path}`), line);
  assert.doesNotMatch(r.stderr, /listening on/);
});

Deno.test("with read permission on another directory only it refuses to start", async () => {
  await using dir = await tempDir({ "a.bin": randomBytes(10) });
  await using other = await tempDir();
  const r = await runMain(
    ["--host", "127.0.0.1", "-p", "0", "--root", dir.path],
    { permissions: ["--allow-net", `--allow-read=${other.path}`] },
  );
  assert.notEqual(r.code, 0);
  assert.match(oneLine(r.stderr), /read permission/);
});

Deno.test("a symlinked --root: exit 2 naming the real directory to grant; with it granted, files are served", async () => {
  const data = randomBytes(700);
  await using dir = await tempDir({ "a.bin": data });
  await using links = await tempDir();
  const real = await Deno.realPath(dir.path);
  const link = `${links.path}/tftpboot`;
  await Deno.symlink(dir.path, link);
  const r = await runMain(
    ["--host", "127.0.0.1", "-p", "0", "--root", link],
    { permissions: ["--allow-net", `--allow-read=${link}`] },
  );
  assert.equal(r.code, 2, r.stderr);
  // One error line, through the logger (so -l FILE has it too).
  assert.equal(
    r.stderr.replace(/^\S+ \S+ /, ""),
    `[ERROR] no read permission on ${real}, where the root ${link} leads ` +
      `(Deno's permissions do not follow symlinks): run with --allow-read=${real}\n`,
  );
  await using server = await startServer(link, {
    permissions: ["--allow-net", `--allow-read=${link},${real}`],
  });
  const got = await getFile(endpoint(server), "a.bin");
  assert.equal(got.error, undefined);
  assert.deepEqual(got.data, data);
  assert.equal((await server.stop()).code, 0);
});
