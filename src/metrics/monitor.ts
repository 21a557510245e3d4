/**
 * The transfer monitor: counters, the table of running transfers and a
 * bounded ring of finished ones. The server calls it at admission, at the
 * end and on refusals; nothing runs per block: running transfers are read
 * through their {@linkcode LiveSource} only when a page or a scrape asks.
 *
 * @module
 */

import type { Outcome, TransferStats } from "../server/session.ts";
import { DURATION_BUCKETS, Histogram } from "./histogram.ts";
import { Ring } from "./ring.ts";
import {
  type ActiveTransferView,
  type Direction,
  DIRECTIONS,
  type FinishedTransferView,
  type LiveSource,
  OUTCOMES,
  REFUSAL_REASONS,
  type RefusalReason,
  type StatusDocument,
  type StatusTotals,
  type TransferInfo,
} from "./types.ts";

/** Options of {@linkcode TransferMonitor}. */
export interface MonitorOptions {
  /** Finished transfers kept for the page and `/api/status`. @default {200} */
  recent?: number;
  /** Most running transfers listed in a status document. @default {500} */
  listed?: number;
  /** Throughput points kept (one per {@linkcode TransferMonitor.sample}). @default {300} */
  history?: number;
  /** Worker threads, so each has a series from the start. @default {0} */
  threads?: number;
  /** Server version for `tftp_build_info`. @default {"unknown"} */
  version?: string;
  /** Clock in ms since the epoch. @default {Date.now} */
  now?: () => number;
}

/** Longest file name or error text kept, in UTF-16 units. */
const MAX_TEXT = 256;
/** Longest peer text kept. */
const MAX_PEER = 64;
/** Most options kept per transfer, and the longest key or value. */
const MAX_OPTIONS = 16;
const MAX_OPTION_TEXT = 32;
/** Shortest interval between two throughput samples, in ms. */
const MIN_SAMPLE_MS = 200;
/** Highest worker number given its own thread series. */
const MAX_THREAD = 1024;
/** Error codes of RFC 1350 and 2347 (0 to 8) get their own count. */
const ERROR_CODE = /^ERROR ([0-8]):/;

interface Active {
  id: number;
  info: TransferInfo;
  live: LiveSource;
  startedAt: number;
  maxBytes: number;
  sampleBytes: number;
  sampleAt: number;
  rate: number | undefined;
}

/**
 * Copies at most `max` UTF-16 units of `text` into a fresh string, so a
 * clipped name never keeps a huge original alive (V8 slices share their
 * parent), and never ends in half a surrogate pair.
 */
function clip(text: unknown, max: number): string {
  const s = typeof text === "string" ? text : String(text ?? "");
  if (s.length <= max) return s;
  let head = s.slice(0, max);
  const last = head.charCodeAt(head.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) head = head.slice(0, -1);
  return Array.from(head).join("") + "…";
}

function finite(n: unknown): number {
  return typeof n === "number" && Number.isFinite(n) && n > 0 ? n : 0;
}

function optionRecord(
  options: LiveSource["options"] | Record<string, string> | undefined,
): Record<string, string> {
  const out: Record<string, string> = {};
  if (!options) return out;
  const entries = options instanceof Map
    ? options.entries()
    : Object.entries(options);
  let n = 0;
  for (const [k, v] of entries) {
    if (n++ >= MAX_OPTIONS) break;
    out[clip(k, MAX_OPTION_TEXT)] = clip(v, MAX_OPTION_TEXT);
  }
  return out;
}

function zeros<K extends string>(keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
}

/**
 * Counts transfers and refusals, tracks running transfers, keeps the last
 * finished ones, and samples throughput.
 *
 * @example
 * ```ts
 * import { TransferMonitor } from "./monitor.ts";
 * const monitor = new TransferMonitor({ recent: 10 });
 * const live = { bytes: 0 };
 * const id = monitor.started(
 *   { peer: "10.0.0.5:2000", filename: "pxelinux.0", direction: "read", mode: "octet" },
 *   live,
 * );
 * live.bytes = 512; // the session moves bytes; the monitor is not called
 * monitor.ended(id, {
 *   peer: "10.0.0.5:2000", filename: "pxelinux.0", direction: "read",
 *   mode: "octet", options: {}, bytes: 1024, durationMs: 20,
 *   retransmits: 0, outcome: "ok",
 * });
 * monitor.refused("busy");
 * const s = monitor.status();
 * if (s.totals.transfers.read.ok !== 1 || s.totals.refusals.busy !== 1) {
 *   throw new Error();
 * }
 * ```
 */
