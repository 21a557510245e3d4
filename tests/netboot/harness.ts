/**
 * Process plumbing for the netboot test: our server as a real process, QEMU
 * guests bounded by `timeout`, a private network namespace, and line logs to
 * wait on (no polling, no sleeps).
 *
 * ```ts ignore
 * import { startServer, runQemu } from "./harness.ts";
 * const server = await startServer({ root, host: "127.0.0.1" });
 * const run = await runQemu(["-netdev", "user,id=n0,..."], { timeoutS: 60 });
 * await server.stop();
 * ```
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { LISTENING } from "../../testing/process.ts";

/** Absolute path of the repository root (where `main.ts` is). */
export const REPO_ROOT: string = fileURLToPath(
  new URL("../../", import.meta.url),
).replace(/\/$/, "");

/** Absolute path of this folder (the kernel source lives here). */
export const NETBOOT_DIR: string = `${REPO_ROOT}/tests/netboot`;

/** Environment for children: no colours, no Rust backtraces, no update check. */
const CHILD_ENV: Record<string, string> = {
  NO_COLOR: "1",
  RUST_BACKTRACE: "0",
  DENO_NO_UPDATE_CHECK: "1",
};

/** Upper bound in seconds for helper processes (server, dnsmasq) if we die. */
const BACKSTOP_S = 600;

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;=?]*[A-Za-z]|\x1b[c()][0-9A-Za-z]?/g;

/**
 * Makes one line of a serial console readable: drops ANSI escapes,
 * backspaces and carriage returns.
 *
 * @param line Raw text.
 * @returns Plain text.
 */
export function plainText(line: string): string {
  // deno-lint-ignore no-control-regex
  return line.replace(ANSI, "").replace(/[\r\x08]/g, "");
}

interface Waiter {
  re: RegExp;
  resolve: (line: string | undefined) => void;
}

/**
 * Collects the lines of a byte stream and lets callers wait for a line
 * matching a pattern.
 */
export class LineLog {
  /** Every line so far, made plain with {@linkcode plainText}. */
  readonly lines: string[] = [];
  /** Resolves when the stream has ended. */
  readonly done: Promise<void>;
  #waiters = new Set<Waiter>();
  #ended = false;
  #onLine?: (line: string) => void;

  /**
   * @param stream The stream to read to its end.
   * @param onLine Called with every line as it arrives.
   */
  constructor(
    stream: ReadableStream<Uint8Array>,
    onLine?: (line: string) => void,
  ) {
    this.#onLine = onLine;
    this.done = this.#pump(stream);
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    let rest = "";
    try {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        rest += chunk;
        let nl: number;
        while ((nl = rest.indexOf("\n")) >= 0) {
          this.#add(rest.slice(0, nl));
          rest = rest.slice(nl + 1);
        }
      }
    } catch { /* the process went away: keep what arrived */ }
    if (rest) this.#add(rest);
    this.#ended = true;
    for (const w of this.#waiters) w.resolve(undefined);
    this.#waiters.clear();
  }

  #add(raw: string): void {
    const line = plainText(raw);
    this.lines.push(line);
    this.#onLine?.(line);
    for (const w of this.#waiters) {
      if (w.re.test(line)) {
        this.#waiters.delete(w);
        w.resolve(line);
      }
    }
  }

  /**
   * The first line matching `re`, if any.
   *
   * @param re Pattern.
   * @returns The line or undefined.
   */
  find(re: RegExp): string | undefined {
    return this.lines.find((l) => re.test(l));
  }

  /**
   * Waits for a line matching `re` (one seen already counts).
   *
   * @param re Pattern.
   * @param ms Upper bound in milliseconds.
   * @returns The line, or undefined if the stream ended or time ran out.
   */
  waitFor(re: RegExp, ms: number): Promise<string | undefined> {
    const seen = this.find(re);
    if (seen !== undefined || this.#ended) return Promise.resolve(seen);
    return new Promise((resolve) => {
      const w: Waiter = {
        re,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(w);
        resolve(undefined);
      }, ms);
      this.#waiters.add(w);
    });
  }

  /**
   * The last lines, for failure messages.
   *
   * @param n How many.
   * @param skip Lines to leave out (e.g. per-block debug lines).
   * @returns Lines joined with newlines.
   */
  tail(n: number, skip?: RegExp): string {
    const ls = skip ? this.lines.filter((l) => !skip.test(l)) : this.lines;
    return ls.filter((l) => l.trim() !== "").slice(-n).join("\n");
  }
}

