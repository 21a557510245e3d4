/**
 * Turns comparison results into results.md (tables, targets) and chart.svg.
 *
 * @module
 */

import type { Scenario } from "./scenarios.ts";

/** One server on one scenario (the median of its repeats). */
export interface RunResult {
  /** Server name. */
  server: string;
  /** Scenario id. */
  scenario: string;
  /** `ok` (all transfers verified), `failed` (some failed) or `n/a`. */
  status: "ok" | "failed" | "n/a";
  /** Why n/a, or the first failure. */
  reason?: string;
  /** Payload MB/s (10^6 bytes) over the wall time, successful bytes only. */
  mbps: number;
  /** Successful transfers per second of wall time. */
  transfersPerSec: number;
  /** Median transfer time, ms. */
  p50Ms: number;
  /** 99th percentile transfer time, ms. */
  p99Ms: number;
  /** Transfers in all. */
  transfers: number;
  /** Transfers that failed or delivered wrong bytes. */
  failures: number;
  /** Wall time of the scenario, ms. */
  wallMs: number;
  /** Server CPU seconds (user+system, children included). */
  serverCpuS: number;
  /** Server peak memory, MB (10^6 bytes; RSS, or PSS summed over a forking server's processes). */
  peakMemMB: number;
  /** Load generator CPU seconds. */
  genCpuS: number;
  /** Client retransmits. */
  retransmits: number;
  /** DATA packets dropped on purpose. */
  dropped: number;
  /** MB/s of every repeat, in run order. */
  repeats: number[];
}

/** Start-up time of one server. */
export interface StartupResult {
  /** Server name. */
  server: string;
  /** Each spawn -> first DATA time, ms. */
  samplesMs: number[];
  /** Median, ms. */
  medianMs: number;
}

/** Everything one comparison produced. */
export interface Report {
  /** ISO date of the run. */
  date: string;
  /** `full` or `quick`. */
  mode: string;
  /** Machine facts. */
  machine: {
    nproc: number;
    cpu: string;
    kernel: string;
    deno: string;
    loadavgBefore: string;
  };
  /** Which load generator ran (`c` or `deno`). */
  loadgen: string;
  /** Servers: name, version, notes. */
  servers: { name: string; version: string; notes: string }[];
  /** The scenarios. */
  scenarios: Scenario[];
  /** Results, one per server and scenario. */
  results: RunResult[];
  /** Start-up times. */
  startup: StartupResult[];
  /** Total run time, s. */
  elapsedS: number;
}

/** Our server's name in the results. */
export const OURS = "tftpd-deno";

/**
 * The best peer on a scenario: highest MB/s among peers that ran it without
 * failures (or, when all failed some, among all that ran it).
 *
 * @param report The report.
 * @param scenario Scenario id.
 * @returns The best peer's result, or undefined when none could run it.
 */
export function bestPeer(
  report: Report,
  scenario: string,
): RunResult | undefined {
  // Peers that completed every transfer come first; a peer that failed
  // some is the reference only when no peer completed them all.
  let best: RunResult | undefined;
  for (const r of report.results) {
    if (r.scenario !== scenario || r.server === OURS || r.status === "n/a") {
      continue;
    }
    const better = !best ||
      (r.status === "ok" && best.status !== "ok") ||
      (r.status === best.status && r.mbps > best.mbps);
    if (better) best = r;
  }
  return best;
}

/**
 * Ours / best peer throughput on a scenario.
 *
 * @param report The report.
 * @param scenario Scenario id.
 * @returns The ratio, or undefined (no peer, or ours n/a).
 */
export function ratio(report: Report, scenario: string): number | undefined {
  const ours = find(report, OURS, scenario);
  const best = bestPeer(report, scenario);
  if (!ours || ours.status === "n/a" || !best || best.mbps === 0) {
    return undefined;
  }
  return ours.mbps / best.mbps;
}

function find(
  report: Report,
  server: string,
  scenario: string,
): RunResult | undefined {
  return report.results.find((r) =>
    r.server === server && r.scenario === scenario
  );
}

function fmt(n: number, digits = 1): string {
  if (!Number.isFinite(n)) return "-";
  return n >= 100 ? n.toFixed(0) : n.toFixed(digits);
}

