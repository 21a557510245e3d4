/**
 * The worker threads' two forms, met by real clients. A least-privilege
 * run (no read permission on the program's files) starts its worker
 * threads from the committed bundle (`src/server/workers/bundle.ts`); a run
 * that may read its sources starts them from `src/server/workers/main.ts`.
 * The bundle is generated from the sources and must behave exactly as they
 * do: a bundle left stale after a source change, or a bug in one form only,
 * shows here as different bytes or different outcome lines.
 */

import assert from "node:assert/strict";
import {
  REPO_ROOT,
  type ServerProcess,
  startServer,
} from "../../testing/process.ts";
import {
  assertCleanStop,
  clientTest,
  listDir,
  makeFixtures,
  makeWorkspace,
  randomBytes,
  runClient,
  sha256,
  sha256File,
  type Workspace,
} from "./common.ts";

const CLIENTS = ["tftp", "atftp", "busybox", "curl"] as const;

const text = new TextEncoder().encode(
  "line one\nline two\r\nbare CR\rend\n".repeat(400),
);
const fixtures = makeFixtures({
  "text.txt": text,
  "big8192.bin": randomBytes(8192 * 12 + 5),
});

/** One client run against a server. */
interface Transfer {
  /** What it does, for messages. */
  what: string;
  /** Runs the client; resolves with its output. */
  run: (server: ServerProcess, ws: Workspace) => Promise<string>;
}

function hpa(args: string[]): Transfer["run"] {
  const [mode, ...command] = args;
  return async (server, ws) => {
    const r = await runClient(
      "tftp",
      ["-4", "-m", mode, server.host, String(server.port), ...command],
      { cwd: ws.client },
    );
    return r.output;
  };
}

function atftp(args: string[]): Transfer["run"] {
  return async (server, ws) => {
    const r = await runClient(
      "atftp",
      [...args, server.host, String(server.port)],
      { cwd: ws.client },
    );
    return `exit ${r.code}\n${r.output}`;
  };
}

function busybox(args: string[]): Transfer["run"] {
  return async (server, ws) => {
    const r = await runClient(
      "busybox",
      ["tftp", "-b", "1468", ...args, server.host, String(server.port)],
      { cwd: ws.client },
    );
    return `exit ${r.code}\n${r.output}`;
  };
}

function curl(args: string[]): Transfer["run"] {
  return async (server, ws) => {
    const base = `tftp://${server.host}:${server.port}`;
    const r = await runClient(
      "curl",
      [
        "--silent",
        "--show-error",
        "--tftp-blksize",
        "8192",
        ...args.map((a) => a.replace(/^\//, `${base}/`)),
      ],
      { cwd: ws.client },
    );
    return `exit ${r.code}\n${r.output}`;
  };
}

/**
 * Downloads and uploads with every client and the options each can ask
 * for, and the refusals a client meets most (missing file, a name leading
 * out, an upload onto an existing file).
 */
const TRANSFERS: Transfer[] = [
  {
    what: "tftp-hpa get",
    run: hpa(["binary", "-c", "get", "random.bin", "hpa.bin"]),
  },
  {
    what: "tftp-hpa get (empty)",
    run: hpa(["binary", "-c", "get", "empty.bin", "hpa_empty.bin"]),
  },
  {
    what: "tftp-hpa netascii get",
    run: hpa(["netascii", "-c", "get", "text.txt", "hpa.txt"]),
  },
  {
    what: "tftp-hpa put",
    run: hpa(["binary", "-c", "put", "random.bin", "up_hpa.bin"]),
  },
  {
    what: "tftp-hpa get of a missing file",
    run: hpa(["binary", "-c", "get", "missing.bin", "missing.bin"]),
  },
  {
    what: "tftp-hpa get of ../ (leads out)",
    run: hpa(["binary", "-c", "get", "../outside.bin", "outside.bin"]),
  },
  {
    what: "tftp-hpa put onto an existing file",
    run: hpa(["binary", "-c", "put", "aligned.bin", "random.bin"]),
  },
  {
    what: "atftp get windowsize 16",
    run: atftp([
      "--option",
      "windowsize 16",
      "-g",
      "-r",
      "aligned.bin",
      "-l",
      "atftp_w16.bin",
    ]),
  },
  {
    what: "atftp get blksize 1468, tsize",
    run: atftp([
      "--option",
      "blksize 1468",
      "--option",
      "tsize 0",
      "-g",
      "-r",
      "random.bin",
      "-l",
      "atftp_b1468.bin",
    ]),
  },
  {
    what: "atftp put windowsize 16",
    run: atftp([
      "--option",
      "windowsize 16",
      "-p",
      "-r",
      "up_atftp.bin",
      "-l",
      "random.bin",
    ]),
  },
  {
    what: "busybox get -b 1468",
    run: busybox(["-g", "-r", "aligned.bin", "-l", "busybox.bin"]),
  },
  {
    what: "busybox put -b 1468",
    run: busybox(["-p", "-r", "up_busybox.bin", "-l", "aligned.bin"]),
  },
  {
    what: "curl get blksize 8192",
    run: curl(["-o", "curl.bin", "/big8192.bin"]),
  },
  {
    what: "curl put blksize 8192",
    run: curl(["-T", "big8192.bin", "/up_curl.bin"]),
  },
];

/**
 * A request's outcome line: a transfer's end (`...: ok, N bytes in ...`) or
 * a refusal before any transfer (`...: error (reason)`).
 */
const OUTCOME =
  / (RRQ|WRQ) "[^"]*" [^:]*: (ok|error|timeout|aborted|cancelled)\b/;

/**
 * A log line as it must read the same whichever form ran: no time stamp,
 * no client port (each run has its own), no duration and no retransmit
 * count (a loaded machine may delay any packet past a timer, which is
 * timing, not behaviour).
 */
function normalize(line: string): string {
  return line
    .replace(/^\S+ \S+ /, "")
    .replace(/ (127\.0\.0\.1|\[::1\]):\d+ /, " $1:PORT ")
    .replace(/, (\d+) bytes in [\d.]+ s, \d+ retransmits$/, ", $1 bytes");
}

/** Names and SHA-256 of every file in `dir`. */
async function contents(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of await listDir(dir)) {
    out[name] = await sha256File(`${dir}/${name}`);
  }
  return out;
}

