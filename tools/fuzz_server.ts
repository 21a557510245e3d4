/**
 * Fuzzes a running in-process server: junk datagrams (random, truncated,
 * wrong opcodes, bad options, huge and hostile names) at the listen port
 * and at live transfer ports, mixed with real transfers that must all
 * complete intact. Reports what it saw; {@linkcode fuzzServer} is also what
 * `tests/hardening/fuzz_server_test.ts` runs, with fewer datagrams.
 *
 * ```sh
 * deno run --allow-net --allow-read --allow-write --allow-env \
 *   tools/fuzz_server.ts --datagrams 100000 --seed 1
 * ```
 *
 * Loopback only. Exits 1 when a check fails.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { createHash } from "node:crypto";
import { type ServerOptions, TftpServer } from "../src/server/server.ts";
import type { Transport } from "../src/transport/types.ts";
import { Logger } from "../src/log.ts";
import { tftpGet, tftpPut } from "../src/client/client.ts";
import { makeJunk } from "./junk.ts";
import { mixSeed, Rng } from "../testing/rng.ts";

/** Options of {@linkcode fuzzServer}. */
export interface FuzzServerOptions {
  /** Junk datagrams to send (default 100000). */
  datagrams?: number;
  /** Seed (default 1). */
  seed?: number;
  /** Sockets sending junk (default 16). */
  senders?: number;
  /** Real transfers to run alongside (default 200). */
  realTransfers?: number;
  /** Real transfers at once (default 8). */
  concurrency?: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

/** What a fuzz run found. */
export interface FuzzServerReport {
  /** The seed. */
  seed: number;
  /** Junk datagrams sent. */
  datagrams: number;
  /** Of which to transfer ports. */
  toTransferPorts: number;
  /** Datagrams the junk sockets got back. */
  replies: number;
  /** Transfers the junk started (ended by the server). */
  junkTransfers: number;
  /** Real transfers run. */
  realTransfers: number;
  /** Real transfers that failed or came back wrong (with why). */
  realFailures: string[];
  /** ERROR-level server log lines (internal failures). */
  serverErrors: string[];
  /** Entries that appeared or changed outside the root. */
  outsideChanges: string[];
  /** Seed files whose content changed. */
  seedFilesChanged: string[];
  /** Files the junk managed to upload (inside the root, by design). */
  junkUploads: string[];
  /** Temporary upload files left after the server closed. */
  tempFilesLeft: string[];
  /** Whether a transfer after the junk still worked. */
  serverStillServes: boolean;
  /** Whether a symlink leading out of the root was still refused (ERROR 2). */
  escapeRefused: boolean;
  /** RSS after warm-up, peak and at the end, in MiB. */
  rssMb: { before: number; peak: number; after: number };
  /** Wall time in ms. */
  durationMs: number;
}

const MiB = 1024 * 1024;

function sha(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

async function listTree(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const rel = `${prefix}${e.name}`;
    if (e.isDirectory) {
      out.push(`${rel}/`);
      out.push(...await listTree(`${dir}/${e.name}`, `${rel}/`));
    } else out.push(rel);
  }
  return out.sort();
}

async function snapshot(dir: string): Promise<Map<string, string>> {
  const m = new Map<string, string>();
  for (const rel of await listTree(dir)) {
    if (rel.endsWith("/")) m.set(rel, "dir");
    else {
      const st = await Deno.lstat(`${dir}/${rel}`);
      m.set(
        rel,
        st.isSymlink ? "symlink" : sha(await Deno.readFile(`${dir}/${rel}`)),
      );
    }
  }
  return m;
}

function diff(a: Map<string, string>, b: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [k, v] of b) {
    if (!a.has(k)) out.push(`appeared: ${k}`);
    else if (a.get(k) !== v) out.push(`changed: ${k}`);
  }
  for (const k of a.keys()) if (!b.has(k)) out.push(`vanished: ${k}`);
  return out;
}

/** A server that remembers the ports of its latest transfer sockets. */
export class PortRecordingServer extends TftpServer {
  /** Ports of recent transfer sockets, newest last (at most 256). */
  readonly ports: number[] = [];
  /**
   * Opens the transfer socket and records its port.
   *
   * @param peer The client.
   * @returns The socket.
   */
  override createTransport(peer: Deno.NetAddr): Transport {
    const t = super.createTransport(peer);
    this.ports.push((t.addr as Deno.NetAddr).port);
    if (this.ports.length > 256) this.ports.splice(0, 128);
    return t;
  }
}

/**
 * A socket for junk: on 127.0.0.x (x from 2 to 9) when possible, so junk
 * comes from other client IPs than real transfers.
 *
 * @param i Which one (picks x).
 * @returns The socket.
 */
export function junkSocket(i: number): Deno.DatagramConn {
  try {
    return Deno.listenDatagram({
      transport: "udp",
      hostname: `127.0.0.${2 + (i % 8)}`,
      port: 0,
    });
  } catch {
    return Deno.listenDatagram({
      transport: "udp",
      hostname: "127.0.0.1",
      port: 0,
    });
  }
}

