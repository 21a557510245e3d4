/**
 * The upload window cap assumes how many datagrams a socket can queue
 * (`datagramCost` in src/protocol/options.ts). Measured here against the
 * kernel: a socket that does not read is sent more datagrams than fit, and
 * the count it then holds must be at least what the model says, so a
 * granted window never overflows the buffer.
 */

import assert from "node:assert/strict";
import { datagramCost } from "../../src/protocol/options.ts";
import { receiveBufferBytes } from "../../src/transport/types.ts";
import {
  encodeError,
  encodeRequest,
  Opcode,
} from "../../src/protocol/packet.ts";
import { RawClient } from "../../testing/raw_client.ts";
import { startServer } from "../../testing/server.ts";

async function queued(size: number): Promise<number> {
  const sink = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const source = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  try {
    const data = new Uint8Array(size);
    for (let i = 0; i < 300; i++) {
      await source.send(data, sink.addr as Deno.NetAddr);
    }
    // A datagram sent to 127.0.0.1 is queued (or dropped) before send
    // returns: what is held can be read at once, and a read that waits
    // means the queue is empty.
    let n = 0;
    const buf = new Uint8Array(65536);
    for (;;) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const got = await Promise.race([
        sink.receive(buf),
        new Promise<undefined>((r) => {
          timer = setTimeout(() => r(undefined), 500);
        }),
      ]);
      clearTimeout(timer);
      if (!got) break;
      n++;
    }
    return n;
  } finally {
    sink.close();
    source.close();
  }
}

Deno.test("a socket queues at least the datagrams datagramCost() promises", async () => {
  const buffer = receiveBufferBytes();
  for (const size of [516, 1472, 4100, 8196, 16388, 32772, 65468]) {
    const promised = Math.floor(buffer / datagramCost(size));
    const held = await queued(size);
    assert.ok(
      held >= promised,
      `${size}-byte datagrams: the socket held ${held}, the model promised ${promised}`,
    );
  }
});

Deno.test("a WRQ for 64 blocks of 65464 bytes is granted the window its socket can hold", async () => {
  await using srv = await startServer();
  using client = RawClient.open();
  await client.send(
    encodeRequest(Opcode.WRQ, "big.bin", {
      options: new Map([["blksize", "65464"], ["windowsize", "64"]]),
    }),
    srv.addr,
  );
  const r = await client.receive(5000);
  assert.ok(r?.packet.op === Opcode.OACK, "no OACK");
  const fits = Math.floor(receiveBufferBytes() / datagramCost(4 + 65464));
  assert.equal(r.packet.options.get("windowsize"), String(fits));
  assert.equal(r.packet.options.get("blksize"), "65464");
  await client.send(encodeError(0, "done"), r.from);
});
