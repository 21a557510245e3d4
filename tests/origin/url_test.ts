/** The origin URL rules, as tables (pure functions, no network). */

import assert from "node:assert/strict";
import { TftpError } from "../../src/protocol/packet.ts";
import {
  encodeName,
  encodeSegment,
  originRequestUrl,
  parseOriginUrl,
  sameOrigin,
} from "../../src/storage/origin/url.ts";

Deno.test("parseOriginUrl() normalises the base and refuses what cannot be one", () => {
  const ok: [string, string][] = [
    ["http://a.example", "http://a.example/"],
    ["https://a.example/boot", "https://a.example/boot/"],
    ["http://127.0.0.1:8080/x/y/", "http://127.0.0.1:8080/x/y/"],
    ["http://[::1]:81/b", "http://[::1]:81/b/"],
    ["https://a.example/b?token=t", "https://a.example/b/?token=t"],
  ];
  for (const [input, href] of ok) {
    assert.equal(parseOriginUrl(input).href, href, input);
  }
  const bad: [string, RegExp][] = [
    ["not a url", /invalid origin URL/],
    ["ftp://a.example/", /must be http: or https:/],
    ["file:///srv/tftp", /must be http: or https:/],
    ["http://user:pw@a.example/", /credentials/],
    ["http://a.example/#frag", /fragment/],
  ];
  for (const [input, re] of bad) {
    assert.throws(() => parseOriginUrl(input), re, input);
  }
});

Deno.test("encodeSegment() leaves only unreserved characters as they are", () => {
  const cases: [string, string][] = [
    ["pxelinux.0", "pxelinux.0"],
    ["A-Z_a~z.09", "A-Z_a~z.09"],
    ["a b", "a%20b"],
    ["%2e%2e", "%252e%252e"],
    ["a/b", "a%2Fb"],
    ["a\\b", "a%5Cb"],
    [
      "?#;&=+$,:@!'()*[]",
      "%3F%23%3B%26%3D%2B%24%2C%3A%40%21%27%28%29%2A%5B%5D",
    ],
    ["\u00e9", "%C3%A9"],
    ["\ud800", "%EF%BF%BD"],
    ["\u0001\u007f", "%01%7F"],
  ];
  for (const [seg, out] of cases) {
    assert.equal(encodeSegment(seg), out, JSON.stringify(seg));
  }
});

Deno.test("encodeName() normalises like file names, then encodes each segment", () => {
  const cases: [string, string, boolean][] = [
    ["/boot//x", "boot/x", true],
    ["\\Boot\\BCD", "Boot/BCD", true],
    ["\\Boot\\BCD", "%5CBoot%5CBCD", false],
    ["./a/./b", "a/b", true],
  ];
  for (const [name, out, normalize] of cases) {
    assert.equal(encodeName(name, { normalize }), out, name);
  }
  for (const name of ["..", "a/../b", "..\\x", "", "/", "a\0b"]) {
    assert.throws(
      () => encodeName(name),
      (e) => e instanceof TftpError && e.code === 2,
      JSON.stringify(name),
    );
  }
});

Deno.test("originRequestUrl() stays under the base path, on the base's host", () => {
  const base = parseOriginUrl("http://origin.example:8080/tftp/root?sig=1");
  const cases: [string, string][] = [
    ["a/b", "http://origin.example:8080/tftp/root/a/b?sig=1"],
    ["%2e%2e/x", "http://origin.example:8080/tftp/root/%252e%252e/x?sig=1"],
    [
      "//evil.example/x",
      "http://origin.example:8080/tftp/root/evil.example/x?sig=1",
    ],
    [
      "http://evil.example/",
      "http://origin.example:8080/tftp/root/http%3A/evil.example?sig=1",
    ],
    ["a?b#c", "http://origin.example:8080/tftp/root/a%3Fb%23c?sig=1"],
  ];
  for (const [name, href] of cases) {
    const url = originRequestUrl(base, name);
    assert.equal(url.href, href, name);
    assert.equal(url.origin, base.origin);
    assert.ok(url.pathname.startsWith(base.pathname));
  }
});

Deno.test("sameOrigin() compares scheme, host and port", () => {
  const base = new URL("http://a.example/x/");
  const cases: [string, boolean][] = [
    ["http://a.example/y", true],
    ["http://A.EXAMPLE:80/y", true],
    ["http://a.example:8080/y", false],
    ["https://a.example/y", false],
    ["http://b.example/y", false],
    ["http://a.example.evil/y", false],
  ];
  for (const [target, same] of cases) {
    assert.equal(sameOrigin(base, new URL(target)), same, target);
  }
});
