/**
 * The mutation check's list stays in step with the code (`deno task
 * mutate` itself is too long for the suite: see docs/testing.md), and the
 * script reads the test runner's report right.
 */

import assert from "node:assert/strict";
import {
  applyEdits,
  checkMutants,
  failedTests,
  loadMutants,
} from "../../tools/mutate.ts";

Deno.test("mutants.json: every planted bug applies to the code as it is", async () => {
  const mutants = await loadMutants();
  assert.deepEqual(
    await checkMutants(mutants),
    [],
    "a search text no longer matches exactly once: update tools/mutants.json " +
      "to the changed code (and run `deno task mutate --only ID`)",
  );
  const ids = mutants.map((m) => m.id);
  assert.equal(new Set(ids).size, ids.length, "duplicate ids");
  for (const m of mutants) {
    assert.ok(m.breaks.length > 20, `${m.id}: say what it breaks`);
    assert.ok(m.tests.length > 0, `${m.id}: no tests`);
  }
});

Deno.test("mutate: an edit must match exactly once", () => {
  assert.equal(applyEdits("a+b", [{ search: "+", replace: "-" }]), "a-b");
  assert.throws(
    () => applyEdits("a+b+c", [{ search: "+", replace: "-" }]),
    /more than one match/,
  );
  assert.throws(
    () => applyEdits("abc", [{ search: "+", replace: "-" }]),
    /no match/,
  );
  // Edits apply in order, each to the text the previous one left.
  assert.equal(
    applyEdits("x", [{ search: "x", replace: "yy" }, {
      search: "yy",
      replace: "z",
    }]),
    "z",
  );
});

Deno.test("mutate: failed tests from a JUnit report, steps under their test", () => {
  const xml = `<testsuites><testsuite name="./a_test.ts">
<testcase name="passes" classname="./a_test.ts" time="0.001"></testcase>
<testcase name="fails &amp; &quot;quotes&quot;" classname="./a_test.ts">
<failure message="x">Error: x</failure></testcase>
<testcase name="steps" classname="./a_test.ts">
<failure message="1 test step failed">1 test step failed.</failure></testcase>
<testcase name="steps &gt; one" classname="./common.ts"></testcase>
<testcase name="steps &gt; two" classname="./common.ts">
<failure message="y">Error: y</failure></testcase>
</testsuite></testsuites>`;
  assert.deepEqual(failedTests(xml), [
    './a_test.ts: fails & "quotes"',
    "./a_test.ts: steps",
  ]);
});
