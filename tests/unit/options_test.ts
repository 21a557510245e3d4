import assert from "node:assert/strict";
import {
  DEFAULT_BLKSIZE,
  MAX_BLKSIZE,
  MAX_WINDOWSIZE,
  MIN_BLKSIZE,
  negotiate,
} from "../../src/protocol/options.ts";
import { ErrorCode, TftpError } from "../../src/protocol/packet.ts";

function req(...pairs: [string, string][]): Map<string, string> {
  return new Map(pairs);
}

Deno.test("options: no options means defaults and no OACK", () => {
  for (const kind of ["read", "write"] as const) {
    const n = negotiate(kind, new Map(), { size: 10 });
    assert.equal(n.oack.size, 0);
    assert.equal(n.blksize, DEFAULT_BLKSIZE);
    assert.equal(n.windowsize, 1);
    assert.equal(n.timeout, undefined);
    assert.equal(n.tsize, undefined);
  }
});

Deno.test("options: blksize inside 8..65464 is accepted as is", () => {
  for (const v of [MIN_BLKSIZE, 512, 1428, 1468, 8192, MAX_BLKSIZE]) {
    const n = negotiate("read", req(["blksize", String(v)]));
    assert.equal(n.blksize, v);
    assert.deepEqual([...n.oack], [["blksize", String(v)]]);
  }
  assert.equal(MIN_BLKSIZE, 8);
  assert.equal(MAX_BLKSIZE, 65464);
});

Deno.test("options: blksize above the limit is clamped", () => {
  const n = negotiate("read", req(["blksize", "65465"]));
  assert.equal(n.blksize, MAX_BLKSIZE);
  assert.equal(n.oack.get("blksize"), String(MAX_BLKSIZE));
  const m = negotiate("write", req(["blksize", "9000"]), { maxBlksize: 1468 });
  assert.equal(m.blksize, 1468);
  assert.equal(m.oack.get("blksize"), "1468");
  const huge = negotiate("read", req(["blksize", "999999999"]), {
    maxBlksize: 1_000_000,
  });
  assert.equal(huge.blksize, MAX_BLKSIZE, "maxBlksize above the RFC max");
  const under = negotiate("read", req(["blksize", "1000"]), {
    maxBlksize: 1468,
  });
  assert.equal(under.blksize, 1000);
});

Deno.test("options: blksize below 8 or not a number is ignored", () => {
  for (const v of ["7", "0", "1", "-512", "abc", "", "1e3", "0x200", "512.5"]) {
    const n = negotiate("read", req(["blksize", v]));
    assert.equal(n.blksize, DEFAULT_BLKSIZE, `blksize=${JSON.stringify(v)}`);
    assert.ok(!n.oack.has("blksize"), `blksize=${JSON.stringify(v)}`);
  }
});

Deno.test("options: windowsize 1..65535, clamped to maxWindowsize (default 64)", () => {
  for (const v of [1, 2, 16, 64]) {
    const n = negotiate("read", req(["windowsize", String(v)]));
    assert.equal(n.windowsize, v);
    assert.equal(n.oack.get("windowsize"), String(v));
  }
  const big = negotiate("read", req(["windowsize", "65535"]));
  assert.equal(big.windowsize, 64);
  assert.equal(big.oack.get("windowsize"), "64");
  // Never more than half the block number space, whatever the limit: with
  // more in flight an old ACK reads as one 65536 blocks ahead.
  for (const kind of ["read", "write"] as const) {
    const allowed = negotiate(kind, req(["windowsize", "65535"]), {
      maxWindowsize: MAX_WINDOWSIZE,
    });
    assert.equal(allowed.windowsize, 32768);
    assert.equal(allowed.oack.get("windowsize"), "32768");
    const half = negotiate(kind, req(["windowsize", "32768"]), {
      maxWindowsize: MAX_WINDOWSIZE,
    });
    assert.equal(half.windowsize, 32768);
  }
  const capped = negotiate("read", req(["windowsize", "70000"]), {
    maxWindowsize: 100000,
  });
  assert.equal(capped.windowsize, 32768);
  const small = negotiate("read", req(["windowsize", "8"]), {
    maxWindowsize: 4,
  });
  assert.equal(small.windowsize, 4);
  assert.equal(small.oack.get("windowsize"), "4");
});

Deno.test("options: windowsize 0 or junk is ignored", () => {
  for (const v of ["0", "-1", "x", ""]) {
    const n = negotiate("read", req(["windowsize", v]));
    assert.equal(n.windowsize, 1);
    assert.ok(!n.oack.has("windowsize"), `windowsize=${JSON.stringify(v)}`);
  }
});

Deno.test("options: timeout 1..255 is echoed as an integer", () => {
  for (const v of [1, 2, 5, 255]) {
    const n = negotiate("read", req(["timeout", String(v)]));
    assert.equal(n.timeout, v);
    assert.equal(n.oack.get("timeout"), String(v));
  }
  const padded = negotiate("read", req(["timeout", "05"]));
  assert.equal(padded.timeout, 5);
  assert.equal(padded.oack.get("timeout"), "5");
});

Deno.test("options: timeout 0, 256, fractions and junk are ignored", () => {
  for (const v of ["0", "256", "1000", "1.5", "abc", "", "-3"]) {
    const n = negotiate("write", req(["timeout", v]));
    assert.equal(n.timeout, undefined, `timeout=${JSON.stringify(v)}`);
    assert.ok(!n.oack.has("timeout"), `timeout=${JSON.stringify(v)}`);
  }
});

