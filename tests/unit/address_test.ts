/**
 * Address text (`src/net/address.ts`): one text per address, so that what a
 * socket reports and what a user typed compare equal, and the server counts
 * a client once whatever form its address arrives in.
 *
 * Decision: an IPv4-mapped address is its IPv4 address in every spelling,
 * the hex form `::ffff:102:304` included (no socket reports that form, but
 * a user may write it); IPv4-compatible `::1.2.3.4` and NAT64 addresses
 * stay IPv6.
 */

import assert from "node:assert/strict";
import { normalizeHost, sameEndpoint } from "../../src/net/address.ts";
import { tftpGet } from "../../src/client/client.ts";
import {
  decode,
  encodeError,
  ErrorCode,
  Opcode,
} from "../../src/protocol/packet.ts";
import { encodeRequest } from "../../src/protocol/packet.ts";
import { RawClient } from "../../testing/raw_client.ts";
import { needs } from "../../testing/gates.ts";
import { startServer } from "../../testing/server.ts";
import { ipv6Available } from "../../testing/net.ts";
import { startHarness } from "../hardening/harness.ts";

const IPV6 = ipv6Available();

const NORMAL_FORMS: [string, string, string][] = [
  ["127.0.0.1", "127.0.0.1", "IPv4 stays"],
  ["::ffff:127.0.0.1", "127.0.0.1", "mapped, as a :: socket reports it"],
  ["::FFFF:127.0.0.1", "127.0.0.1", "mapped, upper case"],
  ["::ffff:7f00:1", "127.0.0.1", "mapped, hex form"],
  ["0:0:0:0:0:ffff:127.0.0.1", "127.0.0.1", "mapped, written out"],
  ["::ffff:0.0.0.0", "0.0.0.0", "mapped, lowest"],
  ["::ffff:255.255.255.255", "255.255.255.255", "mapped, highest"],
  ["::1", "::1", "canonical IPv6 stays"],
  ["0:0:0:0:0:0:0:1", "::1", "written out"],
  ["::0001", "::1", "leading zeros in a group"],
  ["0::1", "::1", "needless zero group"],
  ["FE80::1", "fe80::1", "upper case"],
  ["fe80::1%eth0", "fe80::1", "the zone is not the address"],
  ["FE80::1%ETH0", "fe80::1", "the zone is not the address"],
  ["0:0:0:0:0:0:0:0", "::", "all zeros"],
  ["1:0:0:0:0:0:0:0", "1::", "trailing zeros"],
  ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1", "first of two equal runs"],
  ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1", "the longest run"],
  ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1", "one zero group stays"],
  ["2001:DB8::1:2:3:4:5", "2001:db8:0:1:2:3:4:5", "no :: for one group"],
  ["::1.2.3.4", "::102:304", "IPv4-compatible stays IPv6"],
  ["64:ff9b::1.2.3.4", "64:ff9b::102:304", "NAT64 stays IPv6"],
  ["::ffff:0:1.2.3.4", "::ffff:0:102:304", "translated is not mapped"],
  ["LocalHost", "localhost", "a name is lower-cased"],
  ["1::2::3", "1::2::3", "not an address: as it is"],
  ["G::1", "g::1", "not an address: lower-cased"],
  ["::ffff:01.2.3.4", "::ffff:01.2.3.4", "leading zero: not an address"],
  ["::FFFF:999.1.1.1", "::ffff:999.1.1.1", "octet out of range"],
  ["fe80::1%", "fe80::1%", "empty zone: not an address"],
];

Deno.test("normalizeHost() gives one text per address", () => {
  for (const [input, want, why] of NORMAL_FORMS) {
    assert.equal(normalizeHost(input), want, `${input}: ${why}`);
  }
});

Deno.test("normalizeHost() is idempotent", () => {
  for (const [input] of NORMAL_FORMS) {
    const once = normalizeHost(input);
    assert.equal(normalizeHost(once), once, input);
  }
});

function addr(hostname: string, port: number): Deno.NetAddr {
  return { transport: "udp", hostname, port };
}

