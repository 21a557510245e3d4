/**
 * The `--allow-from` networks (`src/net/cidr.ts`): which texts are
 * addresses and networks, and which addresses a network contains. One table
 * per function; every case names the rule it pins.
 *
 * IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, what a dual-stack `::`
 * socket reports for IPv4 peers) are the IPv4 address in every spelling:
 * dotted, upper case, hex (`::ffff:102:304`), fully written out.
 */

import assert from "node:assert/strict";
import { cidrContains, parseCidr, parseIp } from "../../src/net/cidr.ts";

/** The 16 bytes of a fully written-out IPv6 address (8 groups). */
function v6(full: string): Uint8Array {
  const groups = full.split(":");
  assert.equal(groups.length, 8, `test bug: ${full} is not 8 groups`);
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const n = parseInt(g, 16);
    out[2 * i] = n >> 8;
    out[2 * i + 1] = n & 0xff;
  });
  return out;
}

/** The 4 bytes of an IPv4 address. */
function v4(a: number, b: number, c: number, d: number): Uint8Array {
  return new Uint8Array([a, b, c, d]);
}

const IPV4_ADDRESSES: [string, Uint8Array][] = [
  ["0.0.0.0", v4(0, 0, 0, 0)],
  ["255.255.255.255", v4(255, 255, 255, 255)],
  ["1.2.3.4", v4(1, 2, 3, 4)],
  ["10.0.0.1", v4(10, 0, 0, 1)],
  ["192.168.100.200", v4(192, 168, 100, 200)],
];

/** `::` stands for one or more zero groups, wherever it is. */
const IPV6_ADDRESSES: [string, Uint8Array][] = [
  ["::", v6("0:0:0:0:0:0:0:0")], // alone
  ["::1", v6("0:0:0:0:0:0:0:1")], // leading
  ["1::", v6("1:0:0:0:0:0:0:0")], // trailing
  ["1::8", v6("1:0:0:0:0:0:0:8")], // middle, six groups
  ["1:2::7:8", v6("1:2:0:0:0:0:7:8")], // middle, four groups
  ["1:2:3::5:6:7:8", v6("1:2:3:0:5:6:7:8")], // one group
  ["::2:3:4:5:6:7:8", v6("0:2:3:4:5:6:7:8")], // leading, one group
  ["1:2:3:4:5:6:7::", v6("1:2:3:4:5:6:7:0")], // trailing, one group
  ["1:2:3:4:5:6:7:8", v6("1:2:3:4:5:6:7:8")], // no ::
  ["0:0:0:0:0:0:0:0", v6("0:0:0:0:0:0:0:0")],
  ["0001:0002:0003:0004:0005:0006:0007:0008", v6("1:2:3:4:5:6:7:8")],
  [
    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
  ],
  ["2001:DB8::AbCd", v6("2001:db8:0:0:0:0:0:abcd")], // any case
  ["fe80::1%eth0", v6("fe80:0:0:0:0:0:0:1")], // a zone is not the address
  ["fe80::1%2", v6("fe80:0:0:0:0:0:0:1")],
  ["FE80::1%ETH0", v6("fe80:0:0:0:0:0:0:1")],
  ["::1.2.3.4", v6("0:0:0:0:0:0:102:304")], // IPv4-compatible: IPv6
  ["64:ff9b::1.2.3.4", v6("64:ff9b:0:0:0:0:102:304")], // NAT64: IPv6
  ["1:2:3:4:5:6:1.2.3.4", v6("1:2:3:4:5:6:102:304")],
  ["::ffff:0:1.2.3.4", v6("0:0:0:0:ffff:0:102:304")], // not mapped
];

/** Every spelling of an IPv4-mapped address is the IPv4 address. */
const MAPPED_ADDRESSES: [string, Uint8Array][] = [
  ["::ffff:1.2.3.4", v4(1, 2, 3, 4)],
  ["::FFFF:1.2.3.4", v4(1, 2, 3, 4)],
  ["::ffff:102:304", v4(1, 2, 3, 4)], // hex form
  ["::FFFF:0A00:0001", v4(10, 0, 0, 1)],
  ["0:0:0:0:0:ffff:1.2.3.4", v4(1, 2, 3, 4)],
  ["0:0:0:0:0:ffff:102:304", v4(1, 2, 3, 4)],
  ["::ffff:0.0.0.0", v4(0, 0, 0, 0)],
  ["::ffff:255.255.255.255", v4(255, 255, 255, 255)],
];

