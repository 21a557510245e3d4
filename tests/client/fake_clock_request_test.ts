/**
 * The client library (`tftpGet`, `tftpPut`) on the fakes, against a scripted
 * server: retransmitting its request and giving up, taking the transfer
 * port, and accepting or refusing an OACK.
 */

import assert from "node:assert/strict";
import { TftpClientError, tftpGet, tftpPut } from "../../src/client/client.ts";
import { elapse } from "../../testing/fake.ts";
import {
  collector,
  pattern,
  readServer,
  setup,
  within,
  writeServer,
} from "./fake_clock_cases.ts";

Deno.test('tftpGet retransmits its RRQ at each interval, then fails "timed out waiting for the server"', async () => {
  const { clock, transport, opts } = setup();
  const t0 = clock.now();
  const { sink } = collector();
  const err = await within(
    clock,
    10_000,
    tftpGet("boot.ipxe", { ...opts, sink, retries: 2, retransmitMs: 100 }),
  );
  assert.ok(err instanceof TftpClientError);
  assert.equal(err.message, "timed out waiting for the server");
  assert.equal(err.kind, "timeout");
  assert.equal(err.code, -1);
  assert.deepEqual(transport.wire, [
    "RRQ boot.ipxe octet",
    "RRQ boot.ipxe octet",
    "RRQ boot.ipxe octet",
  ]);
  assert.deepEqual(transport.at.map((t) => t - t0), [0, 100, 200]);
  assert.equal(transport.closed, true);
});

Deno.test("tftpGet by default sends its RRQ 6 times, 1000 ms apart, and gives up at 6000 ms", async () => {
  const { clock, transport, opts } = setup();
  const t0 = clock.now();
  const p = tftpGet("a", { ...opts, sink: collector().sink }).catch((e) => e);
  await elapse(clock, 5999);
  assert.equal(transport.closed, false);
  await elapse(clock, 1);
  const err = await p;
  assert.ok(err instanceof TftpClientError && err.kind === "timeout");
  assert.deepEqual(transport.at.map((t) => t - t0), [
    0,
    1000,
    2000,
    3000,
    4000,
    5000,
  ]);
});

Deno.test("tftpGet's timeout option sets its own retransmit interval", async () => {
  const { clock, transport, opts } = setup();
  const t0 = clock.now();
  const err = await within(
    clock,
    10_000,
    tftpGet("a", { ...opts, sink: collector().sink, timeout: 2, retries: 1 }),
  );
  assert.ok(err instanceof TftpClientError && err.kind === "timeout");
  assert.deepEqual(transport.wire, [
    "RRQ a octet timeout=2",
    "RRQ a octet timeout=2",
  ]);
  assert.deepEqual(transport.at.map((t) => t - t0), [0, 2000]);
});

Deno.test('tftpPut retransmits its WRQ at each interval, then fails "timed out waiting for the server"', async () => {
  const { clock, transport, opts } = setup();
  const t0 = clock.now();
  const err = await within(
    clock,
    10_000,
    tftpPut("up.bin", {
      ...opts,
      data: pattern(10),
      retries: 1,
      retransmitMs: 300,
    }),
  );
  assert.ok(err instanceof TftpClientError);
  assert.equal(err.message, "timed out waiting for the server");
  assert.deepEqual(transport.wire, ["WRQ up.bin octet", "WRQ up.bin octet"]);
  assert.deepEqual(transport.at.map((t) => t - t0), [0, 300]);
});

Deno.test("tftpGet without options takes DATA from the transfer port and ACKs to it", async () => {
  const content = pattern(1300);
  const { transport, opts } = setup(readServer(content));
  const out = collector();
  const progress: [number, number | undefined][] = [];
  const result = await tftpGet("f", {
    ...opts,
    sink: out.sink,
    onProgress: (n, total) => progress.push([n, total]),
  });
  assert.deepEqual(out.bytes(), content);
  assert.equal(result.bytes, 1300);
  assert.deepEqual(result.options, new Map());
  assert.equal(result.retransmits, 0);
  assert.deepEqual(transport.wire, [
    "RRQ f octet",
    "ACK 1 -> 50001",
    "ACK 2 -> 50001",
    "ACK 3 -> 50001",
  ]);
  assert.deepEqual(progress, [[512, undefined], [1024, undefined], [
    1300,
    undefined,
  ]]);
});

Deno.test("tftpGet accepts an OACK within its request, ACKs 0 and receives in windows", async () => {
  const content = pattern(3000);
  const { transport, opts } = setup(readServer(content, {
    blksize: 1024,
    w: 2,
    oack: { blksize: "1024", windowsize: "2", tsize: "3000" },
  }));
  const out = collector();
  const progress: [number, number | undefined][] = [];
  const result = await tftpGet("f", {
    ...opts,
    sink: out.sink,
    blksize: 1024,
    windowsize: 2,
    tsize: true,
    onProgress: (n, total) => progress.push([n, total]),
  });
  assert.deepEqual(out.bytes(), content);
  assert.deepEqual(transport.wire, [
    "RRQ f octet blksize=1024 windowsize=2 tsize=0",
    "ACK 0 -> 50001",
    "ACK 2 -> 50001",
    "ACK 3 -> 50001",
  ]);
  assert.deepEqual(
    result.options,
    new Map([["blksize", "1024"], ["windowsize", "2"], ["tsize", "3000"]]),
  );
  assert.deepEqual(progress, [[1024, 3000], [2048, 3000], [3000, 3000]]);
});

Deno.test("tftpGet refuses an OACK beyond its request: ERROR 8 to the transfer port, and fails", async () => {
  const { transport, opts } = setup(
    readServer(pattern(10), { oack: { blksize: "2048" } }),
  );
  const err = await tftpGet("f", {
    ...opts,
    sink: collector().sink,
    blksize: 1024,
  })
    .catch((e) => e);
  assert.ok(err instanceof TftpClientError);
  assert.equal(
    err.message,
    "server sent an unacceptable OACK: blksize 2048 out of range",
  );
  assert.equal(err.kind, "protocol");
  assert.deepEqual(transport.wire, [
    "RRQ f octet blksize=1024",
    "ERROR 8 bad OACK -> 50001",
  ]);
});

Deno.test("tftpPut accepts an OACK within its request and sends at its blksize", async () => {
  const content = pattern(2500);
  const server = writeServer({
    blksize: 1024,
    oack: { blksize: "1024", tsize: "2500" },
  });
  const { transport, opts } = setup(server.serve);
  const result = await tftpPut("f", {
    ...opts,
    data: content,
    blksize: 1024,
    tsize: true,
  });
  assert.deepEqual(transport.wire, [
    "WRQ f octet blksize=1024 tsize=2500",
    "DATA 1 (1024) -> 50001",
    "DATA 2 (1024) -> 50001",
    "DATA 3 (452) -> 50001",
  ]);
  assert.equal(result.bytes, 2500);
  assert.deepEqual(
    result.options,
    new Map([["blksize", "1024"], ["tsize", "2500"]]),
  );
});

Deno.test("tftpPut refuses an OACK with an option it did not ask for: ERROR 8, and fails", async () => {
  const server = writeServer({ oack: { windowsize: "4" } });
  const { transport, opts } = setup(server.serve);
  const err = await tftpPut("f", { ...opts, data: pattern(10) }).catch((e) =>
    e
  );
  assert.ok(err instanceof TftpClientError);
  assert.match(err.message, /option windowsize was not requested$/);
  assert.deepEqual(transport.wire, [
    "WRQ f octet",
    "ERROR 8 bad OACK -> 50001",
  ]);
  assert.equal(server.got.length, 0);
});
