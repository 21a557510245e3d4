/**
 * The remap rules' regex engine: it finds what JavaScript's RegExp finds
 * (checked against it on generated patterns and names), reads the POSIX
 * classes tftpd-hpa files use, refuses what would need backtracking, and
 * answers the patterns that make a backtracking engine take 2^n steps.
 */

import assert from "node:assert/strict";
import { compileRemapPattern } from "../../src/server/remap_regex.ts";
import { NAME_LIMITS } from "../../src/storage/clean_name.ts";

/** A seeded generator (mulberry32), so a failure can be replayed. */
function random(seed: number): (n: number) => number {
  return (n) => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
}

const ATOMS = [
  "a",
  "b",
  "/",
  ".",
  "[ab]",
  "[^a]",
  "\\d",
  "\\w",
  "\\W",
  "[a-c]",
  "A",
  "x",
  "a*",
  "(?:)",
  "b?",
  "[^/]*",
  "\\.",
  "x{2}",
];
const GREEDY = ["*", "+", "?", "{1,2}", "{2}", "{0,2}", "{1,}"];
const LAZY = ["*?", "+?", "??", "{1,2}?"];

/**
 * A random pattern. Lazy quantifiers stay out of loops: `(x*?)*` is the
 * one shape where a repeated empty iteration is judged differently from
 * JavaScript (the matcher keeps one thread per step and instruction).
 */
function pattern(
  rnd: (n: number) => number,
  depth = 0,
  inLoop = false,
): string {
  const k = rnd(depth > 2 ? 4 : 9);
  const sub = (loop = inLoop) => pattern(rnd, depth + 1, loop);
  const quant = () => {
    const all = inLoop ? GREEDY : [...GREEDY, ...LAZY];
    return all[rnd(all.length)];
  };
  if (k < 4) return ATOMS[rnd(ATOMS.length)];
  if (k === 4) return sub() + sub();
  if (k === 5) return sub() + "|" + sub();
  if (k === 6) return "(" + sub() + ")";
  if (k === 7) {
    const q = quant();
    return "(?:" + sub(true) + ")" + q;
  }
  const q = quant();
  return "(" + sub(true) + ")" + q;
}

Deno.test("remap regex: finds the match and groups RegExp finds", () => {
  const rnd = random(20261206);
  const letters = "abAx/1.";
  let compared = 0;
  for (let i = 0; i < 4000; i++) {
    let p = pattern(rnd);
    if (rnd(4) === 0) p = "^" + p;
    if (rnd(4) === 0) p += "$";
    const ignoreCase = rnd(3) === 0;
    const ours = compileRemapPattern(p, { ignoreCase });
    for (let j = 0; j < 6; j++) {
      let s = "";
      for (let n = rnd(9); n > 0; n--) s += letters[rnd(letters.length)];
      const from = rnd(3) === 0 ? rnd(s.length + 1) : 0;
      const m = new RegExp(p, (ignoreCase ? "i" : "") + "g");
      m.lastIndex = from;
      const want = m.exec(s);
      const got = ours.exec(s, from);
      const show = `/${p}/${ignoreCase ? "i" : ""} on ${JSON.stringify(s)}`;
      if (!want) assert.equal(got, null, show);
      else {
        assert.deepEqual(got, {
          start: want.index,
          end: want.index + want[0].length,
          groups: [...want],
        }, show);
      }
      compared++;
    }
  }
  assert.equal(compared, 24000);
});

Deno.test("remap regex: POSIX classes, escapes and literal braces", async (t) => {
  const cases: [string, string, string | null][] = [
    ["^[[:digit:]]+$", "0123", "0123"],
    ["[[:upper:]][[:lower:]]+", "xHello", "Hello"],
    ["^[[:xdigit:]-]+$", "aa-BB-09", "aa-BB-09"],
    ["[[:alpha:]]", "123", null],
    ["[[:space:][:punct:]]", "ab.c", "."],
    ["[^[:alnum:]]", "ab_c", "_"],
    ["[[:bogus:]]", "[:bogus:]", ":]"],
    ["\\d\\D\\s\\S\\w\\W", "1a b_.", "1a b_."],
    ["[\\d.]+", "x1.5y", "1.5"],
    ["\\x41\\u0042", "zAB", "AB"],
    ["a{,2}", "a{,2}", "a{,2}"],
    ["x{", "x{", "x{"],
    ["]}", "]}", "]}"],
    ["[]a]", "a", null],
    ["[^]", "q", "q"],
    ["[a-]", "-", "-"],
    ["[\\w-z]", "-", "-"],
    ["\\\\", "a\\b", "\\"],
  ];
  for (const [p, s, want] of cases) {
    await t.step(`/${p}/ on ${s}`, () => {
      const m = compileRemapPattern(p).exec(s, 0);
      assert.equal(m ? m.groups[0] : null, want);
    });
  }
  await t.step("ignoring case", () => {
    const p = compileRemapPattern("^boot/[a-z]+\\.EFI$", { ignoreCase: true });
    assert.equal(p.exec("BOOT/GrubX.efi", 0)?.end, 14);
    assert.equal(compileRemapPattern("^boot$").exec("BOOT", 0), null);
  });
});

Deno.test("remap regex: what needs backtracking or is malformed is refused", async (t) => {
  const bad: [string, RegExp][] = [
    ["(a)\\1", /backreferences/],
    ["a(?=b)", /lookaround/],
    ["(?<=a)b", /lookaround/],
    ["(?<n>a)", /named groups|lookaround/],
    ["\\bword", /not supported/],
    ["\\k<n>", /not supported/],
    ["*a", /nothing to repeat/],
    ["a**", /nothing to repeat/],
    ["^*", /nothing to repeat/],
    ["a{2,1}", /out of order/],
    ["a{1001}", /above 1000/],
    ["(a", /missing '\)'/],
    ["a)", /unmatched/],
    ["[a", /missing '\]'/],
    ["[z-a]", /out of order/],
    ["a\\", /at the end/],
    ["(a{1000}){1000}", /too complex/],
  ];
  for (const [p, why] of bad) {
    await t.step(p, () => {
      assert.throws(() => compileRemapPattern(p), why);
    });
  }
});

Deno.test("remap regex: patterns that make a backtracking engine take 2^n steps answer at once", () => {
  const max = NAME_LIMITS.maxLength;
  const deep = Array(NAME_LIMITS.maxSegments - 1).fill("a").join("/") + "/x";
  const cases: [string, string, number | null][] = [
    ["^(.*[/])*vmlinuz$", deep, null],
    ["^(.*[/])*x$", deep, 0],
    ["(a+)+$", "a".repeat(max - 1) + "!", null],
    ["(a+)+b", "a".repeat(max), null],
    ["(x+x+)+y", "x".repeat(max), null],
    ["(a|a)*b", "a".repeat(max), null],
    ["(a*)*b", "a".repeat(max), null],
    ["^(\\w+\\s?)*$", "word ".repeat(max / 5 - 1) + "!", null],
    [".*.*.*.*.*.*=", "x".repeat(max), null],
  ];
  for (const [p, name, start] of cases) {
    assert.ok(name.length <= max);
    const m = compileRemapPattern(p).exec(name, 0);
    assert.equal(m ? m.start : null, start, p);
  }
});
