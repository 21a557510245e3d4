/**
 * Which sockets a server binds for its hosts (`src/net/local_addresses.ts`):
 * tables of hosts and interface addresses in, bind addresses out.
 */

import assert from "node:assert/strict";
import {
  bindAddress,
  type InterfaceAddress,
  isWildcard,
  listenPlan,
} from "../../src/net/local_addresses.ts";

const v4 = (address: string): InterfaceAddress => ({
  family: "IPv4",
  address,
  scopeid: null,
});
const v6 = (address: string, scopeid = 0): InterfaceAddress => ({
  family: "IPv6",
  address,
  scopeid,
});

const HOST = [
  v4("127.0.0.1"),
  v4("192.0.2.1"),
  v4("192.0.2.2"),
  v6("2001:db8::1"),
  v6("fe80::1", 2),
  v6("::1"),
];

Deno.test("local addresses: wildcards in every spelling, and nothing else", () => {
  for (const w of ["0.0.0.0", "::", "0:0:0:0:0:0:0:0", "::0"]) {
    assert.ok(isWildcard(w), w);
  }
  for (const a of ["127.0.0.1", "::1", "localhost", "0.0.0.1", ""]) {
    assert.ok(!isWildcard(a), a);
  }
});

Deno.test("local addresses: link-local IPv6 binds with its scope; without one it is left out", () => {
  assert.equal(bindAddress(v6("fe80::1", 2)), "fe80::1%2");
  assert.equal(bindAddress(v6("FE80::A", 3)), "fe80::a%3");
  assert.equal(bindAddress(v6("febf::1", 4)), "febf::1%4");
  assert.equal(bindAddress(v6("fe80::1", 0)), undefined);
  assert.equal(bindAddress(v6("fec0::1", 0)), "fec0::1");
  assert.equal(bindAddress(v6("2001:DB8::1", 5)), "2001:db8::1");
  assert.equal(bindAddress(v4("192.0.2.1")), "192.0.2.1");
  assert.equal(bindAddress(v4("not an address")), undefined);
  assert.equal(bindAddress(v6("fe80::1%eth0", 2)), undefined);
});

const CASES: [
  string,
  string[],
  InterfaceAddress[] | undefined,
  string[],
  boolean,
][] = [
  ["one explicit host", ["192.0.2.1"], HOST, ["192.0.2.1"], false],
  ["explicit hosts need no interfaces", ["192.0.2.1", "::1"], undefined, [
    "192.0.2.1",
    "::1",
  ], false],
  ["explicit duplicates once", ["::1", "::1"], HOST, ["::1"], false],
  ["0.0.0.0: every IPv4 address", ["0.0.0.0"], HOST, [
    "127.0.0.1",
    "192.0.2.1",
    "192.0.2.2",
  ], true],
  [":: serves IPv4 and IPv6, link-local scoped", ["::"], HOST, [
    "127.0.0.1",
    "192.0.2.1",
    "192.0.2.2",
    "2001:db8::1",
    "fe80::1%2",
    "::1",
  ], true],
  ["both wildcards: each address once", ["0.0.0.0", "::"], HOST, [
    "127.0.0.1",
    "192.0.2.1",
    "192.0.2.2",
    "2001:db8::1",
    "fe80::1%2",
    "::1",
  ], true],
  ["explicit first, not twice", ["192.0.2.2", "0.0.0.0"], HOST, [
    "192.0.2.2",
    "127.0.0.1",
    "192.0.2.1",
  ], true],
  [
    "an address on two interfaces once",
    ["0.0.0.0"],
    [
      v4("192.0.2.1"),
      v4("192.0.2.1"),
    ],
    ["192.0.2.1"],
    true,
  ],
  ["no permission: the wildcard as one socket", ["0.0.0.0"], undefined, [
    "0.0.0.0",
  ], false],
  ["no permission: :: covers 0.0.0.0", ["0.0.0.0", "::"], undefined, [
    "::",
  ], false],
  [
    "no permission: :: covers explicit hosts",
    ["::", "192.0.2.1", "::1"],
    undefined,
    [
      "::",
    ],
    false,
  ],
  [
    "no permission: 0.0.0.0 covers only IPv4",
    ["0.0.0.0", "192.0.2.1", "::1"],
    undefined,
    [
      "0.0.0.0",
      "::1",
    ],
    false,
  ],
];

for (const [what, hosts, ifs, want, expanded] of CASES) {
  Deno.test(`local addresses: ${what}`, () => {
    const plan = listenPlan(hosts, ifs);
    assert.deepEqual(plan.addresses.map((a) => a.hostname), want);
    assert.equal(plan.expanded, expanded);
  });
}

Deno.test("local addresses: explicit hosts are marked so a failure to bind them is fatal", () => {
  const plan = listenPlan(["192.0.2.9", "0.0.0.0"], HOST);
  assert.deepEqual(
    plan.addresses.map((a) => [a.hostname, a.explicit]),
    [
      ["192.0.2.9", true],
      ["127.0.0.1", false],
      ["192.0.2.1", false],
      ["192.0.2.2", false],
    ],
  );
});

Deno.test("listenPlan: one address spelled two ways is one socket (binding both would collide)", () => {
  const spelled = [
    ["::1", "0:0:0:0:0:0:0:1"],
    ["2001:DB8::1", "2001:db8:0::1"],
    ["127.0.0.1", "::ffff:127.0.0.1"],
  ];
  for (const hosts of spelled) {
    const plan = listenPlan(hosts, undefined);
    assert.deepEqual(
      plan.addresses.map((a) => a.hostname),
      [hosts[0]],
      hosts.join(" "),
    );
  }
  // A zone is part of the address: two interfaces, two sockets.
  const zoned = listenPlan(["fe80::1%2", "fe80::1%3"], undefined);
  assert.equal(zoned.addresses.length, 2);
});
