/**
 * Interop with `busybox tftp` (the client in initramfs and embedded
 * systems): get (`-g`) and put (`-p`) with `-b 1468`, over 127.0.0.1 and
 * ::1, with worker threads and with `--workers 1`.
 */

import assert from "node:assert/strict";
import type { ServerProcess } from "../../testing/process.ts";
import {
  assertCleanStop,
  assertFixturesAndUploads,
  assertSameFile,
  type ClientResult,
  clientTest,
  makeFixtures,
  makeWorkspace,
  okLine,
  runClient,
  startModeServer,
  stepPerFile,
  THREAD_MODES,
  type Workspace,
} from "./common.ts";

async function busybox(
  server: ServerProcess,
  ws: Workspace,
  what: { op: "-g" | "-p"; remote: string; local: string },
): Promise<ClientResult> {
  const r = await runClient("busybox", [
    "tftp",
    what.op,
    "-b",
    "1468",
    "-r",
    what.remote,
    "-l",
    what.local,
    server.host,
    String(server.port),
  ], { cwd: ws.client });
  assert.equal(r.code, 0, r.output);
  return r;
}

const fixtures = makeFixtures();

for (const mode of THREAD_MODES) {
  for (const host of ["127.0.0.1", "::1"]) {
    const label = `${host}, ${mode.label}`;
    Deno.test(
      clientTest(`busybox tftp -g -b 1468 (${label})`, "busybox", async (t) => {
        await using ws = await makeWorkspace(fixtures);
        await using server = await startModeServer(ws.root, mode, { host });
        await stepPerFile(t, fixtures, async (name, data) => {
          const local = `got_${name}`;
          const r = await busybox(server, ws, {
            op: "-g",
            remote: name,
            local,
          });
          const line = await server.waitForLine(okLine("RRQ", name));
          assert.match(line, / blksize=1468[ :]/);
          await assertSameFile(`${ws.client}/${local}`, data, r.output);
        });
        await assertCleanStop(server);
      }),
    );

    Deno.test(
      clientTest(`busybox tftp -p -b 1468 (${label})`, "busybox", async (t) => {
        await using ws = await makeWorkspace(fixtures);
        await using server = await startModeServer(ws.root, mode, { host });
        await stepPerFile(t, fixtures, async (name, data) => {
          const remote = `up_${name}`;
          const r = await busybox(server, ws, {
            op: "-p",
            remote,
            local: name,
          });
          const line = await server.waitForLine(okLine("WRQ", remote));
          assert.match(line, / blksize=1468[ :]/);
          await assertSameFile(`${ws.root}/${remote}`, data, r.output);
        });
        await assertCleanStop(server);
        await assertFixturesAndUploads(ws.root, fixtures);
      }),
    );
  }
}
