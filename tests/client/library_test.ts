/**
 * The client library (`tftpGet`, `tftpPut`) against our in-process server
 * over loopback: every option it can ask for, netascii, retransmission
 * after loss, giving up on a silent server, error kinds, IPv6.
 */

import assert from "node:assert/strict";
import { TftpClientError, tftpGet } from "../../src/client/client.ts";
import { decode, Opcode } from "../../src/protocol/packet.ts";
import {
  download,
  randomBytes,
  sha256,
  startFeatureServer,
  upload,
} from "../features/fixture.ts";
import { RawClient } from "../../testing/raw_client.ts";
import { ipv6Available } from "../../testing/net.ts";
import { needs } from "../../testing/gates.ts";

const SIZE = 100_001;

Deno.test("get without options: plain 512-byte blocks, no OACK", async () => {
  const data = randomBytes(SIZE);
  await using srv = await startFeatureServer({ files: { "a.bin": data } });
  const progress: number[] = [];
  const { data: got, result } = await download(srv, "a.bin", {
    onProgress: (n) => progress.push(n),
  });
  assert.equal(sha256(got), sha256(data));
  assert.equal(result.bytes, SIZE);
  assert.equal(result.options.size, 0);
  // One progress call per block, ending at the full size.
  assert.equal(progress.length, Math.floor(SIZE / 512) + 1);
  assert.equal(progress.at(-1), SIZE);
  const stats = await srv.waitForTransfer();
  assert.equal(stats.outcome, "ok");
  assert.deepEqual(stats.options, {});
});

Deno.test("get with blksize, windowsize, tsize and timeout", async (t) => {
  const data = randomBytes(SIZE);
  await using srv = await startFeatureServer({ files: { "a.bin": data } });
  const cases = [
    { blksize: 1468 },
    { windowsize: 16 },
    { blksize: 8, windowsize: 4 },
    { blksize: 65464, windowsize: 2 },
    { tsize: true },
    { timeout: 2 },
    { blksize: 1428, windowsize: 8, tsize: true, timeout: 3 },
  ];
  for (const opts of cases) {
    await t.step(JSON.stringify(opts), async () => {
      const totals: (number | undefined)[] = [];
      const { data: got, result } = await download(srv, "a.bin", {
        ...opts,
        onProgress: (_n, total) => totals.push(total),
      });
      assert.equal(sha256(got), sha256(data));
      const want: Record<string, string> = {};
      if ("blksize" in opts) want.blksize = String(opts.blksize);
      if ("windowsize" in opts) want.windowsize = String(opts.windowsize);
      if ("tsize" in opts) want.tsize = String(SIZE);
      if ("timeout" in opts) want.timeout = String(opts.timeout);
      assert.deepEqual(Object.fromEntries(result.options), want);
      // The total is known to the progress callback exactly when tsize was asked.
      assert.equal(totals.at(-1), "tsize" in opts ? SIZE : undefined);
    });
  }
});

Deno.test("put with blksize, windowsize and tsize", async (t) => {
  const data = randomBytes(SIZE);
  await using srv = await startFeatureServer();
  const cases = [
    {},
    { blksize: 1468 },
    { windowsize: 16 },
    { blksize: 512, windowsize: 8, tsize: true },
    { tsize: true, timeout: 2 },
  ];
  let i = 0;
  for (const opts of cases) {
    const name = `up${i++}.bin`;
    await t.step(JSON.stringify(opts), async () => {
      const result = await upload(srv, name, { ...opts, data });
      assert.equal(result.bytes, SIZE);
      const stats = await srv.waitForTransfer((s) => s.filename === name);
      assert.equal(stats.outcome, "ok");
      assert.equal(stats.direction, "write");
      if ("tsize" in opts) assert.equal(stats.options.tsize, String(SIZE));
      if ("blksize" in opts) {
        assert.equal(stats.options.blksize, String(opts.blksize));
      }
      if ("windowsize" in opts) {
        assert.equal(stats.options.windowsize, String(opts.windowsize));
      }
      const stored = await Deno.readFile(`${srv.root}/${name}`);
      assert.equal(sha256(stored), sha256(data));
    });
  }
});

Deno.test("get and put of an empty file and of an exact block multiple", async () => {
  const aligned = randomBytes(512 * 8);
  await using srv = await startFeatureServer({
    files: { "empty.bin": new Uint8Array(0), "aligned.bin": aligned },
  });
  assert.equal((await download(srv, "empty.bin")).data.length, 0);
  assert.equal(
    sha256((await download(srv, "aligned.bin")).data),
    sha256(aligned),
  );
  await upload(srv, "up_empty.bin", { data: new Uint8Array(0) });
  await upload(srv, "up_aligned.bin", { data: aligned });
  await srv.waitForTransfer((s) => s.filename === "up_aligned.bin");
  await srv.waitForTransfer((s) => s.filename === "up_empty.bin");
  assert.equal((await Deno.readFile(`${srv.root}/up_empty.bin`)).length, 0);
  assert.equal(
    sha256(await Deno.readFile(`${srv.root}/up_aligned.bin`)),
    sha256(aligned),
  );
});

