/**
 * Agent for `multihome_test.ts`, run inside a network namespace of its own
 * (`testing/netns.ts`) whose `lo` carries the addresses in {@linkcode NS}.
 * Runs one scenario against an in-process server listening on `::` and
 * prints a JSON {@linkcode Report}: for every transfer, where it was sent
 * and every source address a server datagram came from.
 *
 * Usage: `agent.ts SCENARIO` where SCENARIO is
 * - `ports`, `workers`, `single-port`, `port-range`: RRQ and WRQ to each
 *   address of {@linkcode TARGETS} (IPv4, IPv6, link-local), with
 *   per-transfer ports, worker threads, the listen port, or a two-port
 *   range held four times at once over two addresses;
 * - `rescan`: addresses added while the server runs are served once the
 *   rescan has seen them, and a removed one loses its socket;
 * - `no-permission` (run without `--allow-sys`): one warning, one `::`
 *   socket, IPv4 clients still served;
 * - `net-partial` (run with `--allow-net=192.0.2.0/24`): only the granted
 *   addresses get a socket, the others are named once;
 * - `net-none` (run with `--allow-net=0.0.0.0`, on `0.0.0.0`): no address
 *   granted, so the wildcard is one socket, with a warning;
 * - `cli`: `main.ts` with `--host` given twice, then with `--host 0.0.0.0`
 *   with and without `--allow-sys=networkInterfaces`;
 * - `artifact-store` (addresses {@linkcode STORE_NS}): the README's "front
 *   an HTTP artifact store" command, its permission flags exactly, against
 *   an origin on 127.0.0.1 in the namespace.
 *
 * @module
 */

import {
  decode,
  encodeAck,
  encodeData,
  encodeError,
  encodeRequest,
  ErrorCode,
  Opcode,
} from "../../src/protocol/packet.ts";
import { RawClient } from "../../testing/raw_client.ts";
import { concat } from "../../testing/bytes.ts";
import { startServer, type TestServer } from "../../testing/server.ts";
import {
  CHILD_ENV,
  MAIN_TS,
  ServerProcess,
  startServer as startProcess,
} from "../../testing/process.ts";

/** Addresses the test puts on the namespace's `lo`. */
export const NS = [
  "192.0.2.1/24",
  "192.0.2.2/24",
  "2001:db8::1/64",
  "2001:db8::2/64",
  "fe80::2/64",
  "fe80::3/64",
];

/** The `artifact-store` scenario's addresses: two of the server's, a client. */
export const STORE_NS = [
  "192.168.10.1/24",
  "192.168.10.2/24",
  "192.168.10.23/24",
];

/** Client address and server address of each checked transfer. */
export const TARGETS: [string, string][] = [
  ["192.0.2.1", "192.0.2.2"],
  ["192.0.2.2", "192.0.2.1"],
  ["2001:db8::1", "2001:db8::2"],
  // `lo` is interface 1 in a fresh namespace.
  ["fe80::3%1", "fe80::2%1"],
];

/** One transfer as the client saw it. */
export interface Seen {
  /** RRQ or WRQ. */
  op: "RRQ" | "WRQ";
  /** The client's address. */
  client: string;
  /** Where the request was sent (scope removed). */
  to: string;
  /** Every distinct `host:port` a server datagram came from. */
  sources: string[];
  /** Whether the bytes arrived whole. */
  ok: boolean;
  /** An ERROR received, if any. */
  error?: string;
}

/** What the agent prints. */
export interface Report {
  /** The listen port. */
  port: number;
  /** The server's listen sockets (`host:port`). */
  listening: string[];
  /** The transfers. */
  seen: Seen[];
  /** Log lines of interest. */
  lines: string[];
  /** Worker thread of each finished transfer (0: main thread). */
  workers?: number[];
  /** Listen sockets after a removal (`rescan`). */
  after?: string[];
  /** `artifact-store`: the origin requests, as `path client`. */
  origin?: string[];
  /** `artifact-store`: entries in the cache directory. */
  cached?: number;
}

const FILE = new Uint8Array(1500).map((_, i) => (i * 7 + 3) & 0xff);
const FILES = { "f.bin": FILE };
const PACKET_MS = 1000;

function same(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && a.length === b.length &&
    a.every((x, i) => x === b[i]);
}

