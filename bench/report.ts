/**
 * Turns comparison results into results.md: throughput with ours / best C
 * and ours / ceiling, memory, details, start-up, the small-buffer family
 * and the targets. (Types and ratios: report_core.ts; chart: chart.ts.)
 *
 * @module
 */

import {
  bestPeer,
  CEILING,
  ceilingRatio,
  find,
  fmt,
  isPeer,
  OURS,
  ratio,
  type Report,
  type RunResult,
  times,
} from "./report_core.ts";
import { smallBufferRows, smallBufferSection } from "./report_small_buffer.ts";
import { SMALL_BUFFER_GROUP } from "./scenarios.ts";

function cell(r: RunResult | undefined): string {
  if (!r) return "-";
  if (r.status === "n/a") return "n/a";
  const f = r.failures ? ` (${r.failures} failed)` : "";
  return `${fmt(r.mbps)}${f}`;
}

function memCell(r: RunResult | undefined): string {
  if (!r) return "-";
  if (r.status === "n/a") return "n/a";
  return `${fmt(r.idleMemMB)} / ${fmt(r.peakMemMB)} / ${
    fmt(r.perTransferMB, 2)
  }`;
}

/**
 * Renders results.md.
 *
 * @example
 * ```ts
 * import { renderMarkdown } from "./report.ts";
 * import type { Report } from "./report_core.ts";
 * const r = {
 *   date: "2026-01-01T00:00:00Z", mode: "quick", loadgen: "c", elapsedS: 1,
 *   machine: { nproc: 2, cpu: "x", kernel: "6", deno: "2", loadavgBefore: "0" },
 *   servers: [], scenarios: [], results: [], startup: [],
 * } as Report;
 * if (!renderMarkdown(r).startsWith("# TFTP server comparison")) throw new Error();
 * ```
 *
 * @param report The report.
 * @returns Markdown.
 */