function cell(r: RunResult | undefined): string {
  if (!r) return "-";
  if (r.status === "n/a") return "n/a";
  const f = r.failures ? ` (${r.failures} failed)` : "";
  return `${fmt(r.mbps)}${f}`;
}

/**
 * Renders results.md.
 *
 * @param report The report.
 * @returns Markdown.
 */
export function renderMarkdown(report: Report): string {
  const names = report.servers.map((s) => s.name);
  const peers = names.filter((n) => n !== OURS);
  const m = report.machine;
  const out: string[] = [];
  out.push(`# TFTP server comparison (${report.mode} mode)`);
  out.push("");
  out.push(
    `Date: ${report.date}. Machine: ${m.nproc} CPUs (${m.cpu}), Linux ${m.kernel}, ` +
      `Deno ${m.deno}. Load average before the run: ${m.loadavgBefore}. ` +
      `Run time: ${report.elapsedS.toFixed(0)} s.`,
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
  out.push("## Throughput (MB/s, 10^6 bytes) and ratio ours / best peer");
  out.push("");
  out.push(
    `| scenario | ${names.join(" | ")} | ratio | best peer |`,
  );
  out.push(`| --- | ${names.map(() => "---:").join(" | ")} | ---: | --- |`);
  for (const sc of report.scenarios) {
    const cells = names.map((n) => cell(find(report, n, sc.id)));
    const r = ratio(report, sc.id);
    const best = bestPeer(report, sc.id);
    out.push(
      `| ${sc.group}: ${sc.label} | ${cells.join(" | ")} | ${
        r === undefined ? "n/a" : `${r.toFixed(2)}x`
      } | ${best?.server ?? "none"} |`,
    );
  }
  out.push("");
  out.push(
    "Single-transfer scenarios are the median of their repeats; n/a: the " +
      "server did not grant the option the scenario is about (it is left " +
      "out of the ratio).",
  );
  out.push("");
  out.push("## Details");
  out.push("");
  out.push(
    "| scenario | server | transfers/s | p50 ms | p99 ms | failures | server CPU s | server peak MB | client CPU s | client retransmits | repeats MB/s |",
  );
  out.push(
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
  );
  for (const sc of report.scenarios) {
    for (const n of names) {
      const r = find(report, n, sc.id);
      if (!r) continue;
      if (r.status === "n/a") {
        out.push(
          `| ${sc.id} | ${n} | n/a: ${r.reason ?? ""} | | | | | | | | |`,
        );
        continue;
      }
      out.push(
        `| ${sc.id} | ${n} | ${fmt(r.transfersPerSec, 2)} | ${fmt(r.p50Ms)} | ${
          fmt(r.p99Ms)
        } | ${r.failures}/${r.transfers} | ${r.serverCpuS.toFixed(2)} | ${
          fmt(r.peakMemMB)
        } | ${r.genCpuS.toFixed(2)} | ${r.retransmits} | ${
          r.repeats.map((x) => fmt(x)).join(", ")
        } |`,
      );
      if (r.reason && r.status === "failed") {
        out.push(`| | | first failure: ${r.reason} | | | | | | | | |`);
      }
    }
  }
  out.push("");
  out.push("## Start-up (spawn to first DATA served, ms)");
  out.push("");
  out.push("| server | median | samples |");
  out.push("| --- | ---: | --- |");
  for (const s of report.startup) {
    out.push(
      `| ${s.server} | ${fmt(s.medianMs)} | ${
        s.samplesMs.map((x) => fmt(x)).join(", ")
      } |`,
    );
  }
  out.push("");
  out.push("## Targets (issue 5)");
  out.push("");
  for (const line of targets(report)) out.push(`- ${line}`);
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
 * The issue's targets, each with PASS/FAIL and the measured figure.
 *
 * @param report The report.
 * @returns One line per target.
 */
export function targets(report: Report): string[] {
  const lines: string[] = [];
  const below: string[] = [];
  let all = 0;
  for (const sc of report.scenarios) {
    const r = ratio(report, sc.id);
    if (r === undefined) continue;
    all++;
    if (r < 1) below.push(`${sc.id} ${r.toFixed(2)}x`);
  }
  lines.push(
    `${pass(below.length === 0)}: every scenario >= 1.0x best peer` +
      (below.length ? ` (below: ${below.join(", ")})` : ` (${all} compared)`),
  );
  for (const id of ["d-storm-64", "d-scale-1000"]) {
    const o = find(report, OURS, id);
    if (!o) continue;
    lines.push(
      `${
        pass(o.status === "ok" && o.failures === 0)
      }: ${id} without failures ` +
        `(${o.failures}/${o.transfers} failed)`,
    );
  }
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
        `best peer with zero failures (${
          r === undefined ? "n/a" : r.toFixed(2) + "x"
        }, ${o.failures} failed)`,
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

const COLORS: Record<string, string> = {
  "tftpd-deno": "#2f6fdf",
  "atftpd": "#e08a2c",
  "tftpd-hpa": "#3aa45a",
};

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/**
 * Renders chart.svg: per scenario, each server's throughput relative to the
 * best peer (1.0 = best peer), as horizontal bars.
 *
 * @param report The report.
 * @returns SVG text.
 */
export function renderSvg(report: Report): string {
  const names = report.servers.map((s) => s.name);
  const rowH = 12;
  const gap = 14;
  const left = 170;
  const width = 800;
  const plotW = width - left - 90;
  let maxRel = 1.5;
  const rows: { sc: Scenario; rel: (number | undefined)[] }[] = [];
  for (const sc of report.scenarios) {
    const best = bestPeer(report, sc.id);
    const rel = names.map((n) => {
      const r = find(report, n, sc.id);
      if (!r || r.status === "n/a" || !best || best.mbps === 0) {
        return undefined;
      }
      return r.mbps / best.mbps;
    });
    for (const v of rel) if (v !== undefined) maxRel = Math.max(maxRel, v);
    rows.push({ sc, rel });
  }
  // Keep the axis readable: bars beyond 2.5 are cut and labelled.
  maxRel = Math.min(2.5, Math.ceil(maxRel * 2) / 2);
  const groupH = names.length * rowH + gap;
  const top = 50;
  const height = top + rows.length * groupH + 40;
  const x = (v: number) => left + (Math.min(v, maxRel) / maxRel) * plotW;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
      `font-family="sans-serif" font-size="11">`,
  );
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  out.push(
    `<text x="10" y="18" font-size="14" font-weight="bold">Throughput relative to the best peer (1.0 = best peer; ${
      esc(report.mode)
    } mode, ${esc(report.date.slice(0, 10))})</text>`,
  );
  names.forEach((n, i) => {
    const lx = 10 + i * 140;
    out.push(
      `<rect x="${lx}" y="28" width="10" height="10" fill="${
        COLORS[n] ?? "#888"
      }"/><text x="${lx + 14}" y="37">${esc(n)}</text>`,
    );
  });
  for (let t = 0; t <= maxRel + 1e-9; t += 0.5) {
    out.push(
      `<line x1="${x(t)}" y1="${top - 5}" x2="${x(t)}" y2="${
        height - 30
      }" stroke="${t === 1 ? "#c00" : "#ddd"}" stroke-width="${
        t === 1 ? 1.5 : 1
      }"/>`,
    );
    out.push(
      `<text x="${x(t)}" y="${height - 15}" text-anchor="middle">${
        t.toFixed(1)
      }</text>`,
    );
  }
  rows.forEach((row, gi) => {
    const y0 = top + gi * groupH;
    out.push(
      `<text x="${left - 8}" y="${
        y0 + (names.length * rowH) / 2 + 4
      }" text-anchor="end">${esc(row.sc.id)}</text>`,
    );
    row.rel.forEach((v, i) => {
      const y = y0 + i * rowH;
      if (v === undefined) {
        out.push(
          `<text x="${left + 4}" y="${y + rowH - 3}" fill="#888">n/a</text>`,
        );
        return;
      }
      out.push(
        `<rect x="${left}" y="${y + 1}" width="${
          Math.max(1, x(v) - left)
        }" height="${rowH - 2}" fill="${COLORS[names[i]] ?? "#888"}"/>`,
      );
      out.push(
        `<text x="${x(v) + 4}" y="${y + rowH - 3}">${v.toFixed(2)}${
          v > maxRel ? " (axis cut)" : ""
        }</text>`,
      );
    });
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}
