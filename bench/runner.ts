/**
 * Running one scenario on one server and measuring it: the load generators
 * (C, or TypeScript in this process), server CPU and memory, and checks of
 * every byte. Shared by compare.ts and profile.ts.
 *
 * @module
 */

import { type BenchFile, sha256 } from "./dataset.ts";
import { rrq, runPool, type TransferResult, wrq } from "./loadgen.ts";
import {
  childPids,
  cpuSeconds,
  MemorySampler,
  treeMemoryKb,
} from "./proc_stats.ts";
import type { RunResult } from "./report_core.ts";
import type { Scenario } from "./scenarios.ts";
import type { RunningServer } from "./servers.ts";

const benchDir = new URL(".", import.meta.url).pathname;

/** The probe file every server root holds (one short block). */
export const PROBE = "probe.txt";

/** Per-transfer outcome, whichever load generator ran it. */
export interface Transfer {
  /** Completed with the right bytes. */
  ok: boolean;
  /** Payload bytes. */
  bytes: number;
  /** Request to final block, ms. */
  ms: number;
  /** Client retransmits. */
  retransmits: number;
  /** DATA dropped on purpose (loss, or the small receiver's full queue). */
  dropped: number;
  /** DATA dropped because the small receiver's queue was full. */
  queueDropped: number;
  /** DATA datagrams that reached the client (the server's sends, dropped or not). */
  dataRx: number;
  /** Granted windowsize (1 without the option). */
  windowsize: number;
  /** Granted blksize. */
  blksize: number;
  /** Why it failed. */
  error?: string;
}

/** One load run. */
export interface Load {
  /** Every transfer. */
  transfers: Transfer[];
  /** First start to last end, ms. */
  wallMs: number;
  /** CPU seconds the load generator used. */
  genCpuS: number;
}

/**
 * Progress output (stderr).
 *
 * @param msg Line.
 */
export function log(msg: string): void {
  console.error(msg);
}

/**
 * Median.
 *
 * @param xs Numbers.
 * @returns The median (NaN when empty).
 */
export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Nearest-rank percentile.
 *
 * @param xs Numbers.
 * @param p Percent (0..100).
 * @returns The value (NaN when empty).
 */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

/**
 * Builds bench/NAME.c into bench/.build/NAME (when older than the source).
 *
 * @param name The program (`loadgen`, `pingpong`).
 * @returns The binary, or undefined when there is no working cc.
 */
