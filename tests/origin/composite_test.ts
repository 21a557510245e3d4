/**
 * Files first, then the origin: only "not found" under the root falls
 * through to the origin; access violations are final; uploads go to the
 * root, never to the origin.
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

Deno.test("an access violation under the root does not fall through to the origin; a symlink out is a missing file", async () => {
  await using origin = echoOrigin();
  const outside = await tempDir("tftpd-outside-");
  try {
    await Deno.writeTextFile(`${outside}/secret`, "secret");
    await using srv = await startOriginServer({
      origin: origin.url,
      files: { "dir/inner": "x" },
    });
    await Deno.symlink(`${outside}/secret`, `${srv.root}/remote-link`);
    for (const name of ["dir", "../remote/x", "dir/../../remote/x"]) {
      const r = await getFile(srv.addr, name);
      assert.equal(r.error?.code, 2, name);
    }
    assert.equal(origin.requests.length, 0);
    // A symlink leading out of the root answers like a missing file (so
    // it tells nothing about the outside): the origin is asked, and the
    // outside file is never served.
    const link = await getFile(srv.addr, "remote-link");
    assert.equal(new TextDecoder().decode(link.data), "origin /remote-link");
    assert.deepEqual(origin.requests.map((r) => r.path), ["/remote-link"]);
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
