/**
 * Shared parts of the real-client interop tests: fixture files, hashing,
 * finding and running client binaries, and the two ways the server runs
 * transfers (every case runs in both).
 *
 * A missing client binary fails the test when `CI` is set (so CI cannot
 * silently skip) and ignores it otherwise.
 *
 * @module
 */

import assert from "node:assert/strict";
import { randomBytes, sha256 } from "../../testing/bytes.ts";
import {
  DEFAULT_WAIT_MS,
  type ServerProcess,
  startServer,
  type StartServerOptions,
} from "../../testing/process.ts";
import { needs } from "../../testing/gates.ts";

export { randomBytes, sha256 } from "../../testing/bytes.ts";

/** Whether we run under CI (env `CI` set and not empty/false). */
export const IN_CI: boolean = (() => {
  const v = Deno.env.get("CI");
  return v !== undefined && v !== "" && v !== "0" && v !== "false";
})();

/**
 * Finds an executable on `PATH`.
 *
 * @param name Program name.
 * @returns Its path, or undefined.
 */
export function findBinary(name: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (!dir) continue;
    const path = `${dir}/${name}`;
    try {
      const st = Deno.statSync(path);
      if (st.isFile && st.mode !== null && (st.mode & 0o111) !== 0) return path;
    } catch { /* not here */ }
  }
  return undefined;
}

/**
 * Test definition for a case needing client binaries: ignored when one is
 * missing outside CI; under CI it runs and fails.
 *
 * @param name Test name.
 * @param binaries Program (or programs) it needs.
 * @param fn The test body.
 * @returns A definition for `Deno.test`.
 */
export function clientTest(
  name: string,
  binaries: string | readonly string[],
  fn: (t: Deno.TestContext) => Promise<void>,
): Deno.TestDefinition {
  const all = typeof binaries === "string" ? [binaries] : binaries;
  const missing = all.filter((b) => findBinary(b) === undefined);
  return {
    name,
    ignore: needs(
      `${all.join(", ")} on PATH (Debian package${
        all.length > 1 ? "s" : ""
      }: see .ci/run)`,
      missing.length === 0,
    ),
    fn: async (t) => {
      if (missing.length > 0) {
        throw new Error(
          `${missing.join(", ")} not installed (CI is set, so this is a ` +
            `failure; .ci/run installs it with apt)`,
        );
      }
      await fn(t);
    },
  };
}

/**
 * SHA-256 of a file, as hex.
 *
 * @param path File.
 * @returns Hex digest.
 */
export async function sha256File(path: string): Promise<string> {
  return sha256(await Deno.readFile(path));
}

/** The fixture files: name -> contents. */
export interface Fixtures {
  /** File name -> bytes. */
  files: Map<string, Uint8Array>;
}

/** Size of `random.bin`: a few hundred KB, not a multiple of any blksize. */
export const RANDOM_SIZE = 300_001;
/** Size of `aligned.bin`: 367 x 512 = 128 x 1468, so a full last block. */
export const ALIGNED_SIZE = 512 * 367;

/**
 * Builds the standard fixtures: `random.bin` (random, odd size),
 * `empty.bin` (0 bytes), `aligned.bin` (an exact multiple of 512 and of
 * 1468) plus `extra` files.
 *
 * @param extra More files to add.
 * @returns The fixtures.
 */
export function makeFixtures(
  extra: Record<string, Uint8Array> = {},
): Fixtures {
  const files = new Map<string, Uint8Array>([
    ["random.bin", randomBytes(RANDOM_SIZE)],
    ["empty.bin", new Uint8Array(0)],
    ["aligned.bin", randomBytes(ALIGNED_SIZE)],
  ]);
  for (const [k, v] of Object.entries(extra)) files.set(k, v);
  return { files };
}

/**
 * Writes every fixture into `dir`.
 *
 * @param dir Directory.
 * @param fixtures Files to write.
 */
export async function writeFixtures(
  dir: string,
  fixtures: Fixtures,
): Promise<void> {
  for (const [name, data] of fixtures.files) {
    await Deno.writeFile(`${dir}/${name}`, data);
  }
}

/** A served root and a client working directory, removed on dispose. */
export interface Workspace extends AsyncDisposable {
  /** The served directory (holds the fixtures). */
  root: string;
  /** The client's working directory (holds copies of the fixtures to upload). */
  client: string;
}

/**
 * Creates a temporary root and client directory, both holding `fixtures`.
 *
 * @param fixtures Files to place in both.
 * @returns The workspace.
 */
export async function makeWorkspace(fixtures: Fixtures): Promise<Workspace> {
  const base = await Deno.realPath(
    await Deno.makeTempDir({ prefix: "tftpd_interop_" }),
  );
  const root = `${base}/root`;
  const client = `${base}/client`;
  await Deno.mkdir(root);
  await Deno.mkdir(client);
  await writeFixtures(root, fixtures);
  await writeFixtures(client, fixtures);
  return {
    root,
    client,
    async [Symbol.asyncDispose]() {
      await Deno.remove(base, { recursive: true });
    },
  };
}

/** Output of a client run. */
export interface ClientResult {
  /** Exit code. */
  code: number;
  /** stdout and stderr together, for messages. */
  output: string;
}