export function renderMarkdown(report: Report): string {
  const names = report.servers.map((s) => s.name);
  const peers = names.filter(isPeer);
  const m = report.machine;
  const out: string[] = [];
  out.push(`# TFTP server comparison (${report.mode} mode)`);
  out.push("");
  out.push(
    `Date: ${report.date}. Machine: ${m.nproc} CPUs (${m.cpu}), Linux ${m.kernel}, ` +
      `Deno ${m.deno}. Load average (1, 5, 15 min) before the run: ` +
      `${m.loadavgBefore}${
        m.loadavgAfter ? `; after: ${m.loadavgAfter}` : ""
      } (other work shares these CPUs). Run time: ${
        report.elapsedS.toFixed(0)
      } s.`,
  );
  out.push("");
  out.push(
    `Load generator: ${
      report.loadgen === "c"
        ? "bench/loadgen.c (one epoll thread, compiled with cc -O2)"
        : "bench/loadgen.ts (in the Deno process)"
    }; it compares every received byte with the served file, and every ` +
      "uploaded file is checked by SHA-256. All traffic is on loopback (127.0.0.0/8).",
  );
  out.push("");
  out.push("Servers:");
  for (const s of report.servers) {
    out.push(`- ${s.name}: ${s.version}; ${s.notes}`);
  }
  out.push("");
  out.push(
    "## Throughput (MB/s, 10^6 bytes), ours / best C peer, ours / ceiling",
  );
  out.push("");
  out.push(
    `| scenario | ${
      names.join(" | ")
    } | ours / best C | best C | ours / ceiling |`,
  );
  out.push(
    `| --- | ${names.map(() => "---:").join(" | ")} | ---: | --- | ---: |`,
  );
  for (const sc of report.scenarios) {
    const cells = names.map((n) => cell(find(report, n, sc.id)));
    out.push(
      `| ${sc.group}: ${sc.label} | ${cells.join(" | ")} | ${
        times(ratio(report, sc.id))
      } | ${bestPeer(report, sc.id)?.server ?? "none"} | ${
        times(ceilingRatio(report, sc.id))
      } |`,
    );
  }
  out.push("");
  out.push(
    "Single-transfer scenarios are the median of their repeats; n/a: the " +
      "server did not grant the option the scenario is about (it is left " +
      "out of the ratio). The ceiling is bench/ceiling.ts, the least a Deno " +
      "responder can do (file in memory, one socket per transfer, no " +
      "timers, no checks, one thread): it is not a peer, and it recovers " +
      "from loss only through the client's retransmits.",
  );
  out.push("");
  out.push("## Memory (MB, 10^6 bytes): idle / peak / per transfer");
  out.push("");
  out.push(
    "Idle: the server's memory just before the run (after its warm-up " +
      "transfer); peak: the most during the run (VmHWM reset at its start, " +
      "or for a forking server the peak of PSS summed over its processes, " +
      "sampled every 100 ms); per transfer: (peak - idle) / transfers in " +
      "flight at once.",
  );
  out.push("");
  out.push(`| scenario | at once | ${names.join(" | ")} |`);
  out.push(`| --- | ---: | ${names.map(() => "---:").join(" | ")} |`);
  for (const sc of report.scenarios) {
    if (sc.group === SMALL_BUFFER_GROUP) continue;
    out.push(
      `| ${sc.id} | ${Math.min(sc.concurrency, sc.count)} | ${
        names.map((n) => memCell(find(report, n, sc.id))).join(" | ")
      } |`,
    );
  }
  out.push("");
  out.push(...smallBufferSection(report));
  out.push("## Details");
  out.push("");
  out.push(
    "| scenario | server | transfers/s | p50 ms | p99 ms | failures | server CPU s | idle MB | peak MB | per transfer MB | client CPU s | client retransmits | queue drops | repeats MB/s |",
  );
  out.push(
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
  );
  for (const sc of report.scenarios) {
    for (const n of names) {
      const r = find(report, n, sc.id);
      if (!r) continue;
      if (r.status === "n/a") {
        out.push(
          `| ${sc.id} | ${n} | n/a: ${r.reason ?? ""} | | | | | | | | | | | |`,
        );
        continue;
      }
      out.push(
        `| ${sc.id} | ${n} | ${fmt(r.transfersPerSec, 2)} | ${fmt(r.p50Ms)} | ${
          fmt(r.p99Ms)
        } | ${r.failures}/${r.transfers} | ${r.serverCpuS.toFixed(2)} | ${
          fmt(r.idleMemMB)
        } | ${fmt(r.peakMemMB)} | ${fmt(r.perTransferMB, 2)} | ${
          r.genCpuS.toFixed(2)
        } | ${r.retransmits} | ${r.queueDropped} | ${
          r.repeats.map((x) => fmt(x)).join(", ")
        } |`,
      );
      if (r.reason && r.status === "failed") {
        out.push(`| | | first failure: ${r.reason} | | | | | | | | | | | |`);
      }
    }
  }
  out.push("");
  out.push("## Start-up (spawn to first DATA served, ms; memory then, MB)");
  out.push("");
  out.push(
    "| server | median ms | samples ms | memory after start-up MB | of it private MB |",
  );
  out.push("| --- | ---: | --- | ---: | ---: |");
  const mb = (v?: number) => v === undefined ? "-" : fmt(v);
  for (const s of report.startup) {
    out.push(
      `| ${s.server} | ${fmt(s.medianMs)} | ${
        s.samplesMs.map((x) => fmt(x)).join(", ")
      } | ${mb(s.idleMemMB)} | ${mb(s.idlePrivateMB)} |`,
    );
  }
  out.push("");
  out.push("## Targets (issue 13)");
  out.push("");
  for (const line of targets(report)) out.push(`- ${line}`);
  out.push("");
  out.push("## Targets (issue 5, kept for comparison)");
  out.push("");
  for (const line of targetsIssue5(report)) out.push(`- ${line}`);
  out.push("");
  if (peers.length === 0) {
    out.push("No peer server was available: run bench/setup_peers.sh.");
    out.push("");
  }
  return out.join("\n");
}

function pass(ok: boolean): string {
  return ok ? "PASS" : "FAIL";
}

/**
 * Issue 13's targets that one run can check, each with PASS/FAIL and the
 * measured figure.
 *
 * @example
 * ```ts
 * import { targets } from "./report.ts";
 * import type { Report } from "./report_core.ts";
 * const r = { scenarios: [], results: [], servers: [], startup: [] } as unknown as Report;
 * if (targets(r).length !== 0) throw new Error();
 * ```
 *
 * @param report The report.
 * @returns One line per target.
 */
