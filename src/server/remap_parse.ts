/**
 * The parser of remap patterns (see `remap_regex.ts` for the syntax): a
 * pattern becomes a tree the matcher compiles, and what it cannot match
 * in linear time is refused here, with where in the pattern.
 *
 * @module
 */

/** Largest count in a `{n,m}` quantifier. */
const MAX_REPEAT = 1000;

/** A parsed pattern. */
export type RegexNode =
  | { t: "char"; c: number }
  | { t: "any" }
  | { t: "set"; neg: boolean; ranges: number[] }
  | { t: "bol" }
  | { t: "eol" }
  | { t: "cat"; items: RegexNode[] }
  | { t: "alt"; items: RegexNode[] }
  | { t: "group"; index: number; body: RegexNode }
  | { t: "rep"; min: number; max: number; greedy: boolean; body: RegexNode };

const DIGIT = [0x30, 0x39];
const WORD = [0x30, 0x39, 0x41, 0x5a, 0x5f, 0x5f, 0x61, 0x7a];
const SPACE = [
  0x09,
  0x0d,
  0x20,
  0x20,
  0xa0,
  0xa0,
  0x1680,
  0x1680,
  0x2000,
  0x200a,
  0x2028,
  0x2029,
  0x202f,
  0x202f,
  0x205f,
  0x205f,
  0x3000,
  0x3000,
  0xfeff,
  0xfeff,
];
const POSIX: Record<string, number[]> = {
  alpha: [0x41, 0x5a, 0x61, 0x7a],
  digit: DIGIT,
  alnum: [0x30, 0x39, 0x41, 0x5a, 0x61, 0x7a],
  upper: [0x41, 0x5a],
  lower: [0x61, 0x7a],
  space: [0x09, 0x0d, 0x20, 0x20],
  blank: [0x09, 0x09, 0x20, 0x20],
  xdigit: [0x30, 0x39, 0x41, 0x46, 0x61, 0x66],
  punct: [0x21, 0x2f, 0x3a, 0x40, 0x5b, 0x60, 0x7b, 0x7e],
  print: [0x20, 0x7e],
  graph: [0x21, 0x7e],
  cntrl: [0x00, 0x1f, 0x7f, 0x7f],
};

/** The complement of sorted, disjoint ranges within the code units. */
function complement(ranges: number[]): number[] {
  const out: number[] = [];
  let next = 0;
  for (let i = 0; i < ranges.length; i += 2) {
    if (ranges[i] > next) out.push(next, ranges[i] - 1);
    next = ranges[i + 1] + 1;
  }
  if (next <= 0xffff) out.push(next, 0xffff);
  return out;
}

class Parser {
  i = 0;
  groups = 0;
  constructor(readonly src: string) {}

  fail(what: string): never {
    throw new Error(`${what} at offset ${this.i} of /${this.src}/`);
  }

  parse(): RegexNode {
    const node = this.alt();
    if (this.i < this.src.length) this.fail("unmatched ')'");
    return node;
  }

  alt(): RegexNode {
    const items = [this.cat()];
    while (this.src[this.i] === "|") {
      this.i++;
      items.push(this.cat());
    }
    return items.length === 1 ? items[0] : { t: "alt", items };
  }

  cat(): RegexNode {
    const items: RegexNode[] = [];
    while (this.i < this.src.length) {
      const c = this.src[this.i];
      if (c === "|" || c === ")") break;
      let atom = this.atom();
      for (let q = this.quantifier(); q; q = this.quantifier()) {
        if (atom.t === "bol" || atom.t === "eol" || atom.t === "rep") {
          this.fail("nothing to repeat");
        }
        atom = { t: "rep", ...q, body: atom };
      }
      items.push(atom);
    }
    return items.length === 1 ? items[0] : { t: "cat", items };
  }

