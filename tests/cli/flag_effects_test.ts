/**
 * Every operator flag observed through the server process, on the wire or
 * on disk. Flags whose effect another process test already observes are
 * listed in {@linkcode EFFECT_TESTS} with that test; this file tests the
 * retransmit and give-up flags with a silent raw client, the option clamps
 * and the upload limit; flag_effects_more_test.ts the session limit, the
 * worker threads, the window memory and the aliases.
 *
 * Timing assertions use bounds a loaded machine cannot break: counts and
 * order are exact, durations are only bounded from below (timers never fire
 * early) or by counts.
 */

import assert from "node:assert/strict";
import {
  encodeAck,
  encodeError,
  encodeRequest,
  ErrorCode,
  Opcode,
} from "../../src/protocol/packet.ts";
import { REPO_ROOT, runMain, startServer } from "../../testing/process.ts";
import { getFile, putFile, RawClient } from "../../testing/raw_client.ts";
import { endpoint, listDir, tempDir } from "./common.ts";
import { describe, silentTransfer } from "./silent_client.ts";

/**
 * Where each flag's effect is observed through the process (file, then a
 * piece of the test's name). The first test below checks that every flag
 * of `--help` is here and that each named test exists.
 */
const EFFECT_TESTS: Record<string, [string, string]> = {
  "--help": ["tests/cli/flags_test.ts", "--help exits 0 and lists every flag"],
  "-h": ["tests/cli/flags_test.ts", "every flag --help shows is one the"],
  "--version": ["tests/cli/flags_test.ts", "--version prints the version"],
  "--host": ["tests/cli/allow_from_test.ts", "--host ${c.host}"],
  "--port": ["tests/cli/flag_effects_more_test.ts", "--port is -p"],
  "-p": [
    "tests/cli/flags_test.ts",
    "a server started with valid flags serves files and applies them",
  ],
  "--root": [
    "tests/cli/task_test.ts",
    "deno task start serves the directory it is run from",
  ],
  "--ack-timeout": [
    "tests/cli/flag_effects_test.ts",
    "--ack-timeout S: retransmits come S apart",
  ],
  "--timeout": [
    "tests/cli/flag_effects_test.ts",
    "--timeout S: a silent transfer ends S after",
  ],
  "--conn-timeout": [
    "tests/cli/flags_test.ts",
    "--conn-timeout is an alias of --timeout",
  ],
  "--retries": [
    "tests/cli/flag_effects_test.ts",
    "--retries ${n}: a silent client",
  ],
  "--max-blksize": [
    "tests/cli/flag_effects_test.ts",
    "--max-blksize N: OACK blksize",
  ],
  "--max-windowsize": [
    "tests/cli/flag_effects_test.ts",
    "--max-windowsize N: OACK windowsize",
  ],
  "--max-upload": ["tests/cli/flag_effects_test.ts", "--max-upload BYTES:"],
  "--max-idle": [
    "tests/security/bounded_resources_test.ts",
    "with --max-idle 2 a client's timeout=255 holds a transfer",
  ],
  "--max-window-memory": [
    "tests/cli/flag_effects_more_test.ts",
    "--max-window-memory BYTES: windowed sends",
  ],
  "--read-only": [
    "tests/features/uploads_test.ts",
    "the command: --read-only and --allow-overwrite",
  ],
  "--allow-overwrite": [
    "tests/features/uploads_test.ts",
    "the command: --read-only and --allow-overwrite",
  ],
  "--ignore-case": [
    "tests/features/names_test.ts",
    "the command: --ignore-case and --no-normalize",
  ],
  "--no-normalize": [
    "tests/features/names_test.ts",
    "the command: --ignore-case and --no-normalize",
  ],
  "--map-file": ["tests/features/remap_test.ts", "the command: --map-file"],
  "--per-client-root": [
    "tests/features/per_client_root_test.ts",
    "the command: --per-client-root",
  ],
  "--max-sessions": [
    "tests/cli/flag_effects_more_test.ts",
    "--max-sessions N: request N+1",
  ],
  "--max-sessions-per-client": [
    "tests/hardening/limits_test.ts",
    "the server process enforces --max-sessions-per-client",
  ],
  "--allow-from": ["tests/cli/allow_from_test.ts", "get no datagram at all"],
  "--port-range": [
    "tests/features/ports_test.ts",
    "the command: --port-range and --single-port",
  ],
  "--single-port": [
    "tests/features/ports_test.ts",
    "the command: --port-range and --single-port",
  ],
  "--workers": [
    "tests/cli/flag_effects_more_test.ts",
    "--workers: auto runs transfers in one thread per CPU",
  ],
  "--workers-start": [
    "tests/cli/flag_effects_more_test.ts",
    "--workers-start: on demand (the default)",
  ],
  "--busy-poll-us": [
    "tests/cli/logging_test.ts",
    "--busy-poll-us 0 turns it off",
  ],
  "-l": ["tests/cli/logging_test.ts", "-l FILE appends"],
  "--file-log": ["tests/cli/flag_effects_more_test.ts", "--file-log is -l"],
  "--log-format": [
    "tests/features/logging_test.ts",
    "the command: --log-format json",
  ],
  "-v": ["tests/cli/logging_test.ts", "-v adds a debug line per packet"],
  "--metrics": [
    "tests/metrics/server_test.ts",
    "--metrics: transfers through the worker threads are counted",
  ],
  "--origin": ["tests/origin/main_test.ts", "main.ts --origin: root first"],
  "--origin-only": ["tests/origin/main_test.ts", "main.ts --origin-only"],
  "--origin-timeout": ["tests/origin/main_test.ts", "main.ts --origin: root"],
  "--origin-header": ["tests/origin/main_test.ts", "main.ts --origin: root"],
  "--origin-idle-timeout": ["tests/origin/flags_test.ts", "--origin-idle"],
  "--origin-redirects": ["tests/origin/flags_test.ts", "--origin-redirects,"],
  "--origin-max-size": ["tests/origin/flags_test.ts", "--origin-max-size,"],
  "--origin-cache-memory": ["tests/origin/flags_test.ts", "--origin-cache-m"],
  "--origin-max-requests": ["tests/origin/flags_test.ts", "--origin-max-req"],
  "--origin-cache-dir": ["tests/origin/flags_test.ts", "--origin-cache-dir"],
  "--origin-cache-dir-size": [
    "tests/origin/flags_test.ts",
    "--origin-cache-dir-size: entries outlive",
  ],
  "--verbose": ["tests/cli/flag_effects_more_test.ts", "--verbose is -v"],
};

