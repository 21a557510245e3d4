/**
 * Shared parts of the metrics tests: synthetic transfers for a
 * {@linkcode TransferMonitor}, hostile file names, a settable clock,
 * reading event streams, and finding the external programs (promtool,
 * prometheus, chromium), which must be there under CI and are skipped with a
 * message otherwise.
 *
 * @module
 */

import type { TransferStats } from "../../src/server/session.ts";
import type { LiveSource, TransferInfo } from "../../src/metrics/types.ts";
import type { TransferMonitor } from "../../src/metrics/monitor.ts";
import type { EventHub, EventOpenOptions } from "../../src/metrics/sse.ts";

/** Whether `CI` is set (then a missing program fails its test). */
export const IN_CI = (() => {
  const v = Deno.env.get("CI");
  return v !== undefined && v !== "" && v !== "0" && v !== "false";
})();

/**
 * Finds an executable on PATH (or in /usr/sbin, /sbin).
 *
 * @param name Program name.
 * @returns Its path, or undefined.
 */
export function findProgram(name: string): string | undefined {
  const dirs = (Deno.env.get("PATH") ?? "").split(":").concat([
    "/usr/sbin",
    "/sbin",
  ]);
  for (const dir of dirs) {
    if (!dir) continue;
    try {
      const st = Deno.statSync(`${dir}/${name}`);
      if (st.isFile && ((st.mode ?? 0) & 0o111) !== 0) return `${dir}/${name}`;
    } catch { /* not here */ }
  }
  return undefined;
}

/**
 * Looks a program up for a test file: when missing outside CI, says so and
 * tells the caller to ignore its tests; under CI the tests run and fail.
 *
 * @param name Program name.
 * @param pkg The Debian package that ships it.
 * @returns The path (or the bare name under CI) and whether to ignore.
 */
export function requireProgram(
  name: string,
  pkg: string,
): { path: string; ignore: boolean } {
  const path = findProgram(name);
  if (path) return { path, ignore: false };
  if (!IN_CI) {
    console.error(`${name} not installed (apt-get install ${pkg}): ignored`);
  }
  return { path: name, ignore: !IN_CI };
}

/** File names built to break out of markup, attributes and scripts. */
export const HOSTILE_NAMES = [
  `<img src=x onerror="window.__pwned=1;fetch('/pwned-img')">`,
  `"'><script>window.__pwned=2</script></script><b>bold</b>`,
  `</td></tr></table><svg onload="window.__pwned=3">`,
];

/** A clock tests move by hand (ms since the epoch). */
export class ManualClock {
  /** Current time. */
  t: number;

  /** @param start Initial time. */
  constructor(start = Date.UTC(2026, 0, 1, 12, 0, 0)) {
    this.t = start;
  }

  /** The current time (pass as `now: clock.now`). */
  now = (): number => this.t;

  /**
   * Moves time forward.
   *
   * @param ms Milliseconds.
   */
  advance(ms: number): void {
    this.t += ms;
  }
}

/**
 * What a transfer is known by at admission.
 *
 * @param filename File name.
 * @param over Fields to change.
 * @returns Transfer info.
 */
export function info(
  filename: string,
  over: Partial<TransferInfo> = {},
): TransferInfo {
  return {
    peer: "192.0.2.10:3001",
    filename,
    direction: "read",
    mode: "octet",
    ...over,
  };
}

/**
 * The stats a finished transfer reports.
 *
 * @param filename File name.
 * @param over Fields to change.
 * @returns Stats.
 */
export function stats(
  filename: string,
  over: Partial<TransferStats> = {},
): TransferStats {
  return {
    peer: "192.0.2.10:3001",
    filename,
    direction: "read",
    mode: "octet",
    options: { blksize: "1468" },
    bytes: 4096,
    durationMs: 250,
    retransmits: 0,
    outcome: "ok",
    ...over,
  };
}

/** A live source whose fields a test sets. */
export interface MutableLive extends LiveSource {
  bytes: number;
  options?: Record<string, string>;
  size?: number;
}

/**
 * Runs one whole synthetic transfer through the monitor.
 *
 * @param monitor The monitor.
 * @param filename File name.
 * @param over Stats fields to change (direction and peer apply to the start
 * too).
 * @returns The monitor's id of the transfer.
 */
export function transfer(
  monitor: TransferMonitor,
  filename: string,
  over: Partial<TransferStats> = {},
): number {
  const id = monitor.started(
    info(filename, {
      ...(over.direction ? { direction: over.direction } : {}),
      ...(over.peer ? { peer: over.peer } : {}),
      ...(over.worker ? { worker: over.worker } : {}),
    }),
    { bytes: 0 },
  );
  monitor.ended(id, stats(filename, over));
  return id;
}

/** Reads server-sent events from a response body, one at a time. */
export class EventReader {
  #reader: ReadableStreamDefaultReader<string>;
  #buf = "";

  /** @param body A response body. */
  constructor(body: ReadableStream<Uint8Array>) {
    this.#reader = body.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** The next event with data (name and data), skipping `retry:` frames. */
  async next(): Promise<{ event: string; data: string }> {
    for (;;) {
      const end = this.#buf.indexOf("\n\n");
      if (end >= 0) {
        const frame = this.#buf.slice(0, end);
        this.#buf = this.#buf.slice(end + 2);
        const fields = Object.fromEntries(
          frame.split("\n").map((
            l,
          ) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 2)]),
        );
        if (fields.data !== undefined) {
          return { event: fields.event, data: fields.data };
        }
        continue;
      }
      const { value, done } = await this.#reader.read();
      if (done) throw new Error("event stream ended");
      this.#buf += value;
    }
  }

  /** Stops reading (the server sees the client gone). */
  async cancel(): Promise<void> {
    await this.#reader.cancel();
  }
}

/**
 * Opens a hub stream that must be granted.
 *
 * @param hub The hub.
 * @param options Who asks.
 * @returns The stream.
 */
export function openStream(
  hub: EventHub,
  options: EventOpenOptions = {},
): ReadableStream<Uint8Array> {
  const stream = hub.open(undefined, options);
  if (typeof stream === "string") throw new Error(`refused: ${stream}`);
  return stream;
}