/**
 * Runs the fuzz: starts a server on a temporary root, sends junk and real
 * transfers, checks the results, cleans up.
 *
 * @param opts Sizes and seed.
 * @returns The report (check it with {@linkcode fuzzProblems}).
 */
export async function fuzzServer(
  opts: FuzzServerOptions = {},
): Promise<FuzzServerReport> {
  const started = performance.now();
  const seed = opts.seed ?? 1;
  const total = opts.datagrams ?? 100_000;
  const log = opts.log ?? (() => {});
  const rng = new Rng(seed);
  const parent = await Deno.realPath(
    await Deno.makeTempDir({ prefix: "tftpd-fuzz-" }),
  );
  const root = `${parent}/root`;
  const outside = `${parent}/outside`;
  await Deno.mkdir(`${root}/sub`, { recursive: true });
  await Deno.mkdir(outside);
  await Deno.writeTextFile(`${outside}/secret.txt`, "OUTSIDE SECRET\n");
  await Deno.symlink(`${outside}/secret.txt`, `${root}/escape-link`);
  const seedFiles: Record<string, Uint8Array> = {};
  for (
    const [name, size] of [
      ["empty.bin", 0],
      ["small.txt", 100],
      ["block.bin", 512],
      ["big.bin", 300_000],
      ["sub/nested.bin", 70_000],
    ] as const
  ) {
    seedFiles[name] = rng.bytes(size);
    await Deno.writeFile(`${root}/${name}`, seedFiles[name]);
  }
  const existing = [...Object.keys(seedFiles), "escape-link"];
  const outsideBefore = await snapshot(outside);
  const parentBefore = await listTree(parent);

  const serverErrors: string[] = [];
  let transfersEnded = 0;
  const options: ServerOptions = {
    host: "127.0.0.1",
    port: 0,
    root,
    ackTimeout: 0.2,
    minRtoMs: 0,
    timeout: 2,
    retries: 4,
    logger: new Logger({
      stderr: false,
      sink: (line, level) => {
        if (level === "error" && serverErrors.length < 100) {
          serverErrors.push(line);
        }
      },
    }),
    onTransferEnd: () => void transfersEnded++,
  };
  const server = new PortRecordingServer(options);
  await server.listen();
  const port = server.addr.port;

  const senders = Array.from(
    { length: opts.senders ?? 16 },
    (_, i) => junkSocket(i),
  );
  let replies = 0;
  let closing = false;
  const readers = senders.map(async (s) => {
    const buf = new Uint8Array(65536);
    while (!closing) {
      try {
        await s.receive(buf);
        replies++;
      } catch {
        return;
      }
    }
  });

  const realFailures: string[] = [];
  let realDone = 0;
  const realTotal = opts.realTransfers ?? 200;
  const realNames = Object.keys(seedFiles);
  const runReal = async (i: number) => {
    const r = new Rng(mixSeed(seed, "real", i));
    const common = {
      host: "127.0.0.1",
      port,
      blksize: r.chance(0.5) ? r.pick([512, 1468, 8192]) : undefined,
      windowsize: r.chance(0.5) ? r.pick([1, 4, 16]) : undefined,
      // Shorter than the server's interval: see client_livelock_test.ts.
      retransmitMs: 50,
      retries: 20,
    };
    const what = `real #${i}`;
    try {
      if (r.chance(0.6)) {
        const name = r.pick(realNames);
        const chunks: Uint8Array[] = [];
        await tftpGet(name, {
          ...common,
          sink: { write: (d) => void chunks.push(d.slice()) },
        });
        const got = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
        let off = 0;
        for (const c of chunks) {
          got.set(c, off);
          off += c.length;
        }
        if (sha(got) !== sha(seedFiles[name])) {
          realFailures.push(`${what}: get ${name} returned other bytes`);
        }
      } else {
        const name = `real-upload-${i}.bin`;
        const data = r.bytes(r.int(100_000));
        await tftpPut(name, { ...common, data });
        const onDisk = await Deno.readFile(`${root}/${name}`);
        if (sha(onDisk) !== sha(data)) {
          realFailures.push(`${what}: put ${name} stored other bytes`);
        }
        await Deno.remove(`${root}/${name}`);
      }
    } catch (err) {
      realFailures.push(`${what}: ${err}`);
    }
    realDone++;
  };

  const rssBefore = Deno.memoryUsage().rss;
  let rssPeak = rssBefore;
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, Deno.memoryUsage().rss);
  }, 200);

  let toTransferPorts = 0;
  const junkLoop = async () => {
    for (let i = 0; i < total; i++) {
      const useTransfer = server.ports.length > 0 && rng.chance(0.4);
      const dest = useTransfer
        ? server.ports[
          server.ports.length - 1 - rng.int(
            Math.min(server.ports.length, 32),
          )
        ]
        : port;
      if (useTransfer) toTransferPorts++;
      const d = makeJunk(rng, { existing, transferPort: useTransfer });
      const s = senders[rng.int(senders.length)];
      await s.send(d, { transport: "udp", hostname: "127.0.0.1", port: dest })
        .catch(() => {});
      if (i % 32 === 31) await new Promise((r) => setTimeout(r, 0));
      if (i % 10_000 === 9_999) {
        log(`${i + 1} datagrams, ${realDone}/${realTotal} real transfers`);
      }
    }
  };
  const realLoop = async () => {
    let next = 0;
    const worker = async () => {
      while (next < realTotal) await runReal(next++);
    };
    await Promise.all(
      Array.from({ length: opts.concurrency ?? 8 }, worker),
    );
  };
  await Promise.all([junkLoop(), realLoop()]);

  // The server still serves after all that.
  let serverStillServes = false;
  try {
    let n = 0;
    await tftpGet("big.bin", {
      host: "127.0.0.1",
      port,
      retransmitMs: 50,
      retries: 20,
      sink: { write: (d) => void (n += d.length) },
    });
    serverStillServes = n === seedFiles["big.bin"].length;
  } catch { /* reported as false */ }
  // And still refuses the symlink that leads out of the root.
  let escapeRefused = false;
  try {
    await tftpGet("escape-link", {
      host: "127.0.0.1",
      port,
      retransmitMs: 50,
      retries: 20,
      sink: { write: () => {} },
    });
  } catch (err) {
    // Answered exactly like a missing file (ERROR 1).
    escapeRefused = (err as { code?: number }).code === 1;
  }

  clearInterval(sampler);
  const rssAfter = Deno.memoryUsage().rss;
  closing = true;
  for (const s of senders) {
    try {
      s.close();
    } catch { /* closed */ }
  }
  await Promise.all(readers);
  await server.close();

  const seedFilesChanged: string[] = [];
  for (const [name, data] of Object.entries(seedFiles)) {
    const now = await Deno.readFile(`${root}/${name}`).catch(() => undefined);
    if (!now || sha(now) !== sha(data)) seedFilesChanged.push(name);
  }
  const outsideChanges = diff(outsideBefore, await snapshot(outside));
  const parentAfter = (await listTree(parent)).filter((p) =>
    !p.startsWith("root/")
  );
  for (const p of parentAfter) {
    if (!parentBefore.includes(p)) outsideChanges.push(`appeared: ${p}`);
  }
  const rootFiles = await listTree(root);
  const tempFilesLeft = rootFiles.filter((p) => p.includes(".tftp-upload-"));
  const junkUploads = rootFiles.filter((p) =>
    !p.endsWith("/") && !p.includes(".tftp-upload-") &&
    !(p in seedFiles) && p !== "escape-link"
  );
  await Deno.remove(parent, { recursive: true });
  return {
    seed,
    datagrams: total,
    toTransferPorts,
    replies,
    junkTransfers: transfersEnded - realTotal - 2,
    realTransfers: realTotal,
    realFailures,
    serverErrors,
    outsideChanges,
    seedFilesChanged,
    junkUploads,
    tempFilesLeft,
    serverStillServes,
    escapeRefused,
    rssMb: {
      before: Math.round(rssBefore / MiB),
      peak: Math.round(rssPeak / MiB),
      after: Math.round(rssAfter / MiB),
    },
    durationMs: Math.round(performance.now() - started),
  };
}