/** Flags in the first column of `--help`. */
function helpFlags(help: string): string[] {
  const flags = new Set<string>();
  for (const line of help.split("\n")) {
    const m = /^ {2}(-\S.*?)(?: {2,}|$)/.exec(line);
    if (!m) continue;
    for (const f of m[1].matchAll(/(--?[a-z][a-z-]*)/g)) flags.add(f[1]);
  }
  return [...flags].sort();
}

Deno.test("every flag of --help has a process test that observes its effect", async () => {
  const r = await runMain(["--help"]);
  assert.equal(r.code, 0, r.stderr);
  const flags = [...helpFlags(r.stdout), "--conn-timeout"];
  assert.ok(flags.length > 30, flags.join(" "));
  const missing = flags.filter((f) => !(f in EFFECT_TESTS));
  assert.deepEqual(missing, [], "flags without an effect test");
  for (const [flag, [file, name]] of Object.entries(EFFECT_TESTS)) {
    const text = await Deno.readTextFile(`${REPO_ROOT}/${file}`);
    assert.ok(text.includes(name), `${flag}: no test "${name}" in ${file}`);
  }
});

const FILE = new Uint8Array(2000).map((_, i) => (i * 13) & 0xff);

for (const n of [0, 3]) {
  Deno.test(`--retries ${n}: a silent client sees the first packet and exactly ${n} retransmits, then a timeout`, async () => {
    await using dir = await tempDir({ "a.bin": FILE });
    await using server = await startServer(dir.path, {
      args: ["--retries", String(n), "--ack-timeout", "0.2", "--timeout", "60"],
    });
    const rrq = await silentTransfer(server, Opcode.RRQ, "a.bin");
    assert.deepEqual(
      rrq.packets.map((r) => describe(r.packet)),
      Array(n + 1).fill("DATA 1 (512)"),
    );
    for (const r of rrq.packets) assert.deepEqual(r.data, rrq.packets[0].data);
    assert.match(rrq.line, /\[WARNING\] .*: timeout \(no ACK from client\), /);
    assert.match(rrq.line, new RegExp(`, ${n} retransmits$`));

    const wrq = await silentTransfer(server, Opcode.WRQ, "up.bin");
    assert.deepEqual(
      wrq.packets.map((r) => describe(r.packet)),
      Array(n + 1).fill("ACK 0"),
    );
    assert.match(wrq.line, /: timeout \(no DATA from client\), /);
    assert.match(wrq.line, new RegExp(`, ${n} retransmits$`));
    // The timeout is logged before the upload is removed; the server waits
    // for that removal before it exits.
    assert.equal((await server.stop()).code, 0, server.stderr.text);
    assert.deepEqual(await listDir(dir.path), ["a.bin"], "upload left behind");
  });
}

