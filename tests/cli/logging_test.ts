/**
 * What the server process logs: py3tftp's line format on stderr, `-l FILE`
 * appending across runs, and `-v` adding per-packet debug lines.
 */

import assert from "node:assert/strict";
import { getFile, putFile, randomBytes } from "../../testing/raw_client.ts";
import { startServer } from "../../testing/process.ts";
import { freeUdpRange } from "../../testing/net.ts";
import { endpoint, LOG_LINE, tempDir } from "./common.ts";

const INFO_LINE = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \[INFO\] /;

Deno.test("every stderr line is in the log format, from start to stop", async () => {
  await using dir = await tempDir({ "a.bin": randomBytes(3000) });
  await using server = await startServer(dir.path);
  const got = await getFile(endpoint(server), "a.bin");
  assert.equal(got.error, undefined);
  const missing = await getFile(endpoint(server), "missing.bin");
  assert.equal(missing.error?.code, 1);
  await server.waitForLine(/ RRQ "missing\.bin" .*: error/);
  const outside = await getFile(endpoint(server), "../x.bin");
  assert.equal(outside.error?.code, 2);
  await server.waitForLine(/ RRQ "\.\.\/x\.bin" .*: error/);
  assert.equal((await server.stop()).code, 0);

  const lines = server.lines;
  assert.match(lines[0], INFO_LINE);
  assert.match(lines[0], /\[INFO\] listening on 127\.0\.0\.1:\d+/);
  for (const line of lines) assert.match(line, LOG_LINE);
  assert.ok(lines.some((l) => INFO_LINE.test(l) && / RRQ "a\.bin" /.test(l)));
  assert.ok(
    lines.some((l) => / \[INFO\] .*"missing\.bin" octet: error/.test(l)),
  );
  assert.ok(
    lines.some((l) => / \[WARNING\] .*"\.\.\/x\.bin" octet: error/.test(l)),
  );
  // Nothing on stdout: logs go to stderr only.
  assert.deepEqual(server.stdout.lines, []);
});

Deno.test("-l FILE appends: both runs' lines are in the file", async () => {
  await using dir = await tempDir({ "a.txt": "hello\n" });
  await using logs = await tempDir();
  const file = `${logs.path}/tftpd.log`;
  const permissions = [
    "--allow-net",
    `--allow-read=${dir.path},${file}`,
    `--allow-write=${dir.path},${file}`,
  ];
  const runs: { port: number; lines: string[] }[] = [];
  for (const run of ["first", "second"]) {
    await using server = await startServer(dir.path, {
      args: ["-l", file],
      permissions,
    });
    const r = await getFile(endpoint(server), "a.txt");
    assert.equal(r.error, undefined, run);
    await server.waitForLine(/ RRQ "a\.txt" .*: ok/);
    assert.equal((await server.stop()).code, 0, run);
    runs.push({ port: server.port, lines: [...server.lines] });
  }
  // The file holds exactly what each run wrote on stderr, the first run's
  // lines first: appended, nothing lost, nothing added.
  const lines = (await Deno.readTextFile(file)).trimEnd().split("\n");
  assert.deepEqual(lines, runs.flatMap((r) => r.lines));
  const root = dir.path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  for (const { port, lines } of runs) {
    for (const line of lines) assert.match(line, LOG_LINE);
    assert.match(
      lines[0],
      new RegExp(
        `\\[INFO\\] listening on 127\\.0\\.0\\.1:${port}, root ${root} \\(read-write\\)`,
      ),
    );
    const ok = lines.filter((l) => / RRQ "a\.txt" /.test(l) && /: ok/.test(l));
    assert.equal(ok.length, 1, lines.join("\n"));
    assert.match(
      ok[0],
      /\[INFO\] 127\.0\.0\.1:\d+ RRQ "a\.txt" octet: ok, 6 bytes in \d+\.\d{3} s, \d+ retransmits$/,
    );
    assert.match(lines.at(-2)!, /\[INFO\] SIGTERM received: shutting down$/);
    assert.match(lines.at(-1)!, /\[INFO\] stopped$/);
  }
});

