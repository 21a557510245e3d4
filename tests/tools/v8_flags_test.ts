/**
 * One set of V8 flags: the comparison runs the server with the flags the
 * project tells operators to use, so every command that runs or compiles
 * the server (deno.json's tasks, docs/deployment.md) carries the same
 * `--v8-flags` as `bench/servers.ts`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { REPO_ROOT } from "../../testing/process.ts";
import { SERVICE_V8_FLAGS } from "../../bench/servers.ts";

Deno.test("v8 flags: deno.json's start and compile tasks and docs/deployment.md use the comparison's flags", async () => {
  const tasks: Record<string, string> = JSON.parse(
    await Deno.readTextFile(`${REPO_ROOT}/deno.json`),
  ).tasks;
  const commands = ["start", "compile", "compile:service"].map((name) => {
    assert.ok(tasks[name], `deno.json has no task ${name}`);
    return `task ${name}: ${tasks[name]}`;
  });
  for (
    const file of [
      "docs/deployment.md",
      "deploy/tftpd.service",
      "deploy/tftpd-uploads.conf",
    ]
  ) {
    const text = await Deno.readTextFile(`${REPO_ROOT}/${file}`);
    // A command wraps with "\" (in the units, inside "#" comments).
    const joined = text.replace(/\\\n[#\s]*/g, " ");
    for (const line of joined.split("\n")) {
      if (/\bdeno (run|compile)\b/.test(line) && line.includes("main.ts")) {
        commands.push(`${file}: ${line.trim()}`);
      }
    }
  }
  assert.ok(commands.length >= 8, `only ${commands.length} commands found`);
  for (const command of commands) {
    const flags = command.match(/--v8-flags=\S+/g) ?? [];
    assert.deepEqual(flags, [SERVICE_V8_FLAGS], command);
  }
});
