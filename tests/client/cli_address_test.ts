/**
 * The client command with a host name or a malformed address, and a
 * download aimed at a directory or into one that does not exist: what the
 * user sees (exit status, message, files left) and what reaches the wire.
 */

import assert from "node:assert/strict";
import {
  randomBytes,
  sha256,
  startFeatureServer,
} from "../features/fixture.ts";
import { listDir, runTftp, workDir } from "./run_tftp.ts";

Deno.test("a host name is looked up: get and put through localhost", async () => {
  const data = randomBytes(70_001);
  await using srv = await startFeatureServer({ files: { "a.bin": data } });
  await using cwd = await workDir();
  const server = `localhost:${srv.port}`;
  const got = await runTftp(["get", server, "a.bin"], { cwd: cwd.path });
  assert.equal(got.code, 0, got.stderr);
  assert.equal(sha256(await Deno.readFile(`${cwd.path}/a.bin`)), sha256(data));
  const put = await runTftp(["put", server, "a.bin", "up.bin"], {
    cwd: cwd.path,
  });
  assert.equal(put.code, 0, put.stderr);
  await srv.waitForTransfer((s) => s.filename === "up.bin");
  assert.equal(
    sha256(await Deno.readFile(`${srv.root}/up.bin`)),
    sha256(data),
  );
});

Deno.test("addresses that cannot be used fail at once with exit 1 and say why", async (t) => {
  await using cwd = await workDir();
  const cases: [string, RegExp][] = [
    ["no-such-host.invalid", /cannot resolve host "no-such-host\.invalid"/],
    ["010.0.0.1", /invalid IPv4 address "010\.0\.0\.1"/],
    ["300.1.1.1", /invalid IPv4 address/],
    ["::1:99999", /invalid IPv6 address "::1:99999" \(in brackets/],
    ["[fe80::1%]", /invalid IPv6 address/],
  ];
  for (const [host, message] of cases) {
    await t.step(host, async () => {
      // A timeout would take 60 s per try here: exit 5 would mean we waited.
      const r = await runTftp(
        ["get", "--timeout", "30", "--retries", "1", host, "a"],
        { cwd: cwd.path },
      );
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, message);
      assert.deepEqual(await listDir(cwd.path), []);
    });
  }
});

Deno.test("get into an existing directory stores the base name there, as cp does", async () => {
  const data = randomBytes(20_000);
  await using srv = await startFeatureServer({ files: { "sub/k.bin": data } });
  await using cwd = await workDir();
  await Deno.mkdir(`${cwd.path}/out`);
  const server = `127.0.0.1:${srv.port}`;
  for (const dir of ["out", "out/"]) {
    await Deno.remove(`${cwd.path}/out/k.bin`).catch(() => {});
    const r = await runTftp(["get", server, "sub/k.bin", dir], {
      cwd: cwd.path,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await listDir(`${cwd.path}/out`), ["k.bin"]);
    assert.equal(
      sha256(await Deno.readFile(`${cwd.path}/out/k.bin`)),
      sha256(data),
    );
  }
});

Deno.test("get into a missing directory: exit 3 naming the local path, no request sent", async () => {
  await using srv = await startFeatureServer({ files: { "a.bin": "x" } });
  await using cwd = await workDir();
  const r = await runTftp(
    ["get", `127.0.0.1:${srv.port}`, "a.bin", "nodir/a.bin"],
    { cwd: cwd.path },
  );
  assert.equal(r.code, 3, r.stderr);
  assert.equal(r.stderr, "tftp: nodir/a.bin: no such local directory\n");
  assert.deepEqual(await listDir(cwd.path), []);
  assert.equal(srv.transfers.length, 0);
});

Deno.test("put of a directory: exit 1 naming it", async () => {
  await using srv = await startFeatureServer();
  await using cwd = await workDir();
  await Deno.mkdir(`${cwd.path}/d`);
  const r = await runTftp(["put", `127.0.0.1:${srv.port}`, "d"], {
    cwd: cwd.path,
  });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^tftp: d: /);
});