Deno.test("-v adds a debug line per packet; without it there are none", async () => {
  await using dir = await tempDir({ "a.bin": randomBytes(2000) });
  const debugLines = async (args: string[]) => {
    await using server = await startServer(dir.path, { args });
    const got = await getFile(endpoint(server), "a.bin");
    assert.equal(got.error, undefined);
    await server.waitForLine(/ RRQ "a\.bin" .*: ok/);
    const name = `up_${args.length}.bin`;
    const put = await putFile(endpoint(server), name, {
      data: randomBytes(1500),
    });
    assert.equal(put.error, undefined);
    await server.waitForLine(new RegExp(` WRQ "${name}" .*: ok`));
    assert.equal((await server.stop()).code, 0);
    for (const line of server.lines) assert.match(line, LOG_LINE);
    return server.lines.filter((l) => / \[DEBUG\] /.test(l));
  };

  assert.deepEqual(await debugLines([]), []);

  const debug = await debugLines(["-v"]);
  // 2000 bytes: ACKs 1..4 from the client; 1500 bytes: DATA 1..3.
  for (const block of [1, 2, 3, 4]) {
    assert.ok(
      debug.some((l) => new RegExp(`\\bACK ${block}\\b`).test(l)),
      `no debug line for ACK ${block}:\n${debug.join("\n")}`,
    );
  }
  for (const block of [1, 2, 3]) {
    assert.ok(
      debug.some((l) => new RegExp(`\\bDATA ${block}\\b`).test(l)),
      `no debug line for DATA ${block}:\n${debug.join("\n")}`,
    );
  }
});

Deno.test("-v: a lone transfer reports its busy-poll; --busy-poll-us 0 turns it off", async () => {
  const data = randomBytes(512 * 200 + 17); // 201 DATA blocks, 201 ACKs
  await using dir = await tempDir({ "a.bin": data });
  for (const off of [false, true]) {
    await using server = await startServer(dir.path, {
      args: ["-v", ...(off ? ["--busy-poll-us", "0"] : [])],
    });
    const got = await getFile(endpoint(server), "a.bin");
    assert.equal(got.error, undefined);
    assert.deepEqual(got.data, data);
    await server.waitForLine(/ RRQ "a\.bin" octet: ok/);
    assert.equal((await server.stop()).code, 0);
    const polls = server.lines.filter((l) => /busy-poll:/.test(l));
    if (off) {
      assert.deepEqual(polls, []);
      continue;
    }
    assert.equal(polls.length, 1, server.stderr.text);
    // How many replies were already there depends on the client's speed
    // (this one is JavaScript in another process, often too slow for the
    // 50 µs spin, so spinning may pause after a few dozen misses).
    const m = / busy-poll: (\d+) of (\d+) replies taken without sleeping$/
      .exec(polls[0]);
    assert.ok(m, polls[0]);
    assert.ok(Number(m[2]) >= 16 && Number(m[2]) <= 202, polls[0]);
    assert.ok(Number(m[1]) <= Number(m[2]));
  }
});

Deno.test("flags that are useless together each get one warning line at start, and the server runs; agreeing flags get none", async () => {
  await using dir = await tempDir({ "a.txt": "a" });
  const ports = freeUdpRange(2);
  await using odd = await startServer(dir.path, {
    port: ports[0],
    args: [
      "--read-only",
      "--allow-overwrite",
      "--ack-timeout",
      "5",
      "--timeout",
      "1",
      "--port-range",
      `${ports[0]}:${ports[1]}`,
    ],
  });
  const warned = (re: RegExp) =>
    odd.lines.filter((l) => /\[WARNING\]/.test(l) && re.test(l)).length;
  assert.equal(warned(/--allow-overwrite does nothing with --read-only/), 1);
  assert.equal(warned(/--ack-timeout 5 is not shorter than --timeout 1/), 1);
  assert.equal(
    warned(new RegExp(`--port-range .* holds the listen port ${ports[0]}`)),
    1,
    odd.lines.join("\n"),
  );
  await using plain = await startServer(dir.path, { args: ["--read-only"] });
  assert.equal(
    plain.lines.filter((l) =>
      /does nothing|not shorter|holds the listen/.test(l)
    )
      .length,
    0,
  );
});
