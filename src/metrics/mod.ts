/**
 * Metrics and a live status page for the server (`--metrics HOST:PORT`):
 * a {@linkcode TransferMonitor} the server tells about each transfer and
 * refusal, and {@linkcode startStatusServer}, one HTTP listener with
 * `/metrics` (Prometheus), `/api/status` (JSON) and the page `/`.
 *
 * @example
 * ```ts
 * import { startStatusServer, TransferMonitor } from "./mod.ts";
 * const monitor = new TransferMonitor({ version: "0.1.0" });
 * await using status = startStatusServer(
 *   { hostname: "127.0.0.1", port: 0 },
 *   monitor,
 * );
 * const id = monitor.started(
 *   { peer: "10.0.0.7:1024", filename: "boot.ipxe", direction: "read", mode: "octet" },
 *   { bytes: 0 },
 * );
 * const doc = await (await fetch(
 *   `http://127.0.0.1:${status.addr.port}/api/status`,
 * )).json();
 * if (doc.active[0].id !== id) throw new Error();
 * ```
 *
 * @module
 */

export { TransferMonitor } from "./monitor.ts";
export type { MonitorOptions } from "./monitor.ts";
export { startStatusServer } from "./status_server.ts";
export type {
  StatusListen,
  StatusServer,
  StatusServerOptions,
} from "./status_server.ts";
export { renderMetrics } from "./collect.ts";
export { CachedProgress, liveSession, ProgressReporter } from "./progress.ts";
export type { ProgressEntry, ProgressReport, SessionLike } from "./progress.ts";
export { DURATION_BUCKETS, Histogram } from "./histogram.ts";
export type { CollectOptions } from "./collect.ts";
export type { MetricFamily, MetricType, Sample } from "./exposition.ts";
export { DIRECTIONS, OUTCOMES, REFUSAL_REASONS } from "./types.ts";
export type {
  ActiveTransferView,
  Direction,
  FinishedTransferView,
  LiveSource,
  RefusalReason,
  StatusDocument,
  StatusTotals,
  TransferInfo,
} from "./types.ts";
export type { Outcome, TransferStats } from "../server/session.ts";
