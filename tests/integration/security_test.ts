/**
 * Integration: the serve root holds. Path tricks, symlinks, no overwrite,
 * no directory creation, no temporary files left behind, read-only mode.
 */

import assert from "node:assert/strict";
import {
  encodeData,
  encodeError,
  encodeRequest,
  ErrorCode,
  Opcode,
} from "../../src/protocol/packet.ts";
import { startServer } from "../../testing/server.ts";
import { startFeatureServer } from "../features/fixture.ts";
import {
  getFile,
  putFile,
  randomBytes,
  RawClient,
} from "../../testing/raw_client.ts";

const text = new TextEncoder();

/** A directory outside every server root, removed on dispose. */
async function outsideDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.realPath(
    await Deno.makeTempDir({ prefix: "tftpd-outside-" }),
  );
  await Deno.writeTextFile(`${path}/secret.txt`, "top secret");
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}

async function listDir(path: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(path)) out.push(e.name);
  return out.sort();
}

Deno.test("names with .. are refused with ERROR 2, both ways", async () => {
  await using srv = await startServer({ files: { "a/b.txt": "b" } });
  for (
    const name of [
      "../etc/passwd",
      "a/../../x",
      "a/../b.txt",
      "..\\..\\etc\\passwd",
      "/../etc/passwd",
      "..",
    ]
  ) {
    const r = await getFile(srv.addr, name);
    assert.equal(r.error?.code, ErrorCode.ACCESS_VIOLATION, `RRQ ${name}`);
    assert.equal(r.dataPackets, 0);
  }
  const escape = `tftpd-escape-${crypto.randomUUID()}.txt`;
  const w = await putFile(srv.addr, `../${escape}`, { data: text.encode("x") });
  assert.equal(w.error?.code, ErrorCode.ACCESS_VIOLATION);
  const parent = srv.root.slice(0, srv.root.lastIndexOf("/"));
  assert.ok(!(await listDir(parent)).includes(escape));
});

Deno.test("a NUL ends the name: the rest is the mode, refused with ERROR 4", async () => {
  await using srv = await startServer({ files: { "a.bin": "public" } });
  using client = RawClient.open();
  await client.send(
    encodeRequest(Opcode.RRQ, "a.bin\0../../etc/passwd"),
    srv.addr,
  );
  const r = await client.receive();
  assert.ok(r);
  assert.equal(r.packet.op, Opcode.ERROR);
  if (r.packet.op === Opcode.ERROR) {
    assert.equal(r.packet.code, ErrorCode.ILLEGAL_OPERATION);
  }
  assert.deepEqual(await client.drain(100), []);
});

Deno.test("absolute and backslash names are read relative to the root", async () => {
  const data = randomBytes(700);
  const boot = randomBytes(300);
  await using srv = await startServer({
    files: { "a.bin": data, "Boot/BCD": boot },
  });
  for (const name of ["/a.bin", "//a.bin", "./a.bin", "\\a.bin"]) {
    const r = await getFile(srv.addr, name);
    assert.equal(r.error, undefined, name);
    assert.deepEqual(r.data, data, name);
  }
  for (const name of ["\\Boot\\BCD", "Boot\\BCD", "/Boot/BCD"]) {
    const r = await getFile(srv.addr, name);
    assert.equal(r.error, undefined, name);
    assert.deepEqual(r.data, boot, name);
  }
  // /etc/passwd means <root>/etc/passwd: not found, not the host's file.
  const r = await getFile(srv.addr, "/etc/passwd");
  assert.equal(r.error?.code, ErrorCode.FILE_NOT_FOUND);
  assert.equal(r.dataPackets, 0);
});

