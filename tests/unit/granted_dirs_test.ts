/**
 * The start-up line of a root that Deno's permissions grant only below
 * it (`--allow-write=ROOT/incoming`): it names the directories uploads
 * go to instead of saying "read-only", found by a bounded walk that never
 * follows a symlink.
 */

import assert from "node:assert/strict";
import { withRootAndOutside } from "../../testing/server.ts";
import { FsStorage } from "../../src/storage/files.ts";
import { grantedUploadDirs } from "../../src/storage/sweep.ts";
import { type FsCalls, realFsCalls } from "../../src/storage/sys.ts";

/** Real calls, but write access granted only at the paths in `granted`. */
function grantedAt(granted: string[]): FsCalls {
  return {
    ...realFsCalls(),
    canWrite: (path) => granted.some((g) => path === g),
  };
}

Deno.test("describe(): a root granted only below it names where uploads go", async () => {
  await withRootAndOutside(async (root) => {
    await Deno.mkdir(`${root}/incoming`);
    await Deno.mkdir(`${root}/fw/up`, { recursive: true });
    await Deno.mkdir(`${root}/other`);
    const calls = grantedAt([`${root}/incoming`, `${root}/fw/up`]);
    const s = await FsStorage.open(root, { calls });
    assert.equal(
      s.describe(),
      `root ${root} (read-only; uploads into "fw/up/", "incoming/")`,
    );
  });
});

Deno.test("describe(): read-only with no grant, read-write with the root's, read-only when not writable", async () => {
  await withRootAndOutside(async (root) => {
    await Deno.mkdir(`${root}/incoming`);
    const none = await FsStorage.open(root, { calls: grantedAt([]) });
    assert.equal(none.describe(), `root ${root} (read-only)`);
    const all = await FsStorage.open(root, { calls: grantedAt([root]) });
    assert.equal(all.describe(), `root ${root} (read-write)`);
    const off = await FsStorage.open(root, {
      calls: grantedAt([root, `${root}/incoming`]),
      writable: false,
    });
    assert.equal(off.describe(), `root ${root} (read-only)`);
  });
});

Deno.test("grantedUploadDirs(): the shallowest grant only, never through a symlink, at most max", async () => {
  await withRootAndOutside(async (root, outside) => {
    await Deno.mkdir(`${root}/a/b`, { recursive: true });
    await Deno.mkdir(`${outside}/x`);
    await Deno.symlink(outside, `${root}/link`);
    for (const d of ["c", "d", "e"]) await Deno.mkdir(`${root}/${d}`);
    const calls = grantedAt([
      `${root}/a`,
      `${root}/a/b`,
      `${root}/link`,
      `${root}/link/x`,
    ]);
    const found = grantedUploadDirs(root, { calls });
    assert.deepEqual(found, { dirs: ["a"], truncated: false });
    const many = grantedAt(["a", "c", "d", "e"].map((d) => `${root}/${d}`));
    const capped = grantedUploadDirs(root, { calls: many, max: 2 });
    assert.equal(capped.dirs.length, 2);
    assert.equal(capped.truncated, true);
    const named = await FsStorage.open(root, { calls: many });
    assert.match(
      named.describe(),
      /uploads into "[a-e]\/", .* and maybe more\)$/,
    );
  });
});

Deno.test("grantedUploadDirs(): the walk is bounded in depth", async () => {
  await withRootAndOutside(async (root) => {
    await Deno.mkdir(`${root}/1/2/3/4`, { recursive: true });
    const calls = grantedAt([`${root}/1/2/3/4`]);
    const shallow = grantedUploadDirs(root, {
      calls,
      limits: { maxDepth: 2 },
    });
    assert.deepEqual(shallow, { dirs: [], truncated: true });
    assert.deepEqual(grantedUploadDirs(root, { calls }).dirs, ["1/2/3/4"]);
  });
});
