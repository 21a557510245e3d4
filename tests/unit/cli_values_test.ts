/**
 * The address flags' parsers (`src/cli/values.ts`): every IP literal an
 * operator writes is taken as given, and nothing that would need a resolver
 * (a name, a malformed or octal-looking address) gets through.
 */

import assert from "node:assert/strict";
import { listenHost, tcpAddress } from "../../src/cli/values.ts";

Deno.test("listenHost() takes IPv4, IPv6 and zoned IPv6 literals as given, and refuses names", () => {
  for (
    const ok of [
      "0.0.0.0",
      "127.0.0.1",
      "255.255.255.255",
      "::",
      "::1",
      "fd00::1",
      "::ffff:192.0.2.1",
      "fe80::1%eth0",
      "fe80::1%2",
      "2001:db8:0:0:0:0:0:1",
    ]
  ) {
    assert.equal(listenHost(ok), ok);
  }
  for (
    const bad of [
      "",
      "localhost",
      "example.com",
      "999.1.1.1",
      "1.2.3",
      "010.0.0.1",
      "1.2.3.4%eth0",
      "fe80::1%",
      "fe80::1%a b",
      "[::1]",
      "::1/128",
      "1:2:3:4:5:6:7:8:9",
      "-p",
    ]
  ) {
    assert.throws(() => listenHost(bad), /not a name/, JSON.stringify(bad));
  }
});

Deno.test("tcpAddress() takes IPv4:PORT and [IPv6]:PORT, and refuses names", () => {
  assert.deepEqual(tcpAddress("127.0.0.1:0"), {
    hostname: "127.0.0.1",
    port: 0,
  });
  assert.deepEqual(tcpAddress("[::]:9169"), { hostname: "::", port: 9169 });
  for (
    const bad of [
      "localhost:9169",
      "example.com:80",
      "999.0.0.1:80",
      "[1.2.3.4]:80",
      "[::1:80",
      "::1:80",
      "127.0.0.1:65536",
      "127.0.0.1",
    ]
  ) {
    assert.throws(() => tcpAddress(bad), /no names/, JSON.stringify(bad));
  }
});
