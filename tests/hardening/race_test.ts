/**
 * File-system races. A worker thread swaps a served name between a real
 * file (or directory) and a symlink leading out of the root, as fast as it
 * can, while reads run: no read may ever return the outside content.
 * Uploads whose target (or directory) changes during the transfer must not
 * overwrite anything or write outside the root.
 */

import assert from "node:assert/strict";
import { TftpClientError, tftpGet, tftpPut } from "../../src/client/client.ts";
import { ErrorCode, TftpError } from "../../src/protocol/packet.ts";
import { FsStorage } from "../../src/storage/files.ts";
import { type Harness, startHarness } from "./harness.ts";
import { busy, readStart, whileSwapping } from "./swap.ts";

const FULL = Deno.env.get("HARDENING_FULL") === "1";
const ATTEMPTS = FULL ? 30_000 : 3_000;
const OUTSIDE = "OUTSIDE SECRET\n";
const decoder = new TextDecoder();

/**
 * Bound of a race loop in wall-clock time: the loop stops earlier as soon
 * as it has made its attempts, seen the swaps and met the symlink, which
 * an unloaded machine does in well under a second.
 */
const RACE_BOUND_MS = 60_000;

/**
 * Whether a race loop has done enough: at least ATTEMPTS attempts, and the
 * race was run (more than 10 swaps, at least one attempt met the symlink),
 * or the bound has passed (the assertions after the loop then say what is
 * missing). A loaded machine can starve the swapping thread, so a fixed
 * count of attempts may end before it has swapped at all.
 */
function enough(
  attempts: number,
  swaps: number,
  refused: number,
  start: number,
): boolean {
  if (performance.now() - start > RACE_BOUND_MS) return true;
  return attempts >= ATTEMPTS && swaps > 10 && refused > 0;
}

// Was a bug: FsStorage.openRead re-checked the opened file with a stat
// that follows symlinks, so a second swap made the outside file pass (about
// 1 read in 3000 here, and tftpGet received the outside file). Now lstat
// between two realPath checks; race_flip_test.ts has a faster adversary.
for (const kind of ["file", "dir"] as const) {
  Deno.test({
    name:
      `race: FsStorage.openRead never returns outside content while a ${kind} is swapped for a symlink`,
    fn: async () => {
      await using h = await startHarness();
      const name = kind === "file" ? "f.txt" : "d";
      const request = kind === "file" ? "f.txt" : "d/secret.txt";
      if (kind === "file") {
        await Deno.writeTextFile(`${h.root}/f.txt`, "INSIDE\n");
      } else {
        await Deno.mkdir(`${h.root}/d`);
        await Deno.writeTextFile(`${h.root}/d/secret.txt`, "INSIDE\n");
      }
      const storage = await FsStorage.open(h.root);
      const { result, swaps } = await whileSwapping({
        root: h.root,
        name,
        outside: kind === "file" ? `${h.outside}/secret.txt` : h.outside,
        kind,
      }, async (swapsSoFar) => {
        let refused = 0;
        const start = performance.now();
        for (let i = 0; !enough(i, swapsSoFar(), refused, start); i++) {
          try {
            const text = await readStart(storage, request);
            assert.notEqual(
              text,
              OUTSIDE,
              `attempt ${i} read outside the root`,
            );
            assert.equal(
              text,
              "INSIDE\n",
              `attempt ${i} read ${JSON.stringify(text)}`,
            );
          } catch (err) {
            if (!(err instanceof TftpError)) throw err;
            assert.ok(
              busy(err) || err.code === ErrorCode.ACCESS_VIOLATION ||
                err.code === ErrorCode.FILE_NOT_FOUND,
              `unexpected ${err.code}: ${err.message}`,
            );
            refused++;
          }
        }
        return { refused };
      });
      assert.ok(swaps > 10, `only ${swaps} swaps: the race was not exercised`);
      assert.ok(result.refused > 0, "no read met the symlink");
      // Reads succeed at all (the worker stops with the real thing back).
      assert.equal(await readStart(storage, request), "INSIDE\n");
    },
  });
}

