/**
 * A WriteSession under a fake clock: an upload outlasts a sender that
 * resends a lost DATA only on its own 5 s timer (tftp-hpa, atftp; RFC 1123
 * 4.2.3.1), a WRQ that never sends DATA ends as soon as before, and an
 * upload whose sender is gone ends at its bound.
 */

import assert from "node:assert/strict";
import { MemoryStorage } from "../../src/storage/memory.ts";
import { elapse } from "../../testing/fake.ts";
import { data, ended, expectAck, pattern, start } from "./session_cases.ts";

Deno.test("upload: a DATA lost once and resent 5 s later by the sender's timer still lands", async () => {
  const storage = new MemoryStorage({}, { writable: true });
  const content = pattern(1000);
  const h = start("write", "up.bin", storage);
  const t = h.transport;
  expectAck((await t.waitForSent(1))[0], 0);
  data(h, 1, content.subarray(0, 512));
  expectAck((await t.waitForSent(2))[1], 1);
  // DATA 2 is lost: the server re-ACKs 1 on its timer, then waits.
  await elapse(h.clock, 5000);
  assert.ok(t.sent.length > 2, "re-ACKs were sent");
  assert.equal(t.closed, false);
  data(h, 2, content.subarray(512));
  const stats = await h.session.stats;
  assert.equal(stats.outcome, "ok");
  assert.deepEqual(storage.files.get("up.bin"), content);
});

Deno.test("upload: after DATA, a sender that is gone is given up at 12 s without progress (at --timeout when set)", async () => {
  for (
    const [config, ms] of [[{}, 12_000], [{ uploadTimeout: 4 }, 4000]] as const
  ) {
    const h = start(
      "write",
      "gone.bin",
      new MemoryStorage({}, { writable: true }),
      { config },
    );
    expectAck((await h.transport.waitForSent(1))[0], 0);
    data(h, 1, pattern(512));
    expectAck((await h.transport.waitForSent(2))[1], 1);
    await elapse(h.clock, ms - 10);
    assert.equal(h.transport.closed, false, `still waiting before ${ms} ms`);
    await elapse(h.clock, 20);
    assert.equal((await ended(h)).outcome, "timeout");
  }
});

Deno.test("upload: a WRQ that never sends DATA ends at the default 3 s, as any silent peer", async () => {
  const h = start(
    "write",
    "never.bin",
    new MemoryStorage({}, { writable: true }),
  );
  expectAck((await h.transport.waitForSent(1))[0], 0);
  await elapse(h.clock, 3010);
  assert.equal((await ended(h)).outcome, "timeout");
});
