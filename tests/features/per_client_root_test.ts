/**
 * `perClientRoot` (`--per-client-root`): a client whose address names a
 * directory under the root is served from that directory alone (reads and
 * uploads); other clients read the shared root and cannot upload. No
 * client ever reaches another client's directory, by any spelling, IPv4
 * or IPv6. The client directory can never lead outside the root.
 */

import assert from "node:assert/strict";
import { TftpClientError } from "../../src/client/client.ts";
import { ErrorCode } from "../../src/protocol/packet.ts";
import { startServer } from "../../testing/process.ts";
import {
  answer,
  download,
  downloadText,
  startFeatureServer,
  tempDir,
  upload,
} from "./fixture.ts";
import { ipv6Available } from "../../testing/net.ts";
import { needs } from "../../testing/gates.ts";

async function failure(p: Promise<unknown>): Promise<string> {
  const err = await p.then(() => undefined, (e) => e);
  assert.ok(err instanceof TftpClientError, `expected a TFTP error: ${err}`);
  return err.kind;
}

const FILES = {
  "a.txt": "shared",
  "shared-only.txt": "shared only",
  "127.0.0.1/a.txt": "mine",
  "10.9.9.9/a.txt": "someone else's",
};

Deno.test("perClientRoot: 127.0.0.1 is served from ROOT/127.0.0.1/", async () => {
  await using srv = await startFeatureServer({
    perClientRoot: true,
    files: FILES,
    dirs: ["127.0.0.1/incoming"],
  });
  assert.equal(await downloadText(srv, "a.txt"), "mine");
  // The client directory replaces the root: shared files are not mixed in.
  assert.equal(await failure(download(srv, "shared-only.txt")), "not-found");
  assert.equal(await failure(download(srv, "../a.txt")), "access");
  assert.equal(await failure(download(srv, "../10.9.9.9/a.txt")), "access");
  await upload(srv, "incoming/up.txt", { data: "uploaded" });
  assert.equal(await srv.readText("127.0.0.1/incoming/up.txt"), "uploaded");
  assert.equal(await srv.readText("incoming/up.txt"), undefined);
});

Deno.test("perClientRoot: a client without a directory reads the shared root and cannot upload", async () => {
  await using srv = await startFeatureServer({
    perClientRoot: true,
    files: { "a.txt": "shared", "10.9.9.9/a.txt": "someone else's" },
    dirs: ["incoming"],
  });
  assert.equal(await downloadText(srv, "a.txt"), "shared");
  assert.deepEqual(
    await failure(upload(srv, "incoming/up.txt", { data: "u" })),
    "access",
  );
  assert.equal(await srv.readText("incoming/up.txt"), undefined);
});