/** A long-running child with both output streams collected. */
export class Child {
  /** The process. */
  readonly process: Deno.ChildProcess;
  /** Its stdout. */
  readonly stdout: LineLog;
  /** Its stderr. */
  readonly stderr: LineLog;
  #status?: Promise<Deno.CommandStatus>;

  /**
   * Starts `argv` with stdin closed.
   *
   * @param argv Program and arguments.
   * @param opts Working directory.
   */
  constructor(argv: string[], opts: { cwd?: string } = {}) {
    this.process = new Deno.Command(argv[0], {
      args: argv.slice(1),
      cwd: opts.cwd,
      env: CHILD_ENV,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.stdout = new LineLog(this.process.stdout);
    this.stderr = new LineLog(this.process.stderr);
  }

  /** The process id. */
  get pid(): number {
    return this.process.pid;
  }

  /**
   * Waits for the process and its output to end.
   *
   * @returns The exit status.
   */
  async wait(): Promise<Deno.CommandStatus> {
    this.#status ??= this.process.status;
    const status = await this.#status;
    await Promise.all([this.stdout.done, this.stderr.done]);
    return status;
  }

  /**
   * Sends `signal` by PID (if still running) and waits for the end.
   *
   * @param signal Signal to send.
   * @returns The exit status.
   */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<Deno.CommandStatus> {
    try {
      this.process.kill(signal);
    } catch { /* already gone */ }
    return await this.wait();
  }
}

/**
 * Runs a short command to its end.
 *
 * @param argv Program and arguments.
 * @returns Exit code and output.
 * @throws {Error} If it exits non-zero.
 */
export async function run(
  argv: string[],
): Promise<{ stdout: string; stderr: string }> {
  const out = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    env: CHILD_ENV,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  const stdout = dec.decode(out.stdout);
  const stderr = dec.decode(out.stderr);
  if (!out.success) {
    throw new Error(
      `${argv.join(" ")} exited with ${out.code}:\n${stdout}${stderr}`,
    );
  }
  return { stdout, stderr };
}

/** How to start our server. */
export interface ServerSpec {
  /** Serve root. */
  root: string;
  /** Listen address. */
  host: string;
  /** Port (default 0: a free one, read back from the log). */
  port?: number;
  /** Grant `--allow-write=ROOT` (default true). */
  write?: boolean;
  /** Command prefix, e.g. `nsenter --net=...  --`. */
  prefix?: string[];
}

/** Our server, running as a process. */
export interface RunningServer {
  /** The process. */
  child: Child;
  /** The port it listens on. */
  port: number;
  /** The "listening on" line. */
  listening: string;
  /** Its log (stderr). */
  log: LineLog;
  /** Stops it with SIGTERM and waits for its end. */
  stop(): Promise<Deno.CommandStatus>;
}

/**
 * Starts `main.ts` the way an operator does, with `-v`, and waits for its
 * "listening on" line.
 *
 * @param spec Root, address, permissions.
 * @returns The running server.
 * @throws {Error} If it does not report listening within 60 s.
 */
export async function startServer(spec: ServerSpec): Promise<RunningServer> {
  const perms = [
    "--no-prompt",
    "--allow-net",
    `--allow-read=${spec.root}`,
    ...(spec.write === false ? [] : [`--allow-write=${spec.root}`]),
  ];
  const argv = [
    ...(spec.prefix ?? []),
    "timeout",
    String(BACKSTOP_S),
    Deno.execPath(),
    "run",
    ...perms,
    `${REPO_ROOT}/main.ts`,
    "--host",
    spec.host,
    "-p",
    String(spec.port ?? 0),
    "--root",
    spec.root,
    "-v",
  ];
  const child = new Child(argv, { cwd: REPO_ROOT });
  const listening = await child.stderr.waitFor(LISTENING, 60_000);
  const port = Number(listening?.match(/listening on .*:(\d+),/)?.[1]);
  if (!listening || !port) {
    await child.stop();
    throw new Error(
      `server did not start: ${argv.join(" ")}\n${child.stderr.tail(20)}`,
    );
  }
  return {
    child,
    port,
    listening,
    log: child.stderr,
    stop: () => child.stop(),
  };
}

/** What a QEMU run left behind. */
export interface QemuRun {
  /** Serial console lines. */
  serial: LineLog;
  /** QEMU's own messages. */
  stderr: LineLog;
  /** Exit code (124: `timeout` ended it; 143: stopped by us). */
  code: number;
  /** Whether `stopWhen` was seen (and QEMU stopped because of it). */
  stoppedAtMarker: boolean;
}

/** Options of {@linkcode runQemu}. */
export interface QemuOptions {
  /** Upper bound in seconds (enforced by `timeout`, then by PID). */
  timeoutS: number;
  /** Stop QEMU as soon as a serial line matches this. */
  stopWhen?: RegExp;
  /** Command prefix, e.g. `nsenter --net=... --`. */
  prefix?: string[];
}

/**
 * Boots a QEMU x86-64 guest (TCG, serial on stdout, no reboot) and waits
 * for it to exit, for `stopWhen`, or for the time limit.
 *
 * @param args Machine-specific arguments (firmware, network, devices).
 * @param opts Time bound, early stop, prefix.
 * @returns Serial lines and exit code.
 */
export async function runQemu(
  args: string[],
  opts: QemuOptions,
): Promise<QemuRun> {
  const qemu = spawnBounded([
    "qemu-system-x86_64",
    "-accel",
    "tcg",
    "-m",
    "256",
    "-nographic",
    "-serial",
    "mon:stdio",
    "-no-reboot",
    "-boot",
    "order=n,reboot-timeout=0",
    ...args,
  ], opts);
  let stoppedAtMarker = false;
  const stopWhen = opts.stopWhen;
  const serial = new LineLog(qemu.stdout, (line) => {
    if (stopWhen && !stoppedAtMarker && stopWhen.test(line)) {
      stoppedAtMarker = true;
      try {
        qemu.kill("SIGTERM");
      } catch { /* already gone */ }
    }
  });
  const stderr = new LineLog(qemu.stderr);
  const status = await qemu.status;
  await Promise.all([serial.done, stderr.done]);
  return { serial, stderr, code: status.code, stoppedAtMarker };
}

/**
 * Starts a guest under `timeout` (after `prefix`), with output piped; if
 * `timeout` itself hangs, the guest is ended by PID 15 s after its limit.
 *
 * @param argv QEMU binary and arguments.
 * @param opts Time bound and prefix; `stdin` "piped" for a console.
 * @returns The running process.
 */
export function spawnBounded(
  argv: string[],
  opts: { timeoutS: number; prefix?: string[]; stdin?: "null" | "piped" },
): Deno.ChildProcess {
  const full = [
    ...(opts.prefix ?? []),
    ...["timeout", "-k", "5", String(opts.timeoutS)],
    ...argv,
  ];
  const child = new Deno.Command(full[0], {
    args: full.slice(1),
    env: CHILD_ENV,
    stdin: opts.stdin ?? "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const backstop = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, (opts.timeoutS + 15) * 1000);
  child.status.finally(() => clearTimeout(backstop));
  return child;
}

/** A private network namespace, alive while its holder process runs. */
export class NetNamespace {
  /** The holder (`unshare -n`, waiting on its stdin). */
  readonly holder: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #out: LineLog;
  #err: LineLog;

  private constructor(holder: Deno.ChildProcess) {
    this.holder = holder;
    this.#writer = holder.stdin.getWriter();
    this.#out = new LineLog(holder.stdout);
    this.#err = new LineLog(holder.stderr);
  }

  /**
   * Creates a namespace with no uplink. The holder exits when our end of
   * its stdin closes, so the namespace cannot outlive this process.
   *
   * @returns The namespace, with loopback up.
   * @throws {Error} If it cannot be created (needs root).
   */
  static async create(): Promise<NetNamespace> {
    const holder = new Deno.Command("unshare", {
      args: ["-n", "--", "sh", "-c", "echo ready; exec cat >/dev/null"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const ns = new NetNamespace(holder);
    const ready = await ns.#out.waitFor(/^ready$/, 10_000);
    if (!ready) {
      await ns.close();
      throw new Error(`unshare -n failed: ${ns.#err.tail(5)}`);
    }
    // Refuse to configure anything unless the holder really sits in
    // another namespace than ours.
    // (Deno asks for --allow-all to read /proc links: ask readlink.)
    const mine = (await run(["readlink", "/proc/self/ns/net"])).stdout;
    const theirs =
      (await run(["readlink", `/proc/${holder.pid}/ns/net`])).stdout;
    if (mine === theirs) {
      await ns.close();
      throw new Error("unshare -n did not create a new network namespace");
    }
    await run([...ns.prefix, "ip", "link", "set", "lo", "up"]);
    return ns;
  }

  /** Command prefix that runs a program inside the namespace. */
  get prefix(): string[] {
    return ["nsenter", `--net=/proc/${this.holder.pid}/ns/net`, "--"];
  }

  /** Ends the holder (the namespace goes when its last process does). */
  async close(): Promise<void> {
    try {
      await this.#writer.close();
    } catch { /* already closed */ }
    try {
      this.holder.kill("SIGTERM");
    } catch { /* already gone */ }
    await this.holder.status;
    await Promise.all([this.#out.done, this.#err.done]);
  }
}