for (const workers of [1, 2]) {
  Deno.test(`a symlink leading out answers exactly like a missing file (workers ${workers})`, async () => {
    await using out = await outsideDir();
    await using srv = await startFeatureServer({
      workers,
      files: { "a.bin": "x" },
      dirs: ["real"],
    });
    await srv.server.startWorkers();
    await Deno.symlink(`${out.path}/secret.txt`, `${srv.root}/leak.txt`);
    await Deno.symlink(`${out.path}/nothing.txt`, `${srv.root}/dangling.txt`);
    await Deno.symlink(out.path, `${srv.root}/outdir`);
    /** Code and message, the name replaced, as the client sees them. */
    const answer = async (name: string, put = false) => {
      const r = put
        ? await putFile(srv.addr, name, { data: text.encode("x") })
        : await getFile(srv.addr, name);
      assert.equal(r.dataPackets, 0, name);
      assert.ok(r.error, `${name}: no error`);
      return [r.error.code, r.error.message.replaceAll(name, "NAME")];
    };
    const missing = await answer("no-such.txt");
    assert.deepEqual(missing, [
      ErrorCode.FILE_NOT_FOUND,
      "NAME: file not found",
    ]);
    // Whether the outside file exists or not, the answer is the same.
    for (
      const name of [
        "leak.txt",
        "dangling.txt",
        "outdir/secret.txt",
        "outdir/nothing.txt",
      ]
    ) {
      assert.deepEqual(await answer(name), missing, name);
    }
    // An upload through the directory link is answered like one into a
    // missing directory, and writes nothing outside.
    const noDir = await answer("no-dir/new.txt", true);
    assert.equal(noDir[0], ErrorCode.ACCESS_VIOLATION);
    assert.deepEqual(await answer("outdir/new.txt", true), noDir);
    assert.deepEqual(await listDir(out.path), ["secret.txt"]);
  });
}

Deno.test("RRQs for a FIFO or a socket get ERROR 2 at once and hold no slot", async () => {
  await using srv = await startServer({ files: { "a.bin": "ok" } });
  const mk = new Deno.Command("mkfifo", { args: [`${srv.root}/fifo`] });
  assert.equal((await mk.output()).code, 0);
  const sock = Deno.listen({ transport: "unix", path: `${srv.root}/sock` });
  try {
    // More than enough to stop all service if each held its slot.
    const answers = await Promise.all(
      Array.from(
        { length: 80 },
        (_, i) => getFile(srv.addr, i % 2 ? "fifo" : "sock", { maxResends: 0 }),
      ),
    );
    for (const r of answers) {
      assert.equal(r.error?.code, ErrorCode.ACCESS_VIOLATION);
      assert.match(r.error?.message ?? "", /not a regular file/);
    }
    await srv.server.whenIdle();
    assert.equal(srv.server.activeSessions, 0);
    assert.deepEqual(
      (await getFile(srv.addr, "a.bin")).data,
      text.encode("ok"),
    );
  } finally {
    sock.close();
  }
});

Deno.test("a symlink inside the root to a file inside works", async () => {
  const data = randomBytes(900);
  await using srv = await startServer({ files: { "real/a.bin": data } });
  await Deno.symlink("real/a.bin", `${srv.root}/alias.bin`);
  await Deno.symlink("real", `${srv.root}/dirlink`);
  for (const name of ["alias.bin", "dirlink/a.bin"]) {
    const r = await getFile(srv.addr, name);
    assert.equal(r.error, undefined, name);
    assert.deepEqual(r.data, data, name);
  }
});

Deno.test("a directory is not served", async () => {
  await using srv = await startServer({ files: { "sub/a.txt": "a" } });
  const r = await getFile(srv.addr, "sub");
  assert.ok(r.error, "a directory must not be sent");
  assert.ok(
    [ErrorCode.ACCESS_VIOLATION, ErrorCode.FILE_NOT_FOUND].includes(
      r.error.code as 1 | 2,
    ),
    `ERROR ${r.error.code}`,
  );
});

Deno.test("uploads never overwrite: ERROR 6, content unchanged", async () => {
  await using srv = await startServer({ files: { "a.bin": "original" } });
  for (const name of ["a.bin", "/a.bin", "\\a.bin"]) {
    const r = await putFile(srv.addr, name, { data: text.encode("evil") });
    assert.equal(r.error?.code, ErrorCode.FILE_EXISTS, name);
    assert.equal(r.dataPackets, 0);
  }
  // Not through a symlink either (even a dangling one).
  await Deno.symlink("nowhere.bin", `${srv.root}/dangling.bin`);
  const d = await putFile(srv.addr, "dangling.bin", {
    data: text.encode("x"),
  });
  assert.equal(d.error?.code, ErrorCode.FILE_EXISTS);
  assert.equal(
    new TextDecoder().decode(await srv.readFile("a.bin")),
    "original",
  );
  assert.deepEqual(await srv.listFiles(), ["a.bin", "dangling.bin"]);
});