export function buildC(name: string): string | undefined {
  const src = `${benchDir}${name}.c`;
  const bin = `${benchDir}.build/${name}`;
  try {
    if (Deno.statSync(bin).mtime! >= Deno.statSync(src).mtime!) return bin;
  } catch { /* build it */ }
  Deno.mkdirSync(`${benchDir}.build`, { recursive: true });
  try {
    const out = new Deno.Command("cc", {
      args: ["-O2", "-o", bin, src],
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
    if (out.success) return bin;
    log(new TextDecoder().decode(out.stderr));
  } catch (err) {
    log(`cc not usable: ${(err as Error).message}`);
  }
  return undefined;
}

/**
 * Builds bench/loadgen.c into bench/.build/loadgen (when older than the
 * source).
 *
 * @returns The binary, or undefined when there is no working cc.
 */
export function buildLoadgen(): string | undefined {
  return buildC("loadgen");
}

/**
 * Runs a scenario with the C load generator.
 *
 * @param bin The binary.
 * @param sc Scenario.
 * @param port Server port.
 * @param root Served directory.
 * @param remote Remote name (`%d`: transfer index).
 * @returns The load run.
 */
export async function loadC(
  bin: string,
  sc: Scenario,
  port: number,
  root: string,
  remote: string,
): Promise<Load> {
  const args = [
    "--port",
    String(port),
    "--file",
    `${root}/${sc.file}`,
    "--name",
    remote,
    "--count",
    String(sc.count),
    "--concurrency",
    String(sc.concurrency),
  ];
  if (sc.kind === "wrq") args.push("--write");
  if (sc.blksize) args.push("--blksize", String(sc.blksize));
  if (sc.windowsize) args.push("--windowsize", String(sc.windowsize));
  if (sc.tsize) args.push("--tsize");
  if (sc.spread) args.push("--spread");
  if (sc.timeout) args.push("--timeout", String(sc.timeout));
  if (sc.loss) {
    args.push("--loss", String(sc.loss), "--seed", String(sc.seed ?? 1));
  }
  if (sc.capMs) args.push("--max-ms", String(sc.capMs));
  if (sc.rx) {
    args.push(
      "--rx-queue",
      String(sc.rx.queue),
      "--rx-link-mbps",
      String(sc.rx.linkMbps),
      "--rx-timeout-ms",
      String(sc.rx.timeoutMs),
      "--rx-mode",
      sc.rx.mode,
    );
    if (sc.rx.serviceUs !== undefined) {
      args.push("--rx-service-us", String(sc.rx.serviceUs));
    }
    if (sc.rx.gapAck) args.push("--rx-gap-ack");
    if (sc.rx.wedge) args.push("--rx-wedge");
  }
  const out = await new Deno.Command(bin, {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(
      `loadgen failed: ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
  const transfers: Transfer[] = [];
  let wallMs = 0;
  let genCpuS = 0;
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const j = JSON.parse(line);
    if (j.summary) {
      wallMs = j.wall_ms;
      genCpuS = j.cpu_s;
    } else {
      transfers.push({
        ok: j.ok,
        bytes: j.bytes,
        ms: j.ms,
        retransmits: j.retransmits,
        dropped: j.dropped,
        queueDropped: j.queue_dropped ?? 0,
        dataRx: j.data_rx ?? 0,
        windowsize: j.windowsize,
        blksize: j.blksize,
        error: j.error || undefined,
      });
    }
  }
  return { transfers, wallMs, genCpuS };
}

/**
 * Runs a scenario with the TypeScript load generator in this process.
 *
 * @param sc Scenario.
 * @param port Server port.
 * @param root Served directory.
 * @param remote Remote name (`%d`: transfer index).
 * @param file The served file, to check bytes against.
 * @returns The load run.
 */
export async function loadDeno(
  sc: Scenario,
  port: number,
  root: string,
  remote: string,
  file: BenchFile,
): Promise<Load> {
  const target = { host: "127.0.0.1", port };
  const data = sc.kind === "wrq"
    ? Deno.readFileSync(`${root}/${sc.file}`)
    : undefined;
  const cpu0 = cpuSeconds(Deno.pid);
  const pool = await runPool(sc.count, sc.concurrency, async (i, slot) => {
    const common = {
      localHost: sc.spread
        ? `127.1.${(slot + 1) >> 8}.${(slot + 1) & 255}`
        : undefined,
      filename: remote.replace("%d", String(i)),
      blksize: sc.blksize,
      windowsize: sc.windowsize,
      tsize: sc.tsize,
      timeout: sc.timeout,
    };
    let r: TransferResult;
    if (sc.kind === "wrq") {
      r = await wrq(target, { ...common, data: data! });
    } else {
      r = await rrq(target, {
        ...common,
        expectedSize: sc.size,
        loss: sc.loss,
        seed: (sc.seed ?? 1) + i * 7919,
      });
      if (r.ok && (r.bytes !== file.size || sha256(r.data!) !== file.sha256)) {
        r = { ...r, ok: false, error: "wrong bytes (SHA-256 differs)" };
      }
      r.data = undefined;
    }
    return r;
  });
  const transfers = pool.results.map((r) => ({
    ok: r.ok,
    bytes: r.bytes,
    ms: r.ms,
    retransmits: r.retransmits,
    dropped: r.dropped,
    queueDropped: 0,
    dataRx: 0,
    windowsize: Number(r.oack.windowsize ?? 1),
    blksize: Number(r.oack.blksize ?? 512),
    error: r.error,
  }));
  return {
    transfers,
    wallMs: pool.wallMs,
    genCpuS: cpuSeconds(Deno.pid) - cpu0,
  };
}

/** Waits until a forking server's transfer processes have exited. */
async function settle(pid: number, limitMs = 5000): Promise<void> {
  const end = performance.now() + limitMs;
  while (childPids(pid).length > 0 && performance.now() < end) {
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Checks the uploads of a WRQ scenario by SHA-256, then deletes them. */
async function verifyUploads(
  root: string,
  remote: string,
  count: number,
  file: BenchFile,
): Promise<string[]> {
  const errors: string[] = [];
  for (let i = 0; i < count; i++) {
    const path = `${root}/${remote.replace("%d", String(i))}`;
    let ok = false;
    // A server may close (flush) the file just after its final ACK.
    const end = performance.now() + 3000;
    while (!ok && performance.now() < end) {
      try {
        const data = Deno.readFileSync(path);
        ok = data.length === file.size && sha256(data) === file.sha256;
      } catch { /* not there yet */ }
      if (!ok) await new Promise((r) => setTimeout(r, 50));
    }
    if (!ok) errors.push(`upload ${i}: file missing or SHA-256 differs`);
    try {
      Deno.removeSync(path);
    } catch { /* gone */ }
  }
  return errors;
}

/** A load generator: runs a scenario against a port. */
export type Engine = (
  sc: Scenario,
  port: number,
  remote: string,
) => Promise<Load>;

/**
 * Runs one scenario once on one server and measures it.
 *
 * @param server The server.
 * @param sc Scenario.
 * @param rep Repeat number (names uploads).
 * @param engine Load generator.
 * @param root Served directory.
 * @param file The scenario's file.
 * @returns Measurements (without the repeats list).
 */
export async function measure(
  server: RunningServer,
  sc: Scenario,
  rep: number,
  engine: Engine,
  root: string,
  file: BenchFile,
): Promise<Omit<RunResult, "repeats">> {
  const base = {
    server: server.spec.name,
    scenario: sc.id,
  };
  if (sc.windowsize && !server.spec.caps.windowsize) {
    return {
      ...base,
      ...empty(),
      status: "n/a",
      reason: "no windowsize option",
    };
  }
  const remote = sc.kind === "wrq"
    ? `up-${server.spec.name}-${sc.id}-${rep}-%d.bin`
    : sc.file;
  // Idle: what the server holds between transfers (after its warm-up).
  const idleKb = treeMemoryKb(server.pid);
  const sampler = new MemorySampler(server.pid);
  const cpu0 = server.cpu.seconds();
  const load = await engine(sc, server.port, remote);
  await settle(server.pid);
  const serverCpuS = server.cpu.seconds() - cpu0;
  const peakKb = sampler.stop();
  const errors = load.transfers.filter((t) => !t.ok).map((t) =>
    t.error ?? "failed"
  );
  if (sc.kind === "wrq") {
    errors.push(...await verifyUploads(root, remote, sc.count, file));
  }
  const okT = load.transfers.filter((t) => t.ok);
  const ws = load.transfers[0]?.windowsize ?? 1;
  if (sc.windowsize && ws !== sc.windowsize && errors.length === 0) {
    return {
      ...base,
      ...empty(),
      status: "n/a",
      reason: `windowsize ${sc.windowsize} not granted (got ${ws})`,
    };
  }
  const failures = Math.min(sc.count, errors.length);
  const bytes = okT.reduce((n, t) => n + t.bytes, 0);
  const times = okT.map((t) => t.ms);
  const idleMemMB = (idleKb * 1024) / 1e6;
  const peakMemMB = (Math.max(peakKb, idleKb) * 1024) / 1e6;
  return {
    ...base,
    status: failures ? "failed" : "ok",
    reason: errors[0],
    mbps: bytes / (load.wallMs / 1000) / 1e6,
    transfersPerSec: okT.length / (load.wallMs / 1000),
    p50Ms: percentile(times, 50),
    p99Ms: percentile(times, 99),
    transfers: sc.count,
    failures,
    wallMs: load.wallMs,
    serverCpuS,
    idleMemMB,
    peakMemMB,
    perTransferMB: (peakMemMB - idleMemMB) / Math.min(sc.concurrency, sc.count),
    genCpuS: load.genCpuS,
    retransmits: load.transfers.reduce((n, t) => n + t.retransmits, 0),
    dropped: load.transfers.reduce((n, t) => n + t.dropped, 0),
    queueDropped: load.transfers.reduce((n, t) => n + t.queueDropped, 0),
    dataRx: load.transfers.reduce((n, t) => n + t.dataRx, 0),
  };
}

function empty() {
  return {
    mbps: 0,
    transfersPerSec: 0,
    p50Ms: NaN,
    p99Ms: NaN,
    transfers: 0,
    failures: 0,
    wallMs: 0,
    serverCpuS: 0,
    idleMemMB: 0,
    peakMemMB: 0,
    perTransferMB: 0,
    genCpuS: 0,
    retransmits: 0,
    dropped: 0,
    queueDropped: 0,
    dataRx: 0,
  };
}
