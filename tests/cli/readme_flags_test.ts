/**
 * The README's flag tables are the flag tables: same flags, short names,
 * aliases, value names, defaults and meanings, in the same order and
 * sections. When this fails, run `deno task readme:flags`.
 */

import assert from "node:assert/strict";
import {
  flagTables,
  README_FLAGS,
  readReadmeTables,
} from "../../src/cli/readme.ts";
import { REPO_ROOT } from "../../testing/process.ts";

const readme = await Deno.readTextFile(`${REPO_ROOT}/README.md`);

for (const [name, flags] of Object.entries(README_FLAGS)) {
  Deno.test(`README: the ${name} flag table matches src/cli/`, () => {
    assert.deepEqual(
      readReadmeTables(readme, name),
      flagTables(flags),
      `README.md's ${name} flags differ from src/cli/: run deno task readme:flags`,
    );
  });
}

Deno.test("README: the client table sits in the Client section, the server's in Command line", () => {
  const section = (title: string) =>
    readme.split(/^## /m).find((s) => s.startsWith(`${title}\n`)) ?? "";
  assert.match(section("Command line"), /<!-- flags:server:/);
  assert.match(section("Client"), /<!-- flags:client:/);
});