// The same race, seen by a client.
Deno.test({
  name:
    "race: downloads through the server never carry outside content while the file is swapped",
  fn: async () => {
    await using h = await startHarness();
    await Deno.writeTextFile(`${h.root}/f.txt`, "INSIDE\n");
    const { result: refused } = await whileSwapping({
      root: h.root,
      name: "f.txt",
      outside: `${h.outside}/secret.txt`,
      kind: "file",
    }, async (swapsSoFar) => {
      let refused = 0;
      const start = performance.now();
      for (let i = 0; !enough(i * 10, swapsSoFar(), refused, start); i++) {
        const chunks: Uint8Array[] = [];
        try {
          await tftpGet("f.txt", {
            host: "127.0.0.1",
            port: h.port,
            sink: { write: (d) => void chunks.push(d.slice()) },
          });
          const text = chunks.map((c) => decoder.decode(c)).join("");
          assert.equal(
            text,
            "INSIDE\n",
            `download ${i}: ${JSON.stringify(text)}`,
          );
        } catch (err) {
          if (!(err instanceof TftpClientError)) throw err;
          assert.ok(
            err.code === 1 || err.code === 2 || busy(err),
            err.message,
          );
          refused++;
        }
      }
      return refused;
    });
    assert.ok(refused > 0, "no download met the symlink");
    // Downloads succeed at all (the worker stops with the file back).
    const chunks: Uint8Array[] = [];
    await tftpGet("f.txt", {
      host: "127.0.0.1",
      port: h.port,
      sink: { write: (d) => void chunks.push(d.slice()) },
    });
    assert.equal(chunks.map((c) => decoder.decode(c)).join(""), "INSIDE\n");
  },
});

/**
 * Uploads 20 blocks and runs `meddle` once the first block is acknowledged
 * (the upload is then open on the server).
 */
async function uploadWhile(
  h: Harness,
  name: string,
  meddle: () => void,
): Promise<TftpClientError | undefined> {
  let done = false;
  try {
    await tftpPut(name, {
      host: "127.0.0.1",
      port: h.port,
      data: new Uint8Array(20 * 512 + 3).fill(0x55),
      onProgress: (bytes) => {
        if (bytes > 0 && !done) {
          done = true;
          meddle();
        }
      },
    });
  } catch (err) {
    if (err instanceof TftpClientError) return err;
    throw err;
  }
  assert.ok(done, "the upload finished before the meddling");
  return undefined;
}

async function noTempFiles(h: Harness): Promise<void> {
  await h.server.close();
  const left = (await h.list()).filter((p) => p.includes(".tftp-upload-"));
  assert.deepEqual(left, [], "temporary files left behind");
}

for (const allowOverwrite of [false, true]) {
  const label = allowOverwrite ? " (allowOverwrite)" : "";
  Deno.test(`race: an upload whose target appears meanwhile does not overwrite it${label}`, async () => {
    await using h = await startHarness({ allowOverwrite });
    const err = await uploadWhile(h, "up.bin", () => {
      Deno.writeTextFileSync(`${h.root}/up.bin`, "SOMEONE ELSE\n");
    });
    if (!allowOverwrite) {
      assert.ok(err, "the upload succeeded over the new file");
      assert.equal(err.code, ErrorCode.FILE_EXISTS, err.message);
      assert.equal(
        await Deno.readTextFile(`${h.root}/up.bin`),
        "SOMEONE ELSE\n",
        "the other file was changed",
      );
    } else {
      // Overwriting regular files is what the operator asked for; the
      // result is one whole file, never a mix.
      const got = await Deno.readFile(`${h.root}/up.bin`);
      assert.ok(
        decoder.decode(got) === "SOMEONE ELSE\n" ||
          (got.length === 20 * 512 + 3 && got.every((b) => b === 0x55)),
        "the target is a mix",
      );
    }
    await noTempFiles(h);
  });

  Deno.test(`race: an upload whose target becomes a symlink leading out writes nothing outside${label}`, async () => {
    await using h = await startHarness({ allowOverwrite });
    const err = await uploadWhile(h, "up.bin", () => {
      Deno.symlinkSync(`${h.outside}/secret.txt`, `${h.root}/up.bin`);
    });
    assert.ok(err, "the upload succeeded through the symlink");
    assert.equal(err.code, ErrorCode.FILE_EXISTS, err.message);
    assert.equal(
      await Deno.readTextFile(`${h.outside}/secret.txt`),
      OUTSIDE,
      "the file outside the root was changed",
    );
    assert.ok((await Deno.lstat(`${h.root}/up.bin`)).isSymlink);
    await noTempFiles(h);
  });
}

Deno.test("race: an upload whose directory is swapped for a symlink leading out writes nothing outside", async () => {
  await using h = await startHarness();
  await Deno.mkdir(`${h.root}/d`);
  const before = await h.list(h.outside);
  await uploadWhile(h, "d/up.bin", () => {
    Deno.renameSync(`${h.root}/d`, `${h.root}/d-moved`);
    Deno.symlinkSync(h.outside, `${h.root}/d`);
  });
  await h.server.close();
  // The upload fails or lands inside; the moved directory may keep the
  // temporary file (its path no longer leads there), but nothing is written
  // through the symlink.
  assert.deepEqual(await h.list(h.outside), before, "a file appeared outside");
  assert.equal(
    await Deno.readTextFile(`${h.outside}/secret.txt`),
    OUTSIDE,
  );
});
