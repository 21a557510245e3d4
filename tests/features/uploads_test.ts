/**
 * Who may upload what: `readOnly` (`--read-only`), Deno's write permission
 * as the upload allow-list (`--allow-write=ROOT/incoming`), and
 * `allowOverwrite` (`--allow-overwrite`).
 */

import assert from "node:assert/strict";
import { STALE_UPLOAD_MS } from "../../src/storage/sweep.ts";
import { TftpClientError } from "../../src/client/client.ts";
import { startServer } from "../../testing/process.ts";
import { Opcode } from "../../src/protocol/packet.ts";
import {
  downloadText,
  randomBytes,
  sha256,
  startFeatureServer,
  tempDir,
  upload,
} from "./fixture.ts";
import { RawClient } from "../../testing/raw_client.ts";

/** The error a failed transfer reports: [kind, code]. */
async function failure(p: Promise<unknown>): Promise<[string, number]> {
  const err = await p.then(() => undefined, (e) => e);
  assert.ok(err instanceof TftpClientError, `expected a TFTP error: ${err}`);
  return [err.kind, err.code];
}

/** Every entry under `dir`, recursively, as sorted relative paths. */
async function listTree(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    out.push(prefix + e.name);
    if (e.isDirectory) {
      out.push(...await listTree(`${dir}/${e.name}`, `${prefix}${e.name}/`));
    }
  }
  return out.sort();
}

Deno.test("readOnly: every WRQ gets ERROR 2, reads still work", async () => {
  await using srv = await startFeatureServer({
    readOnly: true,
    files: { "a.txt": "a" },
    dirs: ["incoming"],
  });
  assert.deepEqual(
    await failure(upload(srv, "new.txt", { data: "x" })),
    ["access", 2],
  );
  assert.deepEqual(
    await failure(upload(srv, "incoming/new.txt", { data: "x" })),
    ["access", 2],
  );
  assert.deepEqual(
    await failure(upload(srv, "a.txt", { data: "x" })),
    ["access", 2],
  );
  assert.equal(await downloadText(srv, "a.txt"), "a");
  assert.deepEqual(await listTree(srv.root), ["a.txt", "incoming"]);
});

Deno.test("allowOverwrite off (default): an existing file gets ERROR 6 and stays", async () => {
  await using srv = await startFeatureServer({ files: { "a.txt": "old" } });
  assert.deepEqual(
    await failure(upload(srv, "a.txt", { data: "new" })),
    ["exists", 6],
  );
  assert.equal(await srv.readText("a.txt"), "old");
  assert.deepEqual(await listTree(srv.root), ["a.txt"]);
});

