/**
 * What reaches the origin: traversal spellings never climb above the base
 * path (checked on the request lines exactly as the origin received them),
 * the host is fixed, and redirects are followed only on the same origin,
 * a few at most.
 */

import assert from "node:assert/strict";
import {
  getFile,
  HttpOrigin,
  RawHttpOrigin,
  startOriginServer,
  writeHead,
} from "./harness.ts";

/** Names refused before anything is sent (ERROR 2). */
const REFUSED = [
  "../etc/passwd",
  "..",
  "a/../../etc/passwd",
  "boot/../../../x",
  "..\\..\\etc\\passwd",
  "boot\\..\\..\\x",
  "a/b/../../../etc/shadow",
  // The name pipeline refuses dots-only segments and control characters.
  "....",
  "x\ty\r\nz",
];

/** Names sent, each segment percent-encoded under the base path. */
const SENT: [string, string][] = [
  ["%2e%2e/etc/passwd", "/base/%252e%252e/etc/passwd"],
  ["%2e%2e%2fetc%2fpasswd", "/base/%252e%252e%252fetc%252fpasswd"],
  ["..%2f..%2fetc%2fpasswd", "/base/..%252f..%252fetc%252fpasswd"],
  [".%2e/x", "/base/.%252e/x"],
  ["%252e%252e/x", "/base/%25252e%25252e/x"],
  ["/etc/passwd", "/base/etc/passwd"],
  ["//evil.example/x", "/base/evil.example/x"],
  ["http://evil.example/x", "/base/http%3A/evil.example/x"],
  ["a?b=1#c", "/base/a%3Fb%3D1%23c"],
  ["a;b", "/base/a%3Bb"],
  ["a b+c", "/base/a%20b%2Bc"],
  ["a/./b", "/base/a/b"],
  ["\u00e9t\u00e9", "/base/%C3%A9t%C3%A9"],
];

Deno.test("traversal spellings never reach the origin above its base path", async (t) => {
  await using origin = new RawHttpOrigin(async (_req, conn) => {
    await writeHead(conn, 404, { "content-length": "0" });
  });
  await using srv = await startOriginServer({
    origin: origin.url + "base/",
    originOnly: true,
  });
  for (const name of REFUSED) {
    await t.step(
      `${JSON.stringify(name)} is refused with ERROR 2`,
      async () => {
        const before = origin.requests.length;
        const r = await getFile(srv.addr, name);
        assert.equal(r.error?.code, 2);
        assert.equal(origin.requests.length, before);
      },
    );
  }
  for (const [name, target] of SENT) {
    await t.step(`${JSON.stringify(name)} is sent as ${target}`, async () => {
      const before = origin.requests.length;
      const r = await getFile(srv.addr, name);
      assert.equal(r.error?.code, 1);
      assert.equal(origin.requests.length, before + 1);
      const seen = origin.requests.at(-1)!;
      assert.equal(seen.target, target);
      assert.equal(seen.headers.get("host"), new URL(origin.url).host);
    });
  }
  // Whatever the origin does with one round of percent-decoding, no
  // request names a dot segment or leaves /base/.
  for (const seen of origin.requests) {
    assert.ok(seen.target.startsWith("/base/"), seen.line);
    for (const seg of seen.target.slice(1).split("/")) {
      const once = decodeURIComponent(seg);
      assert.ok(once !== "." && once !== "..", seen.line);
      assert.ok(!once.includes("/") && !once.includes("\\"), seen.line);
    }
  }
});

Deno.test("a same-origin redirect is followed", async () => {
  await using origin = new HttpOrigin((_req, url) =>
    url.pathname === "/base/old.cfg"
      ? Response.redirect(new URL("/moved/new.cfg", url), 302)
      : url.pathname === "/moved/new.cfg"
      ? new Response("moved here")
      : new Response(null, { status: 404 })
  );
  await using srv = await startOriginServer({
    origin: origin.url + "base/",
    originOnly: true,
  });
  const r = await getFile(srv.addr, "old.cfg");
  assert.equal(r.error, undefined);
  assert.equal(new TextDecoder().decode(r.data), "moved here");
  assert.deepEqual(origin.requests.map((q) => q.path), [
    "/base/old.cfg",
    "/moved/new.cfg",
  ]);
  assert.equal(origin.requests[1].headers.get("x-tftp-client"), "127.0.0.1");
});

Deno.test("redirects to another host, port or scheme are not followed", async (t) => {
  await using other = new HttpOrigin(
    () => new Response("elsewhere"),
    "127.0.0.2",
  );
  const otherPort = new HttpOrigin(() => new Response("other port"));
  try {
    const targets: Record<string, string> = {
      "/host": other.url + "x",
      "/port": otherPort.url + "x",
      "/scheme": "https://127.0.0.1:1/x",
      "/name": "http://localhost:" + new URL(other.url).port + "/x",
    };
    await using origin = new HttpOrigin((_req, url) =>
      new Response(null, {
        status: 301,
        headers: { location: targets[url.pathname] ?? "/" },
      })
    );
    await using srv = await startOriginServer({
      origin: origin.url,
      originOnly: true,
    });
    for (const name of Object.keys(targets)) {
      await t.step(`to ${targets[name]}`, async () => {
        const r = await getFile(srv.addr, name.slice(1));
        assert.equal(r.error?.code, 0);
        assert.equal(r.error?.message, "origin unavailable");
      });
    }
    assert.equal(other.requests.length, 0);
    assert.equal(otherPort.requests.length, 0);
    assert.ok(
      srv.lines.some((l) => /refused a redirect to another origin/.test(l)),
    );
  } finally {
    await otherPort.close();
  }
});

Deno.test("a redirect loop is followed maxRedirects times, then ERROR 0", async () => {
  await using origin = new HttpOrigin((_req, url) =>
    new Response(null, {
      status: 307,
      headers: { location: url.pathname === "/a" ? "/b" : "/a" },
    })
  );
  await using srv = await startOriginServer({
    origin: origin.url,
    originOnly: true,
    maxRedirects: 2,
  });
  const r = await getFile(srv.addr, "a");
  assert.equal(r.error?.code, 0);
  assert.deepEqual(origin.requests.map((q) => q.path), ["/a", "/b", "/a"]);
  assert.ok(srv.lines.some((l) => /more than 2 redirects/.test(l)));
});
