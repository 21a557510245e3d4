/**
 * The ceiling responder serves what the comparison asks of it: reads with
 * and without options (blksize, windowsize, tsize), block numbers past
 * 65535, uploads, and an error for a missing file. Checked with the
 * TypeScript load generator, byte for byte.
 *
 * @module
 */

import { startCeiling } from "./ceiling.ts";
import { seededBytes, sha256 } from "./dataset.ts";
import { rrq, wrq } from "./loadgen.ts";

function assert(ok: boolean, msg: string): asserts ok {
  if (!ok) throw new Error(msg);
}

async function withCeiling(
  files: Record<string, Uint8Array>,
  fn: (port: number, root: string) => Promise<void>,
): Promise<void> {
  const root = Deno.makeTempDirSync({ prefix: "ceiling-test-" });
  for (const [name, data] of Object.entries(files)) {
    Deno.writeFileSync(`${root}/${name}`, data);
  }
  const c = startCeiling({ root, port: 0 });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("not done in 30 s")), 30_000);
  });
  try {
    await Promise.race([fn(c.port, root), limit]);
  } finally {
    clearTimeout(timer);
    c.close();
    await c.done;
    Deno.removeSync(root, { recursive: true });
  }
}

const target = (port: number) => ({ host: "127.0.0.1", port });

Deno.test("ceiling serves a read with blksize, windowsize and tsize granted", async () => {
  const data = seededBytes(300_000, 3);
  await withCeiling({ "f.bin": data }, async (port) => {
    const r = await rrq(target(port), {
      filename: "f.bin",
      blksize: 1468,
      windowsize: 16,
      tsize: true,
      expectedSize: data.length,
    });
    assert(r.ok, `failed: ${r.error}`);
    assert(r.oack.blksize === "1468", `blksize ${r.oack.blksize}`);
    assert(r.oack.windowsize === "16", `windowsize ${r.oack.windowsize}`);
    assert(r.oack.tsize === String(data.length), `tsize ${r.oack.tsize}`);
    assert(sha256(r.data!) === sha256(data), "wrong bytes");
  });
});

Deno.test("ceiling serves a lock-step read without options, ending in an empty block", async () => {
  const data = seededBytes(512 * 4, 4);
  await withCeiling({ "f.bin": data }, async (port) => {
    const r = await rrq(target(port), { filename: "f.bin" });
    assert(r.ok, `failed: ${r.error}`);
    assert(Object.keys(r.oack).length === 0, "sent an OACK unasked");
    assert(sha256(r.data!) === sha256(data), "wrong bytes");
  });
});

Deno.test("ceiling rolls block numbers over past 65535", async () => {
  const data = seededBytes(8 * 65_600, 5);
  await withCeiling({ "f.bin": data }, async (port) => {
    const r = await rrq(target(port), {
      filename: "f.bin",
      blksize: 8,
      windowsize: 64,
      expectedSize: data.length,
    });
    assert(r.ok, `failed: ${r.error}`);
    assert(sha256(r.data!) === sha256(data), "wrong bytes");
  });
});

Deno.test("ceiling resends from the block a repeated ACK names", async () => {
  const data = seededBytes(1468 * 200, 6);
  await withCeiling({ "f.bin": data }, async (port) => {
    // Dropped DATA is recovered only by the client's own retransmits.
    const r = await rrq(target(port), {
      filename: "f.bin",
      blksize: 1468,
      windowsize: 8,
      loss: 0.05,
      seed: 9,
      retransmitMs: 100,
      retries: 20,
      expectedSize: data.length,
    });
    assert(r.ok, `failed: ${r.error}`);
    assert(r.dropped > 0, "the test dropped nothing");
    assert(sha256(r.data!) === sha256(data), "wrong bytes");
  });
});

Deno.test("ceiling stores an upload whole", async () => {
  const data = seededBytes(100_000, 7);
  await withCeiling({}, async (port, root) => {
    const r = await wrq(target(port), {
      filename: "up.bin",
      blksize: 1468,
      windowsize: 8,
      tsize: true,
      data,
    });
    assert(r.ok, `failed: ${r.error}`);
    // The file is closed before the final ACK leaves.
    assert(
      sha256(Deno.readFileSync(`${root}/up.bin`)) === sha256(data),
      "wrong file",
    );
  });
});

Deno.test("ceiling answers a missing file with ERROR 1 and a name with .. with ERROR 2", async () => {
  await withCeiling({}, async (port) => {
    const r = await rrq(target(port), { filename: "nope.bin" });
    assert(!r.ok && r.error === "server ERROR 1: file not found", `${r.error}`);
    const s = await rrq(target(port), { filename: "../etc/passwd" });
    assert(
      !s.ok && s.error === "server ERROR 2: access violation",
      `${s.error}`,
    );
  });
});
