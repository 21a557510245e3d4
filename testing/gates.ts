/**
 * When a test may be skipped. Each function returns the value for
 * `Deno.test`'s `ignore`.
 *
 * Two reasons exist, and they are treated differently under CI (env `CI`
 * set and not `0`/`false`):
 *
 * - {@linkcode needs}: a prerequisite of the machine (IPv6 on loopback,
 *   extra loopback addresses, a client binary). Outside CI a missing one
 *   skips the test with a note. Under CI the test runs (and fails on its
 *   own), and a companion test named `missing prerequisite: ...` fails with
 *   a message naming what is missing: CI must never skip silently.
 * - {@linkcode longRun}: an explicit switch for runs too long or too heavy
 *   for `deno task test` (`HARDENING_FULL=1`, `TFTPD_NETBOOT=1`). Skipped
 *   unless the switch is `1`, under CI too. Each such skip prints one line
 *   starting with {@linkcode LONG_RUN_MARK}, which `.ci/run` counts: every
 *   ignored test must be explained by one of these lines.
 *
 * @module
 */

/** Start of the line printed for each test skipped by {@linkcode longRun}. */
export const LONG_RUN_MARK = "gates: long run skipped:";

/**
 * Whether this is a CI run: env `CI` set, not empty, `0` or `false`.
 *
 * @example
 * ```ts
 * import { inCi } from "./gates.ts";
 * if (typeof inCi() !== "boolean") throw new Error();
 * ```
 *
 * @returns True under CI.
 */
export function inCi(): boolean {
  const v = Deno.env.get("CI");
  return v !== undefined && v !== "" && v !== "0" && v !== "false";
}

/**
 * Gate for a test that needs something of the machine.
 *
 * Outside CI: true (skip) when `available` is false, with a note on stderr.
 * Under CI: always false (run); when `available` is false it also registers
 * a failing test named `missing prerequisite: REASON`, so the report names
 * what is missing and not only the gated test's own error.
 *
 * @example
 * ```ts
 * import { needs } from "./gates.ts";
 * // Available: never skipped.
 * if (needs("IPv6 loopback (::1)", true) !== false) throw new Error();
 * ```
 *
 * @param reason What the test needs, as a reader should see it.
 * @param available Whether it is there.
 * @returns The `ignore` value for `Deno.test`.
 */
export function needs(reason: string, available: boolean): boolean {
  if (available) return false;
  if (!inCi()) {
    console.error(`gates: skipped, missing: ${reason}`);
    return true;
  }
  Deno.test(`missing prerequisite: ${reason}`, () => {
    throw new Error(
      `${reason} is missing. CI is set, so a test that needs it runs and ` +
        `fails instead of being skipped (.ci/run installs and sets up ` +
        `what the suites need).`,
    );
  });
  return false;
}

/**
 * Gate for a test that runs only when its switch `ENV_NAME=1` is set (long
 * or heavy runs). Skipped otherwise, also under CI, and each skip prints a
 * line starting with {@linkcode LONG_RUN_MARK} that `.ci/run` counts.
 *
 * @example
 * ```ts
 * import { longRun } from "./gates.ts";
 * // With its switch set, the long test runs (and prints nothing).
 * Deno.env.set("TFTPD_EXAMPLE_LONG", "1");
 * if (longRun("TFTPD_EXAMPLE_LONG") !== false) throw new Error();
 * ```
 *
 * @param envName The switch, e.g. `HARDENING_FULL`.
 * @returns The `ignore` value for `Deno.test`.
 */
export function longRun(envName: string): boolean {
  if (Deno.env.get(envName) === "1") return false;
  console.error(`${LONG_RUN_MARK} set ${envName}=1 to run it`);
  return true;
}
