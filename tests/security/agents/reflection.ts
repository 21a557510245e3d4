/**
 * Agent for `reflection_windows_test.ts`, run inside a network namespace of
 * its own (`testing/netns.ts`) so the loopback counters see only this
 * scenario. Plays a spoofing attacker whose victim address is its own
 * socket: it sends a windowed RRQ, then blind ACKs (it never reads a reply
 * to decide anything), and counts, from the namespace's `lo` counters,
 * every byte the server sends until the transfer has ended. Prints a JSON
 * {@linkcode Report}.
 *
 * Usage: `reflection.ts SCENARIO MODE [M]` where SCENARIO is
 * - `one-ack`: one blind ACK 0 (to every port of the range in `port-range`);
 * - `dup-acks`: ACK 0, then the same ACK 0 every 50 ms until the transfer
 *   ends (at most 80 of them);
 * - `stream`: ACK 0, 1, ..., M back to back (the attacker guesses block
 *   numbers), with `retries 0` so nothing is sent twice;
 * and MODE is `single-port`, `port-range` or `per-transfer` (random ports).
 *
 * @module
 */

import {
  encodeAck,
  encodeRequest,
  Opcode,
} from "../../../src/protocol/packet.ts";
import { type Endpoint, RawClient } from "../../../testing/raw_client.ts";
import { startServer } from "../../../testing/server.ts";
import { freeUdpRange } from "../../../testing/net.ts";
import { readLoopback, readNetCounters } from "../../../testing/netns.ts";

/** What the agent prints. */
export interface Report {
  /** UDP payload bytes the attacker sent (requests and ACKs). */
  attackerBytes: number;
  /** Datagrams the attacker sent. */
  attackerDatagrams: number;
  /** UDP payload bytes the server sent to the victim address. */
  serverBytes: number;
  /** Datagrams the server sent. */
  serverDatagrams: number;
  /** Highest DATA block number the victim socket saw (lossy: drops). */
  highestBlockSeen: number;
  /** Whether the transfer ended while duplicates were still coming. */
  endedDuringDuplicates?: boolean;
  /** Duplicate ACKs sent. */
  duplicates?: number;
  /** Outcome of the transfer on the server. */
  outcome: string;
}

/** Retransmits per packet in every scenario but `stream`. */
export const RETRIES = 2;
/** Blocks in the served file (more than any window). */
export const FILE_BLOCKS = 200;
/** blksize and windowsize asked for. */
export const BLKSIZE = 65464;
/** Window asked for. */
export const WINDOWSIZE = 64;
/** Ports of the known range in `port-range` mode. */
export const RANGE_PORTS = 4;
const IP_UDP_HEADERS = 28;
/** An ICMP port unreachable quoting one of our 4-byte ACKs: 20 + 8 + 32. */
const ICMP_UNREACHABLE_BYTES = 60;
const HOST = "127.0.0.1";

const [scenario, mode, mArg] = Deno.args;
if (
  !["one-ack", "dup-acks", "stream"].includes(scenario) ||
  !["single-port", "port-range", "per-transfer"].includes(mode)
) {
  throw new Error("usage: reflection.ts one-ack|dup-acks|stream MODE [M]");
}
const streamTo = Number(mArg ?? 0);

const range = mode === "port-range"
  ? freeUdpRange(RANGE_PORTS, HOST)
  : undefined;
await using srv = await startServer({
  files: { "big.bin": new Uint8Array(BLKSIZE * FILE_BLOCKS).fill(0x5a) },
  retries: scenario === "stream" ? 0 : RETRIES,
  ackTimeout: 0.2,
  fixedInterval: true,
  timeout: 2,
  server: {
    singlePort: mode === "single-port",
    portRange: range,
  },
});
using victim = RawClient.open(HOST);
const listen: Endpoint = { hostname: HOST, port: srv.port };
let attackerBytes = 0;
let attackerDatagrams = 0;
const attack = async (data: Uint8Array, to: Endpoint) => {
  attackerBytes += data.length;
  attackerDatagrams++;
  await victim.send(data, to);
};
/** Where a blind attacker sends its ACKs: every port it knows of. */
const targets: Endpoint[] = range
  ? Array.from(
    { length: RANGE_PORTS },
    (_, i) => ({ hostname: HOST, port: range[0] + i }),
  )
  : [listen];
const ackAll = async (block: number) => {
  for (const t of targets) await attack(encodeAck(block), t);
};

const lo0 = await readLoopback();
const net0 = await readNetCounters();
const ended = srv.waitForTransferEnd(() => true, { timeoutMs: 30_000 });
let finished = false;
ended.then(() => finished = true, () => {});
await attack(
  encodeRequest(Opcode.RRQ, "big.bin", {
    options: new Map([
      ["blksize", String(BLKSIZE)],
      ["windowsize", String(WINDOWSIZE)],
    ]),
  }),
  listen,
);
// A real attacker would wait a guessed moment; using the OACK's arrival as
// the moment only makes the attack as strong as it can be. Nothing in it is
// used.
if (!(await victim.receive(10_000))) throw new Error("no answer to the RRQ");
let highestBlockSeen = 0;
let reading = true;
const reader = (async () => {
  while (reading) {
    const r = await victim.receive(50).catch(() => undefined);
    if (r?.packet.op === Opcode.DATA && r.packet.block > highestBlockSeen) {
      highestBlockSeen = r.packet.block;
    }
  }
})();

await ackAll(0);
let duplicates = 0;
let endedDuringDuplicates: boolean | undefined;
if (scenario === "dup-acks") {
  while (!finished && duplicates < 80) {
    await new Promise((r) => setTimeout(r, 50));
    if (finished) break;
    await ackAll(0);
    duplicates++;
  }
  endedDuringDuplicates = finished;
} else if (scenario === "stream") {
  for (let b = 1; b <= streamTo; b++) await ackAll(b);
}
const stats = await ended;
await srv.server.whenIdle();
const lo1 = await readLoopback();
const net1 = await readNetCounters();
reading = false;
await reader;

const icmp = net1.icmpOut - net0.icmpOut;
const serverDatagrams = net1.udpOut - net0.udpOut - attackerDatagrams;
const wireBytes = lo1.bytes - lo0.bytes -
  (attackerBytes + attackerDatagrams * IP_UDP_HEADERS) -
  icmp * ICMP_UNREACHABLE_BYTES;
const report: Report = {
  attackerBytes,
  attackerDatagrams,
  serverBytes: wireBytes - serverDatagrams * IP_UDP_HEADERS,
  serverDatagrams,
  highestBlockSeen,
  endedDuringDuplicates,
  duplicates: scenario === "dup-acks" ? duplicates : undefined,
  outcome: stats.outcome,
};
console.log(JSON.stringify(report));
