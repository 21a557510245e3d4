/**
 * Shared parts of the process-level CLI tests: temporary roots and small
 * assertions on what a process printed.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { ServerProcess } from "../../testing/process.ts";
import type { Endpoint } from "../../testing/raw_client.ts";

/** A temporary directory, removed on dispose. */
export interface TempDir extends AsyncDisposable {
  /** Its real path. */
  path: string;
}

/**
 * Creates a temporary directory holding `files`.
 *
 * @param files Name -> contents.
 * @returns The directory.
 */
export async function tempDir(
  files: Record<string, Uint8Array | string> = {},
): Promise<TempDir> {
  const path = await Deno.realPath(
    await Deno.makeTempDir({ prefix: "tftpd_cli_" }),
  );
  for (const [name, data] of Object.entries(files)) {
    if (typeof data === "string") {
      await Deno.writeTextFile(`${path}/${name}`, data);
    } else await Deno.writeFile(`${path}/${name}`, data);
  }
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true });
    },
  };
}

/**
 * Asserts `stderr` is exactly one non-empty line and returns it.
 *
 * @param stderr What the process wrote on stderr.
 * @returns The line (without the newline).
 */
export function oneLine(stderr: string): string {
  const lines = stderr.replace(/\n$/, "").split("\n");
  assert.equal(
    lines.length,
    1,
    `expected exactly one line on stderr, got ${lines.length}:\n${stderr}`,
  );
  assert.ok(lines[0].trim() !== "", "stderr line is empty");
  return lines[0];
}

/**
 * The listen address of a server process, for the raw client.
 *
 * @param server The server.
 * @returns Its endpoint.
 */
export function endpoint(server: ServerProcess): Endpoint {
  return { hostname: server.host, port: server.port };
}

/**
 * Lists the names in a directory (sorted).
 *
 * @param dir Directory.
 * @returns Names.
 */
export async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

/** A log line in py3tftp's text format, any level. */
export const LOG_LINE =
  /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \[(DEBUG|INFO|WARNING|ERROR)\] /;
