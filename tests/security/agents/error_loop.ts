/**
 * Agent for `error_loop_test.ts`, run inside a network namespace of its own
 * (`testing/netns.ts`): starts one or two server processes, holds one
 * transfer open on each of two transfer ports, forges ONE datagram from the
 * first transfer port to the second, and counts every UDP datagram sent in
 * the namespace during the next second. Prints a JSON report.
 *
 * Usage: `error_loop.ts ack|error|data one|two [server flags...]`
 *
 * @module
 */

import {
  encodeAck,
  encodeData,
  encodeError,
  encodeRequest,
  ErrorCode,
  Opcode,
} from "../../../src/protocol/packet.ts";
import { RawClient } from "../../../testing/raw_client.ts";
import { type ServerProcess, startServer } from "../../../testing/process.ts";
import { readNetCounters } from "../../../testing/netns.ts";
import { sendSpoofed } from "../../../testing/spoof.ts";

const [kind, servers, ...extra] = Deno.args;
const FORGED: Record<string, Uint8Array> = {
  ack: encodeAck(1),
  error: encodeError(ErrorCode.UNKNOWN_TID, "unknown transfer ID"),
  data: encodeData(1, new Uint8Array(512)),
};
const forged = FORGED[kind];
if (!forged || (servers !== "one" && servers !== "two")) {
  throw new Error("usage: error_loop.ts ack|error|data one|two [flags...]");
}
const threads = !extra.includes("--workers");
// -v: the "worker threads ready" line (transfers before it run in the main
// thread).
// Nothing retransmits on its own during the measured second.
const FLAGS = [
  ...(threads ? ["-v", "--workers-start", "listen"] : []),
  "--ack-timeout",
  "10",
  "--timeout",
  "60",
  ...extra,
];
const HOST = "127.0.0.1";

const root = await Deno.makeTempDir({ prefix: "tftpd-loop-" });
await Deno.writeFile(`${root}/big.bin`, new Uint8Array(64 * 1024).fill(7));
const started: ServerProcess[] = [];
try {
  for (let i = 0; i < (servers === "two" ? 2 : 1); i++) {
    const srv = await startServer(root, { args: FLAGS });
    started.push(srv);
    if (threads) await srv.waitForLine(/worker threads ready/);
  }
  const second = started[started.length - 1];
  using c1 = RawClient.open(HOST);
  using c2 = RawClient.open(HOST);
  const tport = async (c: RawClient, port: number) => {
    await c.send(encodeRequest(Opcode.RRQ, "big.bin"), {
      hostname: HOST,
      port,
    });
    const r = await c.receive(10_000);
    if (!r || r.packet.op !== Opcode.DATA) throw new Error("no DATA 1");
    return r.from.port;
  };
  const t1 = await tport(c1, started[0].port);
  const t2 = await tport(c2, second.port);
  const before = await readNetCounters();
  sendSpoofed(forged, {
    from: { hostname: HOST, port: t1 },
    to: { hostname: HOST, port: t2 },
  });
  await new Promise((r) => setTimeout(r, 1000));
  const after = await readNetCounters();
  const toClients = [await c1.drain(50), await c2.drain(50)].flat().length;
  console.log(JSON.stringify({
    t1,
    t2,
    sent: after.udpOut - before.udpOut,
    received: after.udpIn - before.udpIn,
    toClients,
  }));
} finally {
  for (const s of started) await s.stop();
  await Deno.remove(root, { recursive: true });
}