Deno.test("allowOverwrite: a regular file is replaced; directories and symlinks are not", async () => {
  const outside = await tempDir("tftpd-outside-");
  try {
    await Deno.writeTextFile(`${outside}/target.txt`, "outside");
    await using srv = await startFeatureServer({
      allowOverwrite: true,
      files: { "a.txt": "old", "dir/x": "x" },
    });
    await Deno.symlink(`${outside}/target.txt`, `${srv.root}/link.txt`);
    const data = randomBytes(70_000);
    await upload(srv, "a.txt", { data, blksize: 1024 });
    assert.equal(
      sha256(await Deno.readFile(`${srv.root}/a.txt`)),
      sha256(data),
    );
    assert.deepEqual(
      await failure(upload(srv, "dir", { data: "x" })),
      ["exists", 6],
    );
    const err = await upload(srv, "link.txt", { data: "through link" }).then(
      () => undefined,
      (e) => e,
    );
    assert.ok(err instanceof TftpClientError, String(err));
    assert.equal(
      await Deno.readTextFile(`${outside}/target.txt`),
      "outside",
    );
    // No temporary files left behind.
    assert.deepEqual(await listTree(srv.root), [
      "a.txt",
      "dir",
      "dir/x",
      "link.txt",
    ]);
  } finally {
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("allowOverwrite: the replaced file keeps its permission bits (never a set-id bit) and, as root, its owner", async () => {
  await using srv = await startFeatureServer({
    allowOverwrite: true,
    files: { "private.cfg": "old", "run.sh": "old", "setid": "old" },
  });
  await Deno.chmod(`${srv.root}/private.cfg`, 0o600);
  await Deno.chmod(`${srv.root}/run.sh`, 0o755);
  await Deno.chmod(`${srv.root}/setid`, 0o6755);
  const root = Deno.uid() === 0;
  if (root) await Deno.chown(`${srv.root}/private.cfg`, 65534, 65534);
  for (const name of ["private.cfg", "run.sh", "setid"]) {
    await upload(srv, name, { data: `new ${name}` });
    assert.equal(await srv.readText(name), `new ${name}`);
  }
  const mode = async (name: string) =>
    ((await Deno.stat(`${srv.root}/${name}`)).mode ?? 0) & 0o7777;
  assert.equal(await mode("private.cfg"), 0o600);
  assert.equal(await mode("run.sh"), 0o755);
  assert.equal(await mode("setid"), 0o755);
  if (root) {
    const st = await Deno.stat(`${srv.root}/private.cfg`);
    assert.deepEqual([st.uid, st.gid], [65534, 65534]);
  }
});

Deno.test("the command: --allow-write=ROOT/incoming limits uploads to incoming/", async () => {
  const root = await tempDir("tftpd-incoming-");
  try {
    await Deno.mkdir(`${root}/incoming`);
    await Deno.mkdir(`${root}/other`);
    await Deno.writeTextFile(`${root}/a.txt`, "a");
    await using server = await startServer(root, {
      permissions: [
        "--allow-net",
        `--allow-read=${root}`,
        `--allow-write=${root}/incoming`,
      ],
    });
    // The start line says where uploads land, not a bare "read-only".
    const start = server.lines.find((l) => /listening on /.test(l)) ?? "";
    assert.match(start, /\(read-only; uploads into "incoming\/"\)/);
    const target = { target: { host: server.host, port: server.port } };
    const data = randomBytes(40_000);
    await upload(target, "incoming/up.bin", { data });
    assert.equal(
      sha256(await Deno.readFile(`${root}/incoming/up.bin`)),
      sha256(data),
    );
    assert.deepEqual(
      await failure(upload(target, "up.bin", { data })),
      ["access", 2],
    );
    assert.deepEqual(
      await failure(upload(target, "other/up.bin", { data })),
      ["access", 2],
    );
    assert.equal(await downloadText(target, "a.txt"), "a");
    assert.equal((await server.stop()).code, 0);
    assert.deepEqual(await listTree(root), [
      "a.txt",
      "incoming",
      "incoming/up.bin",
      "other",
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the command: --read-only and --allow-overwrite", async (t) => {
  const root = await tempDir("tftpd-upflags-");
  try {
    await Deno.writeTextFile(`${root}/a.txt`, "old");
    await t.step("--read-only", async () => {
      await using server = await startServer(root, { args: ["--read-only"] });
      const target = { target: { host: server.host, port: server.port } };
      assert.deepEqual(
        await failure(upload(target, "new.txt", { data: "x" })),
        ["access", 2],
      );
      assert.match(server.lines.join("\n"), /read-only/);
    });
    await t.step("default", async () => {
      await using server = await startServer(root);
      const target = { target: { host: server.host, port: server.port } };
      assert.deepEqual(
        await failure(upload(target, "a.txt", { data: "new" })),
        ["exists", 6],
      );
    });
    await t.step("--allow-overwrite", async () => {
      await using server = await startServer(root, {
        args: ["--allow-overwrite"],
      });
      const target = { target: { host: server.host, port: server.port } };
      await upload(target, "a.txt", { data: "new" });
      assert.equal(await Deno.readTextFile(`${root}/a.txt`), "new");
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("after kill -9 mid-upload, a later start removes the stale temporary file and logs it", async () => {
  const root = await tempDir("tftpd-crash-");
  try {
    await Deno.writeTextFile(`${root}/keep.txt`, "kept");
    const temps = () =>
      [...Deno.readDirSync(root)].map((e) => e.name).filter((n) =>
        n.startsWith(".tftp-upload-")
      );
    {
      const server = await startServer(root, { args: ["--workers", "1"] });
      try {
        using peer = RawClient.open();
        await peer.request(
          { hostname: server.host, port: server.port },
          { op: "WRQ", name: "half.bin" },
        );
        const ack = await peer.expect();
        assert.equal(ack.packet.op, Opcode.ACK, "the upload is open");
        assert.equal(temps().length, 1, "its temporary file exists");
      } finally {
        await server.stop("SIGKILL");
      }
    }
    const [left] = temps();
    assert.ok(left, "kill -9 left the temporary file");
    // Only a file left unchanged for STALE_UPLOAD_MS is taken for a
    // leftover (a recent one may be another server's upload in progress).
    const old = new Date(Date.now() - STALE_UPLOAD_MS - 60_000);
    await Deno.utime(`${root}/${left}`, old, old);
    await using again = await startServer(root);
    await again.waitForLine(
      /removed ".tftp-upload-[0-9a-f]+": left by an earlier run/,
    );
    assert.deepEqual(temps(), []);
    assert.equal(await Deno.readTextFile(`${root}/keep.txt`), "kept");
    assert.equal(
      await Deno.stat(`${root}/half.bin`).then(() => true, () => false),
      false,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
