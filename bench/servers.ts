/**
 * The servers under comparison: this one (Deno), atftpd, tftpd-hpa, and the
 * ceiling (bench/ceiling.ts, the least a Deno responder can do).
 * Each is started by the benchmark on a high loopback port, probed until it
 * serves its first datagram, and stopped by PID.
 *
 * @module
 */

import { childPids, CpuMeter } from "./proc_stats.ts";

/** What a server can do (peers lack some options). */
export interface Capabilities {
  /** RFC 7440 windowsize. */
  windowsize: boolean;
}

/** How to run one server. */
export interface ServerSpec {
  /** Short name used in tables. */
  name: string;
  /** Version or package line for the report. */
  version: string;
  /** Options it supports. */
  caps: Capabilities;
  /** The command line for a root and port. */
  command(root: string, port: number): string[];
  /** Flags worth reporting (non-defaults we set). */
  notes: string;
}

/** A started server. */
export interface RunningServer {
  /** Its spec. */
  spec: ServerSpec;
  /** The child process. */
  child: Deno.ChildProcess;
  /** Its PID. */
  pid: number;
  /** UDP port. */
  port: number;
  /** Milliseconds from spawn to the first DATA served. */
  startupMs: number;
  /** CPU accounting of its process tree. */
  cpu: CpuMeter;
  /** Set when the process has exited (crashed, if we did not stop it). */
  exit?: Deno.CommandStatus;
}

const here = new URL(".", import.meta.url).pathname;
const repo = new URL("..", import.meta.url).pathname;
const mainTs = new URL("../main.ts", import.meta.url).pathname;
const ceilingTs = new URL("./ceiling.ts", import.meta.url).pathname;

/**
 * The V8 flags the README's service and compile commands run the server
 * with (deno.json's `start` and `compile` tasks, docs/deployment.md); the
 * comparison runs ours and the ceiling with them too.
 *
 * @example
 * ```ts
 * import { SERVICE_V8_FLAGS } from "./servers.ts";
 * if (!SERVICE_V8_FLAGS.startsWith("--v8-flags=")) throw new Error();
 * ```
 */
export const SERVICE_V8_FLAGS =
  "--v8-flags=--max-semi-space-size=2,--max-old-space-size=256";

/** Where tftpd-hpa's in.tftpd is looked for (beside atftpd's package). */
export const HPA_CANDIDATES = [
  Deno.env.get("TFTPD_HPA") ?? "",
  `${here}.peers/tftpd-hpa/usr/sbin/in.tftpd`,
  "/usr/sbin/in.tftpd.hpa",
].filter((p) => p !== "");

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

function firstLine(cmd: string, args: string[]): string {
  try {
    const out = new Deno.Command(cmd, {
      args,
      stdout: "piped",
      stderr: "piped",
    })
      .outputSync();
    const text = new TextDecoder().decode(out.stdout) +
      new TextDecoder().decode(out.stderr);
    return text.trim().split("\n")[0] ?? "";
  } catch {
    return "";
  }
}

/**
 * This server, run as its README says.
 *
 * @param denoFlags Extra flags for `deno run` (e.g. `--cpu-prof`).
 * @param serverArgs Extra flags for the server (e.g. `--workers 1`).
 * @param opts `main`: another checkout's `main.ts` (an older version, for a
 * before/after in one run); `name`: the spec's name then.
 * @returns The spec.
 */
export function denoSpec(
  denoFlags: string[] = [],
  serverArgs: string[] = [],
  opts: { main?: string; name?: string } = {},
): ServerSpec {
  const how = serverArgs.length
    ? serverArgs.join(" ")
    : "defaults (--workers auto)";
  return {
    name: opts.name ?? "tftpd-deno",
    version: `deno ${Deno.version.deno}`,
    caps: { windowsize: true },
    notes: `${how}, ${SERVICE_V8_FLAGS} as the README's ` +
      "service commands (ack-timeout 0.5 s, INFO log to stderr -> /dev/null)",
    command: (root, port) => [
      Deno.execPath(),
      "run",
      ...denoFlags,
      // As the README's service and compile commands run it.
      SERVICE_V8_FLAGS,
      "--no-prompt",
      "--allow-net",
      `--allow-read=${root}`,
      `--allow-write=${root}`,
      opts.main ?? mainTs,
      "--host",
      "127.0.0.1",
      "-p",
      String(port),
      "--root",
      root,
      ...serverArgs,
    ],
  };
}

/**
 * The ceiling: bench/ceiling.ts, run with the same V8 flags as ours so the
 * two differ only in their code.
 *
 * @example
 * ```ts
 * import { ceilingSpec } from "./servers.ts";
 * if (!ceilingSpec().command("/srv", 6969).includes("6969")) throw new Error();
 * ```
 *
 * @returns The spec.
 */
export function ceilingSpec(): ServerSpec {
  return {
    name: "ceiling",
    version: `deno ${Deno.version.deno}`,
    caps: { windowsize: true },
    notes: "bench/ceiling.ts: file in memory, one socket per transfer, " +
      `no timers, no checks, one thread; ${SERVICE_V8_FLAGS} as ours`,
    command: (root, port) => [
      Deno.execPath(),
      "run",
      SERVICE_V8_FLAGS,
      "--no-prompt",
      "--unstable-net",
      "--allow-net",
      `--allow-read=${root}`,
      `--allow-write=${root}`,
      ceilingTs,
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--root",
      root,
    ],
  };
}