/**
 * The checks a run must pass, as a list of problems (empty: all good).
 *
 * @param r A report.
 * @param opts `maxRssGrowthMb`: allowed RSS growth (default 200).
 * @returns Problems.
 */
export function fuzzProblems(
  r: FuzzServerReport,
  opts: { maxRssGrowthMb?: number } = {},
): string[] {
  const p: string[] = [];
  for (const f of r.realFailures) p.push(`real transfer failed: ${f}`);
  for (const e of r.serverErrors) p.push(`server error: ${e}`);
  for (const c of r.outsideChanges) p.push(`outside the root: ${c}`);
  for (const f of r.seedFilesChanged) p.push(`served file changed: ${f}`);
  for (const f of r.tempFilesLeft) p.push(`temporary file left: ${f}`);
  if (!r.serverStillServes) p.push("the server stopped serving");
  if (!r.escapeRefused) p.push("a symlink out of the root was not refused");
  const growth = r.rssMb.after - r.rssMb.before;
  if (growth > (opts.maxRssGrowthMb ?? 200)) {
    p.push(`RSS grew by ${growth} MiB`);
  }
  return p;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      datagrams: { type: "string", default: "100000" },
      seed: { type: "string", default: "1" },
      transfers: { type: "string", default: "200" },
      senders: { type: "string", default: "16" },
    },
  });
  const report = await fuzzServer({
    datagrams: Number(values.datagrams),
    seed: Number(values.seed),
    realTransfers: Number(values.transfers),
    senders: Number(values.senders),
    log: (line) => console.error(line),
  });
  console.log(JSON.stringify(report, null, 2));
  const problems = fuzzProblems(report);
  for (const p of problems) console.error(`PROBLEM: ${p}`);
  console.error(problems.length === 0 ? "fuzz: ok" : "fuzz: FAILED");
  Deno.exit(problems.length === 0 ? 0 : 1);
}
