/**
 * The one letter-case rule of `--ignore-case`, for every place that
 * compares names: the remap rules and the directory lookup. Two places
 * folding differently let a name pass a rule yet open the file the rule
 * denies (U+212A KELVIN SIGN lower-cases to `k`, so a directory lookup by
 * `toLowerCase` found `kernel/` for a name no `^kernel/` rule matched).
 *
 * The rule is ECMAScript's case canonicalisation for patterns without the
 * `u` flag: a UTF-16 unit folds to its upper case when that is one unit,
 * and a non-ASCII unit never folds to ASCII.
 *
 * @module
 */

const NON_ASCII = /[\u0080-\uffff]/;

/**
 * Folds one UTF-16 unit.
 *
 * @example
 * ```ts
 * import { foldUnit } from "./fold.ts";
 * if (foldUnit(0x6b) !== 0x4b) throw new Error("k is K");
 * if (foldUnit(0x212a) !== 0x212a) throw new Error("the Kelvin sign is not K");
 * ```
 *
 * @param c The unit.
 * @returns Its folded unit.
 */
export function foldUnit(c: number): number {
  return guarded(c, String.fromCharCode(c).toUpperCase());
}

/** `mapped` as the unit `c` becomes, unless it is several or crosses to ASCII. */
function guarded(c: number, mapped: string): number {
  if (mapped.length !== 1) return c;
  const m = mapped.charCodeAt(0);
  return c >= 128 && m < 128 ? c : m;
}

/**
 * The lower-case twin of {@linkcode foldUnit} (for ranges written in lower
 * case), with the same guard: a non-ASCII unit never lowers to ASCII.
 *
 * @example
 * ```ts
 * import { lowerUnit } from "./fold.ts";
 * if (lowerUnit(0x4b) !== 0x6b) throw new Error("K is k");
 * if (lowerUnit(0x212a) !== 0x212a) throw new Error("the Kelvin sign is not k");
 * ```
 *
 * @param c The unit.
 * @returns Its lower-case unit.
 */
export function lowerUnit(c: number): number {
  return guarded(c, String.fromCharCode(c).toLowerCase());
}

/**
 * Folds a whole name, unit by unit: two names are the same under
 * `--ignore-case` exactly when their folds are equal.
 *
 * @example
 * ```ts
 * import { foldName } from "./fold.ts";
 * if (foldName("Boot/PXELinux.0") !== foldName("boot/pxelinux.0")) throw new Error();
 * if (foldName("\u212Aernel") === foldName("kernel")) throw new Error();
 * ```
 *
 * @param name The name.
 * @returns Its fold.
 */
export function foldName(name: string): string {
  if (!NON_ASCII.test(name)) return name.toUpperCase();
  let out = "";
  for (let i = 0; i < name.length; i++) {
    out += String.fromCharCode(foldUnit(name.charCodeAt(i)));
  }
  return out;
}