function bare(host: string): string {
  return host.replace(/%.*$/, "");
}

function key(a: Deno.NetAddr): string {
  return a.hostname.includes(":")
    ? `[${a.hostname}]:${a.port}`
    : `${a.hostname}:${a.port}`;
}

/**
 * One lock-step transfer with a raw socket: resends its last packet on
 * silence, answers whoever sent each datagram, records every source.
 */
async function transfer(
  op: "RRQ" | "WRQ",
  client: string,
  to: { hostname: string; port: number },
  name: string,
): Promise<Seen> {
  using c = RawClient.open(client);
  const seen: Seen = {
    op,
    client,
    to: bare(to.hostname),
    sources: [],
    ok: false,
  };
  const sources = new Set<string>();
  const got: Uint8Array[] = [];
  let last = encodeRequest(op === "RRQ" ? Opcode.RRQ : Opcode.WRQ, name);
  let lastTo: { hostname: string; port: number } = to;
  await c.send(last, lastTo);
  let silent = 0;
  let sent = 0; // WRQ: bytes sent so far
  for (let packets = 0; packets < 50; packets++) {
    const r = await c.receiveRaw(PACKET_MS);
    if (!r) {
      if (++silent > 5) break;
      await c.send(last, lastTo);
      continue;
    }
    silent = 0;
    sources.add(key(r.from));
    lastTo = r.from;
    const p = decode(r.data);
    if (p.op === Opcode.ERROR) {
      seen.error = `${p.code} ${p.message}`;
      break;
    }
    if (op === "RRQ" && p.op === Opcode.DATA) {
      if (p.block === got.length + 1) got.push(p.data.slice());
      last = encodeAck(p.block);
      await c.send(last, r.from);
      if (p.data.length < 512) {
        seen.ok = same(concat(got), FILE);
        break;
      }
    } else if (op === "WRQ" && p.op === Opcode.ACK) {
      if (p.block * 512 > FILE.length) {
        seen.ok = true;
        break;
      }
      sent = p.block * 512;
      last = encodeData(p.block + 1, FILE.subarray(sent, sent + 512));
      await c.send(last, r.from);
    }
  }
  seen.sources = [...sources];
  return seen;
}

/** RRQ and WRQ to every target, one after the other. */
async function everyTarget(srv: TestServer, tag: string): Promise<Seen[]> {
  const out: Seen[] = [];
  let n = 0;
  for (const [client, server] of TARGETS) {
    const to = { hostname: server, port: srv.port };
    out.push(await transfer("RRQ", client, to, "f.bin"));
    const name = `up_${tag}_${n++}.bin`;
    const up = await transfer("WRQ", client, to, name);
    // Published before the final ACK.
    up.ok &&= same(await srv.readFile(name), FILE);
    out.push(up);
  }
  return out;
}

function interesting(lines: string[]): string[] {
  return lines.filter((l) =>
    /listening on|local address|network interfaces|serving each|allow-net/
      .test(l)
  );
}

async function inProcess(scenario: string): Promise<Report> {
  const range: [number, number] = [41000, 41001];
  await using srv = await startServer({
    files: FILES,
    retries: 3,
    server: {
      host: scenario === "net-none" ? "0.0.0.0" : "::",
      workers: scenario === "workers" ? 2 : 1,
      singlePort: scenario === "single-port",
      portRange: scenario === "port-range" ? range : undefined,
      rescanInterval: scenario === "rescan" ? 1 : undefined,
    },
  });
  await srv.server.startWorkers();
  const report: Report = {
    port: srv.port,
    listening: srv.server.addrs.map(key),
    seen: [],
    lines: [],
  };
  if (scenario === "port-range") {
    report.seen.push(...await heldInRange(srv));
  }
  if (scenario === "rescan") {
    report.seen.push(...await rescan(srv));
    report.after = srv.server.addrs.map(key);
  } else if (scenario === "net-none") {
    // Nothing to send: no client address is granted either.
  } else if (scenario === "no-permission" || scenario === "net-partial") {
    report.seen.push(
      await transfer("RRQ", "192.0.2.1", {
        hostname: "192.0.2.2",
        port: srv.port,
      }, "f.bin"),
    );
  } else {
    report.seen.push(...await everyTarget(srv, scenario));
  }
  await srv.server.whenIdle();
  report.workers = srv.transfers.map((s) => s.worker ?? 0);
  report.lines = interesting(srv.lines);
  return report;
}