interface Run {
  /** The server's lines from its first request on, normalized. */
  lines: string[];
  /** The root after the run. */
  root: Record<string, string>;
  /** The client directory after the run. */
  client: Record<string, string>;
  /** What each client printed (for messages). */
  output: string;
}

/**
 * Runs every transfer of {@linkcode TRANSFERS}, one after the other (each
 * waits for the server's end-of-transfer line), against a server whose
 * worker threads run `form`.
 */
async function runAll(form: "sources" | "bundle"): Promise<Run> {
  await using ws = await makeWorkspace(fixtures);
  // Reading the program's own directory is what lets the threads load the
  // sources; without it they run the bundle.
  const read = form === "sources" ? `${ws.root},${REPO_ROOT}/src` : ws.root;
  await using server = await startServer(ws.root, {
    permissions: [
      "--allow-net",
      `--allow-read=${read}`,
      `--allow-write=${ws.root}`,
    ],
    args: ["--workers-start", "listen"],
  });
  assert.equal(server.threads.source, form, server.stderr.text);
  assert.ok(server.threads.count >= 2, server.stderr.text);
  const first = server.lines.length;
  let output = "";
  for (const t of TRANSFERS) {
    const from = server.lines.length;
    output += `# ${t.what}\n${await t.run(server, ws)}\n`;
    await server.waitForLine(OUTCOME, { from });
  }
  const lines = server.lines.slice(first).map(normalize);
  await assertCleanStop(server);
  return {
    lines,
    root: await contents(ws.root),
    client: await contents(ws.client),
    output,
  };
}

