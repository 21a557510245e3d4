/**
 * A running server fed junk (random, truncated, wrong opcodes, bad options,
 * huge and hostile names) at its listen port and at live transfer ports,
 * mixed with real transfers: it stays up, every real transfer completes
 * intact, nothing appears or changes outside the root, served files stay
 * as they were, no temporary file is left, and memory stays bounded.
 *
 * CI sends 20,000 datagrams; `HARDENING_FULL=1` sends 100,000 (the same
 * as `deno run -A tools/fuzz_server.ts --datagrams 100000`).
 */

import assert from "node:assert/strict";
import { fuzzProblems, fuzzServer } from "../../tools/fuzz_server.ts";
import { seedFromEnv } from "../../testing/rng.ts";

const FULL = Deno.env.get("HARDENING_FULL") === "1";
const SEED = seedFromEnv(0xf022);

Deno.test("fuzz: the server survives junk at its listen and transfer ports while real transfers complete", async () => {
  const report = await fuzzServer({
    seed: SEED,
    datagrams: FULL ? 100_000 : 20_000,
    realTransfers: FULL ? 200 : 60,
  });
  const problems = fuzzProblems(report, { maxRssGrowthMb: 150 });
  const text = JSON.stringify(report, null, 2);
  assert.deepEqual(problems, [], `seed ${SEED}:\n${text}`);
  // The junk reached both kinds of port and got answers.
  assert.ok(
    report.toTransferPorts > 0,
    `no junk hit a transfer port:\n${text}`,
  );
  assert.ok(report.replies > 0, `no junk got a reply:\n${text}`);
  assert.ok(report.junkTransfers > 0, `no junk started a transfer:\n${text}`);
});
