/**
 * A ReadSession meeting strangers, malformed datagrams, probes and client
 * ERRORs, a missing file or an unsupported mode, and a cancel.
 */

import assert from "node:assert/strict";
import {
  encodeData,
  encodeError,
  ErrorCode,
} from "../../src/protocol/packet.ts";
import { MemoryStorage } from "../../src/storage/memory.ts";
import { settle } from "../../testing/fake.ts";
import {
  ack,
  ended,
  expectData,
  expectError,
  expectOack,
  pattern,
  PEER,
  start,
  summary,
} from "./session_cases.ts";

Deno.test("session: datagram from another port gets ERROR 5 and the transfer goes on", async () => {
  const content = pattern(700);
  const h = start("read", "f", new MemoryStorage({ f: content }));
  const t = h.transport;
  await t.waitForSent(1);
  const stranger = { ...PEER, port: 50001 };
  ack(h, 1, stranger);
  expectError((await t.waitForSent(2))[1], ErrorCode.UNKNOWN_TID, stranger);
  const otherHost = { ...PEER, hostname: "127.0.0.2" };
  ack(h, 1, otherHost);
  expectError((await t.waitForSent(3))[2], ErrorCode.UNKNOWN_TID, otherHost);
  assert.equal(t.closed, false);
  // The real client (seen through a dual-stack socket) carries on.
  ack(h, 1, { ...PEER, hostname: "::ffff:127.0.0.1" });
  expectData((await t.waitForSent(4))[3], 2, content.subarray(512));
  ack(h, 2);
  const stats = await ended(h);
  assert.equal(stats.outcome, "ok");
  assert.equal(stats.bytes, 700);
});

Deno.test("session: malformed datagrams from the peer are ignored", async () => {
  const h = start("read", "f", new MemoryStorage({ f: pattern(100) }));
  const t = h.transport;
  await t.waitForSent(1);
  t.inject(new Uint8Array([0]), PEER);
  t.inject(new Uint8Array([0, 9, 1, 2]), PEER);
  t.inject(encodeData(1, new Uint8Array(3)), PEER); // DATA during a read
  await settle();
  assert.equal(t.sent.length, 1);
  assert.equal(t.closed, false);
  ack(h, 1);
  assert.equal((await ended(h)).outcome, "ok");
});

Deno.test("session: ERROR 8 after the OACK is a probe, logged at info", async () => {
  const h = start("read", "f", new MemoryStorage({ f: pattern(4096) }), {
    options: [["tsize", "0"]],
    verbose: true,
  });
  const t = h.transport;
  expectOack((await t.waitForSent(1))[0], [["tsize", "4096"]]);
  t.inject(encodeError(ErrorCode.OPTION_REFUSED, "tsize only"), PEER);
  const stats = await ended(h);
  assert.equal(stats.outcome, "probe");
  assert.equal(t.sent.length, 1, "no ERROR sent back");
  assert.equal(summary(h).level, "info");
  assert.match(summary(h).line, /\[INFO\] .*: probe/);
  assert.deepEqual(
    h.lines.filter((l) => l.level === "warning" || l.level === "error"),
    [],
  );
});

Deno.test("session: a probe's start and end are both at the default level", async () => {
  const h = start("read", "f", new MemoryStorage({ f: "x" }), {
    options: [["tsize", "0"]],
  });
  await h.transport.waitForSent(1);
  h.transport.inject(encodeError(ErrorCode.OPTION_REFUSED, "ok"), PEER);
  assert.equal((await ended(h)).outcome, "probe");
  assert.equal(h.lines.length, 2, "the RRQ line and its end");
  assert.match(h.lines[0].line, /RRQ "f" octet tsize=0$/);
  assert.match(h.lines[1].line, /RRQ "f" octet tsize=1: probe \(client ended/);
  assert.equal(h.lines[1].level, "info");
});

Deno.test("session: client ERROR during a read aborts with a warning", async () => {
  const h = start("read", "f", new MemoryStorage({ f: pattern(2000) }), {
    options: [["tsize", "0"]],
  });
  const t = h.transport;
  await t.waitForSent(1);
  ack(h, 0);
  await t.waitForSent(2);
  t.inject(encodeError(ErrorCode.OPTION_REFUSED, "changed my mind"), PEER);
  const stats = await ended(h);
  assert.equal(stats.outcome, "aborted");
  assert.equal(t.sent.length, 2, "no reply to an ERROR");
  assert.equal(summary(h).level, "warning");
  assert.match(summary(h).line, /ERROR 8: "changed my mind"/);
});

Deno.test("session: read of a missing file sends ERROR 1", async () => {
  const h = start("read", "nope", new MemoryStorage({}));
  const stats = await h.run;
  expectError(h.transport.sent[0], ErrorCode.FILE_NOT_FOUND);
  assert.equal(h.transport.sent.length, 1);
  assert.equal(stats.outcome, "error");
  assert.match(stats.error ?? "", /ERROR 1/);
  await ended(h);
});

Deno.test("session: unsupported mode is refused with ERROR 4", async () => {
  for (const kind of ["read", "write"] as const) {
    const h = start(
      kind,
      "f",
      new MemoryStorage({ f: "x" }, { writable: true }),
      {
        mode: "mail",
      },
    );
    const stats = await h.run;
    assert.equal(h.transport.sent.length, 1);
    expectError(h.transport.sent[0], ErrorCode.ILLEGAL_OPERATION);
    assert.equal(stats.outcome, "error");
    await ended(h);
  }
});

Deno.test("session: cancel stops a read and tells the client why", async () => {
  const h = start("read", "f", new MemoryStorage({ f: pattern(5000) }));
  await h.transport.waitForSent(1);
  h.session.cancel();
  const stats = await ended(h);
  assert.equal(stats.outcome, "cancelled");
  assert.equal(h.transport.sent.length, 2);
  expectError(h.transport.sent[1], ErrorCode.NOT_DEFINED);
});