/** What a correct server leaves: the expected files, each with its bytes. */
function assertExpected(run: Run): void {
  const f = (name: string) => sha256(fixtures.files.get(name)!);
  const msg = `${run.output}\n${run.lines.join("\n")}`;
  assert.deepEqual(run.root, {
    "aligned.bin": f("aligned.bin"),
    "big8192.bin": f("big8192.bin"),
    "empty.bin": f("empty.bin"),
    "random.bin": f("random.bin"),
    "text.txt": f("text.txt"),
    "up_atftp.bin": f("random.bin"),
    "up_busybox.bin": f("aligned.bin"),
    "up_curl.bin": f("big8192.bin"),
    "up_hpa.bin": f("random.bin"),
  }, msg);
  const got = run.client;
  assert.equal(got["hpa.bin"], f("random.bin"), msg);
  assert.equal(got["hpa_empty.bin"], f("empty.bin"), msg);
  assert.equal(got["hpa.txt"], f("text.txt"), msg);
  assert.equal(got["atftp_w16.bin"], f("aligned.bin"), msg);
  assert.equal(got["atftp_b1468.bin"], f("random.bin"), msg);
  assert.equal(got["busybox.bin"], f("aligned.bin"), msg);
  assert.equal(got["curl.bin"], f("big8192.bin"), msg);
  const outcomes = run.lines.filter((l) => OUTCOME.test(l));
  assert.equal(outcomes.length, TRANSFERS.length, msg);
  assert.equal(outcomes.filter((l) => /: ok, /.test(l)).length, 11, msg);
  // What the client was told about the three refusals.
  for (const code of [1, 2, 6]) {
    assert.match(run.output, new RegExp(`Error code ${code}: `), msg);
  }
}

Deno.test(
  clientTest(
    "worker threads from the sources and from the bundle: same bytes, same log lines",
    CLIENTS,
    async () => {
      const sources = await runAll("sources");
      assertExpected(sources);
      const bundle = await runAll("bundle");
      assertExpected(bundle);
      assert.deepEqual(bundle.lines, sources.lines);
      assert.deepEqual(bundle.root, sources.root);
      assert.deepEqual(bundle.client, sources.client);
    },
  ),
);

/** The JSON log records of a server (`--log-format json`). */
function records(server: ServerProcess): Record<string, unknown>[] {
  return server.lines.filter((l) => l.startsWith("{")).map((l) =>
    JSON.parse(l)
  );
}

Deno.test(
  clientTest(
    "the committed bundle, run with --allow-read=ROOT only, serves every client",
    CLIENTS,
    async () => {
      await using ws = await makeWorkspace(fixtures);
      // The least a server needs: the network and reading its root. No
      // read permission on its own files, so the threads run the bundle.
      await using server = await startServer(ws.root, {
        permissions: ["--allow-net", `--allow-read=${ws.root}`],
        args: ["--log-format", "json", "--workers-start", "listen"],
      });
      assert.equal(server.threads.source, "bundle", server.stderr.text);
      assert.ok(
        records(server).some((r) =>
          /^\d+ worker threads ready \(bundle\)$/.test(String(r.msg))
        ),
        server.stderr.text,
      );
      const downloads = TRANSFERS.filter((t) =>
        / get/.test(t.what) && !/missing|leads out/.test(t.what)
      );
      for (const t of downloads) {
        const from = server.lines.length;
        const output = await t.run(server, ws);
        await server.waitForLine(/"stats":/, { from });
        const printed = output.split("\n").filter((l) => !l.startsWith("$"));
        assert.doesNotMatch(printed.join("\n"), /error|timed out/i, output);
      }
      // A read-only server refuses an upload with ERROR 2.
      const put = await hpa(["binary", "-c", "put", "random.bin", "up.bin"])(
        server,
        ws,
      );
      assert.match(put, /Error code 2/, put);
      await server.waitForLine(/"stats":.*"direction":"write"/);
      await assertCleanStop(server);
      assert.deepEqual(
        await listDir(ws.root),
        [...fixtures.files.keys()].sort(),
      );
      const got = await contents(ws.client);
      const f = (name: string) => sha256(fixtures.files.get(name)!);
      assert.equal(got["hpa.bin"], f("random.bin"));
      assert.equal(got["hpa_empty.bin"], f("empty.bin"));
      assert.equal(got["hpa.txt"], f("text.txt"));
      assert.equal(got["atftp_w16.bin"], f("aligned.bin"));
      assert.equal(got["atftp_b1468.bin"], f("random.bin"));
      assert.equal(got["busybox.bin"], f("aligned.bin"));
      assert.equal(got["curl.bin"], f("big8192.bin"));
      // Every transfer ran in a worker thread (the thread is in its stats).
      const ended = records(server).flatMap((r) =>
        r.stats ? [r.stats as { worker?: number; outcome: string }] : []
      );
      assert.equal(ended.length, downloads.length + 1, server.stderr.text);
      for (const s of ended) {
        assert.ok(
          s.worker !== undefined && s.worker >= 1 &&
            s.worker <= server.threads.count,
          `ran outside the worker threads: ${JSON.stringify(s)}`,
        );
      }
    },
  ),
);
