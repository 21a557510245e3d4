/**
 * The metric families of a {@linkcode TransferMonitor}, and `/metrics` as
 * Prometheus text. Every label value comes from a fixed set in the code
 * (direction, outcome, reason, error code, thread number, versions), never
 * from the network.
 *
 * @module
 */

import {
  formatExposition,
  histogramSamples,
  type MetricFamily,
  type Sample,
} from "./exposition.ts";
import type { TransferMonitor } from "./monitor.ts";
import { DIRECTIONS, OUTCOMES, REFUSAL_REASONS } from "./types.ts";

/** Options of {@linkcode monitorFamilies}. */
export interface CollectOptions {
  /** Memory figures (default `Deno.memoryUsage`). */
  memory?: () => Deno.MemoryUsage;
  /** More families appended (e.g. the status server's own). */
  extra?: readonly MetricFamily[];
}

/**
 * Builds every family of the monitor, in a stable order.
 *
 * @example
 * ```ts
 * import { TransferMonitor } from "./monitor.ts";
 * import { monitorFamilies } from "./collect.ts";
 * const names = monitorFamilies(new TransferMonitor()).map((f) => f.name);
 * if (!names.includes("tftp_transfers_total")) throw new Error();
 * ```
 *
 * @param monitor The monitor.
 * @param options Memory source and extra families.
 * @returns The families.
 */
export function monitorFamilies(
  monitor: TransferMonitor,
  options: CollectOptions = {},
): MetricFamily[] {
  const t = monitor.totals();
  const mem = (options.memory ?? Deno.memoryUsage)();
  const transfers: Sample[] = [];
  for (const direction of DIRECTIONS) {
    for (const outcome of OUTCOMES) {
      transfers.push({
        labels: { direction, outcome },
        value: t.transfers[direction][outcome],
      });
    }
  }
  const threads = Object.entries(monitor.activeByThread()).map((
    [thread, value],
  ) => ({ labels: { thread }, value }));
  const gauge = (name: string, help: string, value: number): MetricFamily => ({
    name,
    help,
    type: "gauge",
    samples: [{ value }],
  });
  return [
    {
      name: "tftp_transfers_total",
      help: "Finished transfers by direction and outcome.",
      type: "counter",
      samples: transfers,
    },
    {
      name: "tftp_bytes_total",
      help:
        "Payload bytes moved by direction, running transfers included (as of their last progress report).",
      type: "counter",
      samples: DIRECTIONS.map((direction) => ({
        labels: { direction },
        value: t.bytes[direction],
      })),
    },
    {
      name: "tftp_retransmits_total",
      help: "Retransmit rounds of finished transfers.",
      type: "counter",
      samples: [{ value: t.retransmits }],
    },
    gauge(
      "tftp_active_transfers",
      "Transfers running now.",
      monitor.activeCount,
    ),
    {
      name: "tftp_thread_active_transfers",
      help: "Transfers running now per thread (main, or worker number).",
      type: "gauge",
      samples: threads,
    },
    {
      name: "tftp_refusals_total",
      help: "Requests that did not become a transfer, by reason.",
      type: "counter",
      samples: REFUSAL_REASONS.map((reason) => ({
        labels: { reason },
        value: t.refusals[reason],
      })),
    },
    {
      name: "tftp_transfer_errors_total",
      help:
        "Transfers that ended in error, by TFTP error code (0-8, or other).",
      type: "counter",
      samples: Object.entries(t.errors).map(([code, value]) => ({
        labels: { code },
        value,
      })),
    },
    {
      name: "tftp_transfer_duration_seconds",
      help: "Duration of finished transfers, request to outcome.",
      type: "histogram",
      samples: histogramSamples(monitor.durations),
    },
    {
      name: "tftp_build_info",
      help: "Server and runtime versions (always 1).",
      type: "gauge",
      samples: [{
        labels: {
          version: monitor.version,
          deno: Deno.version.deno,
          v8: Deno.version.v8,
          typescript: Deno.version.typescript,
        },
        value: 1,
      }],
    },
    gauge(
      "process_resident_memory_bytes",
      "Resident set size of the whole process (all threads).",
      mem.rss,
    ),
    gauge(
      "process_start_time_seconds",
      "When the process started, seconds since the epoch.",
      Math.floor(performance.timeOrigin / 1000),
    ),
    gauge(
      "tftp_heap_used_bytes",
      "V8 heap in use by the main thread.",
      mem.heapUsed,
    ),
    gauge(
      "tftp_heap_total_bytes",
      "V8 heap reserved by the main thread.",
      mem.heapTotal,
    ),
    gauge(
      "tftp_external_memory_bytes",
      "Memory outside the main thread's V8 heap held by its objects (buffers).",
      mem.external,
    ),
    ...(options.extra ?? []),
  ];
}

/**
 * The monitor as Prometheus text (what `/metrics` serves).
 *
 * @example
 * ```ts
 * import { TransferMonitor } from "./monitor.ts";
 * import { renderMetrics } from "./collect.ts";
 * const text = renderMetrics(new TransferMonitor());
 * if (!text.includes("# TYPE tftp_transfer_duration_seconds histogram")) {
 *   throw new Error(text);
 * }
 * ```
 *
 * @param monitor The monitor.
 * @param options Memory source and extra families.
 * @returns Exposition text.
 */
export function renderMetrics(
  monitor: TransferMonitor,
  options: CollectOptions = {},
): string {
  return formatExposition(monitorFamilies(monitor, options));
}