Deno.test("uploads never create directories", async () => {
  await using srv = await startServer({ files: { "sub/x.txt": "x" } });
  for (const name of ["newdir/a.bin", "sub/deeper/a.bin", "a/b/c/d.bin"]) {
    const r = await putFile(srv.addr, name, { data: text.encode("x") });
    assert.equal(r.error?.code, ErrorCode.ACCESS_VIOLATION, name);
  }
  // An existing subdirectory is fine.
  const ok = await putFile(srv.addr, "sub/a.bin", { data: text.encode("y") });
  assert.equal(ok.error, undefined);
  assert.deepEqual(await srv.listFiles(), ["sub/", "sub/a.bin", "sub/x.txt"]);
});

Deno.test("no temporary files left after a completed upload", async () => {
  await using srv = await startServer({ files: { "keep.txt": "k" } });
  const data = randomBytes(5000);
  const r = await putFile(srv.addr, "up.bin", { data });
  assert.equal(r.error, undefined);
  assert.deepEqual(await srv.listFiles(), ["keep.txt", "up.bin"]);
});

/**
 * Starts an upload of `up.bin` and sends two full blocks; returns the
 * client and the transfer address. The upload is under way afterwards.
 */
async function startUpload(
  srv: { addr: Deno.NetAddr },
  client: RawClient,
): Promise<Deno.NetAddr> {
  await client.send(encodeRequest(Opcode.WRQ, "up.bin"), srv.addr);
  const a0 = await client.receive();
  assert.ok(a0);
  assert.equal(a0.packet.op, Opcode.ACK);
  for (const n of [1, 2]) {
    await client.send(encodeData(n, randomBytes(512)), a0.from);
    const a = await client.receive();
    assert.ok(a);
    assert.equal(a.packet.op, Opcode.ACK);
  }
  return a0.from;
}

Deno.test("no temporary files left after a client abort", async () => {
  await using srv = await startServer({
    ackTimeout: 5,
    fixedInterval: true,
    files: { "keep.txt": "k" },
  });
  using client = RawClient.open();
  const tid = await startUpload(srv, client);
  // While the upload runs something besides keep.txt exists (the check
  // below can see a leftover) but never the target name.
  const during = await srv.listFiles();
  assert.equal(during.length, 2);
  assert.ok(!during.includes("up.bin"));
  await client.send(encodeError(0, "cancel"), tid);
  assert.equal((await srv.waitForTransferEnd()).outcome, "aborted");
  assert.deepEqual(await srv.listFiles(), ["keep.txt"]);
});

Deno.test("no temporary files left after an upload times out", async () => {
  await using srv = await startServer({
    ackTimeout: 0.2,
    fixedInterval: true,
    retries: 2,
    timeout: 1,
    files: { "keep.txt": "k" },
  });
  using client = RawClient.open();
  await startUpload(srv, client);
  assert.equal((await srv.listFiles()).length, 2);
  // Go silent.
  const s = await srv.waitForTransferEnd();
  assert.equal(s.outcome, "timeout");
  assert.deepEqual(await srv.listFiles(), ["keep.txt"]);
});

Deno.test("no temporary files left after server.close() during an upload", async () => {
  await using srv = await startServer({
    ackTimeout: 5,
    fixedInterval: true,
    files: { "keep.txt": "k" },
  });
  using client = RawClient.open();
  await startUpload(srv, client);
  assert.equal((await srv.listFiles()).length, 2);
  await srv.server.close();
  assert.equal(srv.transfers.at(-1)?.outcome, "cancelled");
  assert.deepEqual(await srv.listFiles(), ["keep.txt"]);
});

Deno.test("read-only server: WRQ gets ERROR 2 and no file", async () => {
  await using srv = await startServer({
    readOnly: true,
    files: { "a.bin": "a" },
  });
  const r = await putFile(srv.addr, "up.bin", { data: text.encode("x") });
  assert.equal(r.error?.code, ErrorCode.ACCESS_VIOLATION);
  assert.equal(r.dataPackets, 0);
  const g = await getFile(srv.addr, "a.bin");
  assert.equal(new TextDecoder().decode(g.data), "a");
  await srv.waitForTransferEnd((s) => s.direction === "write");
  assert.deepEqual(await srv.listFiles(), ["a.bin"]);
  await srv.waitForLine(/\(read-only\)/);
});
