/**
 * Per-client roots with an origin behind them (hostile review B): a name
 * the root refused (fenced as a client's directory, a symlink leading out
 * of the root or of the client's own directory, a symlinked client
 * directory's name) is never asked of the origin, in the main thread or
 * in worker threads; it answers as a name nobody has. Ordinary missing
 * names still come from the origin, for clients with and without a
 * directory.
 */

import assert from "node:assert/strict";
import { getFile, HttpOrigin, startOriginServer, tempDir } from "./harness.ts";
import { startFeatureServer } from "../features/fixture.ts";

const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** An origin that has every name under /base/. */
function everythingOrigin(): HttpOrigin {
  return new HttpOrigin((_req, url) =>
    url.pathname.startsWith("/base/") && !url.pathname.endsWith("/absent")
      ? new Response(`origin ${url.pathname}`)
      : new Response(null, { status: 404 })
  );
}

const FILES = {
  "a.txt": "shared",
  "pub/ok": "pub",
  "127.0.0.2/secret": "2's secret",
  "127.0.0.1/mine": "1's",
};

/** Names 127.0.0.3 (no directory) is refused, each leading somewhere fenced. */
const REFUSED_SHARED = [
  "127.0.0.2/secret",
  "127.0.0.1/mine",
  "127.0.0.9/none", // nobody's directory, but spelled as one
  "2001-DB8--7/x",
  "--1/x",
  "pub2/secret", // pub2 -> 127.0.0.2
  "tftpboot/127.0.0.2/secret", // tftpboot -> .
  "link.txt", // -> 127.0.0.2/secret
  "out/x", // -> outside the root
  "up/x", // -> ..
];

/** Lays out the links of the tests in `root`. */
async function links(root: string, outside: string): Promise<void> {
  await Deno.symlink("127.0.0.2", `${root}/pub2`);
  await Deno.symlink(".", `${root}/tftpboot`);
  await Deno.symlink("127.0.0.2/secret", `${root}/link.txt`);
  await Deno.symlink(outside, `${root}/out`);
  await Deno.symlink("..", `${root}/up`);
  await Deno.symlink("../pub", `${root}/127.0.0.1/escape`);
  await Deno.symlink("pub", `${root}/127.0.0.4`); // not a client directory
}

/** Asserts that each name, asked from `bind`, gets `missing`'s ERROR and no DATA. */
async function answeredAsMissing(
  addr: Deno.NetAddr,
  names: readonly string[],
  bind: string,
  missing: Awaited<ReturnType<typeof getFile>>,
): Promise<void> {
  for (const name of names) {
    const r = await getFile(addr, name, { bind });
    assert.deepEqual(r.error, missing.error, `${bind} ${name}`);
    assert.equal(r.dataPackets, 0, `${bind} ${name}`);
  }
}

Deno.test("perClientRoot with an origin: fenced and escaping names are not asked of the origin (hostile review B)", async () => {
  await using origin = everythingOrigin();
  const outside = await tempDir("tftpd-outside-");
  try {
    await Deno.writeTextFile(`${outside}/x`, "outside");
    await using srv = await startOriginServer({
      origin: origin.url + "base/",
      perClientRoot: true,
      files: FILES,
    });
    await links(srv.root, outside);
    // What a name nobody has is answered with (the origin's 404).
    const missing = await getFile(srv.addr, "absent", { bind: "127.0.0.3" });
    assert.equal(missing.error?.code, 1);
    const asked = origin.requests.length;
    await answeredAsMissing(srv.addr, REFUSED_SHARED, "127.0.0.3", missing);
    // A client with its own directory: names spelled as a client's
    // directory, and links out of its own directory, are not asked either.
    await answeredAsMissing(
      srv.addr,
      ["127.0.0.2/secret", "127.0.0.1/mine", "escape/ok"],
      "127.0.0.1",
      missing,
    );
    // A client whose "directory" is a symlink reads the shared root: its
    // directory's name is fenced like any other.
    const r4 = await getFile(srv.addr, "127.0.0.4/ok", { bind: "127.0.0.3" });
    assert.deepEqual(r4.error, missing.error);
    assert.deepEqual(
      origin.requests.slice(asked).map((q) => q.path),
      [],
      "the origin was asked for none of them",
    );
    // Ordinary names: local first, then the origin, for everyone.
    const got = async (name: string, bind: string) =>
      text((await getFile(srv.addr, name, { bind })).data);
    assert.equal(await got("a.txt", "127.0.0.3"), "shared");
    assert.equal(await got("pub/ok", "127.0.0.3"), "pub");
    assert.equal(await got("mine", "127.0.0.1"), "1's");
    assert.equal(
      await got("remote.cfg", "127.0.0.3"),
      "origin /base/remote.cfg",
    );
    assert.equal(await got("own.cfg", "127.0.0.1"), "origin /base/own.cfg");
    assert.equal(await got("ok", "127.0.0.4"), "origin /base/ok");
    assert.deepEqual(origin.requests.slice(asked).map((q) => q.path), [
      "/base/remote.cfg",
      "/base/own.cfg",
      "/base/ok",
    ]);
  } finally {
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("perClientRoot with an origin in worker threads: refused names are not asked of the origin there either", async () => {
  await using origin = everythingOrigin();
  const outside = await tempDir("tftpd-outside-");
  try {
    await using srv = await startFeatureServer({
      perClientRoot: true,
      workers: 2,
      origin: { url: origin.url + "base/" },
      files: FILES,
    });
    await srv.server.startWorkers();
    await links(srv.root, outside);
    const missing = await getFile(srv.addr, "absent", { bind: "127.0.0.3" });
    assert.equal(missing.error?.code, 1);
    const asked = origin.requests.length;
    await answeredAsMissing(srv.addr, REFUSED_SHARED, "127.0.0.3", missing);
    await answeredAsMissing(
      srv.addr,
      ["127.0.0.2/secret", "escape/ok"],
      "127.0.0.1",
      missing,
    );
    assert.deepEqual(origin.requests.slice(asked).map((q) => q.path), []);
    for (const name of REFUSED_SHARED) {
      const s = await srv.waitForTransfer((t) => t.filename === name);
      assert.ok(s.worker !== undefined, `${name} served by a worker thread`);
    }
    const r = await getFile(srv.addr, "remote.cfg", { bind: "127.0.0.3" });
    assert.equal(text(r.data), "origin /base/remote.cfg");
  } finally {
    await Deno.remove(outside, { recursive: true });
  }
});