Deno.test("netascii: line ends become CRLF on the wire and LF again on disk", async () => {
  // 3 lines + a bare CR: on the wire LF -> CR LF and CR -> CR NUL.
  const text = "one\ntwo\nthree\rfour\n";
  const wire = "one\r\ntwo\r\nthree\r\0four\r\n";
  await using srv = await startFeatureServer({ files: { "t.txt": text } });
  const { data } = await download(srv, "t.txt", { mode: "netascii" });
  assert.equal(new TextDecoder().decode(data), text);
  const got = await srv.waitForTransfer((s) => s.filename === "t.txt");
  assert.equal(got.mode, "netascii");
  assert.equal(got.bytes, wire.length);

  await upload(srv, "up.txt", { data: text, mode: "netascii" });
  const put = await srv.waitForTransfer((s) => s.filename === "up.txt");
  assert.equal(put.mode, "netascii");
  assert.equal(put.bytes, wire.length);
  assert.equal(await srv.readText("up.txt"), text);

  // The same text in octet mode travels unchanged.
  await download(srv, "t.txt");
  const octet = await srv.waitForTransfer((s) =>
    s.filename === "t.txt" && s.mode === "octet"
  );
  assert.equal(octet.bytes, text.length);
});

Deno.test("netascii across block boundaries (CR LF split between blocks)", async () => {
  // Line ends placed so that the CR of a CR LF pair ends a 512-byte block.
  const line = "x".repeat(510) + "\n";
  const text = line.repeat(40);
  await using srv = await startFeatureServer({ files: { "big.txt": text } });
  const { data } = await download(srv, "big.txt", { mode: "netascii" });
  assert.equal(new TextDecoder().decode(data), text);
  await upload(srv, "back.txt", { data: text, mode: "netascii" });
  await srv.waitForTransfer((s) => s.filename === "back.txt");
  assert.equal(await srv.readText("back.txt"), text);
});

Deno.test("error kinds: not found, access violation, file exists", async () => {
  await using srv = await startFeatureServer({ files: { "a.txt": "a" } });
  const kind = async (p: Promise<unknown>) => {
    const err = await p.then(() => undefined, (e) => e);
    assert.ok(err instanceof TftpClientError, `expected an error: ${err}`);
    return [err.kind, err.code];
  };
  assert.deepEqual(await kind(download(srv, "missing.txt")), ["not-found", 1]);
  assert.deepEqual(await kind(download(srv, "../x")), ["access", 2]);
  assert.deepEqual(
    await kind(upload(srv, "a.txt", { data: "b" })),
    ["exists", 6],
  );
  assert.equal(await srv.readText("a.txt"), "a");
});

Deno.test("retries: a silent server gets the request 1 + retries times, then timeout", async () => {
  using silent = RawClient.open();
  for (const [op, retries] of [["get", 2], ["put", 1]] as const) {
    const started = op === "get"
      ? tftpGet("x", {
        host: "127.0.0.1",
        port: silent.port,
        retries,
        retransmitMs: 100,
        sink: { write: () => {} },
      })
      : upload({ target: { host: "127.0.0.1", port: silent.port } }, "x", {
        data: "x",
        retries,
        retransmitMs: 100,
      });
    const err = await started.then(() => undefined, (e) => e);
    assert.ok(err instanceof TftpClientError, String(err));
    assert.equal(err.kind, "timeout");
    // Every request the client sent is already queued on the silent socket.
    for (let i = 0; i < retries + 1; i++) {
      const { packet } = await silent.expect();
      assert.equal(packet.op, op === "get" ? Opcode.RRQ : Opcode.WRQ);
    }
    // Nothing more: a marker sent now is the next datagram.
    using marker = RawClient.open();
    await marker.ack(silent.addr, 4242);
    const { packet } = await silent.expect();
    assert.deepEqual(packet, { op: Opcode.ACK, block: 4242 });
  }
});

/**
 * A UDP relay between a client and the server that drops, once each, the
 * server's DATA or ACK packets with chosen block numbers.
 */
class LossyRelay implements Disposable {
  /** Client-facing socket. */
  readonly front: Deno.DatagramConn;
  /** Server-facing socket. */
  readonly back: Deno.DatagramConn;
  /** Packets dropped so far. */
  dropped = 0;

