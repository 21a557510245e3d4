/**
 * Interop with curl's TFTP support: download and upload (`-T`) with
 * `--tftp-blksize 8192`, over 127.0.0.1 and ::1, with worker threads and with
 * `--workers 1`.
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
  randomBytes,
  runClient,
  startModeServer,
  stepPerFile,
  THREAD_MODES,
  type Workspace,
} from "./common.ts";

function url(server: ServerProcess, name: string): string {
  const host = server.host.includes(":") ? `[${server.host}]` : server.host;
  return `tftp://${host}:${server.port}/${name}`;
}

async function curl(
  ws: Workspace,
  args: string[],
): Promise<ClientResult> {
  const r = await runClient(
    "curl",
    ["--silent", "--show-error", "--tftp-blksize", "8192", ...args],
    { cwd: ws.client },
  );
  assert.equal(r.code, 0, r.output);
  return r;
}

// Plus a file that fills its last 8192-byte block exactly.
const fixtures = makeFixtures({ "aligned8192.bin": randomBytes(8192 * 24) });

for (const mode of THREAD_MODES) {
  for (const host of ["127.0.0.1", "::1"]) {
    const label = `${host}, ${mode.label}`;
    Deno.test(
      clientTest(
        `curl get --tftp-blksize 8192 (${label})`,
        "curl",
        async (t) => {
          await using ws = await makeWorkspace(fixtures);
          await using server = await startModeServer(ws.root, mode, { host });
          await stepPerFile(t, fixtures, async (name, data) => {
            const local = `got_${name}`;
            // With options, empty.bin included: curl refuses an OACK with
            // tsize=0 ("invalid tsize value in OACK packet", exit 71), which
            // the server leaves out for an empty file.
            const r = await curl(ws, ["-o", local, url(server, name)]);
            const line = await server.waitForLine(okLine("RRQ", name));
            assert.match(line, / blksize=8192[ :]/);
            if (data.length === 0) assert.doesNotMatch(line, / tsize=/);
            await assertSameFile(`${ws.client}/${local}`, data, r.output);
          });
          await assertCleanStop(server);
        },
      ),
    );

    Deno.test(
      clientTest(
        `curl upload -T --tftp-blksize 8192 (${label})`,
        "curl",
        async (t) => {
          await using ws = await makeWorkspace(fixtures);
          await using server = await startModeServer(ws.root, mode, { host });
          await stepPerFile(t, fixtures, async (name, data) => {
            const remote = `up_${name}`;
            const r = await curl(ws, ["-T", name, url(server, remote)]);
            const line = await server.waitForLine(okLine("WRQ", remote));
            assert.match(line, / blksize=8192[ :]/);
            await assertSameFile(`${ws.root}/${remote}`, data, r.output);
          });
          await assertCleanStop(server);
          await assertFixturesAndUploads(ws.root, fixtures);
        },
      ),
    );
  }
}
