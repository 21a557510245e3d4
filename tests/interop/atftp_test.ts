/**
 * Interop with the atftp client: get and put with each option it can ask
 * for (blksize 1468, windowsize 16, tsize 0), and a get on ::1. The server's
 * end-of-transfer log line must show the option as granted. Every case runs
 * with worker threads and with `--workers 1`.
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

async function atftp(
  server: ServerProcess,
  ws: Workspace,
  what: { op: "-g" | "-p"; remote: string; local: string; option?: string },
): Promise<ClientResult> {
  const args = what.option ? ["--option", what.option] : [];
  args.push(
    what.op,
    "-r",
    what.remote,
    "-l",
    what.local,
    server.host,
    String(server.port),
  );
  const r = await runClient("atftp", args, { cwd: ws.client });
  assert.equal(r.code, 0, r.output);
  return r;
}

const fixtures = makeFixtures();

/** The option, and what the server's log line must show as granted. */
const CASES: { option: string; granted: (size: number) => string }[] = [
  { option: "blksize 1468", granted: () => "blksize=1468" },
  { option: "windowsize 16", granted: () => "windowsize=16" },
  // An empty file's tsize is left out (curl refuses tsize 0): nothing shown.
  {
    option: "tsize 0",
    granted: (size) => size > 0 ? `tsize=${size}` : "",
  },
];

for (const mode of THREAD_MODES) {
  for (const { option, granted } of CASES) {
    Deno.test(
      clientTest(
        `atftp get --option "${option}" (${mode.label})`,
        "atftp",
        async (t) => {
          await using ws = await makeWorkspace(fixtures);
          await using server = await startModeServer(ws.root, mode);
          await stepPerFile(t, fixtures, async (name, data) => {
            const local = `got_${name}`;
            const r = await atftp(server, ws, {
              op: "-g",
              remote: name,
              local,
              option,
            });
            const line = await server.waitForLine(okLine("RRQ", name));
            assert.ok(
              line.includes(` ${granted(data.length)}`),
              `server did not grant ${option}: ${line}`,
            );
            if (data.length === 0) assert.doesNotMatch(line, / tsize=/);
            await assertSameFile(`${ws.client}/${local}`, data, r.output);
          });
          await assertCleanStop(server);
        },
      ),
    );

    Deno.test(
      clientTest(
        `atftp put --option "${option}" (${mode.label})`,
        "atftp",
        async (t) => {
          await using ws = await makeWorkspace(fixtures);
          await using server = await startModeServer(ws.root, mode);
          await stepPerFile(t, fixtures, async (name, data) => {
            const remote = `up_${name}`;
            const r = await atftp(server, ws, {
              op: "-p",
              remote,
              local: name,
              option,
            });
            const line = await server.waitForLine(okLine("WRQ", remote));
            assert.ok(
              line.includes(` ${granted(data.length)}`),
              `server did not grant ${option}: ${line}`,
            );
            await assertSameFile(`${ws.root}/${remote}`, data, r.output);
          });
          await assertCleanStop(server);
          await assertFixturesAndUploads(ws.root, fixtures);
        },
      ),
    );
  }

  Deno.test(
    clientTest(
      `atftp get and put on ::1 (${mode.label})`,
      "atftp",
      async () => {
        await using ws = await makeWorkspace(fixtures);
        await using server = await startModeServer(ws.root, mode, {
          host: "::1",
        });
        const data = fixtures.files.get("random.bin")!;
        const got = await atftp(server, ws, {
          op: "-g",
          remote: "random.bin",
          local: "got.bin",
          option: "blksize 1468",
        });
        await server.waitForLine(okLine("RRQ", "random.bin"));
        await assertSameFile(`${ws.client}/got.bin`, data, got.output);
        const put = await atftp(server, ws, {
          op: "-p",
          remote: "up.bin",
          local: "random.bin",
          option: "windowsize 16",
        });
        await server.waitForLine(okLine("WRQ", "up.bin"));
        await assertSameFile(`${ws.root}/up.bin`, data, put.output);
        // The requests came over IPv6.
        assert.ok(
          server.lines.some((l) => / \[::1\]:\d+ WRQ "up\.bin"/.test(l)),
        );
        await assertCleanStop(server);
      },
    ),
  );
}
