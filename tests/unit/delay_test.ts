/** Delay: a timed wait that a shutdown can cut short. */

import assert from "node:assert/strict";
import { Delay } from "../../src/server/delay.ts";

Deno.test("Delay: elapses, or says it was cancelled; cancelling twice or late is harmless", async () => {
  const short = new Delay(1);
  assert.equal(await short.done, true);
  short.cancel();
  assert.equal(await short.done, true);

  // A long wait cancelled: done at once with false, and no timer is left
  // behind (the test sanitizer would fail on one).
  const long = new Delay(60_000);
  long.cancel();
  long.cancel();
  assert.equal(await long.done, false);

  assert.equal(await new Delay(0).done, true);
});
