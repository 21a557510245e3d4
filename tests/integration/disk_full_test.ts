/**
 * Integration over 127.0.0.1 with a raw UDP client: uploads to a full file
 * system (a small tmpfs mounted inside the root, so root only) get ERROR 3
 * whether the blocks or the inodes ran out, and leave nothing behind.
 */

import assert from "node:assert/strict";
import { startServer } from "../../testing/server.ts";
import { putFile, randomBytes } from "../../testing/raw_client.ts";

const asRoot = Deno.uid() === 0;

async function mount(dir: string, opts: string): Promise<void> {
  const { code, stderr } = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", opts, "tmpfs", dir],
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
}

async function umount(dir: string): Promise<void> {
  await new Deno.Command("umount", { args: [dir] }).output();
}

/** The names in `dir`, sorted. */
function names(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

for (
  const [what, opts, before] of [
    // The tmpfs root and two files use every inode.
    ["no inode left", "size=256k,nr_inodes=3", ["a", "b"]],
    ["no block left", "size=64k", []],
  ] as const
) {
  Deno.test({
    name: `disk full (${what}): an upload gets ERROR 3 and leaves nothing`,
    ignore: !asRoot,
    async fn() {
      await using srv = await startServer({
        files: { "tiny/hidden": "" },
        server: { allowOverwrite: true },
      });
      const tiny = `${srv.root}/tiny`;
      await mount(tiny, opts);
      try {
        for (const name of before) {
          Deno.writeFileSync(`${tiny}/${name}`, new Uint8Array([1]));
        }
        const targets = ["tiny/new.bin", ...before.map((n) => `tiny/${n}`)];
        for (const name of targets) {
          const r = await putFile(srv.addr, name, {
            data: randomBytes(200_000),
          });
          assert.equal(r.error?.code, 3, `${name}: ${r.error?.message}`);
          assert.deepEqual(names(tiny), [...before]);
        }
        for (const name of before) {
          assert.deepEqual([...Deno.readFileSync(`${tiny}/${name}`)], [1]);
        }
      } finally {
        await umount(tiny);
      }
    },
  });
}
