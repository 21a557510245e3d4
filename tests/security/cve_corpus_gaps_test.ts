/**
 * The cases of the CVE-class corpus (`tests/hardening/cve_corpus_test.ts`)
 * that today's server gets wrong. A request whose name or mode fills a
 * whole datagram gets no answer at all: the ERROR would quote the name or
 * mode in full, which makes it longer than a datagram, and the send fails.
 * The rule: such a request gets its ERROR like any other, no longer than
 * the request + 64 bytes (so the quoted text is cut short).
 */

import assert from "node:assert/strict";
import { decode, Opcode } from "../../src/protocol/packet.ts";
import { concat } from "../../testing/bytes.ts";
import { RawClient } from "../../testing/raw_client.ts";
import { startServer } from "../../testing/server.ts";

const MAX_DATAGRAM = 65507;
const te = new TextEncoder();

/** A request of exactly one whole datagram: `fill` pads name or mode. */
function whole(op: number, part: "name" | "mode"): Uint8Array {
  const fixed = part === "name" ? "octet" : "a.txt";
  const room = MAX_DATAGRAM - 2 - fixed.length - 2;
  // Short components, so that the name is a valid path (no NAME_MAX).
  const filler = "a/".repeat(room / 2).slice(0, room - 1) + "x";
  const [name, mode] = part === "name" ? [filler, fixed] : [fixed, filler];
  const d = concat([
    new Uint8Array([0, op]),
    te.encode(name),
    new Uint8Array([0]),
    te.encode(mode),
    new Uint8Array([0]),
  ]);
  assert.equal(d.length, MAX_DATAGRAM);
  return d;
}

const CASES: [string, Uint8Array, number][] = [
  [
    "an RRQ whose name fills the datagram (refused by its length)",
    whole(Opcode.RRQ, "name"),
    2,
  ],
  [
    "a WRQ whose name fills the datagram (no such directory)",
    whole(Opcode.WRQ, "name"),
    2,
  ],
  ["an RRQ whose mode fills the datagram", whole(Opcode.RRQ, "mode"), 4],
];

Deno.test("cve corpus gaps: a request that fills a whole datagram gets its ERROR, at most the request's size + 64 bytes", async () => {
  await using srv = await startServer({ files: { "a.txt": "hello\n" } });
  const wrong: string[] = [];
  for (const [what, datagram, code] of CASES) {
    using c = RawClient.open();
    await c.send(datagram, { hostname: "127.0.0.1", port: srv.port });
    const r = await c.receiveRaw(5000);
    if (!r) {
      wrong.push(`${what}: no answer`);
      continue;
    }
    const p = decode(r.data);
    if (p.op !== Opcode.ERROR || p.code !== code) {
      wrong.push(`${what}: got opcode ${p.op}, expected ERROR ${code}`);
    } else if (r.data.length > datagram.length + 64) {
      wrong.push(`${what}: a ${r.data.length}-byte ERROR`);
    }
  }
  assert.deepEqual(wrong, []);
});
