/**
 * Least privilege: the origin storage needs nothing but `--allow-net` for
 * the origin's host and port (plus the server's own UDP), and, for a cache
 * directory, read and write on that directory. Run in a subprocess with
 * exactly those flags.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { CHILD_ENV, LineCollector } from "../../testing/process.ts";
import { getFile, HttpOrigin, tempDir } from "./harness.ts";

const SCRIPT = fileURLToPath(new URL("./serve_origin.ts", import.meta.url));
/** The server listens on (and its clients come from) this address. */
const UDP_HOST = "127.0.0.2";

interface Run {
  port?: number;
  status: Promise<Deno.CommandStatus>;
  stderr: LineCollector;
  stop(): Promise<Deno.CommandStatus>;
}

async function serve(flags: string[], args: string[]): Promise<Run> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--unstable-net", ...flags, SCRIPT, ...args],
    env: CHILD_ENV,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout = new LineCollector(child.stdout, "stdout");
  const stderr = new LineCollector(child.stderr, "stderr");
  const stop = async () => {
    await child.stdin.close().catch(() => {});
    const status = await child.status;
    await Promise.all([stdout.done, stderr.done]);
    return status;
  };
  const listening = stdout.waitFor(/^listening on \d+$/).then(
    (l) => Number(l.split(" ")[2]),
    () => undefined,
  );
  const port = await Promise.race([
    listening,
    child.status.then(() => undefined),
  ]);
  return { port: port ?? await listening, status: child.status, stderr, stop };
}

Deno.test("--allow-net=<origin host:port> (plus the UDP address) is all the storage needs", async () => {
  await using origin = new HttpOrigin(() =>
    new Response("hello from the origin")
  );
  const run = await serve(
    [`--allow-net=${UDP_HOST},127.0.0.1:${origin.port}`],
    [origin.url, UDP_HOST],
  );
  try {
    assert.ok(run.port, run.stderr.text);
    const r = await getFile(
      { hostname: UDP_HOST, port: run.port },
      "hello.txt",
      {
        bind: UDP_HOST,
      },
    );
    assert.equal(r.error, undefined, run.stderr.text);
    assert.equal(new TextDecoder().decode(r.data), "hello from the origin");
    assert.equal(origin.requests.length, 1);
  } finally {
    const status = await run.stop();
    assert.equal(status.code, 0, run.stderr.text);
  }
});

Deno.test("without net permission for the origin it says which flag to add", async () => {
  await using origin = new HttpOrigin(() => new Response("x"));
  const run = await serve([`--allow-net=${UDP_HOST}`], [origin.url, UDP_HOST]);
  const status = await run.stop();
  assert.equal(status.code, 2);
  assert.match(
    run.stderr.text,
    new RegExp(
      `no network permission for the origin: run with --allow-net=127\\.0\\.0\\.1:${origin.port}`,
    ),
  );
  assert.equal(origin.requests.length, 0);
});

Deno.test("a cache directory needs --allow-read and --allow-write on it, and nothing more", async () => {
  await using origin = new HttpOrigin(() =>
    new Response("cached", { headers: { "cache-control": "max-age=600" } })
  );
  const dir = await tempDir("tftpd-origin-perm-");
  try {
    const net = `--allow-net=${UDP_HOST},127.0.0.1:${origin.port}`;
    const denied = await serve([net, `--allow-read=${dir}`], [
      origin.url,
      UDP_HOST,
      dir,
    ]);
    assert.equal((await denied.stop()).code, 2);
    assert.match(
      denied.stderr.text,
      new RegExp(`run with --allow-write=${dir}`),
    );

    const run = await serve(
      [net, `--allow-read=${dir}`, `--allow-write=${dir}`],
      [origin.url, UDP_HOST, dir],
    );
    try {
      assert.ok(run.port, run.stderr.text);
      const r = await getFile({ hostname: UDP_HOST, port: run.port }, "c.txt", {
        bind: UDP_HOST,
      });
      assert.equal(new TextDecoder().decode(r.data), "cached", run.stderr.text);
    } finally {
      assert.equal((await run.stop()).code, 0, run.stderr.text);
    }
    const entries = [];
    for await (const e of Deno.readDir(dir)) entries.push(e.name);
    assert.equal(entries.length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