Deno.test("--ack-timeout S: retransmits come S apart, and the transfer ends S after the last", async () => {
  const s = 1.2;
  await using dir = await tempDir({ "a.bin": FILE });
  await using server = await startServer(dir.path, {
    args: ["--ack-timeout", String(s), "--retries", "2", "--timeout", "60"],
  });
  const r = await silentTransfer(server, Opcode.RRQ, "a.bin");
  assert.deepEqual(
    r.packets.map((p) => describe(p.packet)),
    ["DATA 1 (512)", "DATA 1 (512)", "DATA 1 (512)"],
  );
  // Timers never fire early; delivery delays can shorten one gap a little,
  // never to the default 0.5 s.
  const gaps = r.times.slice(1).map((t, i) => t - r.times[i]);
  for (const gap of gaps) {
    assert.ok(gap >= 0.75 * s * 1000, `gaps ${gaps.map(Math.round)} ms`);
  }
  assert.ok(r.endMs >= 3 * s * 1000 * 0.9, `ended after ${r.endMs} ms`);
  assert.match(r.line, /, 2 retransmits$/);
});

Deno.test("--timeout S: a silent transfer ends S after the last progress, retries or not", async () => {
  // Retransmits every 0.25 s with 100 retries allowed: only --timeout 1
  // ends it, after at most 1 / 0.25 = 4 retransmits (fewer when the timers
  // run late; the default --timeout 3 would allow 12).
  await using dir = await tempDir({ "a.bin": FILE });
  await using server = await startServer(dir.path, {
    args: ["--timeout", "1", "--ack-timeout", "0.25", "--retries", "100"],
  });
  const r = await silentTransfer(server, Opcode.RRQ, "a.bin");
  const seen = r.packets.map((p) => describe(p.packet));
  assert.ok(seen.length >= 1 && seen.length <= 5, seen.join(", "));
  assert.ok(seen.every((d) => d === "DATA 1 (512)"), seen.join(", "));
  assert.match(r.line, new RegExp(`, ${seen.length - 1} retransmits$`));
  assert.match(r.line, /: timeout \(no ACK from client\), 0 bytes in /);
  assert.ok(r.endMs >= 900, `ended after ${r.endMs} ms`);
});

Deno.test("--max-blksize N: OACK blksize is clamped to N for reads and writes, smaller requests stand", async () => {
  const data = new Uint8Array(2500).map((_, i) => (i * 7) & 0xff);
  await using dir = await tempDir({ "a.bin": data });
  await using server = await startServer(dir.path, {
    args: ["--max-blksize", "1000"],
  });
  const big = await getFile(endpoint(server), "a.bin", {
    options: { blksize: "1468" },
  });
  assert.equal(big.oack?.get("blksize"), "1000");
  assert.deepEqual(big.lengths, [1000, 1000, 500]);
  assert.deepEqual(big.data, data);

  const small = await getFile(endpoint(server), "a.bin", {
    options: { blksize: "600" },
  });
  assert.equal(small.oack?.get("blksize"), "600");
  assert.deepEqual(small.lengths, [600, 600, 600, 600, 100]);

  const up = await putFile(endpoint(server), "up.bin", {
    data,
    options: { blksize: "65464" },
  });
  assert.equal(up.error, undefined);
  assert.equal(up.oack?.get("blksize"), "1000");
  assert.deepEqual(up.lengths, [1000, 1000, 500]);
  await server.waitForLine(/ WRQ "up\.bin" octet blksize=1000: ok/);
  assert.deepEqual(await Deno.readFile(`${dir.path}/up.bin`), data);
});

