/**
 * The benchmark scenarios of issue 5, in a full and a quick (CI smoke) size.
 *
 * @module
 */

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * The small-buffer receiver of bench/loadgen.c (`--rx-*` flags): a queue of
 * `queue` packets in front of a receiver that takes `serviceUs` per packet
 * (default: the packet's time on a `linkMbps` Ethernet link); a DATA that
 * arrives while the queue is full is dropped.
 */
export interface RxModel {
  /** K: packets the receive queue holds. */
  queue: number;
  /** S: microseconds to process one packet; omitted: wire time at linkMbps. */
  serviceUs?: number;
  /** Link speed that sets the default S. @default 100 */
  linkMbps: number;
  /** The receiver's timeout: then it ACKs the last block it got in order. */
  timeoutMs: number;
  /** ACK the last in-order block on a gap (RFC mode; default: ignore). */
  gapAck: boolean;
  /** `rfc` (RFC 7440 windows counted from the last ACK) or `uboot`. */
  mode: "rfc" | "uboot";
  /**
   * The first DATA that finds the queue full stops the receiver for good
   * (U-Boot 2023.01's virtio-net driver, 32 buffers).
   */
  wedge?: boolean;
}

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
  /** The receiver is the small-buffer model (C load generator only). */
  rx?: RxModel;
  /** A transfer still running this long after its request fails. */
  capMs?: number;
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
    // Windows at 1% random loss: what telling a burst dropper from random
    // loss costs (src/protocol/pacing.ts); the client ACKs a gap at once.
    ...[64, 16].map((windowsize) => ({
      id: `e-loss-w${windowsize}`,
      group: "e",
      kind: "rrq" as const,
      file: `f${small / MiB}m.bin`,
      size: small,
      count: 1,
      concurrency: 1,
      blksize: 1468,
      windowsize,
      loss: 0.01,
      seed: 42,
      repeat: rep,
    })),
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
  list.push(...smallBufferFamily(q));
  return list.map((s) => ({ ...s, label: label(s) }));
}

/** Group of the small-buffer scenarios. */
export const SMALL_BUFFER_GROUP = "h";

/** Receive queue sizes (K) of the small-buffer family. */
export const SMALL_BUFFER_KS = [4, 8, 16, 32];

/** Fixed windowsizes tried at each K, besides the requested 64. */
export const FIXED_WINDOWSIZES = [1, 2, 4, 8, 16, 32];

/**
 * Id of a small-buffer scenario.
 *
 * @param k Receive queue size.
 * @param ws Requested windowsize (1: no option).
 * @returns The id, e.g. `h-k16-w64`.
 */
export function smallBufferId(k: number, ws: number): string {
  return `${SMALL_BUFFER_GROUP}-k${k}-w${ws}`;
}

/**
 * A 4 MiB read into a receiver that holds K packets (RFC 7440 receiver,
 * 100 Mb/s processing, 1 s timeout), with windowsize 64 requested and, for
 * the comparison, every fixed windowsize; plus one U-Boot-like receiver.
 * Each transfer is capped, so a server that pays the receiver's timeout on
 * every window shows as a failure rather than taking minutes.
 */
function smallBufferFamily(quick: boolean): Omit<Scenario, "label">[] {
  const ks = quick ? [16] : SMALL_BUFFER_KS;
  const wss = quick ? [1, 16, 64] : [...FIXED_WINDOWSIZES, 64];
  const capMs = quick ? 3000 : 5000;
  const out: Omit<Scenario, "label">[] = [];
  for (const k of ks) {
    for (const ws of wss) {
      out.push({
        id: smallBufferId(k, ws),
        group: SMALL_BUFFER_GROUP,
        kind: "rrq",
        file: "f4m.bin",
        size: 4 * MiB,
        count: 1,
        concurrency: 1,
        blksize: 1468,
        // Windowsize 1 is lock-step: asked without the option, so servers
        // without windowsize (tftpd-hpa) run it too.
        windowsize: ws > 1 ? ws : undefined,
        rx: {
          queue: k,
          linkMbps: 100,
          timeoutMs: 1000,
          gapAck: false,
          mode: "rfc",
        },
        capMs,
        repeat: 1,
      });
    }
  }
  // U-Boot on virtio-net: one burst that fills its 32 buffers ends the
  // transfer (it only ACKs on its 5 s timer until it gives up).
  out.push({
    id: `${SMALL_BUFFER_GROUP}-uboot-virtio-k32-w64`,
    group: SMALL_BUFFER_GROUP,
    kind: "rrq",
    file: "f4m.bin",
    size: 4 * MiB,
    count: 1,
    concurrency: 1,
    blksize: 1468,
    windowsize: 64,
    timeout: 5,
    rx: {
      queue: 32,
      linkMbps: 100,
      timeoutMs: 5000,
      gapAck: false,
      mode: "uboot",
      wedge: true,
    },
    capMs: 12000,
    repeat: 1,
  });
  if (!quick) {
    out.push({
      id: `${SMALL_BUFFER_GROUP}-uboot-k32-w64`,
      group: SMALL_BUFFER_GROUP,
      kind: "rrq",
      file: "f4m.bin",
      size: 4 * MiB,
      count: 1,
      concurrency: 1,
      blksize: 1468,
      windowsize: 64,
      // U-Boot's default timeout is 5 s (and it sends the timeout option).
      timeout: 5,
      rx: {
        queue: 32,
        linkMbps: 100,
        timeoutMs: 5000,
        gapAck: false,
        mode: "uboot",
      },
      capMs: 12000,
      repeat: 1,
    });
  }
  return out;
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
  if (s.rx) {
    parts.push(
      `${
        s.rx.mode === "uboot" ? "U-Boot-like" : "RFC 7440"
      } receiver holding ${s.rx.queue} packets${
        s.rx.wedge ? " that stops when they overflow" : ""
      }`,
    );
  }
  if (s.capMs) parts.push(`cap ${s.capMs / 1000} s`);
  return parts.join(", ");
}
