/**
 * Limits and abuse: `maxSessions` and `maxSessionsPerClient` refuse extra
 * requests with ERROR 0 ("too many ..."), and free their slot when a
 * transfer ends; `allowFrom` makes the server silent to everyone else. Also
 * through the command line (`--max-sessions`, `--max-sessions-per-client`,
 * `--allow-from`), as operators run it.
 *
 * Clients on other addresses use 127.0.0.2 and 127.0.0.3 (all of
 * 127.0.0.0/8 is loopback on Linux).
 */

import assert from "node:assert/strict";
import {
  decode,
  encodeError,
  encodeRequest,
  ErrorCode,
  Opcode,
  type Packet,
} from "../../src/protocol/packet.ts";
import { UsageError } from "../../src/cli/flags.ts";
import { parseCli } from "../../src/cli/server.ts";
import { startHarness } from "./harness.ts";
import { type Endpoint, RawClient } from "../../testing/raw_client.ts";
import { udpBindable } from "../../testing/net.ts";
import { startServer as startProcess } from "../../testing/process.ts";
import { needs } from "../../testing/gates.ts";

const BIG = new Uint8Array(20 * 512).fill(7);
/** Sessions stay open this long without ACKs (s); tests end them sooner. */
const LONG = { ackTimeout: 1, timeout: 10, retries: 10 };
const WAIT_MS = 5000;

/** Sends an RRQ for big.bin and returns the first reply and its source. */
async function request(
  peer: RawClient,
  to: Endpoint,
): Promise<{ p: Packet; from: Deno.NetAddr }> {
  await peer.send(encodeRequest(Opcode.RRQ, "big.bin"), to);
  const got = await peer.receive(WAIT_MS);
  assert.ok(got, `no reply to 127.0.0.1:${peer.port}'s RRQ`);
  return { p: got.packet, from: got.from };
}

function assertTooMany(p: Packet, what: string): void {
  assert.equal(p.op, Opcode.ERROR, `${what}: expected ERROR, got ${p.op}`);
  if (p.op !== Opcode.ERROR) return;
  assert.equal(p.code, ErrorCode.NOT_DEFINED, `${what}: code`);
  assert.match(p.message, /too many/, `${what}: message`);
}

function assertData(p: Packet, what: string): void {
  assert.equal(p.op, Opcode.DATA, `${what}: expected DATA 1, got ${p.op}`);
}

/** Whether loopback addresses other than 127.0.0.1 can be bound. */
const NO_EXTRA_LOOPBACK = !udpBindable("127.0.0.2");

Deno.test("limits: maxSessionsPerClient refuses the next request from that IP with ERROR 0, others go on", async () => {
  await using h = await startHarness({
    files: { "big.bin": BIG },
    maxSessionsPerClient: 2,
    ...LONG,
  });
  using a = RawClient.open();
  using b = RawClient.open();
  using c = RawClient.open();
  const ra = await request(a, h.addr);
  assertData(ra.p, "first client");
  assertData((await request(b, h.addr)).p, "second client");
  const rc = await request(c, h.addr);
  assertTooMany(rc.p, "third client from the same IP");
  assert.equal(rc.from.port, h.port, "the refusal comes from the listen port");
  if (!NO_EXTRA_LOOPBACK) {
    using other = RawClient.open("127.0.0.2");
    assertData((await request(other, h.addr)).p, "client from 127.0.0.2");
  }
  // When a transfer ends, its slot is free again.
  await a.send(encodeError(ErrorCode.NOT_DEFINED, "bye"), ra.from);
  await h.waitForPeer(a.port, { timeoutMs: WAIT_MS });
  using d = RawClient.open();
  assertData((await request(d, h.addr)).p, "client after one ended");
  assert.ok(
    h.lines.some((l) => l.includes(`127.0.0.1:${c.port} refused`)),
    "the refusal is logged",
  );
});

Deno.test({
  name: "limits: maxSessions refuses the next request from any IP with ERROR 0",
  ignore: needs(
    "extra loopback addresses (binding 127.0.0.2)",
    !NO_EXTRA_LOOPBACK,
  ),
  fn: async () => {
    await using h = await startHarness({
      files: { "big.bin": BIG },
      maxSessions: 2,
      ...LONG,
    });
    using a = RawClient.open("127.0.0.1");
    using b = RawClient.open("127.0.0.2");
    using c = RawClient.open("127.0.0.3");
    const ra = await request(a, h.addr);
    assertData(ra.p, "127.0.0.1");
    assertData((await request(b, h.addr)).p, "127.0.0.2");
    assertTooMany((await request(c, h.addr)).p, "127.0.0.3");
    await a.send(encodeError(ErrorCode.NOT_DEFINED, "bye"), ra.from);
    await h.waitForPeer(a.port, { timeoutMs: WAIT_MS });
    // The session map frees the slot after cleanup; ask until served.
    let served = false;
    for (let i = 0; i < 200 && !served; i++) {
      using again = RawClient.open("127.0.0.3");
      served = (await request(again, h.addr)).p.op === Opcode.DATA;
    }
    assert.ok(served, "the freed slot was never given out");
  },
});

/**
 * The first datagram that is TFTP at all. With another test run on the
 * machine, a port of ours may have been theirs a moment ago, and their
 * junk for it arrives here (seen once in two runs at once: "unknown
 * opcode 5631"); a server of ours never sends what does not decode.
 */
