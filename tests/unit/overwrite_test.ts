/**
 * Replacing a file with `allowOverwrite`: the upload takes the place of a
 * file only where writing into that file in place would be allowed.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ErrorCode, TftpError } from "../../src/protocol/packet.ts";
import { FsStorage } from "../../src/storage/files.ts";
import { type FsCalls, realFsCalls } from "../../src/storage/sys.ts";

async function withRoot(fn: (root: string) => Promise<void>): Promise<void> {
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "ow-" }));
  try {
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("FsStorage allowOverwrite: a file this process could not write into is not replaced (ERROR 2), and no temporary file is left", async () => {
  await withRoot(async (root) => {
    await Deno.writeTextFile(`${root}/locked.cfg`, "old");
    await Deno.writeTextFile(`${root}/open.cfg`, "old");
    const real = realFsCalls();
    // What the kernel answers a non-root server for a 0444 file.
    const calls: FsCalls = {
      ...real,
      canWriteFile: (p) => p !== "locked.cfg" && real.canWriteFile(p),
    };
    const s = new FsStorage(root, {
      calls,
      writable: true,
      allowOverwrite: true,
    });
    const err = await s.openWrite("locked.cfg").then(() => undefined, (e) => e);
    assert.ok(err instanceof TftpError, String(err));
    assert.equal(err.code, ErrorCode.ACCESS_VIOLATION);
    assert.match(err.message, /not writable/);
    const w = await s.openWrite("open.cfg");
    w.write(new TextEncoder().encode("new"));
    await w.commit();
    assert.equal(await Deno.readTextFile(`${root}/locked.cfg`), "old");
    assert.equal(await Deno.readTextFile(`${root}/open.cfg`), "new");
    const names = (await Array.fromAsync(Deno.readDir(root))).map((e) =>
      e.name
    );
    assert.deepEqual(names.sort(), ["locked.cfg", "open.cfg"]);
  });
});
