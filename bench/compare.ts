/**
 * Compares this server with atftpd and tftpd-hpa on the scenarios of issue 5
 * and writes bench/results/{results.md,results.json,chart.svg}.
 *
 * ```sh
 * sh bench/setup_peers.sh            # once, as root: installs the peers
 * deno run --no-prompt --unstable-net -A bench/compare.ts [--quick]
 * ```
 *
 * Flags: `--quick` (smaller, < 2 min), `--only ID,ID` (scenario ids or
 * letters), `--servers NAME,NAME`, `--repeat N`, `--loadgen c|deno`,
 * `--out DIR`, `--port-base N` (default 17069), `--root-dir DIR`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type BenchFile, ensureFile, sha256 } from "./dataset.ts";
import { rrq, runPool, type TransferResult, wrq } from "./loadgen.ts";
import { childPids, cpuSeconds, MemorySampler } from "./proc_stats.ts";
import {
  renderMarkdown,
  renderSvg,
  type Report,
  type RunResult,
  type StartupResult,
} from "./report.ts";
import { type Scenario, scenarios } from "./scenarios.ts";
import {
  atftpdSpec,
  denoSpec,
  hpaSpec,
  type RunningServer,
  type ServerSpec,
  startServer,
  stopServer,
} from "./servers.ts";

const benchDir = new URL(".", import.meta.url).pathname;
const PROBE = "probe.txt";

/** Per-transfer outcome, whichever load generator ran it. */
interface Transfer {
  ok: boolean;
  bytes: number;
  ms: number;
  retransmits: number;
  dropped: number;
  windowsize: number;
  blksize: number;
  error?: string;
}

/** One load run. */
interface Load {
  transfers: Transfer[];
  wallMs: number;
  genCpuS: number;
}

function log(msg: string): void {
  console.error(msg);
}

function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

/** Builds bench/loadgen.c into bench/.build/loadgen; undefined if no cc. */
function buildLoadgen(): string | undefined {
  const src = `${benchDir}loadgen.c`;
  const bin = `${benchDir}.build/loadgen`;
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

/** Runs a scenario with the C load generator. */
async function loadC(
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
  if (sc.timeout) args.push("--timeout", String(sc.timeout));
  if (sc.loss) {
    args.push("--loss", String(sc.loss), "--seed", String(sc.seed ?? 1));
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
        windowsize: j.windowsize,
        blksize: j.blksize,
        error: j.error || undefined,
      });
    }
  }
  return { transfers, wallMs, genCpuS };
}

