/**
 * The C load generator's small-buffer receiver (`--rx-*`), against a
 * scripted server in this process: which DATA it drops, when and what it
 * ACKs in RFC 7440 and U-Boot modes, and the per-transfer cap.
 *
 * Timing is only ever asserted as a lower bound (a loaded machine makes
 * things later, never earlier). Needs cc; skipped without it.
 *
 * @module
 */

import { seededBytes } from "./dataset.ts";
import { buildLoadgen } from "./runner.ts";

const BLK = 512;
const bin = buildLoadgen();

function assert(ok: boolean, msg: string): asserts ok {
  if (!ok) throw new Error(msg);
}

/** A server that follows a script: send these blocks, expect that ACK. */
class ScriptedServer {
  readonly listener: Deno.DatagramConn;
  #sock?: Deno.DatagramConn;
  #client?: Deno.Addr;
  #data: Uint8Array;
  #ws: number;

  constructor(data: Uint8Array, ws: number) {
    this.listener = Deno.listenDatagram({
      transport: "udp",
      hostname: "127.0.0.1",
      port: 0,
    });
    this.#data = data;
    this.#ws = ws;
  }

  get port(): number {
    return (this.listener.addr as Deno.NetAddr).port;
  }

  /** Waits for the RRQ, answers with an OACK and waits for ACK 0. */
  async accept(): Promise<void> {
    const [, from] = await this.listener.receive();
    this.#client = from;
    this.#sock = Deno.listenDatagram({
      transport: "udp",
      hostname: "127.0.0.1",
      port: 0,
    });
    const body = new TextEncoder().encode(
      `blksize\0${BLK}\0windowsize\0${this.#ws}\0`,
    );
    const oack = new Uint8Array(2 + body.length);
    oack[1] = 6;
    oack.set(body, 2);
    await this.#sock.send(oack, from);
    const first = await this.ack();
    assert(first.block === 0, `expected ACK 0, got ${first.block}`);
  }

  /** Sends the blocks back to back (one burst). */
  send(blocks: number[]): number {
    for (const n of blocks) {
      const off = (n - 1) * BLK;
      const part = this.#data.subarray(off, off + BLK);
      const p = new Uint8Array(4 + part.length);
      p[1] = 3;
      p[2] = n >> 8;
      p[3] = n & 0xff;
      p.set(part, 4);
      this.#sock!.send(p, this.#client!);
    }
    return performance.now();
  }

  /** The next ACK (and when it came), waiting at most 10 s. */
  async ack(): Promise<{ block: number; at: number }> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("no ACK in 10 s")), 10_000);
    });
    try {
      const [d] = await Promise.race([this.#sock!.receive(), limit]);
      assert(d[1] === 4, `expected an ACK, got opcode ${d[1]}`);
      return { block: (d[2] << 8) | d[3], at: performance.now() };
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.listener.close();
    this.#sock?.close();
  }
}

interface Outcome {
  ok: boolean;
  retransmits: number;
  dropped: number;
  queue_dropped: number;
  data_rx: number;
  error: string;
}

/** Runs the load generator for one RRQ of `blocks` 512-byte blocks (the last one short). */
async function withLoadgen(
  blocks: number,
  ws: number,
  flags: string[],
  script: (server: ScriptedServer) => Promise<void>,
): Promise<Outcome> {
  const data = seededBytes((blocks - 1) * BLK + 100, 7);
  const dir = Deno.makeTempDirSync({ prefix: "loadgen-model-" });
  Deno.writeFileSync(`${dir}/f.bin`, data);
  const server = new ScriptedServer(data, ws);
  try {
    const child = new Deno.Command(bin!, {
      args: [
        "--port",
        String(server.port),
        "--file",
        `${dir}/f.bin`,
        "--name",
        "f.bin",
        "--blksize",
        String(BLK),
        "--windowsize",
        String(ws),
        ...flags,
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const out = child.output();
    try {
      await server.accept();
      await script(server);
    } catch (err) {
      child.kill("SIGKILL");
      await out;
      throw err;
    }
    const done = await out;
    assert(done.success, new TextDecoder().decode(done.stderr));
    return JSON.parse(new TextDecoder().decode(done.stdout).split("\n")[0]);
  } finally {
    server.close();
    Deno.removeSync(dir, { recursive: true });
  }
}

const range = (a: number, b: number) =>
  Array.from({ length: b - a + 1 }, (_, i) => a + i);

Deno.test({
  name:
    "small receiver drops what arrives while K are queued, and ACKs on its timeout only after processing",
  ignore: !bin,
  fn: async () => {
    const serviceMs = 250;
    const r = await withLoadgen(9, 8, [
      "--rx-queue",
      "4",
      "--rx-service-us",
      String(serviceMs * 1000),
      "--rx-timeout-ms",
      "300",
    ], async (s) => {
      const sent = s.send(range(1, 8));
      // 1..4 are queued, 5..8 dropped; no ACK until 4 is processed and the
      // timeout has run from there.
      const a = await s.ack();
      assert(a.block === 4, `expected ACK 4, got ${a.block}`);
      assert(
        a.at - sent >= 4 * serviceMs + 300 - 20,
        `ACK 4 came ${(a.at - sent).toFixed(0)} ms after the burst`,
      );
      // The window counts from that ACK: 4 more in order is not a window.
      s.send(range(5, 8));
      const b = await s.ack();
      assert(b.block === 8, `expected ACK 8, got ${b.block}`);
      s.send([9]);
      const c = await s.ack();
      assert(c.block === 9, `expected the final ACK 9, got ${c.block}`);
    });
    assert(r.ok, `transfer failed: ${r.error}`);
    assert(r.queue_dropped === 4, `queue drops ${r.queue_dropped}`);
    assert(r.data_rx === 13, `DATA received ${r.data_rx}`);
    assert(r.retransmits === 2, `timeout ACKs ${r.retransmits}`);
  },
});

for (const gapAck of [false, true]) {
  Deno.test({
    name: gapAck
      ? "small receiver with --rx-gap-ack ACKs the last in-order block once per gap"
      : "small receiver ignores out-of-order blocks by default",
    ignore: !bin,
    fn: async () => {
      const timeoutMs = 1500;
      const r = await withLoadgen(9, 8, [
        "--rx-queue",
        "64",
        "--rx-service-us",
        "100",
        "--rx-timeout-ms",
        String(timeoutMs),
        ...(gapAck ? ["--rx-gap-ack"] : []),
      ], async (s) => {
        const sent = s.send([1, 2, 4, 5]);
        const a = await s.ack();
        assert(a.block === 2, `expected ACK 2, got ${a.block}`);
        const late = a.at - sent >= timeoutMs - 20;
        // A gap ACK comes at once; without it only the timeout ACKs.
        assert(late === !gapAck, `ACK 2 after ${(a.at - sent).toFixed(0)} ms`);
        s.send(range(3, 9));
        const b = await s.ack();
        assert(
          b.block === 9,
          `expected ACK 9 (no second ACK 2), got ${b.block}`,
        );
      });
      assert(r.ok, `transfer failed: ${r.error}`);
      assert(r.retransmits === (gapAck ? 0 : 1), `timeouts ${r.retransmits}`);
    },
  });
}

for (const mode of ["rfc", "uboot"]) {
  Deno.test({
    name: mode === "uboot"
      ? "U-Boot-like receiver keeps its absolute window boundary after a timeout ACK"
      : "RFC receiver counts the window from its timeout ACK",
    ignore: !bin,
    fn: async () => {
      const r = await withLoadgen(9, 4, [
        "--rx-queue",
        "64",
        "--rx-service-us",
        "100",
        "--rx-timeout-ms",
        "300",
        "--rx-mode",
        mode,
      ], async (s) => {
        s.send([1, 2]);
        const a = await s.ack();
        assert(a.block === 2, `expected the timeout ACK 2, got ${a.block}`);
        s.send(range(3, 8));
        const b = await s.ack();
        const want = mode === "uboot" ? 4 : 6;
        assert(b.block === want, `expected ACK ${want}, got ${b.block}`);
        if (mode === "uboot") {
          const c = await s.ack();
          assert(c.block === 8, `expected ACK 8, got ${c.block}`);
        }
        s.send([9]);
        let last = await s.ack();
        // RFC: 7 and 8 are 2 of a window of 4, so the next ACK is the final one.
        while (last.block !== 9) last = await s.ack();
      });
      assert(r.ok, `transfer failed: ${r.error}`);
    },
  });
}

Deno.test({
  name:
    "small receiver with --rx-wedge receives nothing after its queue overflowed once",
  ignore: !bin,
  fn: async () => {
    const r = await withLoadgen(9, 8, [
      "--rx-queue",
      "4",
      "--rx-service-us",
      "1000",
      "--rx-timeout-ms",
      "200",
      "--rx-mode",
      "uboot",
      "--rx-wedge",
      "--max-ms",
      "1500",
    ], async (s) => {
      s.send(range(1, 5));
      const a = await s.ack();
      assert(a.block === 4, `expected the timeout ACK 4, got ${a.block}`);
      // In order, one at a time, with the queue empty: still dropped.
      for (const block of [5, 6]) {
        s.send([block]);
        const b = await s.ack();
        assert(b.block === 4, `after ${block}: expected ACK 4, got ${b.block}`);
      }
    });
    assert(!r.ok, "a wedged receiver finished");
    assert(r.queue_dropped >= 3, `queue drops ${r.queue_dropped}`);
  },
});

Deno.test({
  name: "--max-ms fails a transfer that is still running at its cap",
  ignore: !bin,
  fn: async () => {
    const r = await withLoadgen(9, 4, [
      "--rx-queue",
      "4",
      "--max-ms",
      "400",
    ], async () => {});
    assert(!r.ok, "a transfer that got no DATA succeeded");
    assert(r.error.startsWith("capped at 400 ms"), r.error);
  },
});
