/**
 * The client command refuses, before any packet, a transfer whose missing
 * counterpart name would be derived from a path that names no file (``,
 * `.`, `..`, `sub/..`, a trailing `/`): exit 2 and a message saying which
 * argument to give. The "server" is a raw UDP socket; the client's exit is
 * the signal that anything it was going to send has been sent.
 */

import assert from "node:assert/strict";
import { RawClient } from "../../testing/raw_client.ts";
import { listDir, runTftp, workDir } from "./run_tftp.ts";

const NAMELESS = ["..", ".", "sub/..", "sub/", "sub/.", ""];

/** Runs the client and checks it refused up front: status, message, wire. */
async function assertRefused(
  args: (server: string) => string[],
  missing: RegExp,
): Promise<void> {
  using server = RawClient.open();
  await using cwd = await workDir();
  await Deno.mkdir(`${cwd.path}/into`);
  const r = await runTftp(args(`127.0.0.1:${server.port}`), { cwd: cwd.path });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^tftp: cannot name the .* file after "/);
  assert.match(r.stderr, missing);
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  // The process has exited: a datagram it sent is already queued here.
  assert.equal(await server.receiveRaw(200), undefined, "a datagram was sent");
  assert.deepEqual(await listDir(cwd.path), ["into"]);
  assert.deepEqual(await listDir(`${cwd.path}/into`), []);
}

Deno.test("get REMOTE without LOCAL: a name with no last segment is refused before any packet (exit 2)", async (t) => {
  for (const remote of NAMELESS) {
    await t.step(JSON.stringify(remote), () =>
      assertRefused(
        (server) => ["get", server, remote],
        /give LOCAL \(tftp get HOST\[:PORT\] REMOTE LOCAL\)$/m,
      ));
  }
});

Deno.test("get REMOTE into a directory: the same names are refused (exit 2)", async (t) => {
  for (const remote of NAMELESS) {
    await t.step(
      JSON.stringify(remote),
      () =>
        assertRefused(
          (server) => ["get", server, remote, "into"],
          /give LOCAL/,
        ),
    );
  }
});

Deno.test("put LOCAL without REMOTE: the same names are refused (exit 2)", async (t) => {
  for (const local of NAMELESS) {
    await t.step(
      JSON.stringify(local),
      () => assertRefused((server) => ["put", server, local], /give REMOTE/),
    );
  }
});

Deno.test("a name with a last segment still derives it: get sub/a.bin asks the server for it", async () => {
  using server = RawClient.open();
  await using cwd = await workDir();
  const run = runTftp(
    [
      "get",
      "--retries",
      "0",
      "--timeout",
      "1",
      `127.0.0.1:${server.port}`,
      "sub/a.bin",
    ],
    { cwd: cwd.path },
  );
  const rrq = await server.expect();
  assert.equal(rrq.packet.op, 1);
  if (rrq.packet.op === 1) assert.equal(rrq.packet.filename, "sub/a.bin");
  const r = await run;
  assert.equal(r.code, 5, r.stderr);
});
