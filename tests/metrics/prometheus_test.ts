/**
 * `/metrics` against the real Prometheus tools (Debian package
 * `prometheus`): `promtool check metrics` accepts it (format and lint), and
 * a real Prometheus, started here on loopback with a temporary config and
 * data directory, scrapes the listener and answers queries with the counts
 * of the synthetic transfers.
 *
 * Missing tools fail the tests when `CI` is set and ignore them otherwise.
 */

import assert from "node:assert/strict";
import { TransferMonitor } from "../../src/metrics/monitor.ts";
import { startStatusServer } from "../../src/metrics/status_server.ts";
import { LineCollector } from "../../testing/process.ts";
import { HOSTILE_NAMES, info, requireProgram, transfer } from "./common.ts";

const PROMTOOL = requireProgram("promtool", "prometheus");
const PROMETHEUS = requireProgram("prometheus", "prometheus");

/** Runs `promtool check metrics` on `text`; returns its status and output. */
async function promtoolCheck(
  text: string,
): Promise<{ code: number; output: string }> {
  const child = new Deno.Command(PROMTOOL.path, {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(text));
  await w.close();
  const out = await child.output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    output: dec.decode(out.stdout) + dec.decode(out.stderr),
  };
}

/** A monitor that has seen every kind of event, with hostile names. */
function busyMonitor(): TransferMonitor {
  const m = new TransferMonitor({ version: '0.1.0-"rc"\\1', threads: 2 });
  transfer(m, "pxelinux.0", { bytes: 26_000, durationMs: 30 });
  transfer(m, HOSTILE_NAMES[0], {
    outcome: "error",
    error: "ERROR 1: File not found",
  });
  transfer(m, HOSTILE_NAMES[1], {
    direction: "write",
    outcome: "timeout",
    durationMs: 9000,
    retransmits: 5,
    worker: 2,
  });
  transfer(m, "x", { outcome: "probe", durationMs: 1 });
  m.started(info("vmlinuz", { worker: 1 }), { bytes: 1234, size: 5000 });
  m.refused("busy");
  m.refused("malformed");
  m.sample();
  return m;
}

Deno.test({
  name: "/metrics passes promtool check metrics (format and lint)",
  ignore: PROMTOOL.ignore,
  async fn() {
    await using server = startStatusServer(
      { hostname: "127.0.0.1", port: 0 },
      busyMonitor(),
    );
    const text =
      await (await fetch(`http://127.0.0.1:${server.addr.port}/metrics`))
        .text();
    const r = await promtoolCheck(text);
    assert.equal(r.output, "", r.output);
    assert.equal(r.code, 0);
    // The checker is not blind: a counter without _total and a broken
    // label are reported.
    const bad = await promtoolCheck(
      text +
        "# HELP bad_seconds x\n# TYPE bad_seconds counter\nbad_seconds 1\n",
    );
    assert.notEqual(bad.code, 0);
    const broken = await promtoolCheck(
      text.replace('reason="busy"', 'reason="busy'),
    );
    assert.notEqual(broken.code, 0);
  },
});

/** A TCP port free right now on loopback. */
function freeTcpPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** A real Prometheus scraping one target every second, stopped by PID. */
class Prometheus implements AsyncDisposable {
  readonly url: string;
  #child: Deno.ChildProcess;
  #dir: string;
  #log: LineCollector;

  private constructor(
    url: string,
    child: Deno.ChildProcess,
    dir: string,
    log: LineCollector,
  ) {
    this.url = url;
    this.#child = child;
    this.#dir = dir;
    this.#log = log;
  }