for (const ignoreCase of [false, true]) {
  Deno.test(`perClientRoot: no client reaches another client's directory${ignoreCase ? " (ignoreCase)" : ""}`, async () => {
    await using srv = await startFeatureServer({
      perClientRoot: true,
      ignoreCase,
      files: {
        "a.txt": "shared",
        "127.0.0.2/secret.txt": "2's secret",
        "127.0.0.3/mine.txt": "3's",
        "2001-db8--7/v6.txt": "v6 client's",
      },
      dirs: ["127.0.0.2/incoming", "127.0.0.3/incoming"],
    });
    const missing = await answer(srv, "no-such.txt", { bind: "127.0.0.1" });
    assert.deepEqual(missing, [
      ErrorCode.FILE_NOT_FOUND,
      "NAME: file not found",
    ]);
    // 127.0.0.1 has no directory: the shared root, minus client directories.
    for (
      const name of [
        "127.0.0.2/secret.txt",
        "/127.0.0.2/secret.txt",
        "\\127.0.0.2\\secret.txt",
        "2001-db8--7/v6.txt",
        "2001-DB8--7/v6.txt",
        "2001:db8::7/v6.txt",
      ]
    ) {
      assert.deepEqual(
        await answer(srv, name, { bind: "127.0.0.1" }),
        missing,
        `read ${name}`,
      );
      const w = await answer(srv, name.replace(/[^/\\]*$/, "planted.txt"), {
        bind: "127.0.0.1",
        put: true,
      });
      assert.equal(w[0], ErrorCode.ACCESS_VIOLATION, `write ${name}`);
    }
    assert.deepEqual(
      await answer(srv, "127.0.0.2/incoming/planted.txt", {
        bind: "127.0.0.1",
        put: true,
      }),
      [
        ErrorCode.ACCESS_VIOLATION,
        "uploads need this client's own directory (per-client roots)",
      ],
    );
    // 127.0.0.3 has its own directory: it alone, nothing beside it.
    assert.deepEqual(
      await answer(srv, "mine.txt", { bind: "127.0.0.3" }),
      [undefined, "3's"],
    );
    for (const name of ["127.0.0.2/secret.txt", "a.txt", "secret.txt"]) {
      assert.deepEqual(
        await answer(srv, name, { bind: "127.0.0.3" }),
        missing,
        `3 reads ${name}`,
      );
    }
    await answer(srv, "incoming/up.txt", { bind: "127.0.0.3", put: true });
    assert.equal(await srv.readText("127.0.0.3/incoming/up.txt"), "x");
    const plant = await answer(srv, "127.0.0.2/incoming/x.txt", {
      bind: "127.0.0.3",
      put: true,
    });
    assert.equal(plant[0], ErrorCode.ACCESS_VIOLATION);
    // 127.0.0.2 sees its own file; nothing was planted in its directory.
    assert.deepEqual(
      await answer(srv, "secret.txt", { bind: "127.0.0.2" }),
      [undefined, "2's secret"],
    );
    assert.deepEqual(
      [...Deno.readDirSync(`${srv.root}/127.0.0.2/incoming`)],
      [],
    );
  });
}
Deno.test("perClientRoot: no symlink in the shared root leads into a client's directory", async () => {
  await using srv = await startFeatureServer({
    perClientRoot: true,
    files: {
      "a.txt": "shared",
      "sub/ok.txt": "shared too",
      "127.0.0.2/secret.txt": "2's secret",
      "127.0.0.2/deep/d.txt": "2's deep",
    },
  });
  const r = srv.root;
  await Deno.symlink(".", `${r}/tftpboot`); // common in TFTP roots
  await Deno.symlink("127.0.0.2", `${r}/alias`);
  await Deno.symlink("127.0.0.2/secret.txt", `${r}/link.txt`);
  await Deno.symlink("127.0.0.2/deep", `${r}/deep`);
  await Deno.symlink("sub", `${r}/sub-alias`);
  await Deno.symlink("sub/ok.txt", `${r}/ok-link.txt`);
  // A client directory that is a link to another client's is not its own.
  await Deno.symlink("127.0.0.2", `${r}/127.0.0.4`);
  const missing = await answer(srv, "no-such.txt", { bind: "127.0.0.1" });
  for (const bind of ["127.0.0.1", "127.0.0.4"]) {
    for (
      const name of [
        "tftpboot/127.0.0.2/secret.txt",
        "tftpboot/tftpboot/127.0.0.2/deep/d.txt",
        "alias/secret.txt",
        "link.txt",
        "deep/d.txt",
        "tftpboot/link.txt",
        "secret.txt",
      ]
    ) {
      assert.deepEqual(
        await answer(srv, name, { bind }),
        missing,
        `${bind} reads ${name}`,
      );
    }
    // Links that stay in the shared part still work.
    for (
      const [name, text] of [
        ["tftpboot/a.txt", "shared"],
        ["sub-alias/ok.txt", "shared too"],
        ["ok-link.txt", "shared too"],
      ]
    ) {
      assert.deepEqual(await answer(srv, name, { bind }), [undefined, text]);
    }
  }
  const plant = await answer(srv, "x.txt", { bind: "127.0.0.4", put: true });
  assert.equal(plant[0], ErrorCode.ACCESS_VIOLATION);
  // 127.0.0.2 itself still reads its own files.
  assert.deepEqual(
    await answer(srv, "secret.txt", { bind: "127.0.0.2" }),
    [undefined, "2's secret"],
  );
});

