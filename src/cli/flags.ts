/**
 * Command-line flags as data: a table of {@linkcode Flag}s drives one
 * parser (on `node:util` parseArgs), the `--help` text and the README's
 * flag tables, so adding a flag is adding one entry.
 *
 * A flag that takes a value takes the next argument, with one rule for
 * arguments that start with `-`: a numeric flag takes a negative number
 * (`--timeout -1` is then reported as out of range), and every other
 * separate argument starting with `-` counts as a missing value
 * (`-l -v` is far more likely a forgotten file name than a file named
 * `-v`). A value that really starts with `-` is attached:
 * `--map-file=-x`. A lone `-` is a value.
 *
 * @module
 */

import { parseArgs } from "node:util";

/**
 * A command-line error: print the message, exit with status 2.
 *
 * @example
 * ```ts
 * import { UsageError } from "./flags.ts";
 * const e = new UsageError("unknown option --x");
 * if (e.name !== "UsageError") throw new Error();
 * ```
 */
export class UsageError extends Error {
  /**
   * Makes the error.
   *
   * @param message One line saying what is wrong.
   */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * What a flag takes: nothing (`boolean`), one number (`integer`, `number`,
 * within `min`/`max`), one word of `choices` (`enum`), one string, or a
 * string each time it is given (`repeatable`).
 */
export type FlagKind =
  | "boolean"
  | "integer"
  | "number"
  | "string"
  | "repeatable"
  | "enum";

/** One command-line flag. */
export interface Flag<K extends string = string> {
  /** Long name without the dashes (`max-blksize`). */
  readonly name: string;
  /** Property of the parsed values it sets (`maxBlksize`). */
  readonly key: K;
  /** What it takes. */
  readonly kind: FlagKind;
  /** One-letter alias (`p` for `-p`). */
  readonly short?: string;
  /** Other long names (`conn-timeout`). */
  readonly aliases?: readonly string[];
  /** Name of the value in the help (`N`); an enum's is its choices. */
  readonly value?: string;
  /** Smallest number accepted (default 0). */
  readonly min?: number;
  /** Largest number accepted (default: no limit). */
  readonly max?: number;
  /** The words an `enum` accepts. */
  readonly choices?: readonly string[];
  /** A word a numeric flag accepts besides numbers (`auto`). */
  readonly keyword?: string;
  /** What a `boolean` flag sets when given (default `true`). */
  readonly set?: string | boolean;
  /**
   * Checks and converts a `string` or each `repeatable` value; throws an
   * `Error` whose message says what was expected.
   */
  readonly parse?: (text: string) => unknown;
  /** Value when the flag is not given (a boolean's: `false`). */
  readonly default?: string | number | boolean | readonly string[];
  /** The default as shown, when it is not a plain value. */
  readonly defaultText?: string;
  /** One line for `--help` and the README (`code` in backticks). */
  readonly help: string;
  /** More, shown in the README only. */
  readonly details?: string;
  /** Heading it is listed under. */
  readonly section: string;
}

/** The type of one value of flag `F` (a repeatable flag has several). */
export type FlagScalar<F> = F extends
  { readonly parse: (text: string) => infer R } ? R
  : F extends { readonly kind: "integer" | "number" }
    ? number | (F extends { readonly keyword: infer W } ? W : never)
  : F extends {
    readonly kind: "enum";
    readonly choices: readonly (infer C)[];
  } ? C
  : string;

/** The parsed value of flag `F`. */
export type FlagValue<F> = F extends { readonly kind: "boolean" } ?
    | (F extends { readonly set: infer S } ? S : true)
    | (F extends { readonly default: infer D } ? D : false)
  : F extends { readonly kind: "repeatable" } ? FlagScalar<F>[]
  :
    | FlagScalar<F>
    | (F extends { readonly default: unknown } ? never : undefined);

/** The parsed values of a flag table, by `key`. */
export type FlagValues<T extends readonly Flag[]> = {
  -readonly [F in T[number] as F["key"]]: FlagValue<F>;
};

const INTEGER = /^-?\d+$/;
const DECIMAL = /^-?(\d+(\.\d*)?|\.\d+)$/;
const NEGATIVE_NUMBER = /^-\.?\d/;

function isNumeric(flag: Flag): boolean {
  return flag.kind === "integer" || flag.kind === "number";
}

function orList(words: readonly string[]): string {
  return words.length < 2
    ? words.join("")
    : `${words.slice(0, -1).join(", ")} or ${words.at(-1)}`;
}

function expected(flag: Flag): string {
  if (flag.kind === "enum") return `expected ${orList(flag.choices ?? [])}`;
  const what = flag.kind === "integer" ? "an integer" : "a number";
  const range = flag.max === undefined
    ? `of at least ${flag.min ?? 0}`
    : `from ${flag.min ?? 0} to ${flag.max}`;
  const word = flag.keyword === undefined ? "" : `${flag.keyword} or `;
  return `expected ${word}${what} ${range}`;
}

function convert(flag: Flag, text: string): unknown {
  if (isNumeric(flag)) {
    if (flag.keyword !== undefined && text === flag.keyword) return text;
    const n = Number(text);
    const ok = (flag.kind === "integer" ? INTEGER : DECIMAL).test(text) &&
      n >= (flag.min ?? 0) && n <= (flag.max ?? Infinity);
    if (!ok) throw new Error(expected(flag));
    return n;
  }
  if (flag.kind === "enum") {
    if (!flag.choices?.includes(text)) throw new Error(expected(flag));
    return text;
  }
  if (text.trim() === "") throw new Error("expected a value");
  return flag.parse ? flag.parse(text) : text;
}

/**
 * The name of a flag's value as the help shows it (`N`, `text|json`).
 *
 * @example
 * ```ts
 * import { valueName } from "./flags.ts";
 * const f = {
 *   name: "log-format", key: "logFormat", kind: "enum",
 *   choices: ["text", "json"], help: "", section: "",
 * } as const;
 * if (valueName(f) !== "text|json") throw new Error();
 * ```
 *
 * @param flag The flag.
 * @returns Its value name, or "" for a boolean.
 */
export function valueName(flag: Flag): string {
  if (flag.kind === "boolean") return "";
  return flag.value ?? flag.choices?.join("|") ?? "VALUE";
}

/**
 * Parses command-line arguments with a flag table. Every flag's key is in
 * the result: its value, or its default when not given. A repeated flag
 * keeps its last value; a `repeatable` one collects them (replacing its
 * default).
 *
 * @example
 * ```ts
 * import { parseFlags } from "./flags.ts";
 * const flags = [
 *   { name: "port", key: "port", short: "p", kind: "integer", max: 65535,
 *     value: "PORT", default: 69, help: "UDP port", section: "options" },
 *   { name: "verbose", key: "verbose", short: "v", kind: "boolean",
 *     help: "more lines", section: "options" },
 * ] as const;
 * const { values } = parseFlags(flags, ["-v", "--port", "9069"]);
 * if (values.port !== 9069 || values.verbose !== true) throw new Error();
 * ```
 *
 * @param flags The flag table.
 * @param args Arguments, without the program name.
 * @param opts `positionals`: accept arguments that are not flags.
 * @returns The values by key, and the positional arguments.
 * @throws {UsageError} One line: an unknown flag, a missing or invalid
 * value, or an unexpected argument.
 */
export function parseFlags<const T extends readonly Flag[]>(
  flags: T,
  args: readonly string[],
  opts: { positionals?: boolean } = {},
): { values: FlagValues<T>; positionals: string[] } {
  const byName = new Map<string, Flag>();
  const options: Record<
    string,
    { type: "string" | "boolean"; short?: string }
  > = {};
  const values: Record<string, unknown> = {};
  for (const flag of flags) {
    const type = flag.kind === "boolean" ? "boolean" : "string";
    for (const name of [flag.name, ...(flag.aliases ?? [])]) {
      options[name] = { type };
      byName.set(name, flag);
    }
    if (flag.short) options[flag.name].short = flag.short;
    values[flag.key] = flag.kind === "boolean"
      ? flag.default ?? false
      : flag.kind === "repeatable"
      ? [...(flag.default as readonly string[] | undefined ?? [])]
      : flag.default;
  }
  let tokens;
  try {
    ({ tokens } = parseArgs({
      args: [...args],
      options,
      strict: false,
      allowPositionals: true,
      tokens: true,
    }));
  } catch (err) {
    throw new UsageError(String((err as Error).message).split("\n")[0]);
  }
  const collected = new Set<string>();
  const positionals: string[] = [];
  for (const token of tokens) {
    if (token.kind === "option-terminator") continue;
    if (token.kind === "positional") {
      if (!opts.positionals) {
        throw new UsageError(
          `unexpected argument ${JSON.stringify(token.value)}`,
        );
      }
      positionals.push(token.value);
      continue;
    }
    const flag = byName.get(token.name);
    if (!flag) throw new UsageError(`unknown option ${token.rawName}`);
    const shown = token.rawName.startsWith("--")
      ? token.rawName
      : `--${flag.name}`;
    if (flag.kind === "boolean") {
      if (token.value !== undefined) {
        throw new UsageError(`${shown} takes no value`);
      }
      values[flag.key] = flag.set ?? true;
      continue;
    }
    const text = token.value;
    const missing = `missing value for ${shown} ${valueName(flag)}`;
    if (text === undefined) throw new UsageError(missing);
    if (
      !token.inlineValue && text.length > 1 && text.startsWith("-") &&
      !(isNumeric(flag) && NEGATIVE_NUMBER.test(text))
    ) {
      throw new UsageError(
        `${missing} (for a value starting with -, write ${shown}=${text})`,
      );
    }
    let value;
    try {
      value = convert(flag, text);
    } catch (err) {
      throw new UsageError(
        `invalid ${shown} ${JSON.stringify(text)}: ${(err as Error).message}`,
      );
    }
    if (flag.kind !== "repeatable") {
      values[flag.key] = value;
    } else if (collected.has(flag.key)) {
      (values[flag.key] as unknown[]).push(value);
    } else {
      collected.add(flag.key);
      values[flag.key] = [value];
    }
  }
  return { values: values as FlagValues<T>, positionals };
}

/**
 * What a flag does in one line: its help, "(repeatable)", and with
 * `details` the README's extra clause. `code` stays in backticks.
 *
 * @example
 * ```ts
 * import { flagSummary } from "./flags.ts";
 * const f = {
 *   name: "allow-from", key: "allowFrom", kind: "repeatable",
 *   help: "answer only these networks", details: "others get no reply",
 *   section: "",
 * } as const;
 * if (flagSummary(f) !== "answer only these networks (repeatable)") {
 *   throw new Error();
 * }
 * if (!flagSummary(f, { details: true }).includes("; others get")) {
 *   throw new Error();
 * }
 * ```
 *
 * @param flag The flag.
 * @param opts `details`: include the README-only clause.
 * @returns The summary.
 */
export function flagSummary(
  flag: Flag,
  opts: { details?: boolean } = {},
): string {
  let text = flag.help;
  if (flag.kind === "repeatable") text += " (repeatable)";
  if (opts.details && flag.details) text += `; ${flag.details}`;
  return text;
}

/**
 * A flag's default as shown (`code` in backticks): its `defaultText`,
 * "off" for a boolean, the value, or undefined when there is none.
 *
 * @example
 * ```ts
 * import { flagDefault } from "./flags.ts";
 * const f = {
 *   name: "port", key: "port", kind: "integer", default: 69,
 *   help: "", section: "",
 * } as const;
 * if (flagDefault(f) !== "`69`") throw new Error();
 * ```
 *
 * @param flag The flag.
 * @returns The default, or undefined.
 */
export function flagDefault(flag: Flag): string | undefined {
  if (flag.defaultText !== undefined) return flag.defaultText;
  if (flag.kind === "boolean") return "off";
  const d = flag.default;
  if (d === undefined || (Array.isArray(d) && d.length === 0)) return;
  return (Array.isArray(d) ? d : [d]).map((v) => `\`${v}\``).join(", ");
}

/**
 * The flags of a table grouped by section, sections in table order.
 *
 * @example
 * ```ts
 * import { sections } from "./flags.ts";
 * const f = (name: string, section: string) =>
 *   ({ name, key: name, kind: "boolean", help: "", section }) as const;
 * const s = sections([f("a", "one"), f("b", "two"), f("c", "one")]);
 * if (s.map(([n, g]) => `${n}:${g.length}`).join() !== "one:2,two:1") {
 *   throw new Error();
 * }
 * ```
 *
 * @param flags The flag table.
 * @returns `[section, flags]` pairs.
 */
export function sections(flags: readonly Flag[]): [string, Flag[]][] {
  const groups = new Map<string, Flag[]>();
  for (const flag of flags) {
    const group = groups.get(flag.section) ?? [];
    group.push(flag);
    groups.set(flag.section, group);
  }
  return [...groups];
}

const plain = (text: string) => text.replaceAll("`", "");

/** Joins words into lines of at most `width` (with `indent`). */
function wrap(words: string[], width: number, indent: string): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of words) {
    if (line !== "" && indent.length + line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  lines.push(line);
  return lines;
}

function synopsis(program: string, flags: readonly Flag[]): string {
  const head = `usage: ${program} `;
  const words = flags.map((f) => {
    const name = f.short ? `-${f.short}` : `--${f.name}`;
    const value = valueName(f);
    return `[${name}${value ? ` ${value}` : ""}]${
      f.kind === "repeatable" ? "..." : ""
    }`;
  });
  const indent = " ".repeat(head.length);
  return head + wrap(words, 79, indent).join(`\n${indent}`);
}

function optionLines(flag: Flag): string[] {
  const value = valueName(flag);
  const label = `  ${flag.short ? `-${flag.short}, ` : ""}--${flag.name}${
    value ? ` ${value}` : ""
  }`;
  let text = plain(flagSummary(flag));
  if (flag.aliases?.length) {
    text += ` (alias: ${flag.aliases.map((a) => `--${a}`).join(", ")})`;
  }
  const facts = [];
  const shown = flag.kind === "boolean" ? undefined : flagDefault(flag);
  if (shown) facts.push(`Default: ${plain(shown)}`);
  if (isNumeric(flag) && flag.max !== undefined) {
    facts.push(`range: ${flag.min ?? 0}-${flag.max}`);
  }
  const more = facts.join("; ");
  if (more) text += `. ${more[0].toUpperCase()}${more.slice(1)}`;
  const indent = " ".repeat(24);
  const body = wrap(text.split(" "), 79, indent);
  const first = label.length <= 22
    ? [label.padEnd(24) + body.shift()]
    : [label];
  return [...first, ...body.map((l) => indent + l)];
}

/**
 * Renders the help: a usage synopsis (generated from the flags unless
 * `usage` gives its lines), `about`, the flags by section, `footer`.
 *
 * @example
 * ```ts
 * import { renderHelp } from "./flags.ts";
 * const flags = [
 *   { name: "port", key: "port", short: "p", kind: "integer", max: 65535,
 *     value: "PORT", default: 69, help: "UDP port", section: "options" },
 * ] as const;
 * const help = renderHelp(flags, { program: "tftpd" });
 * if (!help.startsWith("usage: tftpd [-p PORT]")) throw new Error(help);
 * if (!help.includes("UDP port. Default: 69; range: 0-65535")) {
 *   throw new Error(help);
 * }
 * ```
 *
 * @param flags The flag table.
 * @param opts The program's name, and the text around the flags.
 * @returns The help text, without a final newline.
 */
export function renderHelp(
  flags: readonly Flag[],
  opts: {
    program: string;
    usage?: readonly string[];
    about?: string;
    footer?: string;
  },
): string {
  const parts = [
    opts.usage
      ? opts.usage.map((l, i) => (i === 0 ? "usage: " : "       ") + l).join(
        "\n",
      )
      : synopsis(opts.program, flags),
  ];
  if (opts.about) parts.push(opts.about);
  for (const [section, group] of sections(flags)) {
    parts.push([`${section}:`, ...group.flatMap(optionLines)].join("\n"));
  }
  if (opts.footer) parts.push(opts.footer);
  return parts.join("\n\n");
}
