/**
 * How evenly one process serves many UDP sockets at once: the reason the
 * server runs transfers in worker threads (`--workers`).
 *
 * For each echo server (a C epoll loop as the baseline, then Deno with the
 * sockets in 1, 2 and 4 threads) it binds N sockets and runs
 * `bench/pingpong.c client`: one socket per echo socket, each in ping-pong
 * (one datagram in flight), R round trips each. A fair server keeps every
 * round trip near N / throughput; a long tail means some sockets waited
 * while others were served. Writes `bench/results/fairness.md`.
 *
 * Usage: `deno run --unstable-net -A bench/fairness.ts [--sockets N]
 * [--rounds R] [--out FILE]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { buildC } from "./runner.ts";

/** One measured configuration. */
export interface FairnessRow {
  /** Which echo server. */
  server: string;
  /** Round-trip percentiles, ms. */
  p50: number;
  /** 99th percentile, ms. */
  p99: number;
  /** 99.9th percentile, ms. */
  p999: number;
  /** Longest round trip, ms. */
  max: number;
  /** Round trips per second over the run. */
  perSecond: number;
  /** Sockets that never finished (an echo was lost). */
  unfinished: number;
}

async function firstLine(child: Deno.ChildProcess): Promise<string> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("echo server exited before printing its ports");
    text += value;
  }
  reader.releaseLock();
  return text.split("\n")[0];
}

async function measure(
  name: string,
  echo: string[],
  pingpong: string,
  rounds: number,
): Promise<FairnessRow> {
  const child = new Deno.Command(echo[0], {
    args: echo.slice(1),
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const ports: number[] = JSON.parse(await firstLine(child));
    const out = await new Deno.Command(pingpong, {
      args: ["client", String(rounds), ...ports.map(String)],
      stdout: "piped",
    }).output();
    const r = JSON.parse(new TextDecoder().decode(out.stdout));
    return {
      server: name,
      p50: r.p50,
      p99: r.p99,
      p999: r.p999,
      max: r.max,
      perSecond: r.round_trips / (r.wall_ms / 1000),
      unfinished: r.unfinished,
    };
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
}

/**
 * Formats the rows as a markdown table.
 *
 * @param rows Measurements.
 * @param about `sockets` and `rounds` of the run.
 * @returns Markdown.
 */
export function fairnessTable(
  rows: FairnessRow[],
  about: { sockets: number; rounds: number },
): string {
  const f = (x: number) => x < 10 ? x.toFixed(2) : x.toFixed(0);
  const lines = [
    `${about.sockets} UDP echo sockets, each in ping-pong with its own client socket ` +
    `(${about.rounds} round trips each). Round-trip times in ms.`,
    "",
    "| echo server | p50 | p99 | p99.9 | max | round trips/s | unfinished |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.server} | ${f(r.p50)} | ${f(r.p99)} | ${f(r.p999)} | ${
        f(r.max)
      } | ` +
        `${Math.round(r.perSecond)} | ${r.unfinished} |`,
    );
  }
  return lines.join("\n") + "\n";
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      sockets: { type: "string", default: "1000" },
      rounds: { type: "string", default: "100" },
      out: {
        type: "string",
        default: new URL("results/fairness.md", import.meta.url).pathname,
      },
    },
  });
  const sockets = Number(values.sockets);
  const rounds = Number(values.rounds);
  const pingpong = buildC("pingpong");
  if (!pingpong) throw new Error("bench/pingpong.c did not build (need cc)");
  const echoTs = new URL("fairness_echo.ts", import.meta.url).pathname;
  const deno = (threads: number) => [
    Deno.execPath(),
    "run",
    "--unstable-net",
    "-A",
    echoTs,
    String(sockets),
    String(threads),
  ];
  const configs: [string, string[]][] = [
    ["C, one epoll thread", [pingpong, "echo", String(sockets)]],
    ["Deno, one thread", deno(1)],
    ["Deno, 2 worker threads", deno(2)],
    ["Deno, 4 worker threads", deno(4)],
  ];
  const rows: FairnessRow[] = [];
  for (const [name, cmd] of configs) {
    const row = await measure(name, cmd, pingpong, rounds);
    console.error(
      `${name}: p50 ${row.p50.toFixed(2)} p99 ${row.p99.toFixed(1)} max ${
        row.max.toFixed(0)
      } ms`,
    );
    rows.push(row);
  }
  const cpus = navigator.hardwareConcurrency;
  const md = `# Fairness: many sockets in one event loop\n\n` +
    `Made by \`bench/fairness.ts\` on ${new Date().toISOString()}, ` +
    `${cpus} CPUs, Deno ${Deno.version.deno}.\n\n` +
    fairnessTable(rows, { sockets, rounds });
  await Deno.writeTextFile(values.out!, md);
  console.log(md);
}