Deno.test("without perClientRoot the client directory is an ordinary folder", async () => {
  await using srv = await startFeatureServer({ files: FILES });
  assert.equal(await downloadText(srv, "a.txt"), "shared");
  assert.equal(await downloadText(srv, "127.0.0.1/a.txt"), "mine");
});

Deno.test("perClientRoot: a client directory that is a symlink out of the root is not used", async () => {
  const outside = await tempDir("tftpd-outside-");
  try {
    await Deno.writeTextFile(`${outside}/a.txt`, "outside");
    await using srv = await startFeatureServer({
      perClientRoot: true,
      files: { "a.txt": "shared" },
    });
    await Deno.symlink(outside, `${srv.root}/127.0.0.1`);
    // Not the outside file: the client falls back to the shared root.
    assert.equal(await downloadText(srv, "a.txt"), "shared");
  } finally {
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test({
  name:
    "perClientRoot over IPv6: ROOT/--1/ for ::1, and IPv4 and IPv6 clients stay apart",
  ignore: needs("IPv6 on loopback (a UDP socket on ::1)", ipv6Available()),
  fn: async () => {
    await using srv = await startFeatureServer({
      host: "::",
      perClientRoot: true,
      files: {
        "a.txt": "shared",
        "--1/a.txt": "v6 mine",
        "::1/a.txt": "old colon spelling",
        "127.0.0.2/a.txt": "v4 client's",
      },
      dirs: ["--1/incoming"],
    });
    const v6 = { addr: { ...srv.addr, hostname: "::1" } };
    const v4 = { addr: { ...srv.addr, hostname: "127.0.0.1" } };
    assert.deepEqual(await answer(v6, "a.txt", { bind: "::1" }), [
      undefined,
      "v6 mine",
    ]);
    await answer(v6, "incoming/up.txt", { bind: "::1", put: true });
    assert.equal(await srv.readText("--1/incoming/up.txt"), "x");
    const missing = await answer(v6, "no-such", { bind: "::1" });
    assert.equal(missing[0], ErrorCode.FILE_NOT_FOUND);
    for (const name of ["127.0.0.2/a.txt", "::1/a.txt", "--1/a.txt"]) {
      assert.deepEqual(await answer(v6, name, { bind: "::1" }), missing, name);
    }
    // An IPv4 client (seen as ::ffff:127.0.0.1) has no directory here.
    assert.deepEqual(await answer(v4, "a.txt", { bind: "127.0.0.1" }), [
      undefined,
      "shared",
    ]);
    for (const name of ["--1/a.txt", "::1/a.txt", "127.0.0.2/a.txt"]) {
      assert.deepEqual(
        await answer(v4, name, { bind: "127.0.0.1" }),
        missing,
        name,
      );
    }
  },
});

Deno.test("the command: --per-client-root", async () => {
  const root = await tempDir("tftpd-pcr-");
  try {
    await Deno.mkdir(`${root}/127.0.0.1`);
    await Deno.writeTextFile(`${root}/a.txt`, "shared");
    await Deno.writeTextFile(`${root}/127.0.0.1/a.txt`, "mine");
    {
      await using server = await startServer(root, {
        args: ["--per-client-root"],
      });
      const target = { target: { host: server.host, port: server.port } };
      assert.equal(await downloadText(target, "a.txt"), "mine");
    }
    {
      await using server = await startServer(root);
      const target = { target: { host: server.host, port: server.port } };
      assert.equal(await downloadText(target, "a.txt"), "shared");
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("perClientRoot with worker threads: the client directory still applies", async () => {
  await using srv = await startFeatureServer({
    perClientRoot: true,
    workers: 2,
    files: FILES,
  });
  await srv.server.startWorkers();
  assert.equal(await downloadText(srv, "a.txt"), "mine");
  assert.equal(await failure(download(srv, "shared-only.txt")), "not-found");
  const s = await srv.waitForTransfer((t) => t.filename === "a.txt");
  assert.ok(s.worker !== undefined, "served by a worker thread");
});