const ENDPOINTS: [Deno.NetAddr, Deno.NetAddr, boolean][] = [
  [addr("127.0.0.1", 69), addr("127.0.0.1", 69), true],
  [addr("127.0.0.1", 69), addr("127.0.0.1", 70), false],
  [addr("127.0.0.1", 69), addr("127.0.0.2", 69), false],
  [addr("::ffff:127.0.0.1", 69), addr("127.0.0.1", 69), true],
  [addr("127.0.0.1", 69), addr("::FFFF:127.0.0.1", 69), true],
  [addr("::ffff:7f00:1", 69), addr("127.0.0.1", 69), true],
  [addr("::ffff:127.0.0.1", 69), addr("127.0.0.1", 70), false],
  [addr("::1", 69), addr("0:0:0:0:0:0:0:1", 69), true],
  [addr("::1", 69), addr("127.0.0.1", 69), false],
  [addr("::1", 69), addr("::ffff:127.0.0.1", 69), false],
  [addr("fe80::1%eth0", 69), addr("fe80::1", 69), true],
  [addr("2001:DB8::1", 69), addr("2001:db8::1", 69), true],
  [addr("2001:db8::1", 69), addr("2001:db8::2", 69), false],
];

Deno.test("sameEndpoint() compares the address, whatever its spelling, and the port", () => {
  for (const [a, b, want] of ENDPOINTS) {
    const what = `${a.hostname}:${a.port} vs ${b.hostname}:${b.port}`;
    assert.equal(sameEndpoint(a, b), want, what);
    assert.equal(sameEndpoint(b, a), want, `${what} (swapped)`);
  }
});

Deno.test({
  name:
    "normalizeHost(): the client library accepts replies from 0:0:0:0:0:0:0:1 when told ::1 written out",
  ignore: needs("IPv6 on loopback (a UDP socket on ::1)", IPV6),
  fn: async () => {
    await using srv = await startServer({
      host: "::1",
      files: { "a.txt": "hello" },
    });
    const chunks: Uint8Array[] = [];
    const r = await tftpGet("a.txt", {
      host: "0:0:0:0:0:0:0:1",
      port: srv.port,
      retransmitMs: 2000,
      retries: 2,
      sink: { write: (b: Uint8Array) => void chunks.push(b.slice()) },
    });
    assert.equal(r.bytes, 5);
    assert.equal(new TextDecoder().decode(chunks[0]), "hello");
  },
});

Deno.test({
  name:
    "normalizeHost(): a server on :: counts ::ffff:127.0.0.1 as the client 127.0.0.1",
  ignore: needs("IPv6 on loopback (a UDP socket on ::1)", IPV6),
  fn: async () => {
    await using h = await startHarness({
      host: "::",
      files: { "big.bin": new Uint8Array(20 * 512).fill(7) },
      maxSessionsPerClient: 1,
      ackTimeout: 5,
      timeout: 30,
    });
    const server = { hostname: "127.0.0.1", port: h.port };
    using first = RawClient.open("127.0.0.1");
    await first.send(encodeRequest(Opcode.RRQ, "big.bin"), server);
    const data = await first.receive(5000);
    assert.equal(data?.packet.op, Opcode.DATA);

    // A second transfer from the same IPv4 address is the same client.
    using second = RawClient.open("127.0.0.1");
    await second.send(encodeRequest(Opcode.RRQ, "big.bin"), server);
    const refused = await second.receive(5000);
    assert.ok(refused, "no answer to the second client");
    const p = refused.packet;
    assert.equal(p.op, Opcode.ERROR);
    assert.equal(p.op === Opcode.ERROR && p.code, ErrorCode.NOT_DEFINED);
    assert.equal(
      p.op === Opcode.ERROR && p.message,
      "too many transfers from 127.0.0.1 (limit 1)",
    );
    assert.ok(
      h.lines.some((l) => l.includes("1 transfers from 127.0.0.1")),
      h.lines.join("\n"),
    );

    // ::1 is another client.
    using v6 = RawClient.open("::1");
    await v6.send(encodeRequest(Opcode.RRQ, "big.bin"), {
      hostname: "::1",
      port: h.port,
    });
    assert.equal((await v6.receive(5000))?.packet.op, Opcode.DATA);

    // Ending the first transfer frees the slot of 127.0.0.1 again.
    await first.send(encodeError(ErrorCode.NOT_DEFINED, "bye"), data!.from);
    await h.waitForTransfer((s) => s.peer === `127.0.0.1:${first.addr.port}`);
    using third = RawClient.open("127.0.0.1");
    await third.send(encodeRequest(Opcode.RRQ, "big.bin"), server);
    const got = await third.receive(5000);
    assert.ok(got, "no answer to the third client");
    assert.equal(decode(got.data).op, Opcode.DATA);
  },
});