export class TransferMonitor {
  /** Server version (for `tftp_build_info`). */
  readonly version: string;
  /** Worker threads configured. */
  readonly threads: number;
  /** Durations of finished transfers, in seconds. */
  readonly durations: Histogram = new Histogram(DURATION_BUCKETS);
  /** When the monitor was created, ms since the epoch. */
  readonly createdAt: number;
  #now: () => number;
  #listed: number;
  #nextId = 1;
  #active = new Map<number, Active>();
  #recent: Ring<FinishedTransferView>;
  #history: Ring<[number, number, number]>;
  #transfers: Record<Direction, Record<Outcome, number>> = {
    read: zeros(OUTCOMES),
    write: zeros(OUTCOMES),
  };
  #bytes: Record<Direction, number> = zeros(DIRECTIONS);
  #retransmits = 0;
  #refusals: Record<RefusalReason, number> = zeros(REFUSAL_REASONS);
  #errors: Record<string, number> = zeros([..."012345678", "other"]);
  #lastSample?: { at: number; read: number; write: number };

  /**
   * Creates a monitor with nothing counted.
   *
   * @param options Bounds, thread count, version and clock.
   */
  constructor(options: MonitorOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#recent = new Ring(options.recent ?? 200);
    this.#history = new Ring(options.history ?? 300);
    this.#listed = options.listed ?? 500;
    this.threads = Math.max(0, Math.floor(options.threads ?? 0));
    this.version = clip(options.version ?? "unknown", MAX_OPTION_TEXT);
    this.createdAt = this.#now();
  }

  /** Running transfers. */
  get activeCount(): number {
    return this.#active.size;
  }

  /**
   * Records an admitted transfer.
   *
   * @param info Who asked for what.
   * @param live Read for its progress when a page or scrape asks.
   * @returns The id to pass to {@linkcode TransferMonitor.ended}.
   */
  started(info: TransferInfo, live: LiveSource): number {
    const id = this.#nextId++;
    const at = this.#now();
    this.#active.set(id, {
      id,
      info: {
        peer: clip(info.peer, MAX_PEER),
        filename: clip(info.filename, MAX_TEXT),
        direction: info.direction === "write" ? "write" : "read",
        mode: clip(info.mode, MAX_OPTION_TEXT),
        worker: info.worker,
      },
      live,
      startedAt: at,
      maxBytes: 0,
      sampleBytes: 0,
      sampleAt: at,
      rate: undefined,
    });
    return id;
  }

  /**
   * Records the end of a transfer (its outcome known). An unknown id (never
   * started, already ended or withdrawn) is ignored.
   *
   * @param id From {@linkcode TransferMonitor.started}.
   * @param stats The transfer's stats, as handed to `onTransferEnd`.
   */
  ended(id: number, stats: TransferStats): void {
    const a = this.#active.get(id);
    if (!a) return;
    this.#active.delete(id);
    const direction: Direction = stats.direction === "write" ? "write" : "read";
    const outcome: Outcome = OUTCOMES.includes(stats.outcome)
      ? stats.outcome
      : "error";
    const bytes = Math.max(finite(stats.bytes), a.maxBytes);
    const seconds = finite(stats.durationMs) / 1000;
    const retransmits = finite(stats.retransmits);
    this.#transfers[direction][outcome]++;
    this.#bytes[direction] += bytes;
    this.#retransmits += retransmits;
    this.durations.observe(seconds);
    if (outcome === "error") {
      const code = ERROR_CODE.exec(String(stats.error ?? ""));
      this.#errors[code ? code[1] : "other"]++;
    }
    const worker = stats.worker ?? a.info.worker;
    this.#recent.push({
      id,
      peer: clip(stats.peer || a.info.peer, MAX_PEER),
      file: clip(stats.filename || a.info.filename, MAX_TEXT),
      direction,
      mode: clip(stats.mode, MAX_OPTION_TEXT),
      options: optionRecord(stats.options),
      bytes,
      durationSeconds: seconds,
      rate: seconds > 0 ? bytes / seconds : 0,
      retransmits,
      outcome,
      error: stats.error === undefined ? null : clip(stats.error, MAX_TEXT),
      endedAt: this.#now(),
      worker: typeof worker === "number" ? worker : null,
    });
  }

  /**
   * Counts a refused request. With an id, withdraws that admitted transfer
   * instead (a worker found no free port, or dropped a repeated request):
   * it is counted as refused, not as a transfer, and only if it is still
   * running, so calling this after {@linkcode TransferMonitor.ended} (a
   * fallback when a transfer is done) changes nothing.
   *
   * @param reason Why (anything outside the fixed set counts as `other`).
   * @param id The admitted transfer it withdraws, if any.
   */
  refused(reason: RefusalReason, id?: number): void {
    const r = REFUSAL_REASONS.includes(reason) ? reason : "other";
    if (id !== undefined) {
      const a = this.#active.get(id);
      if (!a) return;
      this.#active.delete(id);
      this.#bytes[a.info.direction] += a.maxBytes;
    }
    this.#refusals[r]++;
  }

  /**
   * Takes one throughput point (bytes per second since the last call, per
   * direction) and each running transfer's recent rate. The status server
   * calls it once per interval.
   */
  sample(): void {
    const at = this.#now();
    const last = this.#lastSample;
    // Two samples close together would turn a jump in a cached progress
    // value into a spike: keep measuring from the earlier one.
    if (last && at - last.at < MIN_SAMPLE_MS) return;
    const read = this.#totalBytes("read");
    const write = this.#totalBytes("write");
    if (last) {
      const dt = (at - last.at) / 1000;
      this.#history.push([
        at,
        Math.max(0, (read - last.read) / dt),
        Math.max(0, (write - last.write) / dt),
      ]);
    }
    this.#lastSample = { at, read, write };
    for (const a of this.#active.values()) {
      const bytes = a.maxBytes;
      if (at > a.sampleAt) {
        a.rate = Math.max(
          0,
          (bytes - a.sampleBytes) * 1000 / (at - a.sampleAt),
        );
      }
      a.sampleBytes = bytes;
      a.sampleAt = at;
    }
  }

  /**
   * Running transfers per thread: `main`, then `1` to `threads` (and any
   * other worker number seen).
   *
   * @returns Counts by thread name.
   */
  activeByThread(): Record<string, number> {
    const out: Record<string, number> = { main: 0 };
    for (let i = 1; i <= this.threads; i++) out[String(i)] = 0;
    for (const a of this.#active.values()) {
      const w = a.info.worker;
      const key = typeof w === "number" && Number.isInteger(w) && w > 0 &&
          w <= MAX_THREAD
        ? String(w)
        : "main";
      out[key] = (out[key] ?? 0) + 1;
    }
    return out;
  }

  /**
   * Counts since start; bytes include what running transfers moved so far.
   *
   * @returns Fresh records (safe to keep or change).
   */
  totals(): StatusTotals {
    const outcomes = zeros(OUTCOMES);
    for (const d of DIRECTIONS) {
      for (const o of OUTCOMES) outcomes[o] += this.#transfers[d][o];
    }
    return {
      outcomes,
      transfers: {
        read: { ...this.#transfers.read },
        write: { ...this.#transfers.write },
      },
      bytes: {
        read: this.#totalBytes("read"),
        write: this.#totalBytes("write"),
      },
      retransmits: this.#retransmits,
      refusals: { ...this.#refusals },
      errors: { ...this.#errors },
    };
  }

  /**
   * The document `/api/status` serves.
   *
   * @param options `listed`: most running transfers listed (default the
   * monitor's); `recent`: most finished ones (default all kept).
   * @returns A fresh document (JSON-serialisable).
   */
  status(options: { listed?: number; recent?: number } = {}): StatusDocument {
    const now = this.#now();
    const listed = Math.min(options.listed ?? this.#listed, this.#listed);
    const active: ActiveTransferView[] = [];
    for (const a of this.#active.values()) {
      if (active.length >= listed) break;
      active.push(this.#view(a, now));
    }
    return {
      schema: 1,
      now,
      uptimeSeconds: Math.max(0, (now - this.createdAt) / 1000),
      build: { version: this.version, deno: Deno.version.deno },
      activeCount: this.#active.size,
      active,
      threads: this.activeByThread(),
      recent: this.#recent.newestFirst(options.recent),
      totals: this.totals(),
      throughput: {
        intervalSeconds: this.#intervalSeconds(),
        points: this.#history.oldestFirst(),
      },
    };
  }

  #intervalSeconds(): number {
    const [b, a] = this.#history.newestFirst(2);
    return a && b ? Math.round(b[0] - a[0]) / 1000 : 1;
  }

  #read(a: Active): number {
    let bytes = 0;
    try {
      bytes = finite(a.live.bytes);
    } catch { /* a broken getter shows the last value */ }
    if (bytes > a.maxBytes) a.maxBytes = bytes;
    return a.maxBytes;
  }

  #totalBytes(direction: Direction): number {
    let total = this.#bytes[direction];
    for (const a of this.#active.values()) {
      if (a.info.direction === direction) total += this.#read(a);
    }
    return total;
  }

  #view(a: Active, now: number): ActiveTransferView {
    const bytes = this.#read(a);
    let options: Record<string, string> = {};
    let size: number | null = null;
    try {
      options = optionRecord(a.live.options);
      const s = a.live.size;
      if (typeof s === "number" && Number.isFinite(s) && s >= 0) size = s;
    } catch { /* shown without options */ }
    if (size === null && options.tsize !== undefined) {
      const t = Number(options.tsize);
      if (Number.isFinite(t) && t > 0) size = t;
    }
    const elapsed = Math.max(0, (now - a.startedAt) / 1000);
    const percent = size === null
      ? null
      : size === 0
      ? 100
      : Math.min(100, bytes * 100 / size);
    return {
      id: a.id,
      peer: a.info.peer,
      file: a.info.filename,
      direction: a.info.direction,
      mode: a.info.mode,
      options,
      bytes,
      size,
      percent,
      rate: a.rate ?? (elapsed > 0 ? bytes / elapsed : 0),
      startedAt: a.startedAt,
      elapsedSeconds: elapsed,
      worker: typeof a.info.worker === "number" ? a.info.worker : null,
    };
  }
}
