/**
 * The name pipeline (`src/server/names.ts`), table by table: what every
 * spelling of a name becomes, what is refused with which code, that remap
 * rules see the normalised name (ignoring case under `ignoreCase`), that a
 * rewrite is validated again, and that every result passes the storage's
 * own check.
 */

import assert from "node:assert/strict";
import { ErrorCode, TftpError } from "../../src/protocol/packet.ts";
import { normalizeName, resolveName } from "../../src/server/names.ts";
import { parseRemapRules } from "../../src/server/remap.ts";
import {
  checkCleanName,
  NAME_LIMITS,
  TEMP_PREFIX,
} from "../../src/storage/clean_name.ts";

type Op = "read" | "write";

function run(
  name: string,
  opts: { op?: Op; ignoreCase?: boolean; rules?: string; normalize?: boolean },
): string | TftpError {
  try {
    return resolveName(name, {
      op: opts.op ?? "read",
      hostname: "192.0.2.7",
      ignoreCase: opts.ignoreCase,
      normalize: opts.normalize,
      remap: opts.rules ? parseRemapRules(opts.rules) : undefined,
    });
  } catch (err) {
    if (err instanceof TftpError) return err;
    throw err;
  }
}

function code(r: string | TftpError): number | string {
  return r instanceof TftpError ? r.code : r;
}

Deno.test("normalizeName() makes every spelling of a name one clean path", () => {
  const table: [string, string][] = [
    ["pxelinux.0", "pxelinux.0"],
    ["\\Boot\\BCD", "Boot/BCD"],
    ["boot\\x86/pxelinux.0", "boot/x86/pxelinux.0"],
    ["/pxelinux.0", "pxelinux.0"],
    ["//a/b", "a/b"],
    ["\\\\a", "a"],
    ["./a/./b//c/", "a/b/c"],
    ["a/././b", "a/b"],
    ["...x", "...x"],
    ["a..b/c..d", "a..b/c..d"],
    ["ü/€", "ü/€"],
    // Literal text, never decoded or interpreted.
    ["%2e%2e/x", "%2e%2e/x"],
    ["%2e%2e%2fetc", "%2e%2e%2fetc"],
    ["C:\\x", "C:/x"],
    ["\\\\server\\share\\x", "server/share/x"],
  ];
  for (const [name, want] of table) {
    assert.equal(normalizeName(name), want, JSON.stringify(name));
    checkCleanName(want);
  }
});

Deno.test("normalizeName() refuses traversal, controls and odd segments with ERROR 2", () => {
  const refused = [
    "..",
    "../etc/passwd",
    "a/../b",
    "a/b/..",
    "/../x",
    "..\\windows",
    "a\\..\\..\\b",
    "./..",
    "....//x",
    "... /x",
    ".. /x",
    "a/..\\x",
    "private./x",
    "private /x",
    "x.",
    "x ",
    "a\0b",
    "a\nb",
    "a\x1bb",
    "a\x7fb",
    "",
    "/",
    "//",
    ".",
    "./",
    "\\",
    "/./.",
  ];
  for (const name of refused) {
    const r = code(run(name, {}));
    assert.equal(r, ErrorCode.ACCESS_VIOLATION, JSON.stringify(name));
  }
});

Deno.test("normalizeName() refuses every character the log escapes (C0, DEL, C1, U+2028/2029) anywhere in a name, for reads and writes, and accepts their neighbours", () => {
  const unsafe = [
    ...Array.from({ length: 0x20 }, (_, i) => i),
    ...Array.from({ length: 0x9f - 0x7f + 1 }, (_, i) => 0x7f + i),
    0x2028,
    0x2029,
  ];
  for (const c of unsafe) {
    const ch = String.fromCharCode(c);
    for (const name of [`${ch}31`, `dir/a${ch}b.txt`, `x${ch}`]) {
      for (const op of ["read", "write"] as const) {
        const r = run(name, { op });
        assert.ok(r instanceof TftpError, `U+${c.toString(16)} in ${op}`);
        assert.equal(r.code, ErrorCode.ACCESS_VIOLATION);
        assert.equal(r.message, "control character in file name");
      }
    }
  }
  for (const c of [0x20, 0x7e, 0xa0, 0xe9, 0x2027, 0x202a, 0x3000]) {
    const name = `a${String.fromCharCode(c)}b`;
    assert.equal(run(name, { op: "write" }), name, `U+${c.toString(16)}`);
  }
  // A remap rule's rewrite is held to the same rule.
  for (const c of ["\u0085", "\u009b", "\u2028"]) {
    const r = code(run("a", { rules: `r ^a$ b${c}` }));
    assert.equal(r, ErrorCode.ACCESS_VIOLATION, JSON.stringify(c));
  }
});