const NOT_ADDRESSES: [string, string][] = [
  ["", "empty"],
  ["1.2.3", "missing octet"],
  ["1.2.3.", "empty octet"],
  ["1..3.4", "empty octet"],
  ["1.2.3.4.5", "too many octets"],
  ["256.0.0.0", "octet out of range"],
  ["1.2.3.256", "octet out of range"],
  ["1.2.3.1000", "octet of four digits"],
  ["01.2.3.4", "leading zero (octal to inet_aton)"],
  ["1.2.3.04", "leading zero"],
  ["010.0.0.1", "leading zero"],
  ["00.0.0.0", "leading zero"],
  ["1.2.3.-4", "sign"],
  ["+1.2.3.4", "sign"],
  ["1.2.3.0x4", "hex octet"],
  ["1e2.0.0.0", "exponent"],
  [" 1.2.3.4", "space"],
  ["1.2.3.4 ", "space"],
  ["1.2.3.4/32", "a network is not an address"],
  ["localhost", "a name"],
  ["1:2:3:4:5:6:7:8:9", "nine groups"],
  ["1:2:3:4:5:6:7", "seven groups without ::"],
  ["1:2:3:4::5:6:7:8", ":: standing for no group"],
  ["::1:2:3:4:5:6:7:8", ":: standing for no group, leading"],
  ["1:2:3:4:5:6:7:8::", ":: standing for no group, trailing"],
  ["1:2:3:4:5::6:7:8:9", "nine groups with ::"],
  ["1::2::3", "two ::"],
  ["::1::", "two ::"],
  [":::", "three colons"],
  ["1:::2", "three colons"],
  [":1:2:3:4:5:6:7", "single leading colon"],
  ["1:2:3:4:5:6:7:", "single trailing colon"],
  [":", "one colon"],
  ["g::1", "bad hex"],
  ["::12345", "group of five digits"],
  ["::0x1", "0x prefix"],
  ["::-1", "sign"],
  ["1:2:3:4:5:6:7:1.2.3.4", "nine groups with a dotted tail"],
  ["::1.2.3", "dotted tail missing an octet"],
  ["::256.1.1.1", "dotted tail out of range"],
  ["::1.2.3.4:5", "dotted part not last"],
  ["::ffff:01.2.3.4", "mapped with a leading zero"],
  ["fe80::1%", "empty zone"],
  ["%eth0", "only a zone"],
  ["1.2.3.4%eth0", "zone on IPv4"],
];

Deno.test("parseIp() reads dotted IPv4 into 4 bytes", () => {
  for (const [text, bytes] of IPV4_ADDRESSES) {
    assert.deepEqual(parseIp(text), bytes, text);
  }
});

Deno.test("parseIp() reads IPv6 with :: in any position into 16 bytes", () => {
  for (const [text, bytes] of IPV6_ADDRESSES) {
    assert.deepEqual(parseIp(text), bytes, text);
  }
});

Deno.test("parseIp() reads every spelling of an IPv4-mapped address as IPv4", () => {
  for (const [text, bytes] of MAPPED_ADDRESSES) {
    assert.deepEqual(parseIp(text), bytes, text);
  }
});

Deno.test("parseIp() returns undefined for anything that is not one address", () => {
  for (const [text, why] of NOT_ADDRESSES) {
    assert.equal(parseIp(text), undefined, `${JSON.stringify(text)}: ${why}`);
  }
});

