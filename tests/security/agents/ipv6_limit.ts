/**
 * Agent for `bounded_resources_test.ts`, run inside a network namespace of
 * its own (`testing/netns.ts`) whose `lo` has the addresses given as
 * arguments: serves on the first, with `maxSessionsPerClient 2`
 * and the default IPv6 client prefix, and sends one RRQ from each of the
 * others, holding each transfer open. Prints the first answer each got.
 *
 * Usage: `ipv6_limit.ts SERVER CLIENT...`
 *
 * @module
 */

import { encodeRequest, Opcode } from "../../../src/protocol/packet.ts";
import { RawClient } from "../../../testing/raw_client.ts";
import { startServer } from "../../../testing/server.ts";

const [server, ...clients] = Deno.args;
await using srv = await startServer({
  host: server,
  files: { "f.bin": new Uint8Array(512 * 20) },
  ackTimeout: 10,
  timeout: 30,
  fixedInterval: true,
  server: { maxSessionsPerClient: 2 },
});
const answers: Record<string, string> = {};
const held: RawClient[] = [];
try {
  for (const host of clients) {
    const c = RawClient.open(host);
    held.push(c);
    await c.send(encodeRequest(Opcode.RRQ, "f.bin"), {
      hostname: server,
      port: srv.port,
    });
    const r = await c.receive(5000);
    const p = r?.packet;
    answers[host] = !p
      ? "nothing"
      : p.op === Opcode.ERROR
      ? `ERROR ${p.code}: ${p.message}`
      : p.op === Opcode.DATA
      ? `DATA ${p.block}`
      : `opcode ${p.op}`;
  }
} finally {
  for (const c of held) c.close();
}
console.log(JSON.stringify(answers));