  static async start(target: string): Promise<Prometheus> {
    const dir = await Deno.makeTempDir({ prefix: "tftpd-prometheus-" });
    await Deno.writeTextFile(
      `${dir}/prometheus.yml`,
      [
        "global:",
        "  scrape_interval: 1s",
        "  scrape_timeout: 1s",
        "  evaluation_interval: 1s",
        "scrape_configs:",
        "  - job_name: tftpd",
        "    static_configs:",
        `      - targets: ["${target}"]`,
        "",
      ].join("\n"),
    );
    const port = freeTcpPort();
    const child = new Deno.Command(PROMETHEUS.path, {
      args: [
        `--config.file=${dir}/prometheus.yml`,
        `--storage.tsdb.path=${dir}/data`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--log.level=info",
      ],
      cwd: dir,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const log = new LineCollector(child.stderr, "prometheus stderr");
    const p = new Prometheus(`http://127.0.0.1:${port}`, child, dir, log);
    try {
      await log.waitFor(/Server is ready to receive web requests/, {
        timeoutMs: 60_000,
      });
    } catch (err) {
      await p.stop();
      throw err;
    }
    return p;
  }

  async query(
    expr: string,
  ): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
    const res = await fetch(
      `${this.url}/api/v1/query?query=${encodeURIComponent(expr)}`,
    );
    const body = await res.json();
    assert.equal(body.status, "success", JSON.stringify(body));
    return body.data.result;
  }

  async stop(): Promise<void> {
    try {
      this.#child.kill("SIGTERM");
    } catch { /* already gone */ }
    await this.#child.status;
    await this.#log.done;
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

/** Resolves on the nth call of `notify()` after `arm(n)`. */
class Scrapes {
  #count = 0;
  #waiters: { at: number; resolve: () => void }[] = [];

  notify(): void {
    this.#count++;
    this.#waiters = this.#waiters.filter((w) => {
      if (this.#count < w.at) return true;
      w.resolve();
      return false;
    });
  }

  /** Waits for `n` more scrapes, bounded by `timeoutMs`. */
  more(n: number, timeoutMs = 30_000): Promise<void> {
    const at = this.#count + n;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`fewer than ${n} scrapes in ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.#waiters.push({
        at,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }
}

Deno.test({
  name:
    "a real Prometheus scrapes /metrics and its query API returns the transfer counts",
  ignore: PROMETHEUS.ignore,
  async fn() {
    // Every /metrics request reads the totals once: that is the signal
    // that a scrape happened (no sleeping).
    const scrapes = new Scrapes();
    const monitor = new (class extends TransferMonitor {
      override totals() {
        scrapes.notify();
        return super.totals();
      }
    })({ version: "0.1.0" });
    await using server = startStatusServer(
      { hostname: "127.0.0.1", port: 0 },
      monitor,
    );
    await using prom = await Prometheus.start(`127.0.0.1:${server.addr.port}`);
    await scrapes.more(1);
    for (let i = 0; i < 5; i++) {
      transfer(monitor, `host-${i}/pxelinux.0`, { bytes: 1000 });
    }
    transfer(monitor, "missing.cfg", {
      outcome: "error",
      error: "ERROR 1: File not found",
    });
    transfer(monitor, "up.img", { direction: "write", bytes: 300 });
    monitor.refused("busy");
    // The first scrape after the transfers sees them; Prometheus commits a
    // scrape before it starts the next one, so once a second has begun they
    // are queryable. A scrape that timed out on a loaded machine commits
    // nothing: then wait for the next one (bounded).
    await scrapes.more(1);
    let total: Awaited<ReturnType<Prometheus["query"]>> = [];
    for (let i = 0; i < 10; i++) {
      await scrapes.more(1);
      total = await prom.query('sum(tftp_transfers_total{job="tftpd"})');
      if (total[0]?.value[1] === "7") break;
    }
    assert.equal(total[0]?.value[1], "7");
    const ok = await prom.query(
      'tftp_transfers_total{job="tftpd",direction="read",outcome="ok"}',
    );
    assert.equal(ok[0]?.value[1], "5");
    const bytes = await prom.query('tftp_bytes_total{direction="read"}');
    assert.equal(bytes[0]?.value[1], String(5 * 1000 + 4096));
    const busy = await prom.query('tftp_refusals_total{reason="busy"}');
    assert.equal(busy[0]?.value[1], "1");
    const count = await prom.query("tftp_transfer_duration_seconds_count");
    assert.equal(count[0]?.value[1], "7");
    const up = await prom.query('up{job="tftpd"}');
    assert.equal(up[0]?.value[1], "1");
  },
});
