/**
 * `tftp put` streams the local file: several MiB arrive identical (octet,
 * lock-step and windowed), netascii line ends at the edges of the read
 * chunks arrive right, and the file is read as the upload goes, not loaded
 * first: one truncated after DATA 1 fails the put (ERROR 0 to the server)
 * instead of being sent from a copy held in memory.
 */

import assert from "node:assert/strict";
import { encodeOack, Opcode } from "../../src/protocol/packet.ts";
import {
  randomBytes,
  sha256,
  startFeatureServer,
} from "../features/fixture.ts";
import { RawClient } from "../../testing/raw_client.ts";
import { runTftp, workDir } from "./run_tftp.ts";

const BIG = 6 * 1024 * 1024 + 1234;

Deno.test("put of a file of several MiB arrives byte-identical (streamed)", async (t) => {
  const data = randomBytes(BIG);
  await using srv = await startFeatureServer();
  await using cwd = await workDir();
  await Deno.writeFile(`${cwd.path}/big.bin`, data);
  const server = `127.0.0.1:${srv.port}`;
  for (
    const [name, flags] of [
      ["lock-step 512", []],
      ["-b 8192 -w 8", ["-b", "8192", "-w", "8"]],
    ] as const
  ) {
    await t.step(name, async () => {
      const remote = `big-${flags.length}.bin`;
      const r = await runTftp(["put", ...flags, server, "big.bin", remote], {
        cwd: cwd.path,
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, "");
      const stored = await Deno.readFile(`${srv.root}/${remote}`);
      assert.equal(stored.length, BIG);
      assert.equal(sha256(stored), sha256(data));
    });
  }
});

Deno.test("put --netascii: CR and LF at the edges of read chunks and blocks arrive right", async () => {
  // Text with a CR LF pair split across every 4 KiB edge (the netascii
  // chunk) and the 64 KiB edges (the file's read-ahead), bare CRs beside
  // them, and lines of every length mod 512 so line ends land on block
  // edges.
  const parts: string[] = [];
  let len = 0;
  for (let i = 0; len < 300_000; i++) {
    const line = "x".repeat(i % 517) + (i % 7 === 0 ? "\r" : "") + "\n";
    parts.push(line);
    len += line.length;
  }
  const bytes = new TextEncoder().encode(parts.join(""));
  for (let edge = 4096; edge < bytes.length; edge += 4096) {
    bytes[edge - 1] = 13;
    bytes[edge] = 10;
  }
  await using srv = await startFeatureServer();
  await using cwd = await workDir();
  await Deno.writeFile(`${cwd.path}/t.txt`, bytes);
  const server = `127.0.0.1:${srv.port}`;
  for (const flags of [[], ["-b", "1024", "-w", "4"]]) {
    const remote = `t${flags.length}.txt`;
    const r = await runTftp(
      ["put", "--netascii", ...flags, server, "t.txt", remote],
      { cwd: cwd.path },
    );
    assert.equal(r.code, 0, r.stderr);
    const stored = await Deno.readFile(`${srv.root}/${remote}`);
    assert.equal(sha256(stored), sha256(bytes), remote);
  }
});

Deno.test("put reads the file as it goes: truncated after DATA 1, it fails with ERROR 0 to the server", async () => {
  using listen = RawClient.open();
  using tid = RawClient.open();
  await using cwd = await workDir();
  const blksize = 65464;
  await Deno.writeFile(`${cwd.path}/big.bin`, randomBytes(blksize * 16));
  const run = runTftp(
    ["put", "-b", String(blksize), `127.0.0.1:${listen.port}`, "big.bin"],
    { cwd: cwd.path },
  );
  const wrq = await listen.expect();
  assert.equal(wrq.packet.op, Opcode.WRQ);
  await tid.send(
    encodeOack(new Map([["blksize", String(blksize)]])),
    wrq.from,
  );
  const first = await tid.expect();
  assert.equal(first.packet.op, Opcode.DATA);
  await Deno.truncate(`${cwd.path}/big.bin`, 0);
  await tid.ack(wrq.from, 1);
  const next = await tid.expect();
  assert.equal(next.packet.op, Opcode.ERROR, "DATA 2 came from a copy");
  if (next.packet.op !== Opcode.ERROR) return;
  assert.equal(next.packet.code, 0);
  assert.match(next.packet.message, /changed/);
  const r = await run;
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^tftp: .*file changed during the transfer/);
});

/** `cat PATH` (these tests hold no permission to read /proc or /sys). */
async function cat(path: string): Promise<Uint8Array | undefined> {
  const out = await new Deno.Command("cat", {
    args: [path],
    stdout: "piped",
    stderr: "null",
  }).output().catch(() => undefined);
  return out?.success ? out.stdout : undefined;
}

Deno.test("put of a procfs or sysfs file sends what reading it gives, not its made-up size", async (t) => {
  await using srv = await startFeatureServer();
  await using cwd = await workDir();
  const server = `127.0.0.1:${srv.port}`;
  // Their stat sizes are 0 (procfs) and 4096 (sysfs); their contents are
  // neither, and stay the same between two reads.
  const files = ["/proc/version", "/sys/devices/system/cpu/online"];
  for (const [i, path] of files.entries()) {
    const content = await cat(path);
    await t.step({
      name: path,
      ignore: content === undefined || content.length === 0,
      fn: async () => {
        const args = ["put", server, path, `synthetic-${i}`];
        // With `deno task tftp`'s flags Deno itself refuses such paths
        // ("Requires all access"); a client run with all of them reads it.
        const plain = await runTftp(args, { cwd: cwd.path });
        assert.notEqual(plain.code, 0);
        assert.match(plain.stderr, new RegExp(`^tftp: ${path}: .*access`));
        const all = await runTftp(args, { cwd: cwd.path, allowAll: true });
        assert.equal(all.code, 0, all.stderr);
        assert.deepEqual(
          await Deno.readFile(`${srv.root}/synthetic-${i}`),
          content,
        );
      },
    });
  }
});
