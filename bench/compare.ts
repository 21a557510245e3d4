/**
 * Compares this server with atftpd, tftpd-hpa and the ceiling (the least a
 * Deno responder can do) on the scenarios of issues 5 and 13, and writes
 * bench/results/{results.md,results.json,chart.svg}.
 *
 * ```sh
 * sh bench/setup_peers.sh            # once, as root: installs the peers
 * deno run --no-prompt --unstable-net -A bench/compare.ts [--quick]
 * ```
 *
 * Flags: `--quick` (smaller, < 2 min), `--only ID,ID` (scenario ids or
 * letters), `--servers NAME,NAME`, `--repeat N`, `--loadgen c|deno`,
 * `--with-metrics` (adds our server with `--metrics` on, for its cost),
 * `--baseline DIR` (adds the server of another checkout, e.g. an older
 * commit's worktree, as `tftpd-deno-before`),
 * `--out DIR`, `--port-base N` (default 17069), `--root-dir DIR`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type BenchFile, ensureFile } from "./dataset.ts";
import {
  buildLoadgen,
  type Engine,
  loadC,
  loadDeno,
  log,
  measure,
  median,
  PROBE,
} from "./runner.ts";
import { renderSvg } from "./chart.ts";
import { treeMemoryKb, treePrivateKb } from "./proc_stats.ts";
import { renderMarkdown } from "./report.ts";
import {
  allRatios,
  CEILING,
  type Report,
  type RunResult,
  type StartupResult,
} from "./report_core.ts";
import { scenarios } from "./scenarios.ts";
import {
  atftpdSpec,
  ceilingSpec,
  denoSpec,
  hpaSpec,
  type RunningServer,
  type ServerSpec,
  startServer,
  stopServer,
} from "./servers.ts";

/** Spawn -> first DATA, several times. */
async function measureStartup(
  spec: ServerSpec,
  root: string,
  port: number,
  n: number,
): Promise<StartupResult> {
  const samples: number[] = [];
  const mem: number[] = [];
  const anon: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = await startServer(spec, root, { port, probeFile: PROBE });
    samples.push(s.startupMs);
    // Let the probe's session end first, so this is the server at rest.
    await new Promise((r) => setTimeout(r, 300));
    mem.push((treeMemoryKb(s.pid) * 1024) / 1e6);
    anon.push((treePrivateKb(s.pid) * 1024) / 1e6);
    await stopServer(s);
  }
  return {
    server: spec.name,
    samplesMs: samples,
    medianMs: median(samples),
    idleMemMB: median(mem),
    idlePrivateMB: median(anon),
  };
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
      "with-metrics": { type: "boolean", default: false },
      baseline: { type: "string" },
      only: { type: "string" },
      servers: { type: "string" },
      repeat: { type: "string" },
      loadgen: { type: "string", default: "c" },
      out: {
        type: "string",
        default: new URL("results", import.meta.url).pathname,
      },
      "port-base": { type: "string", default: "17069" },
      "deno-args": { type: "string", default: "" },
      "root-dir": {
        type: "string",
        default: `${Deno.env.get("TMPDIR") ?? "/tmp"}/tftpd-bench-root`,
      },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(
      "usage: compare.ts [--quick] [--with-metrics] [--baseline DIR] [--only IDS] [--servers NAMES] [--repeat N]\n" +
        "                  [--loadgen c|deno] [--out DIR] [--port-base N] [--root-dir DIR]\n" +
        "                  [--deno-args 'FLAGS'] (extra tftpd-deno flags, e.g. '--workers 1')",
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
  const denoArgs = values["deno-args"]!.split(" ").filter((a) => a !== "");
  const all = [denoSpec([], denoArgs), atftpdSpec(), hpaSpec(), ceilingSpec()];
  if (values.baseline) {
    // Before/after in one run: the same scenarios against another checkout.
    all.push(denoSpec([], denoArgs, {
      main: `${values.baseline}/main.ts`,
      name: "tftpd-deno-before",
    }));
  }
  if (values["with-metrics"]) {
    // The metrics cost (issue 15: within 3% of off): the same server with
    // its status listener on, in the same run.
    all.push({
      ...denoSpec([], [...denoArgs, "--metrics", "127.0.0.1:0"]),
      name: "tftpd-deno-metrics",
    });
  }
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
  const warm1m = {
    ...list[0],
    id: "warm-up",
    file: "f1m.bin",
    size: 1024 * 1024,
    count: 1,
    concurrency: 1,
    loss: undefined,
    spread: undefined,
    rx: undefined,
    capMs: undefined,
  };
  files.set(warm1m.file, ensureFile(root, warm1m.file, warm1m.size));
  for (const s of list) {
    if (!files.has(s.file)) files.set(s.file, ensureFile(root, s.file, s.size));
  }
  for (const e of Deno.readDirSync(root)) {
    if (e.name.startsWith("up-") || e.name.startsWith("warm-")) {
      Deno.removeSync(`${root}/${e.name}`);
    }
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
  if (engineName !== "c" && list.some((s) => s.rx)) {
    log("the small-buffer scenarios need the C load generator: skipped");
    list = list.filter((s) => !s.rx);
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
    for (const sc of list) {
      // Fresh servers for every scenario: peak memory and crashes belong to
      // the scenario that caused them, not to the one before.
      for (const s of running.splice(0)) await stopServer(s);
      for (const [i, spec] of specs.entries()) {
        running.push(
          await startServer(spec, root, {
            port: portBase + i,
            probeFile: PROBE,
          }),
        );
      }
      // Unmeasured 1 MiB transfers with the scenario's options, so a JIT
      // compiled server is measured warm, as it runs in production (start-up
      // is measured on its own above): one, or four at once before a
      // scenario with transfers at once (threads that start under load, as
      // ours do, are then up and warm, as after a production server's first
      // busy minute).
      const warmCount = Math.min(sc.concurrency, 4);
      for (const server of running) {
        if (sc.windowsize && !server.spec.caps.windowsize) continue;
        const warm = `warm-${server.spec.name}-%d.bin`;
        // The ceiling holds each file whole in memory, read at its first
        // request: warm it with the scenario's own file, so its reading
        // (slow on this disk) is not measured as per-block cost.
        const own = server.spec.name === CEILING && sc.kind === "rrq";
        await engine(
          {
            ...warm1m,
            count: warmCount,
            concurrency: warmCount,
            ...(own ? { file: sc.file, size: sc.size } : {}),
            kind: sc.kind,
            blksize: sc.blksize,
            windowsize: sc.windowsize,
            tsize: sc.tsize,
            timeout: sc.timeout,
          },
          server.port,
          sc.kind === "wrq" ? warm : own ? sc.file : warm1m.file,
        ).catch(() => {});
        for (let i = 0; i < warmCount; i++) {
          try {
            Deno.removeSync(`${root}/${warm.replace("%d", String(i))}`);
          } catch { /* an RRQ, or nothing was written */ }
        }
      }
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
          if (server.exit) {
            // It died during the run: say so, and start it again.
            r.status = "failed";
            r.failures = Math.max(r.failures, 1);
            r.reason = `server died (exit code ${server.exit.code}${
              server.exit.signal ? `, ${server.exit.signal}` : ""
            }); ${r.reason ?? ""}`;
            const idx = running.indexOf(server);
            await stopServer(server);
            running[idx] = await startServer(server.spec, root, {
              port: server.port,
              probeFile: PROBE,
            });
            log(`${server.spec.name} died during ${sc.id}: restarted`);
          }
          const key = `${server.spec.name} ${sc.id}`;
          runs.set(key, [...(runs.get(key) ?? []), r]);
          log(
            `${sc.id.padEnd(20)} ${server.spec.name.padEnd(11)} ${
              r.status === "n/a"
                ? `n/a (${r.reason})`
                : `${r.mbps.toFixed(1).padStart(7)} MB/s  p50 ${
                  r.p50Ms.toFixed(0)
                } ms  fail ${r.failures}  cpu ${r.serverCpuS.toFixed(2)} s  ` +
                  `mem ${r.idleMemMB.toFixed(1)}->${
                    r.peakMemMB.toFixed(1)
                  } MB  gen ${r.genCpuS.toFixed(2)} s${
                    r.reason ? `  (${r.reason})` : ""
                  }`
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
    machine: {
      ...mach,
      loadavgAfter: Deno.readTextFileSync("/proc/loadavg").split(" ")
        .slice(0, 3).join(" "),
    },
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
  report.ratios = allRatios(report);
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
