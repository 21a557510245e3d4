/**
 * File-name handling operators choose: `ignoreCase` (`--ignore-case`) and
 * `normalizeNames` (on by default, `--no-normalize` turns it off), end to
 * end over loopback.
 */

import assert from "node:assert/strict";
import { TftpClientError } from "../../src/client/client.ts";
import { startServer } from "../../testing/process.ts";
import {
  download,
  downloadText,
  startFeatureServer,
  tempDir,
  upload,
} from "./fixture.ts";

/** The error kind a failed transfer reports. */
async function failure(p: Promise<unknown>): Promise<string> {
  const err = await p.then(() => undefined, (e) => e);
  assert.ok(err instanceof TftpClientError, `expected a TFTP error: ${err}`);
  return err.kind;
}

Deno.test("ignoreCase: \\Boot\\BCD finds boot/bcd; exact names win", async () => {
  await using srv = await startFeatureServer({
    ignoreCase: true,
    files: { "boot/bcd": "bcd", "A.txt": "upper", "a.txt": "lower" },
  });
  assert.equal(await downloadText(srv, "\\Boot\\BCD"), "bcd");
  assert.equal(await downloadText(srv, "BOOT/BCD"), "bcd");
  assert.equal(await downloadText(srv, "/boot/Bcd"), "bcd");
  assert.equal(await downloadText(srv, "a.txt"), "lower");
  assert.equal(await downloadText(srv, "A.txt"), "upper");
  assert.equal(await failure(download(srv, "boot/bcd.old")), "not-found");
  assert.equal(await failure(download(srv, "..\\boot\\bcd")), "access");
});

Deno.test("ignoreCase: an upload finds its directory case-insensitively", async () => {
  await using srv = await startFeatureServer({
    ignoreCase: true,
    dirs: ["incoming"],
  });
  await upload(srv, "INCOMING/New.txt", { data: "n" });
  assert.equal(await srv.readText("incoming/New.txt"), "n");
});

Deno.test("without ignoreCase, names are case-sensitive", async () => {
  await using srv = await startFeatureServer({ files: { "boot/bcd": "bcd" } });
  assert.equal(await failure(download(srv, "\\Boot\\BCD")), "not-found");
  assert.equal(await failure(download(srv, "boot/BCD")), "not-found");
  assert.equal(await downloadText(srv, "\\boot\\bcd"), "bcd");
});

Deno.test("normalizeNames (default): backslashes are separators, leading / dropped", async () => {
  await using srv = await startFeatureServer({
    files: { "boot/bcd": "bcd", "a/b.txt": "nested", "a\\b.txt": "literal" },
  });
  assert.equal(await downloadText(srv, "\\boot\\bcd"), "bcd");
  assert.equal(await downloadText(srv, "/boot/bcd"), "bcd");
  assert.equal(await downloadText(srv, "//boot//bcd"), "bcd");
  // The literal backslash file is unreachable: the name means a/b.txt.
  assert.equal(await downloadText(srv, "a\\b.txt"), "nested");
});

Deno.test("normalizeNames false: a backslash is an ordinary character", async () => {
  await using srv = await startFeatureServer({
    normalizeNames: false,
    files: { "boot/bcd": "bcd", "a/b.txt": "nested", "a\\b.txt": "literal" },
  });
  assert.equal(await downloadText(srv, "a\\b.txt"), "literal");
  assert.equal(await downloadText(srv, "a/b.txt"), "nested");
  assert.equal(await failure(download(srv, "\\boot\\bcd")), "not-found");
  // Absolute names are refused rather than read from the file system root.
  assert.equal(await failure(download(srv, "/boot/bcd")), "access");
  await upload(srv, "x\\y.txt", { data: "xy" });
  assert.equal(await srv.readText("x\\y.txt"), "xy");
});

Deno.test("the command: --ignore-case and --no-normalize", async (t) => {
  const root = await tempDir("tftpd-names-");
  try {
    await Deno.mkdir(`${root}/boot`);
    await Deno.writeTextFile(`${root}/boot/bcd`, "bcd");
    await Deno.writeTextFile(`${root}/a\\b.txt`, "literal");
    await t.step("--ignore-case", async () => {
      await using server = await startServer(root, { args: ["--ignore-case"] });
      const target = { target: { host: server.host, port: server.port } };
      assert.equal(await downloadText(target, "\\Boot\\BCD"), "bcd");
    });
    await t.step("default", async () => {
      await using server = await startServer(root);
      const target = { target: { host: server.host, port: server.port } };
      assert.equal(await failure(download(target, "\\Boot\\BCD")), "not-found");
      assert.equal(await downloadText(target, "\\boot\\bcd"), "bcd");
    });
    await t.step("--no-normalize", async () => {
      await using server = await startServer(root, {
        args: ["--no-normalize"],
      });
      const target = { target: { host: server.host, port: server.port } };
      assert.equal(await downloadText(target, "a\\b.txt"), "literal");
      assert.equal(await failure(download(target, "\\boot\\bcd")), "not-found");
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("ignoreCase: an upload of Boot/BCD with boot/bcd on disk gets ERROR 6; \\Boot\\BCD still serves the original", async () => {
  await using srv = await startFeatureServer({
    ignoreCase: true,
    files: { "boot/bcd": "original" },
  });
  for (const name of ["Boot/BCD", "\\Boot\\BCD", "BOOT/bcd", "boot/BCD"]) {
    assert.equal(
      await failure(upload(srv, name, { data: "hijack" })),
      "exists",
      name,
    );
  }
  assert.equal(await downloadText(srv, "\\Boot\\BCD"), "original");
  assert.deepEqual(
    [...Deno.readDirSync(`${srv.root}/boot`)].map((e) => e.name),
    [
      "bcd",
    ],
  );
});

Deno.test("ignoreCase with allowOverwrite: an upload in another case replaces the file itself", async () => {
  await using srv = await startFeatureServer({
    ignoreCase: true,
    allowOverwrite: true,
    files: { "boot/bcd": "original" },
  });
  await upload(srv, "Boot/BCD", { data: "replaced" });
  assert.equal(await srv.readText("boot/bcd"), "replaced");
  assert.deepEqual(
    [...Deno.readDirSync(`${srv.root}/boot`)].map((e) => e.name),
    [
      "bcd",
    ],
  );
});

Deno.test("ignoreCase: temporary upload names are unreachable in any case", async () => {
  await using srv = await startFeatureServer({
    ignoreCase: true,
    files: { ".tftp-upload-0123": "temporary" },
  });
  for (const name of [".TFTP-UPLOAD-0123", ".Tftp-Upload-0123"]) {
    assert.equal(await failure(download(srv, name)), "not-found", name);
    assert.equal(
      await failure(upload(srv, `${name}x`, { data: "x" })),
      "access",
      name,
    );
  }
});
