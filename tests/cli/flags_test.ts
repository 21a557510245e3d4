/**
 * The command line as a user meets it: `--help`, `--version`, and invalid
 * values, each answered with one clear line on stderr and exit status 2.
 */

import assert from "node:assert/strict";
import denoJson from "../../deno.json" with { type: "json" };
import { parseCli } from "../../src/cli/server.ts";
import { SERVER_DEFAULTS } from "../../src/defaults.ts";
import { encodeRequest, Opcode } from "../../src/protocol/packet.ts";
import { getFile, RawClient } from "../../testing/raw_client.ts";
import {
  REPO_ROOT,
  rootPermissions,
  runMain,
  startServer,
} from "../../testing/process.ts";
import { endpoint, oneLine, tempDir } from "./common.ts";
import { describe, silentTransfer } from "./silent_client.ts";

/** The flags the README's "Command line" table documents. */
async function documentedFlags(): Promise<string[]> {
  const readme = await Deno.readTextFile(`${REPO_ROOT}/README.md`);
  const section = readme.split(/^## /m).find((s) =>
    s.startsWith("Command line")
  );
  assert.ok(section, "README has no '## Command line' section");
  const flags = new Set<string>();
  for (const line of section.split("\n")) {
    // Rows of the flags table start with a flag in backticks.
    if (!/^\| `--?[a-z]/.test(line)) continue;
    const first = line.split("|")[1];
    for (const m of first.matchAll(/`(--?[a-z][a-z-]*)/g)) flags.add(m[1]);
  }
  return [...flags].sort();
}

/**
 * The flags in the "options:" part of the help text (first column only,
 * so flags quoted in descriptions are not counted).
 */
function helpFlags(help: string): string[] {
  const flags = new Set<string>();
  for (const line of help.split("\n")) {
    const m = /^ {2}(-\S.*?)(?: {2,}|$)/.exec(line);
    if (!m) continue;
    for (const f of m[1].matchAll(/(--?[a-z][a-z-]*)/g)) flags.add(f[1]);
  }
  return [...flags].sort();
}

/** Flags the task brief requires, whatever the README says. */
const REQUIRED_FLAGS = [
  "-h",
  "--help",
  "--host",
  "-p",
  "--port",
  "--root",
  "--ack-timeout",
  "--timeout",
  "--conn-timeout",
  "--retries",
  "-l",
  "--file-log",
  "-v",
  "--verbose",
  "--version",
];