/** Runs a scenario with the TypeScript load generator in this process. */
async function loadDeno(
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
  const pool = await runPool(sc.count, sc.concurrency, async (i) => {
    const common = {
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

type Engine = (sc: Scenario, port: number, remote: string) => Promise<Load>;

/** Runs one scenario once on one server and measures it. */
async function measure(
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
    peakMemMB: (peakKb * 1024) / 1e6,
    genCpuS: load.genCpuS,
    retransmits: load.transfers.reduce((n, t) => n + t.retransmits, 0),
    dropped: load.transfers.reduce((n, t) => n + t.dropped, 0),
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
    peakMemMB: 0,
    genCpuS: 0,
    retransmits: 0,
    dropped: 0,
  };
}

/** Spawn -> first DATA, several times. */
async function measureStartup(
  spec: ServerSpec,
  root: string,
  port: number,
  n: number,
): Promise<StartupResult> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = await startServer(spec, root, { port, probeFile: PROBE });
    samples.push(s.startupMs);
    await stopServer(s);
  }
  return { server: spec.name, samplesMs: samples, medianMs: median(samples) };
}

function machine(): Report["machine"] {
  const cpuinfo = Deno.readTextFileSync("/proc/cpuinfo");
  return {
    nproc: navigator.hardwareConcurrency,
    cpu: cpuinfo.match(/^model name\s*:\s*(.*)$/m)?.[1] ?? "unknown",
    kernel: Deno.osRelease(),
    deno: Deno.version.deno,
    loadavgBefore: Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3)
      .join(" "),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean", default: false },
      only: { type: "string" },
      servers: { type: "string" },
      repeat: { type: "string" },
      loadgen: { type: "string", default: "c" },
      out: { type: "string", default: `${benchDir}results` },
      "port-base": { type: "string", default: "17069" },
      "root-dir": {
        type: "string",
        default: `${Deno.env.get("TMPDIR") ?? "/tmp"}/tftpd-bench-root`,
      },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(
      "usage: compare.ts [--quick] [--only IDS] [--servers NAMES] [--repeat N]\n" +
        "                  [--loadgen c|deno] [--out DIR] [--port-base N] [--root-dir DIR]",
    );
    return;
  }
  const t0 = performance.now();
  const mach = machine();
  const quick = values.quick!;
  let list = scenarios(quick);
  if (values.only) {
    const want = values.only.split(",");
    list = list.filter((s) => want.includes(s.id) || want.includes(s.group));
  }
  if (values.repeat) {
    list = list.map((s) => ({ ...s, repeat: Number(values.repeat) }));
  }
  const all = [denoSpec(), atftpdSpec(), hpaSpec()];
  for (const [i, name] of ["atftpd", "tftpd-hpa"].entries()) {
    if (!all[i + 1]) log(`${name} not found: run sh bench/setup_peers.sh`);
  }
  let specs = all.filter((s): s is ServerSpec => s !== undefined);
  if (values.servers) {
    const want = values.servers.split(",");
    specs = specs.filter((s) => want.includes(s.name));
  }

  const root = values["root-dir"]!;
  Deno.mkdirSync(root, { recursive: true });
  Deno.chmodSync(root, 0o777);
  Deno.writeTextFileSync(`${root}/${PROBE}`, "tftpd bench probe\n");
  const files = new Map<string, BenchFile>();
  for (const s of list) {
    if (!files.has(s.file)) files.set(s.file, ensureFile(root, s.file, s.size));
  }
  for (const e of Deno.readDirSync(root)) {
    if (e.name.startsWith("up-")) Deno.removeSync(`${root}/${e.name}`);
  }

  let engineName = values.loadgen!;
  let bin: string | undefined;
  if (engineName === "c") {
    bin = buildLoadgen();
    if (!bin) {
      log("no C compiler: falling back to the TypeScript load generator");
      engineName = "deno";
    }
  }
  const engine: Engine = bin
    ? (sc, port, remote) => loadC(bin!, sc, port, root, remote)
    : (sc, port, remote) =>
      loadDeno(sc, port, root, remote, files.get(sc.file)!);

  const portBase = Number(values["port-base"]);
  const startup: StartupResult[] = [];
  for (const [i, spec] of specs.entries()) {
    const st = await measureStartup(
      spec,
      root,
      portBase + 50 + i,
      quick ? 3 : 5,
    );
    log(`start-up ${spec.name}: median ${st.medianMs.toFixed(1)} ms`);
    startup.push(st);
  }

  const running: RunningServer[] = [];
  const onSignal = () => {
    log("interrupted: stopping the servers");
    Promise.all(running.map(stopServer)).finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  const runs = new Map<string, Omit<RunResult, "repeats">[]>();
  try {
    for (const [i, spec] of specs.entries()) {
      running.push(
        await startServer(spec, root, { port: portBase + i, probeFile: PROBE }),
      );
    }
    for (const sc of list) {
      for (let rep = 0; rep < sc.repeat; rep++) {
        // Rotate the order so no server always runs first after a pause.
        for (let k = 0; k < running.length; k++) {
          const server = running[(k + rep) % running.length];
          const r = await measure(
            server,
            sc,
            rep,
            engine,
            root,
            files.get(sc.file)!,
          );
          const key = `${server.spec.name} ${sc.id}`;
          runs.set(key, [...(runs.get(key) ?? []), r]);
          log(
            `${sc.id.padEnd(20)} ${server.spec.name.padEnd(11)} ${
              r.status === "n/a"
                ? `n/a (${r.reason})`
                : `${r.mbps.toFixed(1).padStart(7)} MB/s  p50 ${
                  r.p50Ms.toFixed(0)
                } ms  fail ${r.failures}  cpu ${r.serverCpuS.toFixed(2)} s  ` +
                  `mem ${r.peakMemMB.toFixed(1)} MB  gen ${
                    r.genCpuS.toFixed(2)
                  } s${r.reason ? `  (${r.reason})` : ""}`
            }`,
          );
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    }
  } finally {
    for (const s of running) await stopServer(s);
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }

  const results: RunResult[] = [];
  for (const sc of list) {
    for (const spec of specs) {
      const rs = runs.get(`${spec.name} ${sc.id}`) ?? [];
      if (rs.length === 0) continue;
      // The median run by MB/s (failed runs sort first, so they show).
      const sorted = [...rs].sort((a, b) =>
        (a.failures - b.failures) || (a.mbps - b.mbps)
      );
      const failed = rs.find((r) => r.failures > 0);
      const pick = failed ?? sorted[(sorted.length - 1) >> 1];
      results.push({ ...pick, repeats: rs.map((r) => r.mbps) });
    }
  }
  const report: Report = {
    date: new Date().toISOString(),
    mode: quick ? "quick" : "full",
    machine: mach,
    loadgen: engineName,
    servers: specs.map((s) => ({
      name: s.name,
      version: s.version,
      notes: s.notes,
    })),
    scenarios: list,
    results,
    startup,
    elapsedS: (performance.now() - t0) / 1000,
  };
  const out = values.out!;
  Deno.mkdirSync(out, { recursive: true });
  Deno.writeTextFileSync(
    `${out}/results.json`,
    JSON.stringify(report, null, 2) + "\n",
  );
  const md = renderMarkdown(report);
  Deno.writeTextFileSync(`${out}/results.md`, md);
  Deno.writeTextFileSync(`${out}/chart.svg`, renderSvg(report));
  console.log(md);
  log(`wrote ${out}/results.md, results.json, chart.svg`);
}

if (import.meta.main) await main();
