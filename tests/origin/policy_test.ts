/** The HTTP caching rules as tables (pure: time is an argument). */

import assert from "node:assert/strict";
import {
  canRevalidate,
  conditionalHeaders,
  isFresh,
  parseCacheControl,
  policyOf,
  refreshPolicy,
  storable,
  variesPerClient,
} from "../../src/storage/origin/policy.ts";

const NOW = Date.parse("2026-12-01T10:00:00Z");

Deno.test("policyOf(): sharing and freshness from the response headers", () => {
  const cases: [
    string,
    Record<string, string>,
    { shared: boolean; freshMs: number; noCache?: boolean },
  ][] = [
    ["nothing", {}, { shared: true, freshMs: 0 }],
    ["max-age", { "cache-control": "max-age=60" }, {
      shared: true,
      freshMs: 60_000,
    }],
    ["s-maxage wins", { "cache-control": "max-age=60, s-maxage=5" }, {
      shared: true,
      freshMs: 5_000,
    }],
    ["Age is subtracted", { "cache-control": "max-age=60", age: "50" }, {
      shared: true,
      freshMs: 10_000,
    }],
    ["bad max-age", { "cache-control": "max-age=abc" }, {
      shared: true,
      freshMs: 0,
    }],
    ["negative max-age", { "cache-control": "max-age=-5" }, {
      shared: true,
      freshMs: 0,
    }],
    ["quoted max-age", { "cache-control": 'max-age="30"' }, {
      shared: true,
      freshMs: 30_000,
    }],
    ["Expires - Date", {
      expires: "Tue, 01 Dec 2026 10:02:00 GMT",
      date: "Tue, 01 Dec 2026 10:00:00 GMT",
    }, { shared: true, freshMs: 120_000 }],
    ["max-age beats Expires", {
      "cache-control": "max-age=1",
      expires: "Tue, 01 Dec 2026 11:00:00 GMT",
    }, { shared: true, freshMs: 1_000 }],
    ["invalid Expires", { expires: "0" }, { shared: true, freshMs: 0 }],
    ["no-cache", { "cache-control": "no-cache, max-age=60" }, {
      shared: true,
      freshMs: 60_000,
      noCache: true,
    }],
    ["private", { "cache-control": "private, max-age=60" }, {
      shared: false,
      freshMs: 60_000,
    }],
    ["no-store", { "cache-control": "No-Store" }, {
      shared: false,
      freshMs: 0,
    }],
    ["Vary: X-TFTP-Client", { vary: "accept, x-tftp-client" }, {
      shared: false,
      freshMs: 0,
    }],
    ["Vary: *", { vary: "*" }, { shared: false, freshMs: 0 }],
    ["Vary: Accept-Encoding", { vary: "Accept-Encoding" }, {
      shared: true,
      freshMs: 0,
    }],
  ];
  for (const [what, headers, want] of cases) {
    const p = policyOf(new Headers(headers), NOW);
    assert.equal(p.shared, want.shared, what);
    assert.equal(p.freshUntil - NOW, want.freshMs, what);
    assert.equal(p.noCache, want.noCache ?? false, what);
  }
});

Deno.test("isFresh(), canRevalidate(), storable()", () => {
  const base = { shared: true, freshUntil: NOW + 1000, noCache: false };
  assert.equal(isFresh(base, NOW), true);
  assert.equal(isFresh(base, NOW + 1000), false);
  assert.equal(isFresh({ ...base, noCache: true }, NOW), false);
  assert.equal(canRevalidate(base), false);
  assert.equal(canRevalidate({ ...base, etag: '"1"' }), true);
  assert.equal(canRevalidate({ ...base, lastModified: "x" }), true);
  const cases: [string, Parameters<typeof storable>[0], boolean][] = [
    ["fresh", base, true],
    ["stale, no validator", { ...base, freshUntil: NOW }, false],
    ["stale with ETag", { ...base, freshUntil: NOW, etag: '"1"' }, true],
    ["no-cache with Last-Modified", {
      ...base,
      noCache: true,
      lastModified: "x",
    }, true],
    ["no-cache, no validator", { ...base, noCache: true }, false],
    ["not shared", { ...base, shared: false, etag: '"1"' }, false],
  ];
  for (const [what, p, want] of cases) {
    assert.equal(storable(p, NOW), want, what);
  }
});

Deno.test("conditionalHeaders() and refreshPolicy() after a 304", () => {
  const stored = policyOf(
    new Headers({
      etag: '"a"',
      "last-modified": "Mon, 30 Nov 2026 00:00:00 GMT",
    }),
    NOW,
  );
  assert.deepEqual(conditionalHeaders(stored), {
    "if-none-match": '"a"',
    "if-modified-since": "Mon, 30 Nov 2026 00:00:00 GMT",
  });
  const refreshed = refreshPolicy(
    stored,
    new Headers({ "cache-control": "max-age=30" }),
    NOW,
  );
  assert.equal(refreshed.freshUntil, NOW + 30_000);
  assert.equal(refreshed.etag, '"a"');
  const newTag = refreshPolicy(stored, new Headers({ etag: '"b"' }), NOW);
  assert.equal(newTag.etag, '"b"');
  const nowPrivate = refreshPolicy(
    stored,
    new Headers({ "cache-control": "private" }),
    NOW,
  );
  assert.equal(nowPrivate.shared, false);
});

Deno.test("parseCacheControl() and variesPerClient()", () => {
  const cc = parseCacheControl(
    ' MAX-AGE=10 ,no-cache="set-cookie", , private,max-age=99',
  );
  assert.equal(cc.get("max-age"), "10");
  assert.equal(cc.get("no-cache"), "set-cookie");
  assert.equal(cc.get("private"), true);
  assert.equal(parseCacheControl(null).size, 0);
  assert.equal(variesPerClient(new Headers()), false);
  assert.equal(variesPerClient(new Headers({ vary: " X-Tftp-Client " })), true);
  assert.equal(variesPerClient(new Headers({ vary: "X-TFTP-File" })), false);
});