Deno.test("--help exits 0 and lists every flag", async () => {
  const r = await runMain(["--help"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, "");
  assert.match(r.stdout, /^usage: tftpd /);
  const documented = await documentedFlags();
  assert.ok(documented.length >= REQUIRED_FLAGS.length, documented.join(" "));
  // Every documented flag has its own entry; an alias may be named in the
  // entry of the flag it stands for ("alias: --conn-timeout").
  const shown = helpFlags(r.stdout);
  const mentioned = (flag: string) =>
    shown.includes(flag) ||
    new RegExp(`alias:? ${flag}(?![a-z-])`).test(r.stdout);
  const missing = [...new Set([...REQUIRED_FLAGS, ...documented])].filter(
    (flag) => !mentioned(flag),
  );
  assert.deepEqual(missing, [], `flags missing from --help:\n${r.stdout}`);
});

Deno.test({
  name: "--help shows backslashes in its examples",
  fn: async () => {
    const r = await runMain(["--help"]);
    assert.match(r.stdout, /\\Boot\\BCD/);
    assert.match(r.stdout, /no \\ to \//);
  },
});

Deno.test("every flag --help shows is one the parser knows", async () => {
  const r = await runMain(["-h"]);
  assert.equal(r.code, 0, r.stderr);
  const shown = helpFlags(r.stdout);
  assert.ok(shown.length >= REQUIRED_FLAGS.length, shown.join(" "));
  for (const flag of shown) {
    // A flag the parser does not know fails as "Unknown option"; a known
    // one either parses or complains about its missing value.
    try {
      parseCli([flag]);
    } catch (err) {
      assert.doesNotMatch(String(err), /unknown option/i, `${flag}: ${err}`);
    }
  }
});

Deno.test("--version prints the version from deno.json", async () => {
  const r = await runMain(["--version"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `tftpd ${denoJson.version}\n`);
  assert.match(denoJson.version, /^\d+\.\d+\.\d+/);
});

/** Invalid command lines, and a word the one stderr line must contain. */
const INVALID: { args: string[]; mentions: RegExp }[] = [
  { args: ["-p", "70000"], mentions: /--port.*70000/ },
  { args: ["--timeout=-1"], mentions: /--timeout.*-1/ },
  { args: ["--ack-timeout", "abc"], mentions: /--ack-timeout.*abc/ },
  { args: ["--retries", "1.5"], mentions: /--retries/ },
  { args: ["--bogus"], mentions: /--bogus/ },
  { args: ["-p"], mentions: /--port/ },
  { args: ["--workers", "0"], mentions: /--workers.*0/ },
  { args: ["--workers", "two"], mentions: /--workers.*two/ },
  // The server resolves no names: a name or a malformed address is a bad
  // value (exit 2, which the unit's RestartPreventExitStatus stops on).
  { args: ["--host", "999.1.1.1"], mentions: /--host.*999\.1\.1\.1/ },
  { args: ["--host", "example.com"], mentions: /--host.*example\.com/ },
  { args: ["--host", "localhost"], mentions: /--host.*localhost/ },
  { args: ["--host", "010.0.0.1"], mentions: /--host.*010\.0\.0\.1/ },
  { args: ["--host", "1.2.3.4%eth0"], mentions: /--host/ },
  { args: ["--host", "fe80::1%"], mentions: /--host/ },
  { args: ["--metrics", "localhost:9169"], mentions: /--metrics.*localhost/ },
  { args: ["--metrics", "[1.2.3.4]:9169"], mentions: /--metrics/ },
  {
    args: ["--workers", "2", "--single-port"],
    mentions: /--single-port.*--workers/,
  },
];

for (const { args, mentions } of INVALID) {
  Deno.test(`${args.join(" ")}: one line on stderr, exit 2`, async () => {
    const r = await runMain(args);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, "");
    assert.match(oneLine(r.stderr), mentions);
  });
}

Deno.test({
  name: "--timeout -1 and --port -5: one line on stderr, exit 2",
  fn: async () => {
    for (const flag of ["--timeout", "--port"]) {
      const r = await runMain([flag, "-1"]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(oneLine(r.stderr), new RegExp(`${flag}.*-1`));
    }
  },
});

Deno.test("--root pointing to a file: one line, exit 2", async () => {
  await using dir = await tempDir({ "plain.txt": "not a directory\n" });
  const file = `${dir.path}/plain.txt`;
  const r = await runMain(["--host", "127.0.0.1", "-p", "0", "--root", file], {
    permissions: rootPermissions(file),
  });
  assert.equal(r.code, 2, r.stderr);
  assert.match(oneLine(r.stderr), /--root.*not a directory/);
});

Deno.test("--root that does not exist: one line, exit 2", async () => {
  await using dir = await tempDir();
  const missing = `${dir.path}/missing`;
  const r = await runMain(
    ["--host", "127.0.0.1", "-p", "0", "--root", missing],
    { permissions: rootPermissions(missing) },
  );
  assert.equal(r.code, 2, r.stderr);
  assert.match(oneLine(r.stderr), /--root.*(no such|does not exist)/);
});

Deno.test("--conn-timeout is an alias of --timeout", async () => {
  const bad = await runMain(["--conn-timeout", "abc"]);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(oneLine(bad.stderr), /timeout.*abc/);

  // With --conn-timeout 0.2 and a 1 s retransmit interval, the first timer
  // finds the transfer past its give-up time and ends it without
  // retransmitting. (With the default --timeout 3 it would resend ACK 0.)
  await using dir = await tempDir();
  await using server = await startServer(dir.path, {
    args: ["--conn-timeout", "0.2", "--ack-timeout", "1", "--retries", "100"],
  });
  using client = RawClient.open();
  await client.send(encodeRequest(Opcode.WRQ, "never.bin"), endpoint(server));
  const first = await client.receive(5000);
  assert.equal(first?.packet.op, Opcode.ACK);
  const end = await server.waitForLine(/ WRQ "never\.bin" .*: timeout/);
  assert.match(end, / 0 retransmits/);
  assert.equal((await server.stop()).code, 0);
});

Deno.test("a server started with valid flags serves files and applies them", async () => {
  const big = new Uint8Array(3000).map((_, i) => (i * 11) & 0xff);
  await using dir = await tempDir({ "hello.txt": "hello\n", "big.bin": big });
  await using server = await startServer(dir.path, {
    args: ["--timeout", "5", "--retries", "3", "--max-blksize", "1468"],
  });
  const r = await getFile(endpoint(server), "hello.txt");
  assert.equal(r.error, undefined);
  assert.equal(new TextDecoder().decode(r.data), "hello\n");

  // --max-blksize 1468: a larger request is granted 1468.
  const clamped = await getFile(endpoint(server), "big.bin", {
    options: { blksize: "8192" },
  });
  assert.equal(clamped.oack?.get("blksize"), "1468");
  assert.deepEqual(clamped.lengths, [1468, 1468, 64]);
  assert.deepEqual(clamped.data, big);

  // --retries 3 (default 5): a client that never answers gets DATA 1 and
  // three retransmits; the retries (4 x 0.5 s) end it before --timeout 5.
  // What --timeout alone does: flag_effects_test.ts, "--timeout S: ...".
  const silent = await silentTransfer(server, Opcode.RRQ, "hello.txt");
  assert.deepEqual(
    silent.packets.map((p) => describe(p.packet)),
    Array(4).fill("DATA 1 (6)"),
  );
  assert.match(
    silent.line,
    /: timeout \(no ACK from client\), .*, 3 retransmits$/,
  );
  assert.equal((await server.stop()).code, 0);
});

Deno.test("--workers 2 under --allow-read=ROOT only: serves, logs, stops cleanly", async () => {
  const big = new Uint8Array(300_000).map((_, i) => (i * 7) & 0xff);
  await using dir = await tempDir({ "hello.txt": "hello\n", "big.bin": big });
  // No read permission on the program's own files: the worker threads must
  // start from the bundled source, not by loading modules from disk.
  await using server = await startServer(dir.path, {
    args: ["--workers", "2", "--workers-start", "listen"],
    permissions: ["--allow-net", `--allow-read=${dir.path}`],
  });
  assert.ok(
    server.lines.some((l) => /listening on .*, 2 worker threads$/.test(l)),
    server.stderr.text,
  );
  assert.deepEqual(server.threads, { count: 2, source: "bundle" });
  const [a, b] = await Promise.all([
    getFile(endpoint(server), "hello.txt"),
    getFile(endpoint(server), "big.bin", { options: { blksize: "1428" } }),
  ]);
  assert.equal(a.error, undefined);
  assert.equal(new TextDecoder().decode(a.data), "hello\n");
  assert.equal(b.error, undefined);
  assert.deepEqual(b.data, big);
  await server.waitForLine(/ RRQ "big\.bin" octet blksize=1428: ok/);
  const stopped = await server.stop();
  assert.equal(stopped.code, 0, server.stderr.text);
  assert.ok(server.lines.some((l) => /\[INFO\] stopped$/.test(l)));
  assert.ok(
    !server.lines.some((l) => /\[ERROR\]|Uncaught/.test(l)),
    server.stderr.text,
  );
});

Deno.test("--workers: auto by default (one per CPU, 2 to 8); 1 with --single-port", () => {
  const auto = Math.max(2, Math.min(navigator.hardwareConcurrency || 1, 8));
  assert.equal(parseCli([]).server.workers, auto);
  assert.equal(parseCli(["--workers", "auto"]).server.workers, auto);
  assert.equal(parseCli(["--workers", "3"]).server.workers, 3);
  assert.equal(parseCli(["--single-port"]).server.workers, 1);
  assert.equal(
    parseCli(["--single-port", "--workers", "auto"]).server.workers,
    1,
  );
  assert.equal(parseCli(["--busy-poll-us", "0"]).server.busyPollUs, 0);
  // Every option not given has its default from defaults.ts.
  assert.equal(parseCli([]).server.busyPollUs, SERVER_DEFAULTS.busyPollUs);
});
