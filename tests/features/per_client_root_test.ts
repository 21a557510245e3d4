/**
 * `perClientRoot` (`--per-client-root`): a client whose address names a
 * directory under the root is served from that directory (reads and
 * uploads); other clients get the shared root. The client directory can
 * never lead outside the root.
 */

import assert from "node:assert/strict";
import { TftpClientError } from "../../src/client/client.ts";
import { startServer } from "../../testing/process.ts";
import {
  download,
  downloadText,
  ipv6Loopback,
  startFeatureServer,
  tempDir,
  upload,
} from "./fixture.ts";
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

Deno.test("perClientRoot: a client without a directory gets the shared root", async () => {
  await using srv = await startFeatureServer({
    perClientRoot: true,
    files: { "a.txt": "shared", "10.9.9.9/a.txt": "someone else's" },
  });
  assert.equal(await downloadText(srv, "a.txt"), "shared");
  await upload(srv, "up.txt", { data: "u" });
  assert.equal(await srv.readText("up.txt"), "u");
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
  name: "perClientRoot over IPv6: ROOT/::1/",
  ignore: needs("IPv6 on loopback (a UDP socket on ::1)", ipv6Loopback()),
  fn: async () => {
    await using srv = await startFeatureServer({
      host: "::1",
      perClientRoot: true,
      files: { "a.txt": "shared", "::1/a.txt": "v6 mine" },
    });
    assert.equal(await downloadText(srv, "a.txt"), "v6 mine");
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
  await srv.server.workersReady;
  assert.equal(await downloadText(srv, "a.txt"), "mine");
  assert.equal(await failure(download(srv, "shared-only.txt")), "not-found");
  const s = await srv.waitForTransfer((t) => t.filename === "a.txt");
  assert.ok(s.worker !== undefined, "served by a worker thread");
});
