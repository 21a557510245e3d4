/**
 * The comparison's result types and the ratios every report is made of:
 * ours / best C peer and ours / the ceiling (bench/ceiling.ts).
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
  /** Wall time of the scenario, ms (a capped transfer counts its cap). */
  wallMs: number;
  /** Server CPU seconds (user+system, children included). */
  serverCpuS: number;
  /** Server memory just before the run (after its warm-up), MB (10^6 bytes). */
  idleMemMB: number;
  /** Server peak memory, MB (RSS, or PSS summed over a forking server's processes). */
  peakMemMB: number;
  /** (peak - idle) / transfers in flight at once, MB. */
  perTransferMB: number;
  /** Load generator CPU seconds. */
  genCpuS: number;
  /** Client retransmits (requests, ACKs on the receiver's timeout, DATA). */
  retransmits: number;
  /** DATA packets dropped on purpose (loss or a full small receiver). */
  dropped: number;
  /** DATA dropped by the small-buffer receiver's full queue. */
  queueDropped: number;
  /** DATA datagrams that reached the client (what the server sent). */
  dataRx: number;
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
  /** Memory right after start-up (median of the spawns), MB. */
  idleMemMB?: number;
  /** Of it, private memory (`RssAnon`: not the executable's pages), MB. */
  idlePrivateMB?: number;
}

/** The ratios of one scenario, as results.json lists them. */
export interface ScenarioRatios {
  /** Scenario id. */
  scenario: string;
  /** Ours / best C peer (MB/s), when both ran it. */
  oursVsBestC?: number;
  /** The best C peer's name. */
  bestC?: string;
  /** Ours / the ceiling (MB/s), when both ran it. */
  oursVsCeiling?: number;
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
    loadavgAfter?: string;
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
  /** Ratios per scenario (filled by {@linkcode allRatios}). */
  ratios?: ScenarioRatios[];
  /** Total run time, s. */
  elapsedS: number;
}

/** Our server's name in the results. */
export const OURS = "tftpd-deno";

/** The ceiling responder's name in the results (not a peer). */
export const CEILING = "ceiling";

/**
 * Whether a server is a C peer (neither ours, in any variant such as
 * `tftpd-deno-metrics` or `tftpd-deno-before`, nor the ceiling).
 *
 * @example
 * ```ts
 * import { isPeer } from "./report_core.ts";
 * if (!isPeer("atftpd") || isPeer("ceiling")) throw new Error();
 * ```
 *
 * @param name Server name.
 * @returns True for a peer.
 */
export function isPeer(name: string): boolean {
  return !name.startsWith(OURS) && name !== CEILING;
}

/**
 * One server's result on one scenario.
 *
 * @example
 * ```ts
 * import { find, type Report } from "./report_core.ts";
 * const r = { results: [] } as unknown as Report;
 * if (find(r, "atftpd", "a-rrq-512") !== undefined) throw new Error();
 * ```
 *
 * @param report The report.
 * @param server Server name.
 * @param scenario Scenario id.
 * @returns The result, if it ran.
 */
export function find(
  report: Report,
  server: string,
  scenario: string,
): RunResult | undefined {
  return report.results.find((r) =>
    r.server === server && r.scenario === scenario
  );
}

/**
 * The best C peer on a scenario: highest MB/s among peers that ran it
 * without failures (or, when all failed some, among all that ran it).
 *
 * @example
 * ```ts
 * import { bestPeer, type Report } from "./report_core.ts";
 * const r = { results: [] } as unknown as Report;
 * if (bestPeer(r, "a-rrq-512") !== undefined) throw new Error();
 * ```
 *
 * @param report The report.
 * @param scenario Scenario id.
 * @returns The best peer's result, or undefined when none could run it.
 */
export function bestPeer(
  report: Report,
  scenario: string,
): RunResult | undefined {
  let best: RunResult | undefined;
  for (const r of report.results) {
    if (r.scenario !== scenario || !isPeer(r.server) || r.status === "n/a") {
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
 * Ours / best C peer throughput on a scenario.
 *
 * @example
 * ```ts
 * import { ratio, type Report } from "./report_core.ts";
 * const r = { results: [] } as unknown as Report;
 * if (ratio(r, "a-rrq-512") !== undefined) throw new Error();
 * ```
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

/**
 * Ours / the ceiling's throughput on a scenario.
 *
 * @example
 * ```ts
 * import { ceilingRatio, type Report } from "./report_core.ts";
 * const r = { results: [] } as unknown as Report;
 * if (ceilingRatio(r, "a-rrq-512") !== undefined) throw new Error();
 * ```
 *
 * @param report The report.
 * @param scenario Scenario id.
 * @returns The ratio, or undefined (either did not run it, or the ceiling moved nothing).
 */
export function ceilingRatio(
  report: Report,
  scenario: string,
): number | undefined {
  const ours = find(report, OURS, scenario);
  const top = find(report, CEILING, scenario);
  if (!ours || ours.status === "n/a" || !top || top.status === "n/a") {
    return undefined;
  }
  return top.mbps > 0 ? ours.mbps / top.mbps : undefined;
}

/**
 * Both ratios of every scenario, for results.json.
 *
 * @example
 * ```ts
 * import { allRatios, type Report } from "./report_core.ts";
 * const r = { results: [], scenarios: [] } as unknown as Report;
 * if (allRatios(r).length !== 0) throw new Error();
 * ```
 *
 * @param report The report.
 * @returns One entry per scenario.
 */
export function allRatios(report: Report): ScenarioRatios[] {
  return report.scenarios.map((sc) => ({
    scenario: sc.id,
    oursVsBestC: ratio(report, sc.id),
    bestC: bestPeer(report, sc.id)?.server,
    oursVsCeiling: ceilingRatio(report, sc.id),
  }));
}

/**
 * A number for a table: 3 significant-ish digits, `-` when not finite.
 *
 * @example
 * ```ts
 * import { fmt } from "./report_core.ts";
 * if (fmt(123.4) !== "123" || fmt(1.234) !== "1.2" || fmt(NaN) !== "-") {
 *   throw new Error();
 * }
 * ```
 *
 * @param n The number.
 * @param digits Decimals below 100.
 * @returns Text.
 */
export function fmt(n: number, digits = 1): string {
  if (!Number.isFinite(n)) return "-";
  return n >= 100 ? n.toFixed(0) : n.toFixed(digits);
}

/**
 * A ratio as `1.23x`, or `n/a`.
 *
 * @example
 * ```ts
 * import { times } from "./report_core.ts";
 * if (times(1.234) !== "1.23x" || times(undefined) !== "n/a") throw new Error();
 * ```
 *
 * @param r The ratio.
 * @returns Text.
 */
export function times(r: number | undefined): string {
  return r === undefined ? "n/a" : `${r.toFixed(2)}x`;
}