Deno.test("normalizeName() bounds: length, segments, segment bytes", () => {
  const max = NAME_LIMITS.maxLength;
  assert.equal(normalizeName("a".repeat(200)), "a".repeat(200));
  assert.equal(code(run("a/".repeat(max) + "y", {})), 2);
  assert.equal(code(run("/".repeat(max + 1) + "x", {})), 2);
  const deep = Array(NAME_LIMITS.maxSegments).fill("d").join("/");
  assert.equal(normalizeName(deep), deep);
  assert.equal(code(run(deep + "/x", {})), 2);
  const seg = "é".repeat(NAME_LIMITS.maxSegmentBytes / 2);
  assert.equal(code(run(`${seg}é`, {})), 2, "256 UTF-8 bytes");
  assert.ok(normalizeName(seg.slice(1) + "a"));
  const r = run("a/".repeat(max) + "y", {}) as TftpError;
  assert.match(r.message, /too long \(limit 1024/);
});

Deno.test("normalizeName() refuses a 60 KB name by its length, with the limit in the message", () => {
  const r = run("x/".repeat(30_000) + "y", { ignoreCase: true });
  assert.ok(r instanceof TftpError);
  assert.equal(r.code, ErrorCode.ACCESS_VIOLATION);
  assert.equal(r.message, "file name too long (limit 1024 characters)");
});

Deno.test("normalizeName({ normalize: false }): backslash is a character, leading / refused", () => {
  assert.equal(normalizeName("a\\b.txt", { normalize: false }), "a\\b.txt");
  assert.equal(normalizeName("a//b", { normalize: false }), "a/b");
  assert.equal(code(run("/a", { normalize: false })), 2);
  assert.equal(code(run("..\\x", { normalize: false })), "..\\x");
  assert.equal(code(run("a/../x", { normalize: false })), 2);
});

/** Spellings of `private/x`. */
const SPELLINGS = [
  "private/x",
  "/private/x",
  "\\private\\x",
  "./private/x",
  "//private/x",
  "private//x",
  "private/./x",
  "\\\\private\\x",
  "/./private/./x",
];
const CASES = ["PRIVATE/x", "Private\\X", "/pRiVaTe/x"];

Deno.test("resolveName(): `a ^private/` refuses every spelling, and every case under ignoreCase", () => {
  for (const op of ["read", "write"] as const) {
    for (
      const rules of [
        "a ^private/\n",
        op === "write" ? "aP ^private/\n" : "aG ^private/\n",
      ]
    ) {
      for (const name of SPELLINGS) {
        assert.equal(
          code(run(name, { op, rules })),
          2,
          `${op} ${rules} ${name}`,
        );
        assert.equal(
          code(run(name, { op, rules, ignoreCase: true })),
          2,
          `${op} ${rules} ${name} ignoreCase`,
        );
      }
      for (const name of CASES) {
        assert.equal(
          code(run(name, { op, rules, ignoreCase: true })),
          2,
          `${op} ${name} ignoreCase`,
        );
        // Case-sensitive rules do not match another case (and the file
        // system does not find it either: it is another name).
        assert.equal(typeof code(run(name, { op, rules })), "string");
      }
    }
  }
  assert.equal(run("\\public\\x", { rules: "a ^private/\n" }), "public/x");
});

Deno.test("resolveName(): `aP` rules leave reads alone, `aG` rules leave writes alone", () => {
  assert.equal(
    run("/private/x", { op: "read", rules: "aP ^private/" }),
    "private/x",
  );
  assert.equal(
    run("/private/x", { op: "write", rules: "aG ^private/" }),
    "private/x",
  );
});

Deno.test("resolveName(): rules see the normalised name, and rewrites keep the client's case", () => {
  assert.equal(
    run("\\Boot\\BCD", { rules: "r ^boot/(.*) win/\\1\n", ignoreCase: true }),
    "win/BCD",
  );
  assert.equal(
    run("\\Boot\\BCD", { rules: "r ^boot/(.*) win/\\1\n" }),
    "Boot/BCD",
  );
  assert.equal(
    run("/cfg", { rules: "r ^cfg$ configs/\\i\n" }),
    "configs/192.0.2.7",
  );
});

Deno.test("resolveName(): a rewrite is validated again", () => {
  const table: [string, string, number | string][] = [
    ["r ^a$ x/../../etc/passwd", "a", 2],
    ["r ^a$ /etc/passwd", "a", "etc/passwd"],
    ["r ^a$ \\\\\\\\x", "a", "x"],
    ["r ^a$ .tftp-upload-1", "a", 1],
    ["r ^a$ x/", "a", "x"],
    ["r ^a$ x.", "a", 2],
    ["rs ^(a+)$ \\1\\1", "a", 2],
  ];
  for (const [rules, name, want] of table) {
    assert.equal(code(run(name, { rules })), want, rules);
  }
});

Deno.test("resolveName(): the reserved prefix in any segment, any case: ERROR 1 to read, ERROR 2 to write", () => {
  for (
    const name of [
      `${TEMP_PREFIX}x`,
      `d/${TEMP_PREFIX}x`,
      `${TEMP_PREFIX}d/x`,
      ".TFTP-UPLOAD-x",
      "d\\.Tftp-Upload-x",
    ]
  ) {
    for (const ignoreCase of [false, true]) {
      assert.equal(code(run(name, { op: "read", ignoreCase })), 1, name);
      assert.equal(code(run(name, { op: "write", ignoreCase })), 2, name);
    }
  }
  const r = run(`d/${TEMP_PREFIX}x`, {}) as TftpError;
  assert.equal(r.message, `d/${TEMP_PREFIX}x: file not found`);
  assert.equal(run("a.tftp-upload-x", {}), "a.tftp-upload-x");
});

Deno.test("checkCleanName() refuses what the pipeline never produces", () => {
  for (
    const name of [
      "",
      "/a",
      "a//b",
      "./a",
      "a/.",
      "../a",
      "a\0",
      `${TEMP_PREFIX}x`,
    ]
  ) {
    assert.throws(() => checkCleanName(name), TftpError, JSON.stringify(name));
  }
  assert.deepEqual(checkCleanName("a\\b/c"), ["a\\b", "c"]);
});