/** Networks that parse: text -> family size and prefix. */
const NETWORKS: [string, { bytes: Uint8Array; prefix: number }][] = [
  ["0.0.0.0/0", { bytes: v4(0, 0, 0, 0), prefix: 0 }],
  ["10.0.0.0/8", { bytes: v4(10, 0, 0, 0), prefix: 8 }],
  ["192.168.1.0/24", { bytes: v4(192, 168, 1, 0), prefix: 24 }],
  ["192.168.1.7/32", { bytes: v4(192, 168, 1, 7), prefix: 32 }],
  ["192.168.1.7", { bytes: v4(192, 168, 1, 7), prefix: 32 }], // one host
  [" 10.0.0.0/8 ", { bytes: v4(10, 0, 0, 0), prefix: 8 }], // trimmed
  ["10.1.2.3/8", { bytes: v4(10, 1, 2, 3), prefix: 8 }], // host bits kept
  ["::/0", { bytes: v6("0:0:0:0:0:0:0:0"), prefix: 0 }],
  ["::1/128", { bytes: v6("0:0:0:0:0:0:0:1"), prefix: 128 }],
  ["::1", { bytes: v6("0:0:0:0:0:0:0:1"), prefix: 128 }],
  ["2001:db8::/32", { bytes: v6("2001:db8:0:0:0:0:0:0"), prefix: 32 }],
  ["2001:db8:1::/48", { bytes: v6("2001:db8:1:0:0:0:0:0"), prefix: 48 }],
  ["fe80::/10", { bytes: v6("fe80:0:0:0:0:0:0:0"), prefix: 10 }],
  ["fe80::%eth0/64", { bytes: v6("fe80:0:0:0:0:0:0:0"), prefix: 64 }],
  // An IPv4-mapped network counts its prefix over 128 bits and is the
  // IPv4 network of the last 32.
  ["::ffff:10.0.0.0/104", { bytes: v4(10, 0, 0, 0), prefix: 8 }],
  ["::ffff:0:0/96", { bytes: v4(0, 0, 0, 0), prefix: 0 }],
  ["::FFFF:192.168.1.0/120", { bytes: v4(192, 168, 1, 0), prefix: 24 }],
  ["::ffff:1.2.3.4", { bytes: v4(1, 2, 3, 4), prefix: 32 }],
  ["::ffff:1.2.3.4/128", { bytes: v4(1, 2, 3, 4), prefix: 32 }],
];

const NOT_NETWORKS: [string, string][] = [
  ["", "empty"],
  ["/8", "no address"],
  ["10.0.0.0/", "empty prefix"],
  ["10.0.0.0/33", "prefix out of range"],
  ["10.0.0.0/99999999999999999999", "prefix out of range"],
  ["::/129", "prefix out of range"],
  ["10.0.0.0/-1", "sign"],
  ["10.0.0.0/+8", "sign"],
  ["10.0.0.0/8x", "junk after the prefix"],
  ["10.0.0.0/8 x", "junk after the prefix"],
  ["10.0.0.0/ 8", "space in the prefix"],
  ["10.0.0.0/8/8", "two prefixes"],
  ["10.0.0.0//8", "two slashes"],
  ["10.0.0.0/8.0", "fractional prefix"],
  ["10.0.0.0/1e1", "exponent"],
  ["10.0.0.0/0x8", "hex prefix"],
  ["fe80::/10%eth0", "zone after the prefix"],
  ["010.0.0.0/8", "leading zero in the address"],
  ["10.0.0/8", "missing octet"],
  ["1::2::/32", "two ::"],
  ["::ffff:10.0.0.0/24", "mapped network with a prefix below 96"],
  ["::ffff:10.0.0.0/129", "mapped network with prefix out of range"],
];

Deno.test("parseCidr() reads ADDR/PREFIX and a bare address as one host", () => {
  for (const [text, want] of NETWORKS) {
    const net = parseCidr(text);
    assert.deepEqual(net.bytes, want.bytes, text);
    assert.equal(net.prefix, want.prefix, text);
    assert.equal(net.text, text);
  }
});

Deno.test("parseCidr() throws, naming the text, for anything else", () => {
  for (const [text, why] of NOT_NETWORKS) {
    assert.throws(
      () => parseCidr(text),
      (err: unknown) =>
        err instanceof Error &&
        /^invalid (network|prefix length in) /.test(err.message) &&
        err.message.includes(JSON.stringify(text)),
      `${JSON.stringify(text)}: ${why}`,
    );
  }
});

/**
 * Every prefix length class, with the first and last address inside and the
 * nearest addresses outside on both sides.
 */
