/**
 * Remap rules in the format of tftpd-hpa's `-m` file: ordered regex rewrite
 * rules applied to the normalised name by the name pipeline
 * (`names.ts`), which validates the result again (so a rule can never map
 * outside the root: the result is confined like any name).
 *
 * A line is `FLAGS REGEX [REPLACEMENT]`; `#` starts a comment. Flags:
 * `r` rewrite, `g` global, `i` case-insensitive, `e` end after a match,
 * `s` restart at the first rule after a match, `a` abort (refuse),
 * `G` only reads, `P` only writes, `~` invert the match. In the
 * replacement, `\0`..`\9` are the match and its groups, `\i` the client IP,
 * `\x` the client IPv4 address in hex (as PXELINUX names files), `\\` a
 * backslash.
 *
 * Patterns are matched by {@linkcode compileRemapPattern}, in time linear
 * in the name, so no rule lets a client's name stall the server.
 *
 * @module
 */

import { ErrorCode, TftpError } from "../protocol/packet.ts";
import { parseIp } from "../net/cidr.ts";
import { NAME_LIMITS } from "../storage/clean_name.ts";
import { compileRemapPattern, type RemapPattern } from "./remap_regex.ts";

/** One parsed rule. */
export interface RemapRule {
  /** 1-based line number in the file. */
  line: number;
  /** The compiled pattern. */
  pattern: RemapPattern;
  /** The same pattern matching ignoring case (for `--ignore-case`). */
  foldedPattern: RemapPattern;
  /** Replacement template (for `r`). */
  replacement: string;
  /** Flags as written. */
  flags: string;
  /** Number of capture groups in the pattern. */
  groups: number;
}

/** Most rewrites applied to one name (guards against `s` loops). */
export const MAX_REMAP_STEPS = 64;

function splitFields(line: string): string[] {
  const fields: string[] = [];
  let cur = "";
  let inField = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === "\\" && i + 1 < line.length) {
      cur += c + line[++i];
      inField = true;
    } else if (c === " " || c === "\t") {
      if (inField) fields.push(cur);
      cur = "";
      inField = false;
    } else if (c === "#" && !inField) {
      break;
    } else {
      cur += c;
      inField = true;
    }
  }
  if (inField) fields.push(cur);
  return fields;
}

/**
 * tftpd-hpa matches the name as sent, so its map files anchor rules at a
 * leading `/` (`a ^/private/`); here rules see the normalised name, which
 * never has one, and such a rule would never match: a deny rule carried
 * over would let everything through. The leading `/` is made optional, so
 * the rule matches the name as if it had one.
 */
function slashOptional(pattern: string): string {
  // `^/` alone, or before a quantifier or `|`, would match every name.
  const m = /^\^(\\?\/)(.?)/.exec(pattern);
  if (!m || m[2] === "" || /[*+?{|)]/.test(m[2])) return pattern;
  return `^/?${pattern.slice(1 + m[1].length)}`;
}

/**
 * Parses a remap file.
 *
 * @example
 * ```ts
 * import { applyRemap, parseRemapRules } from "./remap.ts";
 * const rules = parseRemapRules("r ^\\\\ /   # leading backslash\nrgi \\\\ /\n");
 * const name = applyRemap(rules, "\\Boot\\BCD", { hostname: "10.0.0.5", op: "read" });
 * if (name !== "/Boot/BCD") throw new Error(name);
 * ```
 *
 * @param text File contents.
 * @returns Rules in order.
 * @throws {Error} With `line N` in the message for a bad rule.
 */
export function parseRemapRules(text: string): RemapRule[] {
  const rules: RemapRule[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const fields = splitFields(lines[i]);
    if (fields.length === 0) continue;
    const where = `line ${i + 1}`;
    const [flags, pattern, replacement] = fields;
    if (fields.length > 3) {
      throw new Error(`${where}: too many fields (quote spaces as \\s)`);
    }
    if (!/^[rgiesaGP~]+$/.test(flags)) {
      throw new Error(`${where}: unknown flag in ${JSON.stringify(flags)}`);
    }
    if (pattern === undefined) throw new Error(`${where}: missing regex`);
    if (flags.includes("r") && replacement === undefined) {
      throw new Error(`${where}: rule 'r' needs a replacement`);
    }
    const source = slashOptional(pattern);
    let compiled: RemapPattern, folded: RemapPattern;
    try {
      compiled = compileRemapPattern(source, {
        ignoreCase: flags.includes("i"),
      });
      folded = compileRemapPattern(source, { ignoreCase: true });
    } catch (err) {
      throw new Error(`${where}: bad regex: ${(err as Error).message}`);
    }
    for (const [, c] of (replacement ?? "").matchAll(/\\(.)/g)) {
      if (c >= "1" && c <= "9" && Number(c) > compiled.groups) {
        throw new Error(
          `${where}: \\${c} refers to group ${c}, but the regex has ` +
            `${compiled.groups}`,
        );
      }
    }
    rules.push({
      line: i + 1,
      pattern: compiled,
      foldedPattern: folded,
      replacement: replacement ?? "",
      flags,
      groups: compiled.groups,
    });
  }
  return rules;
}

