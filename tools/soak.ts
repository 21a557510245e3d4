/**
 * A bounded soak on loopback: hundreds of concurrent reads and writes
 * against an in-process server, with junk traffic at its listen and
 * transfer ports. Reports transfers, failures, peak RSS and open file
 * descriptors before and after (from `/proc/self/fd`).
 *
 * ```sh
 * deno run --allow-net --allow-read --allow-write --allow-env \
 *   tools/soak.ts --minutes 5 --concurrency 200
 * ```
 *
 * Exits 1 when a transfer failed, a descriptor leaked or memory kept
 * growing. `tests/hardening/soak_test.ts` runs a short version.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { createHash } from "node:crypto";
import { Logger } from "../src/log.ts";
import { junkSocket, PortRecordingServer } from "./fuzz_server.ts";
import { makeJunk } from "./junk.ts";
import { Rng } from "../testing/rng.ts";
import type { SoakJob, SoakResult } from "./soak_client_worker.ts";

/** Options of {@linkcode runSoak}. */
export interface SoakOptions {
  /** Run this long (ms); the default unless `transfers` is set: 60000. */
  durationMs?: number;
  /** Stop after this many transfers instead. */
  transfers?: number;
  /** Clients at once (default 200), spread over the client threads. */
  concurrency?: number;
  /** Client threads (workers; default 4). The server has the main thread. */
  workers?: number;
  /** Client retransmit interval in ms (default 300). */
  retransmitMs?: number;
  /** Junk datagrams per second (default 500; 0 for none). */
  junkPerSecond?: number;
  /** Seed (default 1). */
  seed?: number;
  /** Server retransmit interval in seconds (default 0.5). */
  ackTimeout?: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

/** What a soak saw. */
export interface SoakReport {
  /** Transfers run (reads + writes). */
  transfers: number;
  /** Downloads. */
  reads: number;
  /** Uploads. */
  writes: number;
  /** Payload bytes moved. */
  bytes: number;
  /** Transfers that failed or came back wrong. */
  failures: number;
  /** The first few failures. */
  failureSamples: string[];
  /** Junk datagrams sent. */
  junk: number;
  /** ERROR-level server log lines. */
  serverErrors: string[];
  /** Transfers the server still had open when the clients were done. */
  activeAtEnd: number;
  /** RSS in MiB: at start, after warm-up, peak, at the end. */
  rssMb: { start: number; warm: number; peak: number; end: number };
  /** Open descriptors before the run and after everything closed (-1: unknown). */
  fds: { before: number; after: number };
  /** Descriptors open after the run that were not before, with targets. */
  fdsAdded: string[];
  /** Wall time in ms. */
  durationMs: number;
}

const MiB = 1024 * 1024;

/**
 * Counts this process's open file descriptors.
 *
 * @returns The count, or -1 where `/proc/self/fd` does not exist.
 */
export function openFds(): number {
  try {
    let n = 0;
    for (const _ of Deno.readDirSync("/proc/self/fd")) n++;
    return n;
  } catch {
    return -1;
  }
}

/**
 * What each open descriptor of this process points at (`socket:[..]`, a
 * path, `anon_inode:[eventpoll]` ...), by descriptor number.
 *
 * @returns Descriptor -> target; empty where `/proc/self/fd` does not exist.
 */
export function fdTargets(): Map<string, string> {
  const m = new Map<string, string>();
  let kinds: Map<string, string> | undefined;
  try {
    for (const e of Deno.readDirSync("/proc/self/fd")) {
      try {
        let t = Deno.readLinkSync(`/proc/self/fd/${e.name}`);
        const ino = /^socket:\[(\d+)\]$/.exec(t)?.[1];
        if (ino) {
          kinds ??= socketKinds();
          t += ` (${kinds.get(ino) ?? "other"})`;
        }
        m.set(e.name, t);
      } catch { /* closed meanwhile */ }
    }
  } catch { /* not Linux */ }
  return m;
}

/** Socket inode -> kind (udp, tcp, unix ...), from /proc/self/net. */
function socketKinds(): Map<string, string> {
  const m = new Map<string, string>();
  for (const kind of ["udp", "udp6", "tcp", "tcp6", "unix"]) {
    let text = "";
    try {
      text = Deno.readTextFileSync(`/proc/self/net/${kind}`);
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      // The inode is column 10 for udp/tcp, column 7 for unix.
      const ino = kind === "unix" ? cols[6] : cols[9];
      if (ino) m.set(ino, kind);
    }
  }
  return m;
}

function sha(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * Runs the soak.
 *
 * @param opts Duration or count, load and seed.
 * @returns The report (check it with {@linkcode soakProblems}).
 */
export async function runSoak(opts: SoakOptions = {}): Promise<SoakReport> {
  const started = performance.now();
  const seed = opts.seed ?? 1;
  const log = opts.log ?? (() => {});
  const fdsBefore = openFds();
  const targetsBefore = fdTargets();
  const rssStart = Deno.memoryUsage().rss;
  const rng = new Rng(seed);
  const root = await Deno.realPath(
    await Deno.makeTempDir({ prefix: "tftpd-soak-" }),
  );
  const files: Record<string, { data: Uint8Array; sha: string }> = {};
  for (const size of [0, 1, 511, 512, 513, 4096, 65536, 300_000, 1_000_000]) {
    const data = rng.bytes(size);
    files[`f${size}.bin`] = { data, sha: sha(data) };
    await Deno.writeFile(`${root}/f${size}.bin`, data);
  }
  const names = Object.keys(files);
  const serverErrors: string[] = [];
  const concurrency = opts.concurrency ?? 200;
  const server = new PortRecordingServer({
    host: "127.0.0.1",
    port: 0,
    root,
    ackTimeout: opts.ackTimeout ?? 0.5,
    // Finished uploads lingering to re-ACK count against the limit too.
    maxSessionsPerClient: concurrency * 4,
    logger: new Logger({
      stderr: false,
      sink: (line, level) => {
        if (level === "error" && serverErrors.length < 100) {
          serverErrors.push(line);
        }
      },
    }),
  });
  await server.listen();
  const port = server.addr.port;

  const deadline = opts.transfers === undefined
    ? Date.now() + (opts.durationMs ?? 60_000)
    : Infinity;
  const limit = opts.transfers ?? 2 ** 31 - 1;
  const counter = new Int32Array(new SharedArrayBuffer(4));
  const nWorkers = Math.max(1, Math.min(opts.workers ?? 4, concurrency));
  const progress: SoakResult[] = [];
  const sum = (k: "reads" | "writes" | "bytes" | "failures") =>
    progress.reduce((n, r) => n + (r?.[k] ?? 0), 0);
  const clients = Array.from({ length: nWorkers }, (_, w) => {
    const worker = new Worker(
      new URL("./soak_client_worker.ts", import.meta.url).href,
      { type: "module" },
    );
    const job: SoakJob = {
      port,
      root,
      files: Object.fromEntries(names.map((n) => [n, files[n].sha])),
      seed,
      concurrency: Math.ceil(concurrency / nWorkers),
      deadline,
      limit,
      counter,
      retransmitMs: opts.retransmitMs ?? 300,
    };
    return new Promise<SoakResult>((resolve, reject) => {
      worker.onmessage = (e) => {
        if (e.data.progress) progress[w] = e.data.progress;
        else {
          progress[w] = e.data.result;
          worker.terminate();
          resolve(e.data.result);
        }
      };
      worker.onerror = (e) => {
        e.preventDefault();
        worker.terminate();
        reject(new Error(`soak client worker: ${e.message}`));
      };
      worker.postMessage(job);
    });
  });

  let junk = 0;
  let junkDone = false;
  const junkRate = opts.junkPerSecond ?? 500;
  const junkSenders = junkRate > 0
    ? Array.from({ length: 8 }, (_, i) => junkSocket(i))
    : [];
  const junkReaders = junkSenders.map(async (s) => {
    const buf = new Uint8Array(65536);
    for (;;) {
      try {
        await s.receive(buf);
      } catch {
        return;
      }
    }
  });
  const junkLoop = async () => {
    if (junkRate <= 0) return;
    const jr = rng.fork("junk");
    const t0 = performance.now();
    while (!junkDone) {
      // Keep to the rate: catch up in small bursts, then wait a tick.
      const due = ((performance.now() - t0) / 1000) * junkRate;
      while (junk < due && !junkDone) {
        const toTransfer = server.ports.length > 0 && jr.chance(0.4);
        const dest = toTransfer
          ? server
            .ports[
              server.ports.length - 1 -
              jr.int(Math.min(server.ports.length, 32))
            ]
          : port;
        const d = makeJunk(jr, { existing: names, transferPort: toTransfer });
        await jr.pick(junkSenders).send(d, {
          transport: "udp",
          hostname: "127.0.0.1",
          port: dest,
        }).catch(() => {});
        junk++;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  let rssWarm = 0;
  let rssPeak = rssStart;
  let lastReport = performance.now();
  const startedAt = Date.now();
  const sampler = setInterval(() => {
    const rss = Deno.memoryUsage().rss;
    rssPeak = Math.max(rssPeak, rss);
    const done = sum("reads") + sum("writes") + sum("failures");
    const warmAt = opts.transfers !== undefined
      ? done >= limit / 5
      : Date.now() - startedAt >= (deadline - startedAt) / 5;
    if (rssWarm === 0 && warmAt) rssWarm = rss;
    if (performance.now() - lastReport >= 10_000) {
      lastReport = performance.now();
      log(
        `${done} transfers, ${sum("failures")} failed, ${junk} junk, ` +
          `rss ${Math.round(rss / MiB)} MiB, ${openFds()} fds, ` +
          `${server.activeSessions} active`,
      );
    }
  }, 100);

  const junkRun = junkLoop();
  let results: SoakResult[];
  try {
    results = await Promise.all(clients);
  } finally {
    junkDone = true;
    await junkRun;
  }
  const activeAtEnd = server.activeSessions;
  clearInterval(sampler);
  const rssEnd = Deno.memoryUsage().rss;
  if (rssWarm === 0) rssWarm = rssEnd;
  for (const s of junkSenders) {
    try {
      s.close();
    } catch { /* closed */ }
  }
  await Promise.all(junkReaders);
  await server.close();
  await Deno.remove(root, { recursive: true });
  const total = (k: "reads" | "writes" | "bytes" | "failures") =>
    results.reduce((n, r) => n + r[k], 0);
  return {
    transfers: total("reads") + total("writes") + total("failures"),
    reads: total("reads"),
    writes: total("writes"),
    bytes: total("bytes"),
    failures: total("failures"),
    failureSamples: results.flatMap((r) => r.failureSamples).slice(0, 20),
    junk,
    serverErrors,
    activeAtEnd,
    rssMb: {
      start: Math.round(rssStart / MiB),
      warm: Math.round(rssWarm / MiB),
      peak: Math.round(rssPeak / MiB),
      end: Math.round(rssEnd / MiB),
    },
    fds: { before: fdsBefore, after: openFds() },
    fdsAdded: [...fdTargets()].filter(([fd, t]) => targetsBefore.get(fd) !== t)
      .map(([fd, t]) => `${fd} -> ${t}`),
    durationMs: Math.round(performance.now() - started),
  };
}

/**
 * The checks a soak must pass, as a list of problems (empty: all good).
 *
 * @param r A report.
 * @param opts `fdSlack`: descriptors allowed to stay open (default 4);
 * `maxRssGrowthMb`: growth allowed from warm-up to the end (default 150).
 * @returns Problems.
 */
export function soakProblems(
  r: SoakReport,
  opts: { fdSlack?: number; maxRssGrowthMb?: number } = {},
): string[] {
  const p: string[] = [];
  if (r.failures > 0) {
    p.push(`${r.failures} transfers failed: ${r.failureSamples.join("; ")}`);
  }
  for (const e of r.serverErrors) p.push(`server error: ${e}`);
  if (r.fds.before >= 0 && r.fds.after > r.fds.before + (opts.fdSlack ?? 4)) {
    p.push(`descriptors leaked: ${r.fds.before} before, ${r.fds.after} after`);
  }
  // UDP/TCP sockets and files must all be closed; the runtime may keep a
  // few internal descriptors (event loops, unix socket pairs), within slack.
  for (const f of r.fdsAdded) {
    const target = f.split(" -> ")[1] ?? "";
    if (/\((udp|tcp)6?\)$/.test(target) || target.startsWith("/")) {
      p.push(`descriptor left open: ${f}`);
    }
  }
  const growth = r.rssMb.end - r.rssMb.warm;
  if (growth > (opts.maxRssGrowthMb ?? 150)) {
    p.push(`RSS grew ${growth} MiB after warm-up`);
  }
  return p;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      minutes: { type: "string", default: "1" },
      concurrency: { type: "string", default: "200" },
      workers: { type: "string", default: "4" },
      junk: { type: "string", default: "500" },
      seed: { type: "string", default: "1" },
    },
  });
  const report = await runSoak({
    durationMs: Number(values.minutes) * 60_000,
    concurrency: Number(values.concurrency),
    workers: Number(values.workers),
    junkPerSecond: Number(values.junk),
    seed: Number(values.seed),
    log: (line) => console.error(line),
  });
  console.log(JSON.stringify(report, null, 2));
  const problems = soakProblems(report);
  for (const p of problems) console.error(`PROBLEM: ${p}`);
  console.error(problems.length === 0 ? "soak: ok" : "soak: FAILED");
  Deno.exit(problems.length === 0 ? 0 : 1);
}
