/**
 * `--allow-from` through the server process, as operators run it: clients
 * inside the networks are served; every other client gets no datagram at
 * all, whatever it sends. On `--host ::` IPv4 clients arrive as
 * `::ffff:a.b.c.d` and must match IPv4 networks, never IPv6 ones.
 *
 * Cases that need IPv6 or extra loopback addresses are gated with
 * testing/gates.ts: skipped with a note when missing, failing under CI.
 *
 * Silence is checked after a signal: with `-v` the server logs one "not in
 * --allow-from: ignored" line per datagram it drops, and the denied client
 * then waits a generous second for anything that would still arrive.
 */

import assert from "node:assert/strict";
import { encodeRequest, Opcode } from "../../src/protocol/packet.ts";
import { type ServerProcess, startServer } from "../../testing/process.ts";
import { getFile, RawClient } from "../../testing/raw_client.ts";
import { needs } from "../../testing/gates.ts";
import { ipv6Available, udpBindable } from "../../testing/net.ts";
import { listDir, tempDir } from "./common.ts";

const IPV6 = ipv6Available();

/** Whether 127.0.0.2 can be bound (all of 127/8 is loopback on Linux). */
const EXTRA_LOOPBACK = udpBindable("127.0.0.2");

const FILE = new Uint8Array(1500).map((_, i) => i & 0xff);

/** The datagrams a denied client sends: everything a client could. */
const DENIED_DATAGRAMS = [
  encodeRequest(Opcode.RRQ, "a.bin"),
  encodeRequest(Opcode.WRQ, "up.bin"),
  new Uint8Array([0, 4, 0, 1]), // a stray ACK
  new Uint8Array([0, 9, 1]), // junk
];

/** How the server names a client in its log (`host:port`, IPv6 bracketed). */
function logName(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

async function assertServed(server: ServerProcess, bind: string) {
  const dest = bind.includes(":") ? "::1" : "127.0.0.1";
  const r = await getFile({ hostname: dest, port: server.port }, "a.bin", {
    bind,
  });
  assert.equal(r.error, undefined, `${bind}: ${r.error?.message}`);
  assert.deepEqual(r.data, FILE, `${bind} got the file`);
}

async function assertSilenced(server: ServerProcess, bind: string) {
  using client = RawClient.open(bind);
  const dest = bind.includes(":") ? "::1" : "127.0.0.1";
  const from = server.lines.length;
  for (const d of DENIED_DATAGRAMS) {
    await client.send(d, { hostname: dest, port: server.port });
  }
  const name = logName(bind, client.addr.port);
  const ignored = new RegExp(
    `\\[DEBUG\\] ${
      name.replace(/[[\].]/g, "\\$&")
    } not in --allow-from: ignored$`,
  );
  // One "ignored" line per datagram: the server has seen them all.
  let at = from;
  for (let i = 0; i < DENIED_DATAGRAMS.length; i++) {
    const line = await server.waitForLine(ignored, { from: at });
    at = server.lines.indexOf(line, at) + 1;
  }
  assert.equal(
    await client.receiveRaw(1000),
    undefined,
    `${bind} got a datagram back`,
  );
  const about = server.lines.slice(from).filter((l) => l.includes(name));
  assert.ok(
    about.every((l) => ignored.test(l)),
    `other log lines about ${name}:\n${about.join("\n")}`,
  );
}

/** One server, its networks, who must be served and who must hear nothing. */
interface Case {
  host: string;
  allow: string[];
  served: string[];
  silenced: string[];
  ignore: boolean;
}

const CASES: Case[] = [
  {
    host: "::",
    allow: ["::1/128"],
    served: ["::1"],
    silenced: ["127.0.0.1"],
    ignore: needs("IPv6 on loopback (a UDP socket on ::1)", IPV6),
  },
  {
    host: "::",
    allow: ["127.0.0.0/31"],
    served: ["127.0.0.1"],
    silenced: ["::1", "127.0.0.2"],
    ignore: needs("IPv6 on loopback (a UDP socket on ::1)", IPV6) ||
      needs("extra loopback addresses (binding 127.0.0.2)", EXTRA_LOOPBACK),
  },
  {
    host: "::",
    allow: ["::ffff:127.0.0.0/127"], // the same network, written mapped
    served: ["127.0.0.1"],
    silenced: ["::1", "127.0.0.2"],
    ignore: needs("IPv6 on loopback (a UDP socket on ::1)", IPV6) ||
      needs("extra loopback addresses (binding 127.0.0.2)", EXTRA_LOOPBACK),
  },
  {
    host: "::",
    allow: ["::/0"], // every IPv6 address, no IPv4 one
    served: ["::1"],
    silenced: ["127.0.0.1"],
    ignore: needs("IPv6 on loopback (a UDP socket on ::1)", IPV6),
  },
  {
    host: "::",
    allow: ["0.0.0.0/0"], // every IPv4 address, no IPv6 one
    served: ["127.0.0.1"],
    silenced: ["::1"],
    ignore: needs("IPv6 on loopback (a UDP socket on ::1)", IPV6),
  },
  {
    host: "127.0.0.1",
    allow: ["10.0.0.0/8", "127.0.0.2/31"], // host bits set: .2 and .3
    served: ["127.0.0.2", "127.0.0.3"],
    silenced: ["127.0.0.1", "127.0.0.4"],
    ignore: needs(
      "extra loopback addresses (binding 127.0.0.2)",
      EXTRA_LOOPBACK,
    ),
  },
];

for (const c of CASES) {
  const allow = c.allow.map((n) => `--allow-from ${n}`).join(" ");
  Deno.test({
    name: `--host ${c.host} ${allow}: serves ${c.served.join(", ")}; ${
      c.silenced.join(", ")
    } get no datagram at all`,
    ignore: c.ignore,
    fn: async () => {
      await using dir = await tempDir({ "a.bin": FILE });
      await using server = await startServer(dir.path, {
        host: c.host,
        args: ["-v", ...c.allow.flatMap((n) => ["--allow-from", n])],
      });
      for (const bind of c.silenced) await assertSilenced(server, bind);
      for (const bind of c.served) await assertServed(server, bind);
      assert.deepEqual(await listDir(dir.path), ["a.bin"], "an upload landed");
      assert.equal((await server.stop()).code, 0, server.stderr.text);
    },
  });
}
