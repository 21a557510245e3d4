/**
 * The benchmark scenarios of issue 5, in a full and a quick (CI smoke) size.
 *
 * @module
 */

const KiB = 1024;
const MiB = 1024 * KiB;

/** One load to put on each server. */
export interface Scenario {
  /** Stable id (used in results.json). */
  id: string;
  /** The letter for it (a..g, or "scale"). */
  group: string;
  /** Human label for tables. */
  label: string;
  /** Download or upload. */
  kind: "rrq" | "wrq";
  /** File served (RRQ) or uploaded (WRQ), in the bench root. */
  file: string;
  /** Its size. */
  size: number;
  /** Transfers in all. */
  count: number;
  /** Transfers in flight at once. */
  concurrency: number;
  /** Requested blksize. */
  blksize?: number;
  /** Requested windowsize (servers that do not grant it are n/a). */
  windowsize?: number;
  /** Ask for / announce tsize. */
  tsize?: boolean;
  /** Timeout option in seconds. */
  timeout?: number;
  /** Fraction of received DATA the client drops. */
  loss?: number;
  /** Seed of the drops. */
  seed?: number;
  /**
   * Each in-flight slot sends from its own loopback address (127.1.0.1 +
   * slot), like that many machines; otherwise all from 127.0.0.1.
   */
  spread?: boolean;
  /** Runs per server (the median by MB/s is reported). */
  repeat: number;
}

function sizeText(n: number): string {
  return n >= MiB ? `${n / MiB} MiB` : `${n / KiB} KiB`;
}

/**
 * The scenario list.
 *
 * @param quick Smaller sizes and fewer transfers (under 2 minutes in all).
 * @returns Scenarios in run order.
 */
export function scenarios(quick: boolean): Scenario[] {
  const q = quick;
  const big = q ? 16 * MiB : 100 * MiB;
  const small = q ? 4 * MiB : 32 * MiB;
  const roll = q ? 33 * MiB : 40 * MiB;
  const up = q ? 8 * MiB : 32 * MiB;
  const rep = q ? 1 : 3;
  const list: Omit<Scenario, "label">[] = [
    {
      id: "a-rrq-512",
      group: "a",
      kind: "rrq",
      file: `f${small / MiB}m.bin`,
      size: small,
      count: 1,
      concurrency: 1,
      blksize: 512,
      repeat: rep,
    },
    {
      id: "b-rrq-1468",
      group: "b",
      kind: "rrq",
      file: `f${big / MiB}m.bin`,
      size: big,
      count: 1,
      concurrency: 1,
      blksize: 1468,
      repeat: rep,
    },
    {
      id: "b-rrq-8192",
      group: "b",
      kind: "rrq",
      file: `f${big / MiB}m.bin`,
      size: big,
      count: 1,
      concurrency: 1,
      blksize: 8192,
      repeat: rep,
    },
    {
      id: "c-rrq-1468-w16",
      group: "c",
      kind: "rrq",
      file: `f${big / MiB}m.bin`,
      size: big,
      count: 1,
      concurrency: 1,
      blksize: 1468,
      windowsize: 16,
      repeat: rep,
    },
    {
      id: "c-rrq-1468-w64",
      group: "c",
      kind: "rrq",
      file: `f${big / MiB}m.bin`,
      size: big,
      count: 1,
      concurrency: 1,
      blksize: 1468,
      windowsize: 64,
      repeat: rep,
    },
    {
      id: "d-storm-64",
      group: "d",
      kind: "rrq",
      file: "f1m.bin",
      size: MiB,
      count: q ? 128 : 640,
      concurrency: 64,
      blksize: 1468,
      tsize: true,
      spread: true,
      repeat: 1,
    },
    {
      id: "d-storm-64-1ip",
      group: "d",
      kind: "rrq",
      file: "f1m.bin",
      size: MiB,
      count: q ? 128 : 640,
      concurrency: 64,
      blksize: 1468,
      tsize: true,
      repeat: 1,
    },
    {
      id: "d-scale-1000",
      group: "scale",
      kind: "rrq",
      file: q ? "f64k.bin" : "f1m.bin",
      size: q ? 64 * KiB : MiB,
      count: 1000,
      concurrency: 1000,
      blksize: 1468,
      tsize: true,
      spread: true,
      repeat: 1,
    },
    {
      id: "e-loss",
      group: "e",
      kind: "rrq",
      file: q ? "f256k.bin" : "f1m.bin",
      size: q ? 256 * KiB : MiB,
      count: 20,
      concurrency: 20,
      blksize: 1468,
      loss: 0.01,
      seed: 42,
      repeat: 1,
    },
    {
      id: "e-loss-timeout1",
      group: "e",
      kind: "rrq",
      file: q ? "f256k.bin" : "f1m.bin",
      size: q ? 256 * KiB : MiB,
      count: 20,
      concurrency: 20,
      blksize: 1468,
      timeout: 1,
      loss: 0.01,
      seed: 42,
      repeat: 1,
    },
    {
      id: "f-wrq-1468",
      group: "f",
      kind: "wrq",
      file: `f${up / MiB}m.bin`,
      size: up,
      count: 1,
      concurrency: 1,
      blksize: 1468,
      repeat: rep,
    },
    {
      id: "f-wrq-1468-w16",
      group: "f",
      kind: "wrq",
      file: `f${up / MiB}m.bin`,
      size: up,
      count: 1,
      concurrency: 1,
      blksize: 1468,
      windowsize: 16,
      repeat: rep,
    },
    {
      id: "g-rrq-512-rollover",
      group: "g",
      kind: "rrq",
      file: `f${roll / MiB}m.bin`,
      size: roll,
      count: 1,
      concurrency: 1,
      blksize: 512,
      repeat: rep,
    },
  ];
  return list.map((s) => ({ ...s, label: label(s) }));
}

function label(s: Omit<Scenario, "label">): string {
  const parts = [
    s.kind.toUpperCase(),
    s.count > 1 ? `${s.count} x ${sizeText(s.size)}` : sizeText(s.size),
  ];
  if (s.concurrency > 1) {
    parts.push(
      `${s.concurrency} at once from ${s.spread ? "as many" : "one"} address${
        s.spread ? "es" : ""
      }`,
    );
  }
  if (s.blksize) parts.push(`blksize ${s.blksize}`);
  if (s.windowsize) parts.push(`windowsize ${s.windowsize}`);
  if (s.tsize) parts.push("tsize");
  if (s.timeout) parts.push(`timeout ${s.timeout}`);
  if (s.loss) parts.push(`${s.loss * 100}% loss`);
  return parts.join(", ");
}