const MEMBERSHIP: { net: string; inside: string[]; outside: string[] }[] = [
  {
    net: "0.0.0.0/0",
    inside: ["0.0.0.0", "255.255.255.255", "127.0.0.1"],
    outside: ["::", "::1", "2001:db8::1"],
  },
  {
    net: "128.0.0.0/1",
    inside: ["128.0.0.0", "255.255.255.255"],
    outside: ["127.255.255.255", "0.0.0.0"],
  },
  {
    net: "254.0.0.0/7",
    inside: ["254.0.0.0", "255.255.255.255"],
    outside: ["253.255.255.255"],
  },
  {
    net: "10.0.0.0/8",
    inside: ["10.0.0.0", "10.255.255.255"],
    outside: ["9.255.255.255", "11.0.0.0"],
  },
  {
    net: "10.128.0.0/9",
    inside: ["10.128.0.0", "10.255.255.255"],
    outside: ["10.127.255.255", "11.0.0.0"],
  },
  {
    net: "172.16.0.0/15",
    inside: ["172.16.0.0", "172.17.255.255"],
    outside: ["172.15.255.255", "172.18.0.0"],
  },
  {
    net: "192.168.0.0/16",
    inside: ["192.168.0.0", "192.168.255.255"],
    outside: ["192.167.255.255", "192.169.0.0"],
  },
  {
    net: "192.168.128.0/17",
    inside: ["192.168.128.0", "192.168.255.255"],
    outside: ["192.168.127.255", "192.169.0.0"],
  },
  {
    net: "192.168.2.0/23",
    inside: ["192.168.2.0", "192.168.3.255"],
    outside: ["192.168.1.255", "192.168.4.0"],
  },
  {
    net: "192.168.1.0/24",
    inside: ["192.168.1.0", "192.168.1.255"],
    outside: ["192.168.0.255", "192.168.2.0"],
  },
  {
    net: "192.168.1.128/25",
    inside: ["192.168.1.128", "192.168.1.255"],
    outside: ["192.168.1.127", "192.168.2.0"],
  },
  {
    net: "192.168.1.2/31",
    inside: ["192.168.1.2", "192.168.1.3"],
    outside: ["192.168.1.1", "192.168.1.4"],
  },
  {
    net: "192.168.1.2/32",
    inside: ["192.168.1.2"],
    outside: ["192.168.1.1", "192.168.1.3"],
  },
  {
    net: "10.1.2.3/8", // host bits of the network do not matter
    inside: ["10.0.0.0", "10.200.0.1"],
    outside: ["11.1.2.3"],
  },
  {
    net: "::/0",
    inside: ["::", "::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
    outside: ["0.0.0.0", "127.0.0.1", "::ffff:127.0.0.1", "::ffff:7f00:1"],
  },
  {
    net: "8000::/1",
    inside: ["8000::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
    outside: ["7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::"],
  },
  {
    net: "fc00::/7",
    inside: ["fc00::", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
    outside: ["fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fe00::"],
  },
  {
    net: "ff00::/8",
    inside: ["ff00::", "ff02::1"],
    outside: ["feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
  },
  {
    net: "fe80::/9",
    inside: ["fe80::", "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
    outside: ["fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ff00::"],
  },
  {
    net: "fe80::/10",
    inside: [
      "fe80::1%eth0",
      "FE80::1",
      "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    ],
    outside: ["fec0::", "fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
  },
  {
    net: "2001:db8::/15",
    inside: ["2000::", "2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
    outside: ["1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2002::"],
  },
  {
    net: "2001:db8::/16",
    inside: ["2001::", "2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
    outside: ["2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2002::"],
  },
  {
    net: "2001:8000::/17",
    inside: ["2001:8000::", "2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
    outside: ["2001:7fff:ffff:ffff:ffff:ffff:ffff:ffff", "2002::"],
  },
  {
    net: "2001:db8::/32",
    inside: ["2001:db8::", "2001:0db8:ffff:ffff:ffff:ffff:ffff:ffff"],
    outside: ["2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db9::"],
  },
  {
    net: "2001:db8:1::/48",
    inside: ["2001:db8:1::", "2001:db8:1:ffff:ffff:ffff:ffff:ffff"],
    outside: ["2001:db8:0:ffff:ffff:ffff:ffff:ffff", "2001:db8:2::"],
  },
  {
    net: "2001:db8:1:2::/63",
    inside: ["2001:db8:1:2::", "2001:db8:1:3:ffff:ffff:ffff:ffff"],
    outside: ["2001:db8:1:1:ffff:ffff:ffff:ffff", "2001:db8:1:4::"],
  },
  {
    net: "2001:db8:1:2::/64",
    inside: ["2001:db8:1:2::", "2001:db8:1:2:ffff:ffff:ffff:ffff"],
    outside: ["2001:db8:1:1:ffff:ffff:ffff:ffff", "2001:db8:1:3::"],
  },
  {
    net: "2001:db8:1:2:8000::/65",
    inside: ["2001:db8:1:2:8000::", "2001:db8:1:2:ffff:ffff:ffff:ffff"],
    outside: ["2001:db8:1:2:7fff:ffff:ffff:ffff", "2001:db8:1:3::"],
  },
  {
    net: "2001:db8::/127",
    inside: ["2001:db8::", "2001:db8::1"],
    outside: ["2001:db8::2", "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff"],
  },
  {
    net: "::1/128",
    inside: ["::1", "0:0:0:0:0:0:0:1", "::0001"],
    outside: ["::", "::2", "127.0.0.1", "::ffff:127.0.0.1"],
  },
  {
    net: "2001:db8::1:0:0:1/128", // :: in the middle of the network
    inside: ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    outside: ["2001:db8::1:0:0:2"],
  },
];

Deno.test("cidrContains() is true exactly inside the network, for every prefix class", () => {
  for (const { net, inside, outside } of MEMBERSHIP) {
    const n = parseCidr(net);
    for (const a of inside) {
      assert.equal(cidrContains(n, a), true, `${a} in ${net}`);
    }
    for (const a of outside) {
      assert.equal(cidrContains(n, a), false, `${a} not in ${net}`);
    }
  }
});

/** An IPv4 network and an IPv6 address, or the reverse, never match. */
const FAMILY_MISMATCHES: [string, string][] = [
  ["0.0.0.0/0", "::"],
  ["0.0.0.0/0", "::1"],
  ["0.0.0.0/0", "::1.2.3.4"], // IPv4-compatible is IPv6
  ["0.0.0.0/0", "64:ff9b::1.2.3.4"], // NAT64 is IPv6
  ["10.0.0.0/8", "::a00:1"], // same low bytes, IPv6
  ["10.0.0.0/8", "a00:1::"], // same high bytes, IPv6
  ["::/0", "0.0.0.0"],
  ["::/0", "10.0.0.1"],
  ["::/0", "::ffff:10.0.0.1"], // mapped is IPv4
  ["::/96", "1.2.3.4"],
  ["a00::/8", "10.0.0.1"],
];

Deno.test("cidrContains() never matches an IPv4 network with an IPv6 address or the reverse", () => {
  for (const [net, address] of FAMILY_MISMATCHES) {
    assert.equal(
      cidrContains(parseCidr(net), address),
      false,
      `${address} in ${net}`,
    );
  }
});

/** IPv4-mapped peers, in every spelling, match IPv4 networks. */
const MAPPED_MEMBERSHIP: [string, string, boolean][] = [
  ["10.0.0.0/8", "::ffff:10.1.2.3", true],
  ["10.0.0.0/8", "::FFFF:10.1.2.3", true],
  ["10.0.0.0/8", "::ffff:a01:203", true],
  ["10.0.0.0/8", "0:0:0:0:0:ffff:10.1.2.3", true],
  ["10.0.0.0/8", "::ffff:11.0.0.0", false],
  ["10.0.0.0/8", "::ffff:b00:0", false],
  ["127.0.0.1/32", "::ffff:127.0.0.1", true],
  ["127.0.0.1/32", "::ffff:127.0.0.2", false],
  ["::ffff:10.0.0.0/104", "10.1.2.3", true],
  ["::ffff:10.0.0.0/104", "::ffff:10.1.2.3", true],
  ["::ffff:10.0.0.0/104", "11.0.0.0", false],
  ["::ffff:0:0/96", "192.0.2.1", true],
  ["::ffff:0:0/96", "::1", false],
];

Deno.test("cidrContains() matches IPv4-mapped peers against IPv4 networks", () => {
  for (const [net, address, want] of MAPPED_MEMBERSHIP) {
    assert.equal(
      cidrContains(parseCidr(net), address),
      want,
      `${address} in ${net}`,
    );
  }
});

Deno.test("cidrContains() is false for text that is not an address", () => {
  for (const net of ["0.0.0.0/0", "::/0"]) {
    for (
      const junk of ["", "localhost", "1.2.3", "1::2::3", "01.2.3.4", "::g"]
    ) {
      assert.equal(
        cidrContains(parseCidr(net), junk),
        false,
        `${junk} in ${net}`,
      );
    }
  }
});