async function firstPacket(peer: RawClient): Promise<Packet | undefined> {
  for (let strays = 0; strays < 3; strays++) {
    const r = await peer.receiveRaw(WAIT_MS);
    if (!r) return undefined;
    try {
      return decode(r.data);
    } catch {
      // Another run's stray.
    }
  }
  return undefined;
}

Deno.test("limits: a flood of requests from one IP holds at most maxSessionsPerClient transfers", async () => {
  await using h = await startHarness({
    files: { "big.bin": BIG },
    maxSessionsPerClient: 5,
    ...LONG,
  });
  const peers = Array.from({ length: 40 }, () => RawClient.open());
  try {
    await Promise.all(
      peers.map((p) => p.send(encodeRequest(Opcode.RRQ, "big.bin"), h.addr)),
    );
    const replies = await Promise.all(peers.map((p) => firstPacket(p)));
    let data = 0;
    let refused = 0;
    for (const p of replies) {
      assert.ok(p, "a request got no reply");
      if (p.op === Opcode.DATA) data++;
      else {
        assertTooMany(p, "flood");
        refused++;
      }
    }
    assert.equal(data, 5, `${data} transfers started`);
    assert.equal(refused, 35);
    assert.equal(h.server.activeSessions, 5);
  } finally {
    for (const p of peers) p.close();
  }
});

Deno.test({
  name: "limits: allowFrom answers nothing at all to other addresses",
  ignore: needs(
    "extra loopback addresses (binding 127.0.0.2)",
    !NO_EXTRA_LOOPBACK,
  ),
  fn: async () => {
    await using h = await startHarness({
      files: { "big.bin": BIG },
      allowFrom: ["127.0.0.2/32"],
      ...LONG,
    });
    using denied = RawClient.open("127.0.0.1");
    using allowed = RawClient.open("127.0.0.2");
    // A valid request, junk, and a stray ACK from the denied address first;
    // the server handles datagrams in order, so once the allowed client has
    // its answer, any answer to the denied one would already be queued.
    await denied.send(encodeRequest(Opcode.RRQ, "big.bin"), h.addr);
    await denied.send(new Uint8Array([0, 9, 1]), h.addr);
    await denied.send(new Uint8Array([0, 4, 0, 1]), h.addr);
    await denied.send(encodeRequest(Opcode.WRQ, "up.bin"), h.addr);
    assertData((await request(allowed, h.addr)).p, "allowed client");
    assert.equal(
      await denied.receiveRaw(300),
      undefined,
      "the denied client got a reply",
    );
    assert.equal(h.server.activeSessions, 1);
    assert.ok(
      !h.lines.some((l) => l.includes(`127.0.0.1:${denied.port} `)),
      `a transfer was logged for the denied client:\n${h.lines.join("\n")}`,
    );
    assert.equal(await h.readFile("up.bin"), undefined);
  },
});

Deno.test("limits: allowFrom with a covering network serves the client", async () => {
  await using h = await startHarness({
    files: { "big.bin": BIG },
    allowFrom: ["10.0.0.0/8", "127.0.0.0/8"],
    ...LONG,
  });
  using peer = RawClient.open();
  assertData((await request(peer, h.addr)).p, "client in 127.0.0.0/8");
});

Deno.test("limits: the CLI takes --max-sessions, --max-sessions-per-client and repeated --allow-from", () => {
  const o = parseCli([
    "--max-sessions",
    "100",
    "--max-sessions-per-client",
    "3",
    "--allow-from",
    "192.168.0.0/16",
    "--allow-from",
    "127.0.0.1/32",
  ]);
  assert.equal(o.server.maxSessions, 100);
  assert.equal(o.server.maxSessionsPerClient, 3);
  assert.deepEqual(o.server.allowFrom, ["192.168.0.0/16", "127.0.0.1/32"]);
  for (
    const bad of [
      ["--max-sessions", "0"],
      ["--max-sessions", "x"],
      ["--max-sessions-per-client", "-1"],
      ["--allow-from", "not-a-network"],
      ["--allow-from", "10.0.0.0/33"],
    ]
  ) {
    assert.throws(() => parseCli(bad), UsageError, bad.join(" "));
  }
});

Deno.test("limits: the server process enforces --max-sessions-per-client and --allow-from", async () => {
  const root = await Deno.makeTempDir({ prefix: "tftpd-limits-" });
  try {
    await Deno.writeFile(`${root}/big.bin`, BIG);
    const allowSecond = NO_EXTRA_LOOPBACK
      ? []
      : ["--allow-from", "127.0.0.1/32"];
    await using srv = await startProcess(root, {
      args: [
        "--max-sessions-per-client",
        "1",
        "--ack-timeout",
        "1",
        "--timeout",
        "10",
        ...allowSecond,
      ],
    });
    const listen = { hostname: srv.host, port: srv.port };
    using a = RawClient.open();
    using b = RawClient.open();
    assertData((await request(a, listen)).p, "first client");
    assertTooMany((await request(b, listen)).p, "second client");
    if (!NO_EXTRA_LOOPBACK) {
      using outsider = RawClient.open("127.0.0.2");
      await outsider.send(encodeRequest(Opcode.RRQ, "big.bin"), listen);
      using c = RawClient.open();
      assertTooMany((await request(c, listen)).p, "marker client");
      assert.equal(
        await outsider.receiveRaw(300),
        undefined,
        "outsider got a reply",
      );
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