  quantifier(): { min: number; max: number; greedy: boolean } | null {
    const c = this.src[this.i];
    let min: number, max: number;
    if (c === "*") [min, max] = [0, Infinity];
    else if (c === "+") [min, max] = [1, Infinity];
    else if (c === "?") [min, max] = [0, 1];
    else if (c === "{") {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.i));
      if (!m) return null;
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] === "" ? Infinity : Number(m[3]);
      if (min > max) this.fail("numbers out of order in {} quantifier");
      if (min > MAX_REPEAT || (max !== Infinity && max > MAX_REPEAT)) {
        this.fail(`a count above ${MAX_REPEAT}`);
      }
      this.i += m[0].length - 1;
    } else return null;
    this.i++;
    const greedy = this.src[this.i] !== "?";
    if (!greedy) this.i++;
    return { min, max, greedy };
  }

  atom(): RegexNode {
    const c = this.src[this.i++];
    switch (c) {
      case "(":
        return this.group();
      case "[":
        return this.set();
      case ".":
        return { t: "any" };
      case "^":
        return { t: "bol" };
      case "$":
        return { t: "eol" };
      case "\\":
        return this.escape(false);
      case "*":
      case "+":
      case "?":
        this.i--;
        return this.fail("nothing to repeat");
      case "{":
        this.i--;
        if (this.quantifier()) this.fail("nothing to repeat");
        this.i++;
        return { t: "char", c: 0x7b };
    }
    return { t: "char", c: c.charCodeAt(0) };
  }

  group(): RegexNode {
    let index = 0;
    if (this.src[this.i] === "?") {
      if (this.src[this.i + 1] !== ":") {
        this.fail("lookaround and named groups are not supported");
      }
      this.i += 2;
    } else index = ++this.groups;
    const body = this.alt();
    if (this.src[this.i] !== ")") this.fail("missing ')'");
    this.i++;
    return index ? { t: "group", index, body } : { t: "cat", items: [body] };
  }

  /** An escape after its `\`: a single unit, or a class as a set. */
  escape(inSet: boolean): RegexNode {
    const c = this.src[this.i++];
    if (c === undefined) this.fail("'\\' at the end");
    const classes: Record<string, number[]> = { d: DIGIT, w: WORD, s: SPACE };
    const lower = c.toLowerCase();
    if (lower in classes && (c === lower || c.toUpperCase() === c)) {
      const ranges = classes[lower];
      return {
        t: "set",
        neg: false,
        ranges: c === lower ? ranges : complement(ranges),
      };
    }
    const controls: Record<string, number> = {
      t: 9,
      n: 10,
      v: 11,
      f: 12,
      r: 13,
      0: 0,
    };
    if (c in controls && !(c === "0" && /\d/.test(this.src[this.i] ?? ""))) {
      return { t: "char", c: controls[c] };
    }
    if (c === "b" && inSet) return { t: "char", c: 8 };
    if (c === "x" || c === "u") {
      const hex = this.src.slice(this.i, this.i + (c === "x" ? 2 : 4));
      if (/^[0-9a-fA-F]+$/.test(hex) && hex.length === (c === "x" ? 2 : 4)) {
        this.i += hex.length;
        return { t: "char", c: parseInt(hex, 16) };
      }
    }
    if (/[1-9]/.test(c)) this.fail("backreferences are not supported");
    if (c === "b" || c === "B" || c === "c" || c === "k") {
      this.fail(`'\\${c}' is not supported`);
    }
    return { t: "char", c: c.charCodeAt(0) };
  }

  set(): RegexNode {
    const neg = this.src[this.i] === "^";
    if (neg) this.i++;
    const ranges: number[] = [];
    for (;;) {
      if (this.i >= this.src.length) this.fail("missing ']'");
      if (this.src[this.i] === "]") break;
      const lo = this.setItem();
      if (
        lo.t === "char" && this.src[this.i] === "-" &&
        this.src[this.i + 1] !== "]" && this.i + 1 < this.src.length
      ) {
        this.i++;
        const hi = this.setItem();
        if (hi.t === "char") {
          if (hi.c < lo.c) this.fail("range out of order in []");
          ranges.push(lo.c, hi.c);
          continue;
        }
        ranges.push(
          lo.c,
          lo.c,
          0x2d,
          0x2d,
          ...(hi as { ranges: number[] }).ranges,
        );
        continue;
      }
      if (lo.t === "char") ranges.push(lo.c, lo.c);
      else ranges.push(...lo.ranges);
    }
    this.i++;
    return { t: "set", neg, ranges: normalise(ranges) };
  }

  setItem(): { t: "char"; c: number } | { t: "set"; ranges: number[] } {
    const rest = this.src.slice(this.i);
    const posix = /^\[:([a-z]+):\]/.exec(rest);
    if (posix && posix[1] in POSIX) {
      this.i += posix[0].length;
      return { t: "set", ranges: POSIX[posix[1]] };
    }
    const c = this.src[this.i++];
    if (c !== "\\") return { t: "char", c: c.charCodeAt(0) };
    const e = this.escape(true);
    if (e.t === "char") return e;
    const s = e as { neg: boolean; ranges: number[] };
    return { t: "set", ranges: s.neg ? complement(s.ranges) : s.ranges };
  }
}

/** Sorts and merges ranges, so they can be complemented and searched. */
function normalise(ranges: number[]): number[] {
  const pairs: [number, number][] = [];
  for (let i = 0; i < ranges.length; i += 2) {
    pairs.push([ranges[i], ranges[i + 1]]);
  }
  pairs.sort((a, b) => a[0] - b[0]);
  const out: number[] = [];
  for (const [lo, hi] of pairs) {
    const n = out.length;
    if (n && lo <= out[n - 1] + 1) out[n - 1] = Math.max(out[n - 1], hi);
    else out.push(lo, hi);
  }
  return out;
}

/**
 * Parses a remap pattern.
 *
 * @example
 * ```ts
 * import { parseRemapPattern } from "./remap_parse.ts";
 * const { node, groups } = parseRemapPattern("^(a|b)+$");
 * if (groups !== 1 || node.t !== "cat") throw new Error(node.t);
 * ```
 *
 * @param source The pattern as written.
 * @returns The tree and its number of capture groups.
 * @throws {Error} For a malformed pattern or one that needs backtracking.
 */
export function parseRemapPattern(
  source: string,
): { node: RegexNode; groups: number } {
  const parser = new Parser(source);
  return { node: parser.parse(), groups: parser.groups };
}
