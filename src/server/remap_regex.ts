/**
 * The regular expressions of remap rules, matched in time linear in the
 * name: a client chooses the name, so a rule such as `^(.*[/])*vmlinuz$`
 * must not let it pick a name that backtracks for seconds (V8's engine
 * takes 2^segments steps there, and blocks every transfer meanwhile).
 *
 * The syntax is JavaScript's (non-Unicode) with what tftpd-hpa's POSIX
 * files use: literals and escapes, `.`, `[...]` with ranges, `\d\w\s`
 * and POSIX classes such as `[[:digit:]]`, `^`, `$`, `|`, groups
 * `(...)` and `(?:...)`, and the quantifiers `* + ? {n} {n,} {n,m}`,
 * greedy or lazy. Matches are the ones JavaScript would find (leftmost,
 * first alternative preferred). What needs backtracking (backreferences,
 * lookaround, `\b`) is refused when the rule is read.
 *
 * @module
 */

import { parseRemapPattern, type RegexNode as Node } from "./remap_parse.ts";
import { foldUnit, lowerUnit } from "../storage/fold.ts";

/** Most instructions one pattern compiles to (bounds work per name). */
const MAX_PROGRAM = 4096;
const enum Op {
  Char,
  Any,
  Set,
  Bol,
  Eol,
  Split,
  Jmp,
  Save,
  Reset,
  Mark,
  Progress,
  Match,
}

interface Ins {
  op: Op;
  /** Char: the unit; Split/Jmp: the first target; Save: slot; Reset: first slot. */
  x: number;
  /** Split: the second target; Reset: the slot after the last. */
  y: number;
  ranges?: number[];
  neg?: boolean;
}

function groupSpan(node: Node): [number, number] {
  let lo = Infinity, hi = -Infinity;
  const walk = (n: Node): void => {
    if (n.t === "group") {
      lo = Math.min(lo, n.index);
      hi = Math.max(hi, n.index);
      walk(n.body);
    } else if (n.t === "cat" || n.t === "alt") n.items.forEach(walk);
    else if (n.t === "rep") walk(n.body);
  };
  walk(node);
  return [lo, hi];
}

function nullable(n: Node): boolean {
  switch (n.t) {
    case "char":
    case "any":
    case "set":
      return false;
    case "cat":
      return n.items.every(nullable);
    case "alt":
      return n.items.some(nullable);
    case "group":
      return nullable(n.body);
    case "rep":
      return n.min === 0 || nullable(n.body);
  }
  return true;
}

/**
 * The program, and how many slots a thread carries: two per group, then
 * one per loop whose body can match empty (where its iteration began).
 */
function compile(node: Node, groups: number): { prog: Ins[]; slots: number } {
  const prog: Ins[] = [];
  let slots = 2 * (groups + 1);
  const emit = (op: Op, x = 0, y = 0): Ins => {
    if (prog.length >= MAX_PROGRAM) {
      throw new Error(`the pattern is too complex (over ${MAX_PROGRAM} steps)`);
    }
    const ins = { op, x, y };
    prog.push(ins);
    return ins;
  };
  const gen = (n: Node): void => {
    switch (n.t) {
      case "char":
        emit(Op.Char, n.c);
        return;
      case "any":
        emit(Op.Any);
        return;
      case "set": {
        const ins = emit(Op.Set);
        ins.ranges = n.ranges;
        ins.neg = n.neg;
        return;
      }
      case "bol":
        emit(Op.Bol);
        return;
      case "eol":
        emit(Op.Eol);
        return;
      case "cat":
        n.items.forEach(gen);
        return;
      case "alt": {
        const jumps: Ins[] = [];
        n.items.forEach((item, k) => {
          if (k === n.items.length - 1) return gen(item);
          const split = emit(Op.Split, prog.length + 1);
          gen(item);
          jumps.push(emit(Op.Jmp));
          split.y = prog.length;
        });
        for (const j of jumps) j.x = prog.length;
        return;
      }
      case "group":
        emit(Op.Save, 2 * n.index);
        gen(n.body);
        emit(Op.Save, 2 * n.index + 1);
        return;
      case "rep":
        return rep(n);
    }
  };
  // As in JavaScript, each iteration starts with its groups unset, and
  // one past the minimum count that matches nothing fails.
  const iteration = (n: Node & { t: "rep" }, optional: number): void => {
    const [lo, hi] = groupSpan(n.body);
    if (lo <= hi) emit(Op.Reset, 2 * lo, 2 * hi + 2);
    if (optional >= 0) emit(Op.Mark, optional);
    gen(n.body);
    if (optional >= 0) emit(Op.Progress, optional);
  };
  const choice = (greedy: boolean): Ins => {
    const split = emit(Op.Split);
    if (greedy) split.x = prog.length;
    else split.y = prog.length;
    return split;
  };
  const exitTo = (split: Ins, greedy: boolean, at: number): void => {
    if (greedy) split.y = at;
    else split.x = at;
  };
  const rep = (n: Node & { t: "rep" }): void => {
    for (let k = 0; k < n.min; k++) iteration(n, -1);
    const optional = nullable(n.body) ? slots++ : -1;
    if (n.max === Infinity) {
      const loop = prog.length;
      const split = choice(n.greedy);
      iteration(n, optional);
      emit(Op.Jmp, loop);
      exitTo(split, n.greedy, prog.length);
      return;
    }
    const splits: Ins[] = [];
    for (let k = n.min; k < n.max; k++) {
      splits.push(choice(n.greedy));
      iteration(n, optional);
    }
    for (const s of splits) exitTo(s, n.greedy, prog.length);
  };
  emit(Op.Save, 0);
  gen(node);
  emit(Op.Save, 1);
  emit(Op.Match);
  return { prog, slots };
}