/**
 * Four transfers held open at once (first DATA not acknowledged), two per
 * address, over a two-port range: each address has the whole range.
 */
async function heldInRange(srv: TestServer): Promise<Seen[]> {
  const clients = [
    ["192.0.2.1", "192.0.2.2"],
    ["192.0.2.1", "192.0.2.2"],
    ["192.0.2.2", "192.0.2.1"],
    ["192.0.2.2", "192.0.2.1"],
  ].map(([c, s]) => ({ raw: RawClient.open(c), client: c, server: s }));
  const out: Seen[] = [];
  try {
    for (const h of clients) {
      await h.raw.send(
        encodeRequest(Opcode.RRQ, "f.bin"),
        { hostname: h.server, port: srv.port },
      );
      const r = await h.raw.receive(5000);
      const p = r?.packet;
      out.push({
        op: "RRQ",
        client: h.client,
        to: h.server,
        sources: r ? [key(r.from)] : [],
        ok: p?.op === Opcode.DATA,
        error: p?.op === Opcode.ERROR ? `${p.code} ${p.message}` : undefined,
      });
    }
    for (const [i, h] of clients.entries()) {
      const from = out[i].sources[0];
      if (!from) continue;
      const port = Number(from.slice(from.lastIndexOf(":") + 1));
      await h.raw.send(
        encodeError(ErrorCode.NOT_DEFINED, "done"),
        { hostname: h.server, port },
      );
    }
  } finally {
    for (const h of clients) h.raw.conn.close();
  }
  return out;
}

