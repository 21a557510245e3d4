/**
 * Class 5 of issue 12, bounded work per request (the netascii size part).
 * A netascii RRQ with `tsize` needs the size after conversion, which today
 * is computed by reading the whole file before answering, for every
 * request, in one synchronous sweep; in single-port mode that holds up
 * every other transfer. The rules, measured through a counting storage
 * (the `Storage` seam):
 *
 * - repeated netascii tsize requests for one large file read it at most
 *   once in all (plus {@linkcode PER_REQUEST_BYTES} each): the size is
 *   cached or declined, and a tsize in the OACK is the true netascii size;
 * - while such requests are answered, a transfer in progress on the same
 *   port keeps going: at most {@linkcode BETWEEN_BLOCKS_BYTES} of the large
 *   file are read between two consecutive DATA of the other transfer.
 */

import assert from "node:assert/strict";
import {
  encodeAck,
  encodeError,
  encodeRequest,
  ErrorCode,
  Opcode,
} from "../../src/protocol/packet.ts";
import { MemoryStorage } from "../../src/storage/memory.ts";
import type {
  ReadHandle,
  RequestInfo,
  Storage,
  WriteHandle,
} from "../../src/storage/types.ts";
import { type Endpoint, RawClient } from "../../testing/raw_client.ts";
import { startServer } from "../../testing/server.ts";

/** The largest file the server computes a netascii size for today. */
const BIG_SIZE = 64 * 1024 * 1024;
/** Reads allowed per request beyond one pass over the file. */
const PER_REQUEST_BYTES = 1024 * 1024;
/** Reads of the big file allowed between two DATA of another transfer. */
const BETWEEN_BLOCKS_BYTES = 4 * 1024 * 1024;
const REQUESTS = 5;

/** 64 MiB of text lines (LF only), and its netascii size. */
function bigText(): { bytes: Uint8Array; netascii: number } {
  const line = new TextEncoder().encode(
    "0123456789abcdefghijklmnopqrstuvwxyz\n",
  );
  const bytes = new Uint8Array(BIG_SIZE);
  for (let off = 0; off < BIG_SIZE; off += line.length) {
    bytes.set(line.subarray(0, Math.min(line.length, BIG_SIZE - off)), off);
  }
  let lfs = 0;
  for (let i = 0; i < bytes.length; i++) if (bytes[i] === 10) lfs++;
  return { bytes, netascii: bytes.length + lfs };
}

/** Counts the bytes read per name, and tells a listener about each read. */
class CountingStorage implements Storage {
  readonly bytesRead = new Map<string, number>();
  onRead?: (name: string, n: number) => void;
  #inner: Storage;

  constructor(inner: Storage) {
    this.#inner = inner;
  }

  async openRead(name: string, info: RequestInfo): Promise<ReadHandle> {
    const h = await this.#inner.openRead(name, info);
    const count = (n: number) => {
      this.bytesRead.set(name, (this.bytesRead.get(name) ?? 0) + n);
      this.onRead?.(name, n);
      return n;
    };
    return {
      size: h.size,
      read: (offset, buf) => {
        const n = h.read(offset, buf);
        return typeof n === "number" ? count(n) : n.then(count);
      },
      close: () => h.close(),
    };
  }

  openWrite(name: string, info: RequestInfo): Promise<WriteHandle> {
    return this.#inner.openWrite(name, info);
  }
}

const big = bigText();

/**
 * Sends a netascii RRQ with tsize=0 for big.txt and ends the transfer after
 * the first answer. Returns the tsize offered, if any.
 */
async function probe(listen: Endpoint): Promise<string | undefined> {
  using c = RawClient.open();
  await c.send(
    encodeRequest(Opcode.RRQ, "big.txt", {
      mode: "netascii",
      options: new Map([["tsize", "0"]]),
    }),
    listen,
  );
  const r = await c.receive(30_000);
  assert.ok(r, "no answer to a netascii RRQ with tsize");
  assert.ok(
    r.packet.op === Opcode.OACK || r.packet.op === Opcode.DATA,
    `answered with opcode ${r.packet.op}`,
  );
  const tsize = r.packet.op === Opcode.OACK
    ? r.packet.options.get("tsize")
    : undefined;
  await c.send(
    encodeError(ErrorCode.OPTION_REFUSED, "size probe only"),
    r.from,
  );
  return tsize;
}

Deno.test(`netascii tsize: ${REQUESTS} requests for a 64 MiB file read it at most once in all, and a tsize offered is the netascii size`, async () => {
  const storage = new CountingStorage(
    new MemoryStorage({ "big.txt": big.bytes }),
  );
  await using srv = await startServer({ server: { storage } });
  const listen = { hostname: "127.0.0.1", port: srv.port };
  for (let i = 0; i < REQUESTS; i++) {
    const tsize = await probe(listen);
    if (tsize !== undefined) assert.equal(Number(tsize), big.netascii);
    await srv.waitForTransferEnd(() => true, { from: i, timeoutMs: 30_000 });
  }
  const read = storage.bytesRead.get("big.txt") ?? 0;
  const max = BIG_SIZE + REQUESTS * PER_REQUEST_BYTES;
  assert.ok(
    read <= max,
    `${REQUESTS} requests read ${read} bytes (${(read / BIG_SIZE).toFixed(1)}` +
      ` times the file); bound ${max}`,
  );
});

Deno.test("netascii tsize (single-port): answering netascii tsize requests for a 64 MiB file does not stall a transfer in progress", async () => {
  const storage = new CountingStorage(
    new MemoryStorage({
      "big.txt": big.bytes,
      "small.bin": new Uint8Array(512 * 60_000),
    }),
  );
  await using srv = await startServer({
    server: { storage, singlePort: true },
  });
  const listen = { hostname: "127.0.0.1", port: srv.port };
  // What happened, in order: a DATA of the other transfer, or a read of
  // the big file (bytes).
  const events: (number | "data")[] = [];
  storage.onRead = (name, n) => {
    if (name === "big.txt") events.push(n);
  };
  using other = RawClient.open();
  await other.send(encodeRequest(Opcode.RRQ, "small.bin"), listen);
  let started!: () => void;
  const going = new Promise<void>((r) => started = r);
  let probing = true;
  let afterProbes = 0;
  let blocks = 0;
  const download = (async () => {
    let block = 0;
    while (probing || afterProbes++ < 20) {
      const r = await other.receive(30_000);
      assert.ok(r, `the other transfer stalled after block ${block}`);
      if (
        r.packet.op !== Opcode.DATA || r.packet.block !== ((block + 1) & 0xffff)
      ) {
        continue;
      }
      block++;
      events.push("data");
      started();
      await other.send(encodeAck(r.packet.block), r.from);
    }
    blocks = block;
    await other.send(encodeError(ErrorCode.NOT_DEFINED, "enough"), listen);
  })();
  // Let the other transfer get going first.
  await going;
  await Promise.all([probe(listen), probe(listen), probe(listen)]);
  probing = false;
  await download;
  let worst = 0;
  let run = 0;
  let seenData = false;
  for (const e of events) {
    if (e === "data") {
      if (seenData) worst = Math.max(worst, run);
      seenData = true;
      run = 0;
    } else run += e;
  }
  assert.ok(
    worst <= BETWEEN_BLOCKS_BYTES,
    `${worst} bytes of big.txt read between two DATA of the other transfer ` +
      `(${blocks} blocks in all); bound ${BETWEEN_BLOCKS_BYTES}`,
  );
});
