/**
 * Interop: our client (library and command) against a real server, atftpd
 * (Debian package `atftpd`), on 127.0.0.1: get and put with blksize,
 * windowsize and tsize, compared by SHA-256.
 *
 * atftpd missing or not starting fails the test when `CI` is set (`.ci/run`
 * installs it) and ignores it with a message otherwise.
 */

import assert from "node:assert/strict";
import {
  download,
  randomBytes,
  sha256,
  tempDir,
  upload,
} from "../features/fixture.ts";
import { freeUdpPort } from "../../testing/net.ts";
import { runTftp } from "./run_tftp.ts";
import { needs } from "../../testing/gates.ts";

const IN_CI = (() => {
  const v = Deno.env.get("CI");
  return v !== undefined && v !== "" && v !== "0" && v !== "false";
})();

function findAtftpd(): string | undefined {
  const explicit = Deno.env.get("ATFTPD");
  const dirs = (Deno.env.get("PATH") ?? "").split(":").concat([
    "/usr/sbin",
    "/sbin",
  ]);
  const candidates = explicit ? [explicit] : dirs.map((d) => `${d}/atftpd`);
  for (const path of candidates) {
    try {
      const st = Deno.statSync(path);
      if (st.isFile && ((st.mode ?? 0) & 0o111) !== 0) return path;
    } catch { /* not here */ }
  }
  return undefined;
}

const ATFTPD = findAtftpd();
if (ATFTPD === undefined && !IN_CI) {
  console.error(
    "atftpd_test: atftpd is not installed (apt-get install atftpd); " +
      "interop tests ignored",
  );
}

/** A running atftpd, stopped (by PID) on dispose. */
class Atftpd implements AsyncDisposable {
  readonly child: Deno.ChildProcess;
  readonly port: number;
  output = "";
  #pumped: Promise<void>;
  #onOutput = () => {};

  constructor(binary: string, root: string, port: number) {
    this.port = port;
    this.child = new Deno.Command(binary, {
      args: [
        "--daemon",
        "--no-fork",
        "--port",
        String(port),
        "--bind-address",
        "127.0.0.1",
        "--user",
        "root.root",
        "--logfile",
        "-",
        // Level 6 (info) prints the settings, after the port is bound.
        "-v6",
        root,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#pumped = Promise.all([
      this.#pump(this.child.stdout),
      this.#pump(this.child.stderr),
    ]).then(() => {});
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      this.output += text;
      this.#onOutput();
    }
    this.#onOutput();
  }

  /**
   * Waits until atftpd says it is serving (it prints its settings after
   * binding the port) or that it cannot.
   */
  ready(): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#onOutput = () => {};
        reject(new Error(`atftpd did not start in 10 s:\n${this.output}`));
      }, 10_000);
      const check = () => {
        if (/running in daemon mode/.test(this.output)) {
          clearTimeout(timer);
          resolve();
        } else if (/can't bind|error|fatal/i.test(this.output)) {
          clearTimeout(timer);
          reject(new Error(`atftpd failed to start:\n${this.output}`));
        }
      };
      this.#onOutput = check;
      this.child.status.then(() => {
        clearTimeout(timer);
        reject(new Error(`atftpd exited:\n${this.output}`));
      });
      check();
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.child.kill("SIGTERM");
    } catch { /* already gone */ }
    await this.child.status;
    await this.#pumped;
  }
}

/** Starts atftpd on a free port over `root` (retries if the port was taken). */
async function startAtftpd(binary: string, root: string): Promise<Atftpd> {
  let last: Error | undefined;
  for (let i = 0; i < 3; i++) {
    const d = new Atftpd(binary, root, freeUdpPort());
    try {
      await d.ready();
      return d;
    } catch (err) {
      last = err as Error;
      await d[Symbol.asyncDispose]();
    }
  }
  throw last;
}

const SIZE = 300_001;

Deno.test({
  name: "interop: our client against atftpd (get and put with options)",
  ignore: needs("atftpd (Debian package atftpd)", ATFTPD !== undefined),
  fn: async (t) => {
    if (ATFTPD === undefined) {
      throw new Error(
        "atftpd is not installed (CI is set, so this fails; .ci/run installs it)",
      );
    }
    const base = await tempDir("tftp-atftpd-");
    try {
      const root = `${base}/root`;
      const cwd = `${base}/client`;
      await Deno.mkdir(root, { mode: 0o777 });
      await Deno.chmod(root, 0o777);
      await Deno.mkdir(cwd);
      const data = randomBytes(SIZE);
      await Deno.writeFile(`${root}/random.bin`, data);
      await Deno.writeFile(`${root}/empty.bin`, new Uint8Array(0));
      await Deno.writeFile(`${cwd}/random.bin`, data);
      await using atftpd = await startAtftpd(ATFTPD, root);
      const target = { target: { host: "127.0.0.1", port: atftpd.port } };
      const cases = [
        {},
        { blksize: 1468 },
        { windowsize: 8 },
        { tsize: true },
        { blksize: 1024, windowsize: 16, tsize: true },
      ];
      let n = 0;
      for (const opts of cases) {
        const label = JSON.stringify(opts);
        await t.step(`get ${label}`, async () => {
          const { data: got, result } = await download(
            target,
            "random.bin",
            opts,
          );
          assert.equal(sha256(got), sha256(data), atftpd.output);
          if ("blksize" in opts) {
            assert.equal(result.options.get("blksize"), String(opts.blksize));
          }
          if ("windowsize" in opts) {
            assert.equal(
              result.options.get("windowsize"),
              String(opts.windowsize),
            );
          }
          if ("tsize" in opts) {
            assert.equal(result.options.get("tsize"), String(SIZE));
          }
        });
        const name = `up${n++}.bin`;
        await t.step(`put ${label}`, async () => {
          const result = await upload(target, name, { ...opts, data });
          assert.equal(result.bytes, SIZE);
          if ("blksize" in opts) {
            assert.equal(result.options.get("blksize"), String(opts.blksize));
          }
          assert.equal(
            sha256(await Deno.readFile(`${root}/${name}`)),
            sha256(data),
            atftpd.output,
          );
        });
      }
      await t.step("get an empty file", async () => {
        const { data: got } = await download(target, "empty.bin", {
          tsize: true,
        });
        assert.equal(got.length, 0);
      });
      await t.step("the command: get and put with -b -w -t", async () => {
        const server = `127.0.0.1:${atftpd.port}`;
        const get = await runTftp(
          ["get", "-b", "1468", "-w", "4", "-t", server, "random.bin", "g.bin"],
          { cwd },
        );
        assert.equal(get.code, 0, get.stderr + atftpd.output);
        assert.equal(get.stderr, "");
        assert.equal(sha256(await Deno.readFile(`${cwd}/g.bin`)), sha256(data));
        const put = await runTftp(
          ["put", "-b", "1468", "-w", "4", "-t", server, "random.bin", "p.bin"],
          { cwd },
        );
        assert.equal(put.code, 0, put.stderr + atftpd.output);
        assert.equal(
          sha256(await Deno.readFile(`${root}/p.bin`)),
          sha256(data),
        );
        const missing = await runTftp(["get", server, "missing.bin"], { cwd });
        assert.equal(missing.code, 3, missing.stderr);
      });
    } finally {
      await Deno.remove(base, { recursive: true });
    }
  },
});