Deno.test("--max-windowsize N: OACK windowsize is clamped to N and N blocks go out per ACK", async () => {
  const data = new Uint8Array(20 * 512 + 3).map((_, i) => i & 0xff);
  await using dir = await tempDir({ "w.bin": data });
  await using server = await startServer(dir.path, {
    args: ["--max-windowsize", "4"],
  });
  using client = RawClient.open();
  // The timeout option fixes the retransmit interval at 10 s (otherwise it
  // adapts to the round trip, down to 50 ms): no retransmit during the test.
  await client.send(
    encodeRequest(Opcode.RRQ, "w.bin", {
      options: new Map([["windowsize", "16"], ["timeout", "10"]]),
    }),
    endpoint(server),
  );
  const oack = await client.receive(5000);
  assert.ok(oack?.packet.op === Opcode.OACK, "no OACK");
  assert.equal(oack.packet.options.get("windowsize"), "4");
  const tid = oack.from;
  for (const [ack, blocks] of [[0, [1, 2, 3, 4]], [4, [5, 6, 7, 8]]] as const) {
    await client.send(encodeAck(ack), tid);
    const got: string[] = [];
    for (const _ of blocks) {
      const r = await client.receive(5000);
      assert.ok(r, `only ${got.join(", ")} after ACK ${ack}`);
      got.push(describe(r.packet));
    }
    assert.deepEqual(got, blocks.map((b) => `DATA ${b} (512)`));
    const extra = await client.receive(1000);
    assert.equal(
      extra,
      undefined,
      `after ACK ${ack}: ${extra && describe(extra.packet)}`,
    );
  }
  await client.send(encodeError(ErrorCode.NOT_DEFINED, "done"), tid);

  const small = await getFile(endpoint(server), "w.bin", {
    options: { windowsize: "2" },
  });
  assert.equal(small.oack?.get("windowsize"), "2");
  assert.deepEqual(small.data, data);
});

Deno.test("--max-upload BYTES: ERROR 3 for a tsize above it and when the data passes it; nothing left", async () => {
  const limit = 2000;
  await using dir = await tempDir();
  await using server = await startServer(dir.path, {
    args: ["--max-upload", String(limit)],
  });
  const data = (n: number) => new Uint8Array(n).fill(0x41);

  const atLimit = await putFile(endpoint(server), "fits.bin", {
    data: data(limit),
    options: { tsize: String(limit) },
  });
  assert.equal(atLimit.error, undefined, atLimit.error?.message);
  assert.equal(atLimit.oack?.get("tsize"), String(limit));

  const announced = await putFile(endpoint(server), "big.bin", {
    data: data(5000),
    options: { tsize: "5000" },
  });
  assert.equal(announced.error?.code, ErrorCode.DISK_FULL);
  assert.equal(
    announced.error?.message,
    `upload of 5000 bytes exceeds the limit of ${limit}`,
  );
  assert.equal(announced.dataPackets, 0, "DATA sent after the refusal");

  const unannounced = await putFile(endpoint(server), "big.bin", {
    data: data(5000),
  });
  assert.equal(unannounced.error?.code, ErrorCode.DISK_FULL);
  assert.equal(
    unannounced.error?.message,
    `upload exceeds the limit of ${limit} bytes`,
  );
  // Blocks 1-3 (1536 bytes) are taken; block 4 passes 2000 bytes.
  assert.equal(unannounced.acks, 3);
  await server.waitForLine(
    /:\d+ WRQ "big\.bin" octet: error \(ERROR 3: upload exceeds the limit of 2000 bytes\), \d+ bytes in /,
  );
  // The error is logged before the partial upload is removed; the server
  // waits for that removal before it exits.
  assert.equal((await server.stop()).code, 0, server.stderr.text);
  assert.deepEqual(await listDir(dir.path), ["fits.bin"], "files left");
  assert.deepEqual(await Deno.readFile(`${dir.path}/fits.bin`), data(limit));
});