/**
 * atftpd from apt, if installed.
 *
 * @returns The spec, or undefined.
 */
export function atftpdSpec(): ServerSpec | undefined {
  const bin = "/usr/sbin/atftpd";
  if (!exists(bin)) return undefined;
  return {
    name: "atftpd",
    version: firstLine(bin, ["--version"]) || "atftpd",
    caps: { windowsize: true },
    notes: "--maxthread 2000 (default 100 would refuse the 1000-transfer run)",
    command: (root, port) => [
      bin,
      "--daemon",
      "--no-fork",
      "--port",
      String(port),
      "--bind-address",
      "127.0.0.1",
      "--user",
      "root.root",
      "--maxthread",
      "2000",
      "--logfile",
      "/dev/null",
      root,
    ],
  };
}

/**
 * tftpd-hpa's in.tftpd (extracted beside atftpd), if found.
 *
 * @returns The spec, or undefined.
 */
export function hpaSpec(): ServerSpec | undefined {
  const bin = HPA_CANDIDATES.find(exists);
  if (!bin) return undefined;
  return {
    name: "tftpd-hpa",
    version: firstLine(bin, ["-V"]) || "tftpd-hpa",
    caps: { windowsize: false },
    notes: "-c -p -s -B 65464 (create, permissive, chroot, max blksize)",
    command: (root, port) => [
      bin,
      "-L",
      "-a",
      `127.0.0.1:${port}`,
      "-c",
      "-p",
      "-u",
      "root",
      "-B",
      "65464",
      "-s",
      root,
    ],
  };
}

/**
 * Asks for `filename` (one short block) until the server answers with DATA;
 * every DATA (from any duplicate session) is ACKed so no session lingers.
 *
 * @param port Server port on 127.0.0.1.
 * @param filename A file of fewer than 512 bytes.
 * @param limitMs Give up after this long.
 * @returns performance.now() at the first DATA.
 */
export async function probe(
  port: number,
  filename: string,
  limitMs = 10000,
): Promise<number> {
  const sock = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const name = new TextEncoder().encode(filename);
  const rrq = new Uint8Array(2 + name.length + 1 + 6);
  rrq[1] = 1;
  rrq.set(name, 2);
  rrq.set(new TextEncoder().encode("octet"), 3 + name.length);
  const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port };
  const buf = new Uint8Array(1024);
  let first = 0;
  const deadline = performance.now() + limitMs;
  let sender: ReturnType<typeof setInterval> | undefined;
  const sendRrq = () => sock.send(rrq, to).catch(() => {});
  const reader = (async () => {
    for (;;) {
      let d: Uint8Array;
      let addr: Deno.Addr;
      try {
        [d, addr] = await sock.receive(buf);
      } catch {
        return;
      }
      if (d[1] === 3) {
        if (first === 0) first = performance.now();
        if (sender !== undefined) clearInterval(sender);
        sender = undefined;
        const ack = new Uint8Array([0, 4, d[2], d[3]]);
        sock.send(ack, addr).catch(() => {});
      }
    }
  })();
  sendRrq();
  sender = setInterval(sendRrq, 2);
  while (first === 0 && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 1));
  }
  if (sender !== undefined) clearInterval(sender);
  // Linger so duplicate sessions are answered too.
  await new Promise((r) => setTimeout(r, 100));
  sock.close();
  await reader;
  if (first === 0) throw new Error(`no answer on port ${port}`);
  return first;
}

/**
 * Starts a server and waits until it serves `probeFile`.
 *
 * @param spec Which server.
 * @param root Directory to serve.
 * @param opts Port and probe file (fewer than 512 bytes, in root).
 * @returns The running server.
 */
export async function startServer(
  spec: ServerSpec,
  root: string,
  opts: { port: number; probeFile: string },
): Promise<RunningServer> {
  const [cmd, ...args] = spec.command(root, opts.port);
  const t0 = performance.now();
  const child = new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "null",
    env: { RUST_BACKTRACE: "0" },
    cwd: repo,
  }).spawn();
  const cpu = new CpuMeter(child.pid, `${spec.name}-${opts.port}`);
  let first: number;
  try {
    first = await probe(opts.port, opts.probeFile);
  } catch (err) {
    await stopServer({
      spec,
      child,
      pid: child.pid,
      port: opts.port,
      startupMs: 0,
      cpu,
    });
    throw new Error(`${spec.name} did not start: ${(err as Error).message}`);
  }
  const server: RunningServer = {
    spec,
    child,
    pid: child.pid,
    port: opts.port,
    startupMs: first - t0,
    cpu,
  };
  child.status.then((st) => server.exit = st);
  return server;
}

/**
 * Stops a server (SIGTERM, then SIGKILL after 2 s) and any transfer
 * processes it forked, by PID.
 *
 * @param server The server.
 */
export async function stopServer(server: RunningServer): Promise<void> {
  const kids = childPids(server.pid);
  try {
    server.child.kill("SIGTERM");
  } catch { /* gone */ }
  for (const k of kids) {
    try {
      Deno.kill(k, "SIGTERM");
    } catch { /* gone */ }
  }
  const timer = setTimeout(() => {
    try {
      server.child.kill("SIGKILL");
    } catch { /* gone */ }
  }, 2000);
  await server.child.status;
  clearTimeout(timer);
  await server.cpu.close();
}
