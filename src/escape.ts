/**
 * Escaping for text that came from the network, before it goes into a log
 * line: control characters, line separators and format characters (bidi
 * overrides, zero-width ones) become visible escapes, so a file name, an
 * option or a peer's ERROR text can never forge a line nor make one display
 * other than it reads.
 * Pure.
 *
 * @module
 */

// C0 controls, DEL, C1 controls and the Unicode line and paragraph
// separators: anything a terminal or a log viewer may take for a line break
// or a control sequence. Names holding one are refused.
// deno-lint-ignore no-control-regex
const UNSAFE_ANY = /[\x00-\x1f\x7f-\x9f\u2028\u2029]/;
// For log lines, also the format characters (Cf: bidi overrides and
// isolates, zero-width ones, the BOM), which cannot break a line but can
// make one display other than it reads. Names may hold them (ZWNJ is part
// of Persian words). JSON.stringify already escapes C0.
// deno-lint-ignore no-control-regex
const UNSAFE_IN_TEXT = /[\x00-\x1f\x7f-\x9f\u2028\u2029\p{Cf}]/gu;
const UNSAFE_IN_JSON = /[\x7f-\x9f\u2028\u2029\p{Cf}]/gu;
// deno-lint-ignore no-control-regex
const NON_ASCII = /[^\x00-\x7f]/gu;
const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

/**
 * A character that reads as ASCII but is not (U+212A KELVIN SIGN, the
 * fullwidth forms, mathematical letters: its compatibility form is ASCII)
 * is escaped, so a name that only looks like `kernel/` shows that it is not.
 */
function lookalike(c: string): string {
  return PRINTABLE_ASCII.test(c.normalize("NFKC")) ? escapeChar(c) : c;
}

/**
 * Whether text holds a character {@linkcode quote} escapes: a C0 control,
 * DEL, a C1 control or U+2028/U+2029. The name pipeline refuses the same set
 * in file names, so what a log would have to escape never reaches a disk.
 *
 * @example
 * ```ts
 * import { hasUnsafe } from "./escape.ts";
 * if (!hasUnsafe("a\x9bb") || !hasUnsafe("\u2028") || hasUnsafe("caf\xe9")) {
 *   throw new Error();
 * }
 * ```
 *
 * @param text Text from the network.
 * @returns True when it holds one of the characters above.
 */
export function hasUnsafe(text: string): boolean {
  return UNSAFE_ANY.test(text);
}

function escapeChar(c: string): string {
  const code = c.codePointAt(0)!;
  switch (c) {
    case "\n":
      return "\\n";
    case "\r":
      return "\\r";
    case "\t":
      return "\\t";
  }
  if (code > 0xffff) return `\\u{${code.toString(16)}}`;
  return code > 0xff
    ? `\\u${code.toString(16).padStart(4, "0")}`
    : `\\x${code.toString(16).padStart(2, "0")}`;
}

/** `c` as JSON `\u` escapes (a surrogate pair above U+FFFF). */
function jsonEscape(c: string): string {
  let out = "";
  for (let i = 0; i < c.length; i++) {
    out += `\\u${c.charCodeAt(i).toString(16).padStart(4, "0")}`;
  }
  return out;
}

/** Longest client-supplied text {@linkcode quote} shows, in characters. */
export const QUOTE_LIMIT = 200;

/**
 * Quotes text that came from the network for a log line: in double quotes,
 * with backslashes, quotes, control characters and line separators escaped,
 * and cut to `max` characters (the rest counted), so one datagram can
 * neither forge a line nor flood the log.
 *
 * @example
 * ```ts
 * import { quote } from "./escape.ts";
 * if (quote('a\nb"\\') !== '"a\\nb\\"\\\\"') throw new Error(quote('a\nb"\\'));
 * if (quote("x".repeat(300), { max: 4 }) !== '"xxxx"...(+296 chars)') throw new Error();
 * if (quote("\u212Aernel") !== '"\\u212aernel"') throw new Error("a look-alike K");
 * ```
 *
 * @param text Client-supplied text.
 * @param options `max`: characters to keep (default {@linkcode QUOTE_LIMIT}).
 * @returns The quoted text.
 */
export function quote(text: string, options: { max?: number } = {}): string {
  const max = options.max ?? QUOTE_LIMIT;
  const cut = text.length > max ? text.slice(0, max) : text;
  const body = cut.replace(/[\\"]/g, (c) => "\\" + c).replace(
    UNSAFE_IN_TEXT,
    escapeChar,
  ).replace(NON_ASCII, lookalike);
  return text.length > max
    ? `"${body}"...(+${text.length - max} chars)`
    : `"${body}"`;
}

/**
 * Cuts text to `max` characters, saying how much was left out.
 *
 * @example
 * ```ts
 * import { clip } from "./escape.ts";
 * if (clip("abcdef", { max: 3 }) !== "abc...(+3 chars)") throw new Error();
 * if (clip("abc") !== "abc") throw new Error();
 * ```
 *
 * @param text Any text.
 * @param options `max`: characters to keep (default {@linkcode QUOTE_LIMIT}).
 * @returns The text, cut.
 */
export function clip(text: string, options: { max?: number } = {}): string {
  const max = options.max ?? QUOTE_LIMIT;
  return text.length > max
    ? `${text.slice(0, max)}...(+${text.length - max} chars)`
    : text;
}

/**
 * Puts text that may hold client text (an error naming the file) in
 * parentheses, with `\\`, `(` and `)` escaped, so the text cannot close
 * them early and write the rest of a log line itself.
 *
 * @example
 * ```ts
 * import { parenthesize } from "./escape.ts";
 * if (parenthesize("a), ok (b\\") !== "(a\\), ok \\(b\\\\)") throw new Error();
 * ```
 *
 * @param text Any text.
 * @returns The text in parentheses.
 */
export function parenthesize(text: string): string {
  return `(${text.replace(/[\\()]/g, (c) => "\\" + c)})`;
}

/**
 * Escapes control characters, line separators and characters that only
 * look like ASCII in a whole line (a safety net for text that was not
 * quoted, such as an error repeating a name).
 *
 * @example
 * ```ts
 * import { escapeUnsafe } from "./escape.ts";
 * if (escapeUnsafe("a\nb") !== "a\\nb") throw new Error();
 * if (escapeUnsafe("\u212Aernel") !== "\\u212aernel") throw new Error();
 * ```
 *
 * @param text Any text.
 * @returns The text on one line.
 */
export function escapeUnsafe(text: string): string {
  return text.replace(UNSAFE_IN_TEXT, escapeChar).replace(
    NON_ASCII,
    lookalike,
  );
}

/**
 * Escapes what `JSON.stringify` leaves raw but a log viewer may act on
 * (DEL, C1 controls, line separators, format characters) in a JSON line.
 *
 * @example
 * ```ts
 * import { escapeJsonLine } from "./escape.ts";
 * if (escapeJsonLine(JSON.stringify("a\u2028b")) !== '"a\\u2028b"') throw new Error();
 * ```
 *
 * @param line A JSON text.
 * @returns The same JSON, with those characters as `\u` escapes.
 */
export function escapeJsonLine(line: string): string {
  return line.replace(UNSAFE_IN_JSON, jsonEscape);
}
