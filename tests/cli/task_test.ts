/**
 * `deno task start`, the README's quick start: it grants only network
 * access plus read and write on the directory it is run from, and serves
 * that directory.
 */

import assert from "node:assert/strict";
import denoJson from "../../deno.json" with { type: "json" };
import { getFile, putFile, randomBytes } from "../../testing/raw_client.ts";
import {
  LISTENING,
  REPO_ROOT,
  ServerProcess,
  spawnDeno,
  waitForWorkers,
} from "../../testing/process.ts";
import { freeUdpPort } from "../../testing/net.ts";
import { endpoint, listDir, tempDir } from "./common.ts";

/** Splits a task string into words (double quotes group, and are dropped). */
function words(task: string): string[] {
  return [...task.matchAll(/(?:[^\s"]+|"[^"]*")+/g)].map((m) =>
    m[0].replaceAll('"', "")
  );
}

Deno.test("the start task grants only net and read/write on the caller's directory", () => {
  const start = (denoJson.tasks as Record<string, string>).start;
  assert.ok(start, "deno.json has no start task");
  const argv = words(start);
  assert.deepEqual(argv.slice(0, 2), ["deno", "run"]);
  assert.ok(argv.includes("--no-prompt"), start);
  assert.ok(argv.includes("main.ts"), start);
  const perms = argv.filter((w) =>
    /^--allow-|^-A$|^--deny-|^-P|^--permission-set/.test(w)
  );
  // The directory the task is run from: "." (cwd) or $INIT_CWD (the
  // directory `deno task` was invoked in).
  const dir = perms.find((w) => w.startsWith("--allow-read="))?.split("=")[1];
  assert.ok(dir === "." || dir === "$INIT_CWD", start);
  assert.deepEqual(perms.sort(), [
    "--allow-net",
    `--allow-read=${dir}`,
    `--allow-write=${dir}`,
  ]);
  // And it serves that same directory.
  const rootAt = argv.indexOf("--root");
  if (dir !== ".") assert.equal(argv[rootAt + 1], dir, start);
  else assert.ok(rootAt < 0 || argv[rootAt + 1] === ".", start);
});

Deno.test("deno task start serves the directory it is run from", async () => {
  const payload = randomBytes(3000);
  await using dir = await tempDir({ "here.bin": payload });
  // Run from the temporary directory, as a user would from their own
  // folder; --config points at this repository's deno.json. INIT_CWD is
  // not passed on: when this suite runs under `deno task test` it holds the
  // repository, and `deno task` keeps an INIT_CWD it inherits.
  let server: ServerProcess | undefined;
  for (let attempt = 0; attempt < 5 && !server; attempt++) {
    const port = freeUdpPort("127.0.0.1");
    const child = spawnDeno([
      "task",
      "--config",
      `${REPO_ROOT}/deno.json`,
      "start",
      "--host",
      "127.0.0.1",
      "-p",
      String(port),
      "--workers-start",
      "listen",
    ], { cwd: dir.path, unsetEnv: ["INIT_CWD"] });
    const candidate = new ServerProcess(child, { host: "127.0.0.1", port });
    try {
      await candidate.waitForLine(LISTENING);
      server = candidate;
    } catch (err) {
      await candidate.stop("SIGKILL");
      if (!candidate.lines.some((l) => /already in use/.test(l))) throw err;
    }
  }
  assert.ok(server, "the start task did not start");
  await using _stop = server;
  // As its users run it: the transfers below run in the worker threads,
  // from the bundle (the task lets it read only the directory it serves).
  const threads = await waitForWorkers(server);
  assert.ok(threads.count >= 2, server.stderr.text);
  assert.equal(threads.source, "bundle", server.stderr.text);

  const listening = server.lines.find((l) => LISTENING.test(l))!;
  assert.ok(listening.includes(`root ${dir.path} `), listening);
  const got = await getFile(endpoint(server), "here.bin");
  assert.equal(got.error, undefined);
  assert.deepEqual(got.data, payload);

  // It may write there too.
  const up = randomBytes(1000);
  const put = await putFile(endpoint(server), "up.bin", { data: up });
  assert.equal(put.error, undefined);
  assert.deepEqual(await Deno.readFile(`${dir.path}/up.bin`), up);

  // And nothing outside it: the repository's own files are not served.
  const outside = await getFile(endpoint(server), "../deno.json");
  assert.equal(outside.error?.code, 2);
  await server.waitForLine(/ RRQ "\.\.\/deno\.json" .*: error/);

  // `deno task` passes SIGTERM on to the server.
  const status = await server.stop("SIGTERM");
  assert.equal(status.code, 0, server.stderr.text);
  assert.deepEqual(await listDir(dir.path), ["here.bin", "up.bin"]);
});
