/**
 * Test helper: runs a Deno script in a network namespace of its own
 * (`unshare -n`, which needs root), with loopback up and extra addresses on
 * `lo`. A test then has many IPv6 addresses, raw sockets and UDP counters
 * that no other process on the host touches; the namespace disappears with
 * the script's process.
 *
 * @example
 * ```ts ignore
 * import { runInNetns } from "./netns.ts";
 * const out = await runInNetns("tests/security/agents/ipv6_limit.ts", [], {
 *   addresses: ["fd00:0:0:1::1/64"],
 * });
 * console.log(out.stdout);
 * ```
 *
 * @module
 */

import {
  CHILD_ENV,
  DEFAULT_WAIT_MS,
  REPO_ROOT,
  type RunResult,
} from "./process.ts";

/** Options of {@linkcode runInNetns}. */
export interface NetnsOptions {
  /** Addresses to put on the namespace's `lo`, with prefix (`fd00::1/64`). */
  addresses?: string[];
  /** Permission flags for the script (default `--allow-all`). */
  permissions?: string[];
  /** Kill the script after this many milliseconds. */
  timeoutMs?: number;
}

const ADDRESS = /^[0-9a-fA-F:.]+\/\d{1,3}$/;

/**
 * Runs `deno run SCRIPT ARGS` inside a fresh network namespace.
 *
 * @param script Path of the script (relative to the repository root).
 * @param args Its arguments.
 * @param opts Addresses, permissions, bound.
 * @returns Exit code and output.
 */
export async function runInNetns(
  script: string,
  args: string[],
  opts: NetnsOptions = {},
): Promise<RunResult> {
  const setup = ["ip link set lo up"];
  for (const a of opts.addresses ?? []) {
    if (!ADDRESS.test(a)) throw new Error(`not an address/prefix: ${a}`);
    setup.push(`ip addr add ${a} dev lo${a.includes(":") ? " nodad" : ""}`);
  }
  const out = await new Deno.Command("unshare", {
    args: [
      "-n",
      "--",
      "sh",
      "-c",
      `${setup.join(" && ")} && exec "$@"`,
      "sh",
      Deno.execPath(),
      "run",
      "--no-prompt",
      "--unstable-net",
      ...(opts.permissions ?? ["--allow-all"]),
      script,
      ...args,
    ],
    cwd: REPO_ROOT,
    env: CHILD_ENV,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(opts.timeoutMs ?? DEFAULT_WAIT_MS),
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    success: out.success,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

/**
 * Runs a script with {@linkcode runInNetns} and parses the last line of its
 * stdout as JSON (the script's report).
 *
 * @param script Path of the script.
 * @param args Its arguments.
 * @param opts Addresses, permissions, bound.
 * @returns The parsed report.
 * @throws {Error} With the script's output when it failed or printed no JSON.
 */
export async function runAgent<T>(
  script: string,
  args: string[],
  opts: NetnsOptions = {},
): Promise<T> {
  const r = await runInNetns(script, args, opts);
  const last = r.stdout.trim().split("\n").at(-1) ?? "";
  if (!r.success || !last.startsWith("{")) {
    throw new Error(
      `${script} exited with ${r.code}:\n${r.stdout}\n${r.stderr}`,
    );
  }
  return JSON.parse(last) as T;
}

/** Counters of the calling process's network namespace (`/proc/net/snmp`). */
export interface NetCounters {
  /** UDP datagrams delivered to sockets. */
  udpIn: number;
  /** UDP datagrams sent. */
  udpOut: number;
  /** UDP datagrams dropped for a full receive buffer. */
  rcvbufErrors: number;
  /** ICMP messages sent (port unreachable for a datagram to a closed port). */
  icmpOut: number;
}

/**
 * Reads `/proc/net/snmp`, which counts for the network namespace of the
 * reading process only.
 *
 * @returns The counters.
 */
export async function readNetCounters(): Promise<NetCounters> {
  const text = await Deno.readTextFile("/proc/net/snmp");
  const table = (proto: string) => {
    const rows = text.split("\n").filter((l) => l.startsWith(`${proto}: `));
    const names = rows[0].split(/\s+/).slice(1);
    const values = rows[1].split(/\s+/).slice(1).map(Number);
    return (n: string) => values[names.indexOf(n)];
  };
  const udp = table("Udp");
  const icmp = table("Icmp");
  return {
    udpIn: udp("InDatagrams"),
    udpOut: udp("OutDatagrams"),
    rcvbufErrors: udp("RcvbufErrors"),
    icmpOut: icmp("OutMsgs"),
  };
}

/** Traffic sent on the namespace's loopback device. */
export interface LoopbackCounters {
  /** Packets sent. */
  packets: number;
  /** Bytes sent, IP and UDP headers included (28 bytes per IPv4 datagram). */
  bytes: number;
}

/**
 * Reads what `lo` has sent, from `/proc/net/dev` of the calling process's
 * network namespace (on loopback every packet sent is also received).
 *
 * @returns The counters.
 */
export async function readLoopback(): Promise<LoopbackCounters> {
  const text = await Deno.readTextFile("/proc/net/dev");
  const line = text.split("\n").find((l) => l.trim().startsWith("lo:"));
  if (!line) throw new Error("no lo in /proc/net/dev");
  const f = line.split(":")[1].trim().split(/\s+/).map(Number);
  return { bytes: f[8], packets: f[9] };
}