function inRanges(ranges: number[], c: number): boolean {
  for (let i = 0; i < ranges.length; i += 2) {
    if (c < ranges[i]) return false;
    if (c <= ranges[i + 1]) return true;
  }
  return false;
}

function isLineEnd(c: number): boolean {
  return c === 10 || c === 13 || c === 0x2028 || c === 0x2029;
}

/** A compiled remap pattern. */
export interface RemapPattern {
  /** Capture groups in the pattern. */
  readonly groups: number;
  /**
   * The first match at or after `from`, or null.
   *
   * @param input The name.
   * @param from Where to start looking.
   * @returns Start and end of the match, and the match and its groups
   * (undefined for a group that took no part).
   */
  exec(
    input: string,
    from: number,
  ): { start: number; end: number; groups: (string | undefined)[] } | null;
}

/** Options of {@linkcode compileRemapPattern}. */
export interface RemapPatternOptions {
  /** Match ignoring case (the rule's `i` flag, or `--ignore-case`). */
  ignoreCase?: boolean;
}

/**
 * Compiles a remap rule's pattern to a matcher whose work is linear in
 * the name (at most the name's length times the program's size).
 *
 * @example
 * ```ts
 * import { compileRemapPattern } from "./remap_regex.ts";
 * const p = compileRemapPattern("^pxelinux\\.cfg/01-([[:xdigit:]-]+)$");
 * const m = p.exec("pxelinux.cfg/01-aa-bb", 0);
 * if (m?.groups[1] !== "aa-bb") throw new Error(String(m));
 * ```
 *
 * @param source The pattern as written in the rule.
 * @param options Case folding.
 * @returns The matcher.
 * @throws {Error} For a pattern that is malformed, needs backtracking, or
 * compiles to more than 4096 steps.
 */
export function compileRemapPattern(
  source: string,
  options: RemapPatternOptions = {},
): RemapPattern {
  const parsed = parseRemapPattern(source);
  const { prog, slots } = compile(parsed.node, parsed.groups);
  const fold = options.ignoreCase ?? false;
  const groups = parsed.groups;
  if (fold) {
    for (const ins of prog) if (ins.op === Op.Char) ins.x = foldUnit(ins.x);
  }
  const vm = new Vm(prog, slots, fold);
  return {
    groups,
    exec(input, from) {
      const caps = vm.run(input, from);
      if (!caps) return null;
      const out: (string | undefined)[] = [];
      for (let g = 0; g <= groups; g++) {
        const s = caps[2 * g], e = caps[2 * g + 1];
        out.push(s >= 0 && e >= 0 ? input.slice(s, e) : undefined);
      }
      return { start: caps[0], end: caps[1], groups: out };
    },
  };
}

/** Threads waiting at one position: their instructions and slots. */
class ThreadList {
  n = 0;
  readonly pcs: Int32Array;
  readonly caps: Int32Array;
  constructor(size: number, readonly slots: number) {
    this.pcs = new Int32Array(size);
    this.caps = new Int32Array(size * slots);
  }
}

