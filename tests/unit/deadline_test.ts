/**
 * Bounds on storage: an open or read that never returns is given up in
 * time, a cancelled transfer stops waiting at once, and a result that
 * arrives after either is released.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ErrorCode, TftpError } from "../../src/protocol/packet.ts";

Deno.test("openWithin(): an open that never returns is refused in time; a late handle is released", async () => {
  const { openWithin } = await import("../../src/storage/deadline.ts");
  let release!: (h: { close(): void }) => void;
  let closed = false;
  const slow = new Promise<{ close(): void }>((r) => release = r);
  const err = await openWithin(slow, 20).then(() => undefined, (e) => e);
  assert.ok(err instanceof TftpError);
  assert.equal(err.code, ErrorCode.NOT_DEFINED);
  release({ close: () => closed = true });
  await slow;
  await Promise.resolve();
  assert.equal(closed, true, "the late handle was not released");
  const fast = await openWithin(Promise.resolve({ close() {} }), 10_000);
  assert.ok(fast);
});

Deno.test("withDeadline(): an abort stops the wait at once with its reason; the late result is released", async () => {
  const { withDeadline } = await import("../../src/storage/deadline.ts");
  let finish!: (v: string) => void;
  const slow = new Promise<string>((r) => finish = r);
  const late: string[] = [];
  const stop = new AbortController();
  const waiting = withDeadline(slow, {
    ms: 600_000,
    late: (v) => late.push(v),
    signal: stop.signal,
  });
  stop.abort(new Error("server shutdown"));
  const err = await waiting.then(() => undefined, (e) => e);
  assert.equal((err as Error)?.message, "server shutdown");
  finish("handle");
  await slow;
  assert.deepEqual(late, ["handle"]);
});