export function targets(report: Report): string[] {
  const lines: string[] = [];
  for (const id of ["d-storm-64", "d-scale-1000"]) {
    const o = find(report, OURS, id);
    if (!o) continue;
    const r = ratio(report, id);
    // Three decimals: 0.996 must not read as 1.00 beside a FAIL.
    lines.push(
      `${
        pass(o.failures === 0 && r !== undefined && r >= 1)
      }: ${id} >= 1.0x best C with 0 failures (${
        r === undefined ? "n/a" : `${r.toFixed(3)}x`
      }, ${o.failures}/${o.transfers} failed)`,
    );
    const c = find(report, CEILING, id);
    if (c && c.status !== "n/a" && c.serverCpuS > 0) {
      const cpu = o.serverCpuS / c.serverCpuS;
      lines.push(
        `${
          pass(cpu <= 1.15)
        }: ${id} server CPU within 1.15x of the ceiling's for the same blocks (${
          cpu.toFixed(2)
        }x: ${o.serverCpuS.toFixed(2)} s vs ${c.serverCpuS.toFixed(2)} s)`,
      );
    }
  }
  const st = report.startup.find((s) => s.server === OURS);
  if (st?.idleMemMB !== undefined) {
    const floor = report.startup.find((s) => s.server === "ceiling")
      ?.idleMemMB;
    const also = floor === undefined
      ? ""
      : `; the ceiling, the least a Deno responder holds: ${fmt(floor)} MB`;
    lines.push(
      `${pass(st.idleMemMB <= 50)}: idle <= 50 MB with the defaults (${
        fmt(st.idleMemMB)
      } MB after start-up${
        st.idlePrivateMB === undefined
          ? ""
          : `, ${fmt(st.idlePrivateMB)} MB of it private`
      }${also})`,
    );
  }
  for (const [id, extra] of [["d-storm-64", 24], ["d-scale-1000", 64]]) {
    const o = find(report, OURS, id as string);
    if (!o || o.status === "n/a") continue;
    const grew = o.peakMemMB - o.idleMemMB;
    lines.push(
      `${pass(grew <= (extra as number))}: ${id} peak <= idle + ${extra} MB (${
        fmt(o.idleMemMB)
      } -> ${fmt(o.peakMemMB)} MB, +${fmt(grew)})`,
    );
  }
  for (const row of smallBufferRows(report)) {
    if (row.server !== OURS || !row.asked || row.asked.status === "n/a") {
      continue;
    }
    const a = row.asked;
    const ok = a.failures === 0 && a.wallMs < 1000 &&
      row.ratio !== undefined && row.ratio >= 0.8;
    lines.push(
      `${pass(ok)}: K = ${row.k}, windowsize 64: 0 failures, under 1 s, ` +
        `>= 0.80 of the best fixed windowsize (${
          (a.wallMs / 1000).toFixed(2)
        } s, ${a.failures} failed; best fixed ws ${row.best?.ws ?? "none"} ${
          row.best ? (row.best.result.wallMs / 1000).toFixed(2) + " s" : ""
        }; ${row.ratio === undefined ? "n/a" : row.ratio.toFixed(2)})`,
    );
  }
  return lines;
}

/**
 * Issue 5's targets, each with PASS/FAIL and the measured figure.
 *
 * @example
 * ```ts
 * import { targetsIssue5 } from "./report.ts";
 * import type { Report } from "./report_core.ts";
 * const r = { scenarios: [], results: [], servers: [], startup: [] } as unknown as Report;
 * if (!targetsIssue5(r)[0].startsWith("PASS")) throw new Error();
 * ```
 *
 * @param report The report.
 * @returns One line per target.
 */
export function targetsIssue5(report: Report): string[] {
  const lines: string[] = [];
  const below: string[] = [];
  let all = 0;
  for (const sc of report.scenarios) {
    if (sc.group === SMALL_BUFFER_GROUP) continue;
    const r = ratio(report, sc.id);
    if (r === undefined) continue;
    all++;
    if (r < 1) below.push(`${sc.id} ${r.toFixed(2)}x`);
  }
  lines.push(
    `${
      pass(below.length === 0)
    }: every scenario (groups a-g, scale) >= 1.0x best peer` +
      (below.length ? ` (below: ${below.join(", ")})` : ` (${all} compared)`),
  );
  const storm = find(report, OURS, "d-storm-64");
  if (storm) {
    lines.push(
      `${
        pass(storm.peakMemMB <= 64)
      }: our peak RSS <= 64 MB at 64 concurrent ` +
        `(${fmt(storm.peakMemMB)} MB)`,
    );
  }
  for (const id of ["e-loss", "e-loss-timeout1"]) {
    const o = find(report, OURS, id);
    const r = ratio(report, id);
    if (!o) continue;
    lines.push(
      `${pass(o.failures === 0 && r !== undefined && r >= 2)}: ${id} >= 2x ` +
        `best peer with zero failures (${times(r)}, ${o.failures} failed)`,
    );
  }
  const st = report.startup.find((s) => s.server === OURS);
  if (st) {
    lines.push(
      `${
        pass(st.medianMs < 100)
      }: start-up to first datagram served < 100 ms ` +
        `(median ${fmt(st.medianMs)} ms)`,
    );
  }
  return lines;
}