  /**
   * @param server The server's listen address.
   * @param drop Opcode (DATA or ACK) and block numbers to drop once.
   */
  constructor(server: Deno.NetAddr, drop: { op: number; blocks: number[] }) {
    const bind = () =>
      Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    this.front = bind();
    this.back = bind();
    const pending = new Set(drop.blocks);
    let client: Deno.Addr | undefined;
    let serverTid: Deno.Addr = server;
    const pump = async (
      from: Deno.DatagramConn,
      forward: (d: Uint8Array, a: Deno.Addr) => Promise<void>,
    ) => {
      const buf = new Uint8Array(65536);
      for (;;) {
        let got;
        try {
          got = await from.receive(buf);
        } catch {
          return; // closed
        }
        await forward(got[0].slice(), got[1]).catch(() => {});
      }
    };
    pump(this.front, async (d, a) => {
      client = a;
      await this.back.send(d, serverTid);
    });
    pump(this.back, async (d, a) => {
      serverTid = a;
      const p = decode(d);
      if (
        p.op === drop.op && (p.op === Opcode.DATA || p.op === Opcode.ACK) &&
        pending.delete(p.block)
      ) {
        this.dropped++;
        return;
      }
      if (client) await this.front.send(d, client);
    });
  }

  /** The port clients talk to. */
  get port(): number {
    return (this.front.addr as Deno.NetAddr).port;
  }

  /** Closes both sockets (ending both pumps). */
  [Symbol.dispose](): void {
    this.front.close();
    this.back.close();
  }
}

Deno.test("client retransmission recovers lost packets (server never retransmits)", async (t) => {
  const data = randomBytes(20_000);
  // The client asks for timeout 30, so the server retransmits only after
  // 30 s: recovery must come from the client (retransmitMs 100).
  await using srv = await startFeatureServer({ files: { "a.bin": data } });
  await t.step("get with windowsize 4, DATA 3 and 6 lost", async () => {
    using relay = new LossyRelay(srv.addr, { op: Opcode.DATA, blocks: [3, 6] });
    const { data: got } = await download(
      { target: { host: "127.0.0.1", port: relay.port } },
      "a.bin",
      {
        blksize: 1024,
        windowsize: 4,
        timeout: 30,
        retransmitMs: 100,
        retries: 5,
      },
    );
    assert.equal(relay.dropped, 2);
    assert.equal(sha256(got), sha256(data));
  });
  await t.step("put, ACK 3 lost: the client resends DATA 3", async () => {
    using relay = new LossyRelay(srv.addr, { op: Opcode.ACK, blocks: [3] });
    const result = await upload(
      { target: { host: "127.0.0.1", port: relay.port } },
      "up.bin",
      {
        data,
        blksize: 1024,
        timeout: 30,
        retransmitMs: 100,
        retries: 5,
      },
    );
    assert.equal(relay.dropped, 1);
    assert.ok(result.retransmits >= 1, `retransmits ${result.retransmits}`);
    assert.equal(
      sha256(await Deno.readFile(`${srv.root}/up.bin`)),
      sha256(data),
    );
  });
});

Deno.test({
  name: "get and put over IPv6 (::1)",
  ignore: needs("IPv6 on loopback (a UDP socket on ::1)", ipv6Available()),
  fn: async () => {
    const data = randomBytes(SIZE);
    await using srv = await startFeatureServer({
      host: "::1",
      files: { "a.bin": data },
    });
    assert.equal(srv.target.host, "::1");
    const { data: got } = await download(srv, "a.bin", {
      blksize: 1468,
      windowsize: 8,
      tsize: true,
    });
    assert.equal(sha256(got), sha256(data));
    await upload(srv, "up.bin", { data, blksize: 1468, windowsize: 8 });
    const stats = await srv.waitForTransfer((s) => s.filename === "up.bin");
    assert.match(stats.peer, /^\[::1\]:\d+$/);
    assert.equal(
      sha256(await Deno.readFile(`${srv.root}/up.bin`)),
      sha256(data),
    );
  },
});

Deno.test("extra options the server does not know are left out of the OACK", async () => {
  await using srv = await startFeatureServer({ files: { "a.txt": "abc" } });
  const { data, result } = await download(srv, "a.txt", {
    blksize: 1024,
    extraOptions: { "x-vendor": "1" },
  });
  assert.equal(new TextDecoder().decode(data), "abc");
  assert.deepEqual(Object.fromEntries(result.options), { blksize: "1024" });
});

Deno.test({
  name: "netascii: the result's byte count is the local size, as documented",
  fn: async () => {
    await using srv = await startFeatureServer({
      files: { "t.txt": "a\nb\n" },
    });
    const { result } = await download(srv, "t.txt", { mode: "netascii" });
    assert.equal(result.bytes, 4);
    const put = await upload(srv, "u.txt", {
      data: "a\nb\n",
      mode: "netascii",
    });
    assert.equal(put.bytes, 4);
  },
});