Deno.test("options: tsize on a read answers with the size", () => {
  const n = negotiate("read", req(["tsize", "0"]), { size: 123456 });
  assert.equal(n.tsize, 123456);
  assert.deepEqual([...n.oack], [["tsize", "123456"]]);
});

Deno.test("options: tsize on a read of an empty file is left out (curl refuses tsize 0)", () => {
  const alone = negotiate("read", req(["tsize", "0"]), { size: 0 });
  assert.equal(alone.tsize, undefined);
  assert.equal(alone.oack.size, 0, "no OACK at all: plain DATA 1 follows");
  const mixed = negotiate("read", req(["blksize", "1024"], ["tsize", "0"]), {
    size: 0,
  });
  assert.deepEqual([...mixed.oack], [["blksize", "1024"]]);
  const one = negotiate("read", req(["tsize", "0"]), { size: 1 });
  assert.equal(one.oack.get("tsize"), "1");
});

Deno.test("options: tsize on a read of unknown size is declined", () => {
  const n = negotiate("read", req(["tsize", "0"]));
  assert.equal(n.tsize, undefined);
  assert.ok(!n.oack.has("tsize"));
  assert.equal(n.oack.size, 0);
});

Deno.test("options: tsize on a write is echoed", () => {
  const n = negotiate("write", req(["tsize", "4096"]));
  assert.equal(n.tsize, 4096);
  assert.deepEqual([...n.oack], [["tsize", "4096"]]);
  const atLimit = negotiate("write", req(["tsize", "1000"]), {
    maxUpload: 1000,
  });
  assert.equal(atLimit.oack.get("tsize"), "1000");
  const junk = negotiate("write", req(["tsize", "lots"]), { maxUpload: 10 });
  assert.ok(!junk.oack.has("tsize"));
});

Deno.test("options: write tsize above maxUpload is refused with ERROR 3", () => {
  assert.throws(
    () => negotiate("write", req(["tsize", "1001"]), { maxUpload: 1000 }),
    (err: unknown) => {
      assert.ok(err instanceof TftpError, String(err));
      assert.equal(err.code, ErrorCode.DISK_FULL);
      assert.match(err.message, /1001/);
      assert.match(err.message, /1000/);
      return true;
    },
  );
  // The read side does not care about maxUpload.
  const r = negotiate("read", req(["tsize", "0"]), {
    size: 5000,
    maxUpload: 1,
  });
  assert.equal(r.oack.get("tsize"), "5000");
});

Deno.test("options: unknown options are ignored and left out of the OACK", () => {
  const n = negotiate(
    "read",
    req(["multicast", ""], ["foo", "1"], ["blksize", "1024"], [
      "utimeout",
      "5",
    ]),
    { size: 1 },
  );
  assert.deepEqual([...n.oack], [["blksize", "1024"]]);
  const none = negotiate("write", req(["bar", "baz"]));
  assert.equal(none.oack.size, 0);
});

Deno.test("options: OACK lists accepted options in request order", () => {
  const orders: string[][] = [
    ["blksize", "tsize", "timeout", "windowsize"],
    ["windowsize", "timeout", "tsize", "blksize"],
    ["tsize", "blksize", "windowsize", "timeout"],
  ];
  const values: Record<string, string> = {
    blksize: "1024",
    tsize: "0",
    timeout: "3",
    windowsize: "8",
  };
  for (const order of orders) {
    const requested = new Map(order.map((k) => [k, values[k]]));
    requested.set("unknown", "1");
    const n = negotiate("read", requested, { size: 99 });
    assert.deepEqual([...n.oack.keys()], order);
    assert.equal(n.blksize, 1024);
    assert.equal(n.windowsize, 8);
    assert.equal(n.timeout, 3);
    assert.equal(n.tsize, 99);
  }
});

Deno.test("negotiate() caps an upload's windowsize to what the receive buffer holds", () => {
  // [blksize, windowsize asked, receive buffer] -> windowsize granted
  const cases: [string, string, number | undefined, number][] = [
    ["65464", "64", 212992, 3], // three 64 KiB datagrams fit the default
    ["8192", "64", 212992, 12], // 16 KiB each (measured)
    ["1468", "64", 212992, 64], // a whole window fits (92 would)
    ["512", "64", 212992, 64],
    ["65464", "64", 1000, 1], // never below 1
    ["65464", "64", undefined, 64], // no buffer known: no cap
  ];
  for (const [blksize, windowsize, buffer, want] of cases) {
    // Either order of the two options in the request.
    for (
      const order of [["blksize", "windowsize"], ["windowsize", "blksize"]]
    ) {
      const opts = new Map(order.map((k) => [
        k,
        k === "blksize" ? blksize : windowsize,
      ]));
      const n = negotiate("write", opts, { receiveBuffer: buffer });
      assert.equal(n.windowsize, want, `${blksize}/${windowsize}/${buffer}`);
      assert.equal(n.oack.get("windowsize"), String(want));
    }
  }
  // Reads are not capped: the receive buffer is the client's.
  const r = negotiate(
    "read",
    new Map([["blksize", "65464"], ["windowsize", "64"]]),
    { receiveBuffer: 212992 },
  );
  assert.equal(r.windowsize, 64);
});