/**
 * Runs a client program to completion in `cwd` (killed after a bound).
 *
 * @param binary Program.
 * @param args Arguments.
 * @param opts `cwd`: working directory; `timeoutMs`: bound.
 * @returns Exit code and output.
 */
export async function runClient(
  binary: string,
  args: string[],
  opts: { cwd: string; timeoutMs?: number },
): Promise<ClientResult> {
  const out = await new Deno.Command(binary, {
    args,
    cwd: opts.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { LC_ALL: "C" },
    signal: AbortSignal.timeout(opts.timeoutMs ?? DEFAULT_WAIT_MS),
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    output: `$ ${binary} ${args.join(" ")}\n${dec.decode(out.stdout)}${
      dec.decode(out.stderr)
    }`,
  };
}

/**
 * Asserts that `actual` exists and has the same SHA-256 as `expected`.
 *
 * @param actual Path of the file that arrived.
 * @param expected What should have arrived.
 * @param context Client output, shown on failure.
 */
export async function assertSameFile(
  actual: string,
  expected: Uint8Array,
  context: string,
): Promise<void> {
  let got: Uint8Array;
  try {
    got = await Deno.readFile(actual);
  } catch (err) {
    throw new Error(`${actual} did not arrive (${err})\n${context}`);
  }
  const want = sha256(expected);
  const have = sha256(got);
  if (have !== want) {
    throw new Error(
      `${actual}: sha256 ${have} (${got.length} bytes), expected ${want} ` +
        `(${expected.length} bytes)\n${context}`,
    );
  }
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

/**
 * A pattern for the server's log line saying a transfer of `name` ended
 * well (`RRQ "name" octet ...: ok, ...`).
 *
 * @param verb `RRQ` or `WRQ`.
 * @param name File name as requested.
 * @returns The pattern.
 */
export function okLine(verb: "RRQ" | "WRQ", name: string): RegExp {
  const quoted = JSON.stringify(name).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(` ${verb} ${quoted} [^:]*: ok, `);
}

/**
 * Runs `fn` as one test step per fixture file (named after the file).
 *
 * @param t The test context.
 * @param fixtures The files.
 * @param fn The step body, given the file's name and bytes.
 */
export async function stepPerFile(
  t: Deno.TestContext,
  fixtures: Fixtures,
  fn: (name: string, data: Uint8Array) => Promise<void>,
): Promise<void> {
  for (const [name, data] of fixtures.files) {
    await t.step(name, () => fn(name, data));
  }
}

/**
 * Asserts that `root` holds exactly the fixtures and one upload `up_<name>`
 * of each: nothing else (no temporary files left behind).
 *
 * @param root The served directory.
 * @param fixtures The files that were there and were uploaded.
 */
export async function assertFixturesAndUploads(
  root: string,
  fixtures: Fixtures,
): Promise<void> {
  const expected = [...fixtures.files.keys()].flatMap((n) => [n, `up_${n}`]);
  assert.deepEqual(await listDir(root), expected.sort());
}

/** How the server runs its transfers in a case. */
export interface ThreadMode {
  /** Test name suffix. */
  label: string;
  /** Server arguments that select it. */
  args: string[];
  /** Whether transfers run in worker threads. */
  workers: boolean;
}

/**
 * The two ways a transfer runs: in a worker thread (`--workers auto`, the
 * default, with the threads started at start-up, which `startServer` waits
 * for; on demand a lone client is served as with `--workers 1`) and in the
 * main thread (`--workers 1`).
 */
export const THREAD_MODES: readonly ThreadMode[] = [
  {
    label: "worker threads",
    args: ["--workers-start", "listen"],
    workers: true,
  },
  { label: "--workers 1", args: ["--workers", "1"], workers: false },
];

/**
 * Starts the server for a case in `mode` and checks it runs its transfers
 * where the mode says: in worker threads running the embedded bundle
 * (the default permissions do not let it read its sources), or in the main
 * thread.
 *
 * @param root Directory to serve.
 * @param mode Where transfers run.
 * @param opts More `startServer` options (`args` come after the mode's).
 * @returns The running server.
 */
export async function startModeServer(
  root: string,
  mode: ThreadMode,
  opts: StartServerOptions = {},
): Promise<ServerProcess> {
  const server = await startServer(root, {
    ...opts,
    args: [...mode.args, ...(opts.args ?? [])],
  });
  if (mode.workers) {
    assert.ok(server.threads.count >= 2, server.stderr.text);
    if (opts.permissions === undefined) {
      assert.equal(server.threads.source, "bundle", server.stderr.text);
    }
  } else assert.equal(server.threads.count, 0, server.stderr.text);
  return server;
}

/**
 * Stops the server and checks it ended as it should: exit 0, no ERROR line
 * (a worker thread that died, a crashed session) and no uncaught error.
 *
 * @param server The server.
 */
export async function assertCleanStop(server: ServerProcess): Promise<void> {
  const status = await server.stop();
  assert.equal(status.code, 0, server.stderr.text);
  const bad = server.lines.filter((l) => /\[ERROR\]|Uncaught|panicked/.test(l));
  assert.deepEqual(bad, [], server.stderr.text);
}
