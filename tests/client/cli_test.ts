/**
 * The client command (`deno task tftp get|put ...`) as a process against our
 * in-process server: files on disk, exit statuses, quiet output when not on
 * a terminal, the progress bar on a terminal, flags reaching the wire.
 */

import assert from "node:assert/strict";
import {
  randomBytes,
  sha256,
  startFeatureServer,
} from "../features/fixture.ts";
import { RawClient } from "../../testing/raw_client.ts";
import { ipv6Available } from "../../testing/net.ts";
import { listDir, runTftp, runTftpOnTty, workDir } from "./run_tftp.ts";
import { needs } from "../../testing/gates.ts";

const SIZE = 150_001;

Deno.test("get: exit 0, the file arrives under its base name, nothing printed", async () => {
  const data = randomBytes(SIZE);
  await using srv = await startFeatureServer({ files: { "sub/a.bin": data } });
  await using cwd = await workDir();
  const r = await runTftp(["get", `127.0.0.1:${srv.port}`, "sub/a.bin"], {
    cwd: cwd.path,
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, "");
  assert.equal(r.stdout.length, 0);
  // Only the finished file: no partial file left behind.
  assert.deepEqual(await listDir(cwd.path), ["a.bin"]);
  assert.equal(sha256(await Deno.readFile(`${cwd.path}/a.bin`)), sha256(data));
});

Deno.test("get to a chosen name and to stdout (-)", async () => {
  const data = randomBytes(SIZE);
  await using srv = await startFeatureServer({ files: { "a.bin": data } });
  await using cwd = await workDir();
  const server = `127.0.0.1:${srv.port}`;
  const named = await runTftp(["get", server, "a.bin", "b.bin"], {
    cwd: cwd.path,
  });
  assert.equal(named.code, 0, named.stderr);
  assert.equal(sha256(await Deno.readFile(`${cwd.path}/b.bin`)), sha256(data));
  const piped = await runTftp(["get", server, "a.bin", "-"], { cwd: cwd.path });
  assert.equal(piped.code, 0, piped.stderr);
  assert.equal(piped.stderr, "");
  assert.equal(sha256(piped.stdout), sha256(data));
  assert.deepEqual(await listDir(cwd.path), ["b.bin"]);
});

Deno.test("put: exit 0, stored under the base name or the given name", async () => {
  const data = randomBytes(SIZE);
  await using srv = await startFeatureServer();
  await using cwd = await workDir();
  await Deno.mkdir(`${cwd.path}/d`);
  await Deno.writeFile(`${cwd.path}/d/local.bin`, data);
  const server = `127.0.0.1:${srv.port}`;
  const a = await runTftp(["put", server, "d/local.bin"], { cwd: cwd.path });
  assert.equal(a.code, 0, a.stderr);
  assert.equal(a.stderr, "");
  const b = await runTftp(["put", server, "d/local.bin", "other.bin"], {
    cwd: cwd.path,
  });
  assert.equal(b.code, 0, b.stderr);
  for (const name of ["local.bin", "other.bin"]) {
    assert.equal(
      sha256(await Deno.readFile(`${srv.root}/${name}`)),
      sha256(data),
      name,
    );
  }
});

Deno.test("flags reach the wire: -b -w -t --timeout --netascii", async (t) => {
  const text = "line one\nline two\n".repeat(3000);
  await using srv = await startFeatureServer({ files: { "t.txt": text } });
  await using cwd = await workDir();
  const server = `127.0.0.1:${srv.port}`;
  await t.step("get", async () => {
    const r = await runTftp(
      ["get", "-b", "1468", "-w", "4", "-t", "--timeout", "2", server, "t.txt"],
      { cwd: cwd.path },
    );
    assert.equal(r.code, 0, r.stderr);
    const s = await srv.waitForTransfer((s) => s.direction === "read");
    assert.deepEqual(s.options, {
      blksize: "1468",
      windowsize: "4",
      tsize: String(text.length),
      timeout: "2",
    });
    assert.equal(s.mode, "octet");
  });
  await t.step("put --netascii with long options", async () => {
    const r = await runTftp(
      [
        "put",
        "--blksize",
        "1024",
        "--windowsize",
        "8",
        "--tsize",
        "--netascii",
        server,
        "t.txt",
        "back.txt",
      ],
      { cwd: cwd.path },
    );
    assert.equal(r.code, 0, r.stderr);
    const s = await srv.waitForTransfer((s) => s.filename === "back.txt");
    assert.equal(s.mode, "netascii");
    assert.equal(s.options.blksize, "1024");
    assert.equal(s.options.windowsize, "8");
    // tsize announces the netascii (wire) size: one CR added per line.
    const lines = text.split("\n").length - 1;
    assert.equal(s.options.tsize, String(text.length + lines));
    assert.equal(await srv.readText("back.txt"), text);
  });
});

Deno.test({
  name: "IPv6 server address in brackets: [::1]:PORT",
  ignore: needs("IPv6 on loopback (a UDP socket on ::1)", ipv6Available()),
  fn: async () => {
    const data = randomBytes(SIZE);
    await using srv = await startFeatureServer({
      host: "::1",
      files: { "a.bin": data },
    });
    await using cwd = await workDir();
    const server = `[::1]:${srv.port}`;
    const got = await runTftp(["get", server, "a.bin"], { cwd: cwd.path });
    assert.equal(got.code, 0, got.stderr);
    assert.equal(
      sha256(await Deno.readFile(`${cwd.path}/a.bin`)),
      sha256(data),
    );
    const put = await runTftp(["put", server, "a.bin", "up.bin"], {
      cwd: cwd.path,
    });
    assert.equal(put.code, 0, put.stderr);
    const s = await srv.waitForTransfer((s) => s.filename === "up.bin");
    assert.match(s.peer, /^\[::1\]:/);
  },
});

Deno.test("exit 3: remote file not found (no local file left), local file missing", async () => {
  await using srv = await startFeatureServer();
  await using cwd = await workDir();
  const server = `127.0.0.1:${srv.port}`;
  const get = await runTftp(["get", server, "missing.bin"], { cwd: cwd.path });
  assert.equal(get.code, 3, get.stderr);
  assert.match(get.stderr, /^tftp: .*(not found|no such)/i);
  assert.deepEqual(await listDir(cwd.path), []);
  const put = await runTftp(["put", server, "nope.bin"], { cwd: cwd.path });
  assert.equal(put.code, 3, put.stderr);
  assert.match(put.stderr, /nope\.bin/);
});

Deno.test("exit 4: access violation (../x, and put to a read-only server)", async () => {
  await using srv = await startFeatureServer({ readOnly: true });
  await using cwd = await workDir();
  await Deno.writeTextFile(`${cwd.path}/x`, "x");
  const server = `127.0.0.1:${srv.port}`;
  const get = await runTftp(["get", server, "../x"], { cwd: cwd.path });
  assert.equal(get.code, 4, get.stderr);
  assert.match(get.stderr, /^tftp: /);
  const put = await runTftp(["put", server, "x"], { cwd: cwd.path });
  assert.equal(put.code, 4, put.stderr);
});

Deno.test("exit 5: nothing answers (--retries 1 --timeout 1)", async () => {
  using silent = RawClient.open();
  await using cwd = await workDir();
  const r = await runTftp(
    [
      "get",
      "--retries",
      "1",
      "--timeout",
      "1",
      `127.0.0.1:${silent.port}`,
      "a",
    ],
    { cwd: cwd.path },
  );
  assert.equal(r.code, 5, r.stderr);
  assert.match(r.stderr, /timed out/);
  assert.deepEqual(await listDir(cwd.path), []);
  // The request and exactly one retransmission reached the silent port.
  for (let i = 0; i < 2; i++) {
    const { packet } = await silent.expect();
    assert.equal(packet.op, 1, "RRQ");
  }
});

Deno.test("exit 6: put onto an existing file leaves it alone", async () => {
  await using srv = await startFeatureServer({ files: { "a.txt": "old" } });
  await using cwd = await workDir();
  await Deno.writeTextFile(`${cwd.path}/a.txt`, "new");
  const r = await runTftp(["put", `127.0.0.1:${srv.port}`, "a.txt"], {
    cwd: cwd.path,
  });
  assert.equal(r.code, 6, r.stderr);
  assert.match(r.stderr, /exists/);
  assert.equal(await srv.readText("a.txt"), "old");
});

Deno.test("exit 2: usage errors; --help exits 0", async (t) => {
  await using cwd = await workDir();
  const bad: string[][] = [
    [],
    ["fetch", "127.0.0.1", "a"],
    ["get", "127.0.0.1"],
    ["get", "-b", "7", "127.0.0.1:69", "a"],
    ["get", "--blksize", "65465", "127.0.0.1:69", "a"],
    ["get", "-w", "0", "127.0.0.1:69", "a"],
    ["get", "--timeout", "256", "127.0.0.1:69", "a"],
    ["get", "--retries", "x", "127.0.0.1:69", "a"],
    ["get", "--bogus", "127.0.0.1:69", "a"],
    ["get", "127.0.0.1:99999", "a"],
    ["get", "127.0.0.1:x", "a"],
  ];
  for (const args of bad) {
    await t.step(args.join(" ") || "(no arguments)", async () => {
      const r = await runTftp(args, { cwd: cwd.path });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /^tftp: /);
    });
  }
  assert.deepEqual(await listDir(cwd.path), []);
  const help = await runTftp(["--help"], { cwd: cwd.path });
  assert.equal(help.code, 0);
  assert.match(new TextDecoder().decode(help.stdout), /^usage: tftp get/);
});

Deno.test("progress bar on a terminal: percent and ETA; none with -q", async (t) => {
  const data = randomBytes(SIZE);
  await using srv = await startFeatureServer({ files: { "a.bin": data } });
  await using cwd = await workDir();
  await Deno.writeFile(`${cwd.path}/up.bin`, data);
  const server = `127.0.0.1:${srv.port}`;
  await t.step("get", async () => {
    const r = await runTftpOnTty(["get", server, "a.bin"], { cwd: cwd.path });
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /100%/);
    assert.match(r.output, /ETA \d+s/);
    assert.equal(
      sha256(await Deno.readFile(`${cwd.path}/a.bin`)),
      sha256(data),
    );
  });
  await t.step("put", async () => {
    const r = await runTftpOnTty(["put", server, "up.bin"], { cwd: cwd.path });
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /\d+%.*ETA/);
  });
  await t.step("get -q", async () => {
    const r = await runTftpOnTty(["get", "-q", server, "a.bin", "q.bin"], {
      cwd: cwd.path,
    });
    assert.equal(r.code, 0, r.output);
    assert.equal(r.output.trim(), "");
    assert.equal(
      sha256(await Deno.readFile(`${cwd.path}/q.bin`)),
      sha256(data),
    );
  });
});
