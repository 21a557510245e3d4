/**
 * A short soak: 600 transfers from 60 concurrent clients (on two client
 * threads) with junk at the listen and transfer ports. No transfer fails,
 * no server error is logged, no UDP socket or file descriptor is left open
 * afterwards (compared through /proc/self/fd), and memory does not keep
 * growing after warm-up.
 *
 * The long version: `deno run -A tools/soak.ts --minutes 5`.
 */

import assert from "node:assert/strict";
import { openFds, runSoak, soakProblems } from "../../tools/soak.ts";
import { seedFromEnv } from "../../testing/rng.ts";

const SEED = seedFromEnv(0x50a4);

Deno.test("soak: hundreds of transfers with junk, no failures, no leaked descriptors, bounded memory", async () => {
  const fdsBefore = openFds();
  const report = await runSoak({
    transfers: 600,
    concurrency: 60,
    workers: 2,
    junkPerSecond: 300,
    seed: SEED,
  });
  const text = JSON.stringify(report, null, 2);
  assert.deepEqual(
    soakProblems(report, { fdSlack: 6, maxRssGrowthMb: 150 }),
    [],
    `seed ${SEED}:\n${text}`,
  );
  assert.equal(report.transfers, 600, text);
  assert.ok(report.reads > 0 && report.writes > 0, text);
  assert.ok(report.junk > 0, `no junk was sent:\n${text}`);
  const fdsAfter = openFds();
  if (fdsBefore >= 0) {
    assert.ok(
      fdsAfter <= fdsBefore + 6,
      `${fdsBefore} descriptors before, ${fdsAfter} after:\n${text}`,
    );
  }
});
