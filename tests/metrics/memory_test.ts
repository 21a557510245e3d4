/**
 * Memory stays bounded with thousands of finished transfers: a child
 * process (with V8's gc exposed) runs 5000 transfers whose file names and
 * error texts are 16 KiB each and distinct, about 160 MiB in all, and the
 * heap it retains afterwards stays under 3 MiB (the last 200 transfers,
 * clipped). Keeping every transfer would retain 160 MiB, and keeping the
 * last 200 unclipped about 6 MiB.
 */

import assert from "node:assert/strict";

const PROBE = new URL("./memory_probe.ts", import.meta.url).pathname;

Deno.test("the monitor retains a bounded heap after 5000 transfers with 16 KiB names", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      "--v8-flags=--expose-gc",
      PROBE,
      "5000",
      "16384",
    ],
    env: { NO_COLOR: "1", RUST_BACKTRACE: "0" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  const r = JSON.parse(new TextDecoder().decode(out.stdout));
  console.log(
    `retained heap growth ${(r.growth / 1024).toFixed(0)} KiB, ` +
      `status document ${(r.statusBytes / 1024).toFixed(0)} KiB`,
  );
  assert.equal(r.transfers, 5000);
  assert.equal(r.recent, 200);
  assert.ok(r.growth < 3 * 1024 * 1024, `heap grew by ${r.growth} bytes`);
  assert.ok(r.statusBytes < 200 * 1024, `status is ${r.statusBytes} bytes`);
});