/** Who asks, for substitutions and `G`/`P` rules. */
export interface RemapContext {
  /** Client IP. */
  hostname: string;
  /** Read or write. */
  op: "read" | "write";
  /** Every rule matches ignoring case (`--ignore-case`). */
  ignoreCase?: boolean;
  /**
   * Applied to each rewrite before the next rule sees it, so that every
   * rule sees a name in the form the first one did (a deny rule for
   * `^private/` then also holds after a rewrite that makes `/private/x`).
   */
  normalize?: (name: string) => string;
}

function hexIp(host: string): string {
  const bytes = parseIp(host);
  if (!bytes) return "";
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")
    .toUpperCase();
}

function expand(
  template: string,
  groups: string[],
  ctx: RemapContext,
): string {
  return template.replace(/\\(.)/g, (_, c: string) => {
    if (c >= "0" && c <= "9") return groups[Number(c)] ?? "";
    if (c === "i") return ctx.hostname;
    if (c === "x") return hexIp(ctx.hostname);
    if (c === "s") return " ";
    return c;
  });
}

/** Replaces the first match, or every one, as `String.replace` would. */
function replace(
  pattern: RemapPattern,
  input: string,
  opts: {
    global: boolean;
    with: (groups: string[]) => string;
    /** The match at 0, already found (so it is not searched again). */
    first: ReturnType<RemapPattern["exec"]>;
  },
): string {
  let out = "";
  let copied = 0;
  for (let from = 0; from <= input.length;) {
    const m = from === 0 ? opts.first : pattern.exec(input, from);
    if (!m) break;
    out += input.slice(copied, m.start) +
      opts.with(m.groups.map((g) => g ?? ""));
    copied = m.end;
    if (!opts.global) break;
    from = m.end === m.start ? m.end + 1 : m.end;
  }
  return out + input.slice(copied);
}

/**
 * Applies rules to a name.
 *
 * @example
 * ```ts
 * import { applyRemap, parseRemapRules } from "./remap.ts";
 * const rules = parseRemapRules("r ^pxelinux.cfg/01-(.*) cfg/\\1\n");
 * const name = applyRemap(rules, "pxelinux.cfg/01-aa-bb", { hostname: "10.0.0.5", op: "read" });
 * if (name !== "cfg/aa-bb") throw new Error(name);
 * ```
 *
 * @param rules Parsed rules.
 * @param name The requested name.
 * @param ctx Client address and direction.
 * @returns The rewritten name.
 * @throws {TftpError} ERROR 2 when an `a` rule matches, after too many
 * rewrites, or when a rewrite makes the name longer than a name may be.
 */
export function applyRemap(
  rules: readonly RemapRule[],
  name: string,
  ctx: RemapContext,
): string {
  let steps = 0;
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i];
    const f = rule.flags;
    if (f.includes("G") && ctx.op !== "read") continue;
    if (f.includes("P") && ctx.op !== "write") continue;
    const pattern = ctx.ignoreCase ? rule.foldedPattern : rule.pattern;
    const found = pattern.exec(name, 0);
    if ((found !== null) === f.includes("~")) continue;
    if (f.includes("a")) {
      throw new TftpError(
        ErrorCode.ACCESS_VIOLATION,
        `access denied by remap rule on line ${rule.line}`,
      );
    }
    if (f.includes("r")) {
      name = replace(pattern, name, {
        global: f.includes("g"),
        first: found,
        with: (groups) => expand(rule.replacement, groups, ctx),
      });
      if (name.length > NAME_LIMITS.maxLength) {
        throw new TftpError(
          ErrorCode.ACCESS_VIOLATION,
          `remap rule on line ${rule.line} makes the name too long`,
        );
      }
      if (ctx.normalize) name = ctx.normalize(name);
    }
    if (++steps > MAX_REMAP_STEPS) {
      throw new TftpError(
        ErrorCode.ACCESS_VIOLATION,
        "remap rules loop: too many rewrites",
      );
    }
    if (f.includes("e")) break;
    if (f.includes("s")) i = -1;
  }
  return name;
}