async function ip(...args: string[]): Promise<void> {
  const out = await new Deno.Command("ip", { args, stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(
      `ip ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
}

async function rescan(srv: TestServer): Promise<Seen[]> {
  const from = srv.lines.length;
  await ip("addr", "add", "192.0.2.3/24", "dev", "lo");
  await ip("addr", "add", "2001:db8::3/64", "dev", "lo", "nodad");
  await srv.waitForLine(/local address 192\.0\.2\.3 appeared/, {
    from,
    timeoutMs: 15_000,
  });
  await srv.waitForLine(/local address 2001:db8::3 appeared/, {
    from,
    timeoutMs: 15_000,
  });
  const seen = [
    await transfer("RRQ", "192.0.2.1", {
      hostname: "192.0.2.3",
      port: srv.port,
    }, "f.bin"),
    await transfer("WRQ", "2001:db8::1", {
      hostname: "2001:db8::3",
      port: srv.port,
    }, "up_rescan.bin"),
  ];
  const before = srv.lines.length;
  await ip("addr", "del", "192.0.2.3/24", "dev", "lo");
  await srv.waitForLine(/local address 192\.0\.2\.3 went away/, {
    from: before,
    timeoutMs: 15_000,
  });
  return seen;
}

/** `main.ts` as operators run it, in this namespace. */
async function cli(): Promise<Report> {
  const root = await Deno.makeTempDir({ prefix: "tftpd-multihome-" });
  await Deno.writeFile(`${root}/f.bin`, FILE);
  const perms = [
    "--allow-net",
    `--allow-read=${root}`,
    `--allow-write=${root}`,
  ];
  const report: Report = { port: 0, listening: [], seen: [], lines: [] };
  let runs = 0;
  const run = async (
    host: string,
    args: string[],
    permissions: string[],
    targets: [string, string][],
  ) => {
    const srv: ServerProcess = await startProcess(root, {
      host,
      args: [...args, "-v"],
      permissions,
    });
    try {
      if (args.join(" ").includes("--workers 2")) {
        await srv.waitForLine(/worker threads ready/);
      }
      runs++;
      let n = 0;
      for (const [client, server] of targets) {
        const to = { hostname: server, port: srv.port };
        report.seen.push(await transfer("RRQ", client, to, "f.bin"));
        report.seen.push(
          await transfer("WRQ", client, to, `up_${runs}_${n++}.bin`),
        );
      }
    } finally {
      await srv.stop();
      report.lines.push(...interesting(srv.lines));
      if (Deno.env.get("AGENT_ECHO")) console.error(srv.lines.join("\n"));
    }
  };
  try {
    // Two explicit hosts: no interface listing, no extra permission.
    await run("192.0.2.2", ["--host", "2001:db8::2", "--workers", "1"], perms, [
      ["192.0.2.1", "192.0.2.2"],
      ["2001:db8::1", "2001:db8::2"],
    ]);
    // A wildcard, worker threads, the permission to list interfaces.
    await run("0.0.0.0", ["--workers", "2", "--workers-start", "listen"], [
      ...perms,
      "--allow-sys=networkInterfaces",
    ], [["192.0.2.1", "192.0.2.2"]]);
    // The same without it: one warning, one socket.
    await run("0.0.0.0", ["--workers", "1"], perms, [[
      "192.0.2.1",
      "192.0.2.2",
    ]]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
  return report;
}

/** The README's artifact-store command, with a local origin. */
async function artifactStore(): Promise<Report> {
  const root = await Deno.makeTempDir({ prefix: "tftpd-store-root-" });
  const cache = await Deno.makeTempDir({ prefix: "tftpd-store-cache-" });
  await Deno.mkdir(`${root}/ipxe`);
  await Deno.writeFile(`${root}/ipxe/local.kpxe`, FILE);
  const seenByOrigin: string[] = [];
  const origin = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) => {
      const url = new URL(req.url);
      seenByOrigin.push(`${url.pathname} ${req.headers.get("x-tftp-client")}`);
      return new Response(FILE, {
        headers: { "cache-control": "max-age=600" },
      });
    },
  );
  const o = `127.0.0.1:${origin.addr.port}`;
  const report: Report = { port: 69, listening: [], seen: [], lines: [] };
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      "--unstable-net",
      `--allow-net=192.168.10.0/24,${o}`,
      "--allow-sys=networkInterfaces",
      `--allow-read=${root},${cache}`,
      `--allow-write=${cache}`,
      MAIN_TS,
      ...["--host", "0.0.0.0", "-p", "69", "--root", root, "--read-only"],
      ...["--origin", `http://${o}/netboot/`],
      ...["--origin-cache-dir", cache, "--origin-cache-dir-size", "2147483648"],
    ],
    env: CHILD_ENV,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const srv = new ServerProcess(child, { host: "0.0.0.0", port: 69 });
  try {
    await srv.waitForLine(/listening on /);
    const to = { hostname: "192.168.10.2", port: 69 };
    // A transfer left waiting for its ACK keeps the main thread busy, so the
    // ones below start the worker threads and run in them (from the bundle:
    // these flags do not let the server read its own sources).
    using held = RawClient.open("192.168.10.23");
    await held.send(encodeRequest(Opcode.RRQ, "ipxe/local.kpxe"), to);
    await held.receiveRaw(PACKET_MS);
    report.seen.push(
      await transfer("RRQ", "192.168.10.23", to, "ipxe/local.kpxe"),
      await transfer("RRQ", "192.168.10.23", to, "ipxe/undionly.kpxe"),
      await transfer("RRQ", "192.168.10.23", to, "ipxe/undionly.kpxe"),
      await transfer("WRQ", "192.168.10.23", to, "up.bin"),
    );
    await srv.waitForLine(/worker threads ready \(bundle\)/);
  } finally {
    await srv.stop();
    await origin.shutdown();
    report.lines = srv.lines;
    report.origin = seenByOrigin;
    report.cached = [...Deno.readDirSync(cache)].length;
    await Deno.remove(root, { recursive: true });
    await Deno.remove(cache, { recursive: true });
  }
  return report;
}

if (import.meta.main) {
  const scenario = Deno.args[0];
  const known = [
    "ports",
    "workers",
    "single-port",
    "port-range",
    "rescan",
    "no-permission",
    "net-partial",
    "net-none",
    "cli",
    "artifact-store",
  ];
  if (!known.includes(scenario)) {
    throw new Error(`usage: agent.ts ${known.join("|")}`);
  }
  const report = scenario === "cli"
    ? await cli()
    : scenario === "artifact-store"
    ? await artifactStore()
    : await inProcess(scenario);
  console.log(JSON.stringify(report));
}
