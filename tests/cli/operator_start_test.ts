/**
 * What an operator sees from the server process at its edges: SIGHUP
 * reopens the log file (logrotate) and keeps serving; SIGUSR1, on which
 * Deno opens its inspector, stops the server with exit 1 and says why; a
 * start that fails (port taken, a `--metrics` address that cannot be
 * bound, a `--host` that is not ours) is one error line naming the
 * address, in the log file and format asked for, before any "listening"
 * line.
 */

import assert from "node:assert/strict";
import { LISTENING, runMain, startServer } from "../../testing/process.ts";
import { tempDir } from "./common.ts";

/** Runs the server on `root` (read, and write with `write`) until it exits. */
function runOnRoot(root: string, args: string[], write = false) {
  const permissions = ["--allow-net", `--allow-read=${root}`];
  if (write) permissions.push(`--allow-write=${root}`);
  return runMain(["--root", root, ...args], { permissions });
}

Deno.test("SIGHUP reopens -l FILE: lines after it go to a new file at the name, the server keeps running", async () => {
  await using dir = await tempDir();
  await using logs = await tempDir();
  const log = `${logs.path}/tftpd.log`;
  await using server = await startServer(dir.path, {
    args: ["-l", log],
    permissions: [
      "--allow-net",
      `--allow-read=${dir.path},${logs.path}`,
      `--allow-write=${dir.path},${logs.path}`,
    ],
  });
  await Deno.rename(log, `${log}.1`);
  Deno.kill(server.pid, "SIGHUP");
  await server.waitForLine(/\[INFO\] SIGHUP received: log file reopened$/);
  const fresh = await Deno.readTextFile(log);
  assert.match(fresh, /SIGHUP received: log file reopened\n$/);
  assert.doesNotMatch(fresh, /listening on/);
  const rotated = await Deno.readTextFile(`${log}.1`);
  assert.match(rotated, /listening on/);
  assert.doesNotMatch(rotated, /SIGHUP/);
  const status = await server.stop("SIGTERM");
  assert.equal(status.code, 0, server.stderr.text);
  assert.match(await Deno.readTextFile(log), /\[INFO\] stopped\n$/);
});

Deno.test("SIGHUP without -l: logged, nothing else changes", async () => {
  await using dir = await tempDir();
  await using server = await startServer(dir.path);
  Deno.kill(server.pid, "SIGHUP");
  await server.waitForLine(/SIGHUP received: no log file to reopen$/);
  const status = await server.stop("SIGTERM");
  assert.equal(status.code, 0, server.stderr.text);
  assert.equal(status.signal, null);
});

Deno.test("SIGUSR1 stops the server with exit 1 and an error line that says why", async () => {
  await using dir = await tempDir();
  await using server = await startServer(dir.path);
  const status = await server.stop("SIGUSR1");
  assert.equal(status.code, 1, server.stderr.text);
  assert.equal(status.signal, null);
  assert.ok(
    server.lines.some((l) =>
      /\[ERROR\] SIGUSR1 received: Deno opens its debugger .*shutting down/
        .test(l)
    ),
    server.stderr.text,
  );
  assert.match(server.lines.at(-1) ?? "", /\[INFO\] stopped$/);
});

Deno.test("a taken port fails the start through the logger: -l FILE and --log-format json have the error", async () => {
  await using dir = await tempDir();
  const taken = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  using _close = { [Symbol.dispose]: () => taken.close() };
  const port = (taken.addr as Deno.NetAddr).port;
  const log = `${dir.path}/tftpd.log`;
  const r = await runOnRoot(dir.path, [
    "--host",
    "127.0.0.1",
    "-p",
    String(port),
    "-l",
    log,
    "--log-format",
    "json",
  ], true);
  assert.equal(r.code, 1, r.stderr);
  const lines = (await Deno.readTextFile(log)).trim().split("\n").map((l) =>
    JSON.parse(l)
  );
  const last = lines.at(-1);
  assert.equal(last.level, "error");
  assert.equal(last.msg, `port ${port} on 127.0.0.1 is already in use`);
  assert.ok(!lines.some((l) => LISTENING.test(`"msg":"${l.msg}`)));
  assert.match(r.stderr, /"level":"error"/);
});

Deno.test("a --metrics address that cannot be bound fails the start before the listening line, naming it", async () => {
  await using dir = await tempDir();
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const at = `127.0.0.1:${taken.addr.port}`;
  for (
    const [metrics, why] of [
      [at, "the port is already in use"],
      ["192.0.2.1:9100", "not an address of this host"],
    ]
  ) {
    const r = await runOnRoot(dir.path, [
      "--host",
      "127.0.0.1",
      "-p",
      "0",
      "--metrics",
      metrics,
    ]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `\\[ERROR\\] cannot serve metrics on ${
          metrics.replaceAll(".", "\\.")
        }: ${why}\\n$`,
      ),
    );
    assert.doesNotMatch(r.stderr, /listening on/);
  }
});

Deno.test("--host with an address this host does not have: exit 1 naming it", async () => {
  await using dir = await tempDir();
  const r = await runOnRoot(dir.path, ["--host", "192.0.2.1", "-p", "0"]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(
    r.stderr,
    /\[ERROR\] cannot listen on 192\.0\.2\.1: not an address of this host\n$/,
  );
});
