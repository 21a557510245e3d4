/**
 * Interop with the tftp-hpa client (`tftp`): binary get and put, a netascii
 * get of text with CR/LF content, and IPv6 on ::1.
 *
 * tftp-hpa exits 0 even after an error (and leaves an empty local file),
 * so every case also waits for the server's "ok" line and checks the client
 * printed no error. Every case runs with worker threads and with
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
  runClient,
  startModeServer,
  stepPerFile,
  THREAD_MODES,
  type Workspace,
} from "./common.ts";

function assertNoClientError(r: ClientResult): void {
  assert.doesNotMatch(r.output, /error|timed out|refused/i, r.output);
}

async function hpaGet(
  server: ServerProcess,
  ws: Workspace,
  names: { remote: string; local: string; mode?: string; ipv6?: boolean },
): Promise<ClientResult> {
  return await runClient("tftp", [
    names.ipv6 ? "-6" : "-4",
    "-m",
    names.mode ?? "binary",
    server.host,
    String(server.port),
    "-c",
    "get",
    names.remote,
    names.local,
  ], { cwd: ws.client });
}

async function hpaPut(
  server: ServerProcess,
  ws: Workspace,
  names: { local: string; remote: string; ipv6?: boolean },
): Promise<ClientResult> {
  return await runClient("tftp", [
    names.ipv6 ? "-6" : "-4",
    "-m",
    "binary",
    server.host,
    String(server.port),
    "-c",
    "put",
    names.local,
    names.remote,
  ], { cwd: ws.client });
}

const fixtures = makeFixtures();

for (const mode of THREAD_MODES) {
  for (const family of ["ipv4", "ipv6"] as const) {
    const host = family === "ipv4" ? "127.0.0.1" : "::1";
    const ipv6 = family === "ipv6";
    const label = `${host}, ${mode.label}`;

    Deno.test(
      clientTest(`tftp-hpa binary get (${label})`, "tftp", async (t) => {
        await using ws = await makeWorkspace(fixtures);
        await using server = await startModeServer(ws.root, mode, { host });
        await stepPerFile(t, fixtures, async (name, data) => {
          const local = `got_${name}`;
          const r = await hpaGet(server, ws, { remote: name, local, ipv6 });
          await server.waitForLine(okLine("RRQ", name));
          assertNoClientError(r);
          await assertSameFile(`${ws.client}/${local}`, data, r.output);
        });
        await assertCleanStop(server);
      }),
    );

    Deno.test(
      clientTest(`tftp-hpa binary put (${label})`, "tftp", async (t) => {
        await using ws = await makeWorkspace(fixtures);
        await using server = await startModeServer(ws.root, mode, { host });
        await stepPerFile(t, fixtures, async (name, data) => {
          const remote = `up_${name}`;
          const r = await hpaPut(server, ws, { local: name, remote, ipv6 });
          await server.waitForLine(okLine("WRQ", remote));
          assertNoClientError(r);
          await assertSameFile(`${ws.root}/${remote}`, data, r.output);
        });
        await assertCleanStop(server);
        await assertFixturesAndUploads(ws.root, fixtures);
      }),
    );
  }
}

/** Length of `s` in netascii (every CR and LF becomes two bytes). */
function netasciiLength(s: string): number {
  return s.length + (s.match(/[\r\n]/g)?.length ?? 0);
}

/**
 * Text whose netascii form needs every rule: LF -> CR LF, CR LF kept as
 * CR NUL CR LF, a bare CR -> CR NUL; and a bare CR as the last byte of the
 * first 512-byte DATA block, so its NUL lands in the next block.
 */
function textWithLineEnds(): Uint8Array {
  let s = "";
  let i = 0;
  let split = false;
  while (s.length < 20_000) {
    s += `line ${i} unix\n`;
    s += `line ${i} dos\r\n`;
    s += `bare CR ${i}\rafter\n`;
    if (!split && netasciiLength(s) > 400) {
      s += "x".repeat(511 - netasciiLength(s)) + "\r";
      split = true;
    }
    i++;
  }
  return new TextEncoder().encode(s + "no newline at end");
}

for (const mode of THREAD_MODES) {
  Deno.test(
    clientTest(
      `tftp-hpa netascii get of CR/LF text (${mode.label})`,
      "tftp",
      async () => {
        const text = textWithLineEnds();
        const fx = makeFixtures({ "text.txt": text });
        await using ws = await makeWorkspace(fx);
        await using server = await startModeServer(ws.root, mode);
        const r = await hpaGet(server, ws, {
          remote: "text.txt",
          local: "got_text.txt",
          mode: "netascii",
        });
        await server.waitForLine(/ RRQ "text.txt" netascii[^:]*: ok, /);
        assertNoClientError(r);
        // The client turns netascii back into local (Unix) text: the same
        // bytes.
        await assertSameFile(`${ws.client}/got_text.txt`, text, r.output);
        await assertCleanStop(server);
      },
    ),
  );
}
