/**
 * The client library's `signal`: aborted mid-transfer, the server gets one
 * ERROR 0 through the driver (its transfer ends "aborted" with that
 * error), the call rejects with kind `cancelled`; aborted before the start,
 * nothing is sent at all.
 */

import assert from "node:assert/strict";
import { TftpClientError, tftpGet, tftpPut } from "../../src/client/client.ts";
import { randomBytes, startFeatureServer } from "../features/fixture.ts";
import { RawClient } from "../../testing/raw_client.ts";

const SIZE = 2_000_000;

async function assertCancelled(p: Promise<unknown>): Promise<void> {
  const e = await p.then(() => undefined, (e) => e);
  assert.ok(e instanceof TftpClientError, String(e));
  assert.equal(e.kind, "cancelled");
  assert.equal(e.message, "transfer cancelled");
}

Deno.test("get and put aborted mid-transfer: the server's transfer ends on our ERROR 0", async (t) => {
  await using srv = await startFeatureServer({
    files: { "a.bin": randomBytes(SIZE) },
  });
  await t.step("get", async () => {
    const controller = new AbortController();
    await assertCancelled(tftpGet("a.bin", {
      ...srv.target,
      signal: controller.signal,
      onProgress: (n) => n >= 512 * 4 && controller.abort(),
      sink: { write: () => {} },
    }));
    const s = await srv.waitForTransfer((s) => s.direction === "read");
    assert.equal(s.outcome, "aborted");
    assert.match(s.error ?? "", /^client sent ERROR 0: "transfer cancelled"$/);
  });
  await t.step("put", async () => {
    const controller = new AbortController();
    await assertCancelled(tftpPut("up.bin", {
      ...srv.target,
      data: randomBytes(SIZE),
      signal: controller.signal,
      onProgress: (n) => n >= 512 * 4 && controller.abort(),
    }));
    const s = await srv.waitForTransfer((s) => s.direction === "write");
    assert.equal(s.outcome, "aborted");
    assert.match(s.error ?? "", /^client sent ERROR 0: "transfer cancelled"$/);
  });
});

Deno.test("a signal aborted before the call: nothing is sent", async () => {
  using silent = RawClient.open();
  const signal = AbortSignal.abort();
  const target = { host: "127.0.0.1", port: silent.port, signal };
  await assertCancelled(tftpGet("a", { ...target, sink: { write: () => {} } }));
  await assertCancelled(tftpPut("a", { ...target, data: new Uint8Array(9) }));
  assert.equal(await silent.receiveRaw(100), undefined);
});