/**
 * A Pike VM: every thread advances one unit at a time, at most one per
 * instruction (the first to arrive, which has priority, as it would in a
 * backtracking search), so the work is at most the input's length times
 * the program's size. Its buffers are sized by the program and reused.
 */
class Vm {
  gen = 0;
  readonly marks: Int32Array;
  readonly lists: [ThreadList, ThreadList];
  readonly scratch: Int32Array;
  /**
   * Explore entries are pc >= 0; a restore of slot k is -(k + 1), with
   * the value to restore in `saved`.
   */
  readonly stack: Int32Array;
  readonly saved: Int32Array;

  constructor(
    readonly prog: Ins[],
    readonly slots: number,
    readonly fold: boolean,
  ) {
    this.marks = new Int32Array(prog.length);
    this.lists = [
      new ThreadList(prog.length, slots),
      new ThreadList(prog.length, slots),
    ];
    this.scratch = new Int32Array(slots);
    this.stack = new Int32Array(2 * prog.length + 2 * slots + 8);
    this.saved = new Int32Array(this.stack.length);
  }

  run(input: string, from: number): Int32Array | null {
    const { prog, slots, fold } = this;
    const n = input.length;
    const { marks, scratch, stack, saved } = this;
    const units = new Uint16Array(n);
    const folded = fold ? new Uint16Array(n) : units;
    const lower = fold ? new Uint16Array(n) : units;
    for (let i = 0; i < n; i++) {
      const c = input.charCodeAt(i);
      units[i] = c;
      if (fold) {
        folded[i] = foldUnit(c);
        lower[i] = lowerUnit(c);
      }
    }
    let gen = ++this.gen;
    let [clist, nlist] = this.lists;
    clist.n = 0;
    let matched: Int32Array | null = null;
    const add = (list: ThreadList, start: number, pos: number): void => {
      let sp = 0;
      stack[sp++] = start;
      while (sp > 0) {
        const pc = stack[--sp];
        if (pc < 0) {
          scratch[-pc - 1] = saved[sp];
          continue;
        }
        if (marks[pc] === gen) continue;
        marks[pc] = gen;
        const ins = prog[pc];
        switch (ins.op) {
          case Op.Jmp:
            stack[sp++] = ins.x;
            break;
          case Op.Split:
            stack[sp++] = ins.y;
            stack[sp++] = ins.x;
            break;
          case Op.Save:
          case Op.Mark:
            saved[sp] = scratch[ins.x];
            stack[sp++] = -ins.x - 1;
            scratch[ins.x] = pos;
            stack[sp++] = pc + 1;
            break;
          case Op.Reset:
            for (let k = ins.x; k < ins.y; k++) {
              saved[sp] = scratch[k];
              stack[sp++] = -k - 1;
              scratch[k] = -1;
            }
            stack[sp++] = pc + 1;
            break;
          case Op.Progress:
            if (scratch[ins.x] !== pos) stack[sp++] = pc + 1;
            break;
          case Op.Bol:
            if (pos === 0) stack[sp++] = pc + 1;
            break;
          case Op.Eol:
            if (pos === n) stack[sp++] = pc + 1;
            break;
          default:
            list.pcs[list.n] = pc;
            list.caps.set(scratch, list.n * slots);
            list.n++;
        }
      }
    };
    const hit = (ins: Ins, i: number): boolean => {
      switch (ins.op) {
        case Op.Char:
          return folded[i] === ins.x;
        case Op.Any:
          return !isLineEnd(units[i]);
        default: {
          const r = ins.ranges!;
          const found = inRanges(r, units[i]) ||
            (fold && (inRanges(r, folded[i]) || inRanges(r, lower[i])));
          return found !== ins.neg;
        }
      }
    };
    for (let pos = from; pos <= n; pos++) {
      if (!matched) {
        scratch.fill(-1);
        add(clist, 0, pos);
      }
      if (clist.n === 0 && matched) break;
      gen++;
      nlist.n = 0;
      for (let t = 0; t < clist.n; t++) {
        const ins = prog[clist.pcs[t]];
        const at = t * slots;
        if (ins.op === Op.Match) {
          matched = clist.caps.slice(at, at + slots);
          break;
        }
        if (pos < n && hit(ins, pos)) {
          scratch.set(clist.caps.subarray(at, at + slots));
          add(nlist, clist.pcs[t] + 1, pos + 1);
        }
      }
      [clist, nlist] = [nlist, clist];
    }
    this.gen = gen;
    return matched;
  }
}
