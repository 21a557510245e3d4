/**
 * Files first, then the origin: only "not found" under the root falls
 * through to the origin; access violations are final, and so are refusals
 * that answer like a missing file (a symlink leading out, nowhere, or into
 * a fenced directory); uploads go to the root, never to the origin.
 */

import assert from "node:assert/strict";
import { getFile, HttpOrigin, startOriginServer, tempDir } from "./harness.ts";
import { putFile } from "../../testing/raw_client.ts";

const text = (b: Uint8Array) => new TextDecoder().decode(b);

function echoOrigin(): HttpOrigin {
  return new HttpOrigin((req, url) =>
    req.method === "GET" && url.pathname.startsWith("/remote")
      ? new Response(`origin ${url.pathname}`)
      : new Response(null, { status: 404 })
  );
}

Deno.test("a file under the root is served from the root; a missing one from the origin", async () => {
  await using origin = echoOrigin();
  await using srv = await startOriginServer({
    origin: origin.url,
    files: { "local.cfg": "from disk", "remote/x.cfg": "disk shadows origin" },
  });
  assert.equal(text((await getFile(srv.addr, "local.cfg")).data), "from disk");
  assert.equal(
    text((await getFile(srv.addr, "remote/x.cfg")).data),
    "disk shadows origin",
  );
  assert.equal(origin.requests.length, 0);
  assert.equal(
    text((await getFile(srv.addr, "remote/y.cfg")).data),
    "origin /remote/y.cfg",
  );
  assert.deepEqual(origin.requests.map((r) => r.path), ["/remote/y.cfg"]);
  const missing = await getFile(srv.addr, "nowhere.cfg");
  assert.equal(missing.error?.code, 1);
  assert.equal(origin.requests.length, 2);
});

Deno.test("an access violation under the root does not fall through to the origin", async () => {
  await using origin = echoOrigin();
  await using srv = await startOriginServer({
    origin: origin.url,
    files: { "dir/inner": "x" },
  });
  for (const name of ["dir", "../remote/x", "dir/../../remote/x"]) {
    const r = await getFile(srv.addr, name);
    assert.equal(r.error?.code, 2, name);
  }
  assert.equal(origin.requests.length, 0);
});

Deno.test("a symlink that does not lead inside the root is refused without asking the origin, whatever is at its end", async () => {
  await using origin = echoOrigin();
  const outside = await tempDir("tftpd-outside-");
  try {
    await Deno.writeTextFile(`${outside}/secret`, "secret");
    await Deno.mkdir(`${outside}/sub`);
    await Deno.writeTextFile(`${outside}/sub/secret`, "secret");
    await using srv = await startOriginServer({
      origin: origin.url,
      files: { "dir/inner": "x", "remote-ok/a": "inside" },
    });
    const r = srv.root;
    const links: [string, string][] = [
      [`${outside}/secret`, "remote-file"], // an outside file
      [`${outside}/gone`, "remote-gone"], // dangling
      [outside, "remote-dir"], // an outside directory
      [`${outside}/nodir`, "remote-nodir"], // dangling, used as a directory
      ["remote-loop", "remote-loop"], // a loop
      ["..", "remote-up"], // the root's parent
      ["dir/inner", "remote-inner"], // a file inside, used as a directory
    ];
    for (const [target, link] of links) {
      await Deno.symlink(target, `${r}/${link}`);
    }
    // The origin answers a name it does not have (404) like this:
    const missing = await getFile(srv.addr, "nowhere.cfg");
    assert.equal(missing.error?.code, 1);
    const before = origin.requests.length;
    for (
      const name of [
        "remote-file",
        "remote-gone",
        "remote-dir/secret",
        "remote-dir/sub/secret",
        "remote-nodir/secret",
        "remote-loop",
        "remote-loop/x",
        `remote-up/${outside.split("/").pop()}/secret`,
        "remote-inner/x",
      ]
    ) {
      const got = await getFile(srv.addr, name);
      // The echo origin would have served any of these names: it was not
      // asked, and the answer is the one for a name nobody has.
      assert.deepEqual(got.error, missing.error, name);
      assert.equal(got.dataPackets, 0, name);
    }
    assert.equal(origin.requests.length, before);
    // A link that stays inside works; a plain missing name (a file used as
    // a directory too) still falls through.
    await Deno.symlink("remote-ok", `${r}/remote-alias`);
    assert.equal(
      text((await getFile(srv.addr, "remote-alias/a")).data),
      "inside",
    );
    assert.equal(
      text((await getFile(srv.addr, "remote-ok/b")).data),
      "origin /remote-ok/b",
    );
    const asFile = await getFile(srv.addr, "dir/inner/x");
    assert.equal(asFile.error?.code, 1);
    assert.deepEqual(origin.requests.slice(before).map((q) => q.path), [
      "/remote-ok/b",
      "/dir/inner/x",
    ]);
    assert.ok(
      srv.lines.some((l) =>
        l.includes("refused under the root; the origin was not asked")
      ),
      srv.lines.join("\n"),
    );
  } finally {
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("uploads go to the root, never to the origin", async () => {
  await using origin = echoOrigin();
  await using srv = await startOriginServer({ origin: origin.url });
  const data = new TextEncoder().encode("uploaded");
  const r = await putFile(srv.addr, "up.bin", { data });
  assert.equal(r.error, undefined);
  assert.deepEqual(await srv.readFile("up.bin"), data);
  assert.equal(origin.requests.length, 0);
});
