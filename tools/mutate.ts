/**
 * The mutation check (`deno task mutate`): plants each deliberate bug of
 * `tools/mutants.json` in a scratch copy of the repository, one at a time,
 * runs the tests listed for it and reports which of them fail. Every bug
 * must make at least one test fail that passes on the unchanged copy;
 * otherwise (or when a search text does not match exactly once, or a
 * mutant does not even compile) it exits 1. See docs/testing.md.
 *
 * Usage:
 *
 * ```sh
 * deno task mutate                      # every mutant
 * deno task mutate --only ports-stuck   # some (comma-separated ids)
 * deno task mutate --check              # only check that every edit applies
 * deno task mutate --list               # print the list
 * ```
 *
 * Other flags: `--keep` (leave the scratch copy), `--no-baseline` (skip the
 * run on the unchanged copy), `--timeout-min N` (bound of one test run,
 * default 20).
 *
 * @module
 */

/** One replacement in a mutant's file. */
export interface Edit {
  /** Text that must occur exactly once in the file. */
  search: string;
  /** What it becomes. */
  replace: string;
}

/** One deliberate bug. */
export interface Mutant {
  /** Short name. */
  id: string;
  /** What the bug breaks, as a user would notice it. */
  breaks: string;
  /** File to change, relative to the repository root. */
  file: string;
  /** The changes, applied in order. */
  edits: Edit[];
  /**
   * Test files or directories to run (missing ones are skipped); `"all"`
   * runs what `deno task test` runs, stopping at the first failure.
   */
  tests: string[];
  /** Regenerate the worker bundle after planting (default: under src/). */
  rebundle?: boolean;
  /** Anything a maintainer should know. */
  note?: string;
}

/**
 * Applies `edits` to `text`, each of whose search texts must occur exactly
 * once (in the text as the previous edits left it).
 *
 * @example
 * ```ts
 * import { applyEdits } from "./mutate.ts";
 * const out = applyEdits("a + b", [{ search: "+", replace: "-" }]);
 * if (out !== "a - b") throw new Error(out);
 * ```
 *
 * @param text The file's text.
 * @param edits The replacements.
 * @returns The changed text.
 * @throws {Error} When a search text occurs zero or several times.
 */
export function applyEdits(text: string, edits: readonly Edit[]): string {
  let out = text;
  for (const { search, replace } of edits) {
    const first = out.indexOf(search);
    const again = first < 0 ? -1 : out.indexOf(search, first + 1);
    if (first < 0 || again >= 0) {
      throw new Error(
        `${first < 0 ? "no" : "more than one"} match for ` +
          JSON.stringify(search),
      );
    }
    out = out.slice(0, first) + replace + out.slice(first + search.length);
  }
  return out;
}

function unescapeXml(s: string): string {
  return s.replace(
    /&(lt|gt|quot|apos|amp);/g,
    (_, e: string) =>
      ({ lt: "<", gt: ">", quot: '"', apos: "'", amp: "&" })[e]!,
  );
}

/**
 * The failed tests of a `deno test --junit-path` report, as
 * `file: name`; a failed step only when its test is not listed already
 * (a test with a failed step fails too).
 *
 * @example
 * ```ts
 * import { failedTests } from "./mutate.ts";
 * const xml = `<testcase name="a &gt; b" classname="./x_test.ts">` +
 *   `<failure message="m">m</failure></testcase>` +
 *   `<testcase name="ok" classname="./x_test.ts"></testcase>`;
 * if (failedTests(xml)[0] !== "./x_test.ts: a > b") throw new Error();
 * ```
 *
 * @param xml The report.
 * @returns The failed tests, in report order.
 */
export function failedTests(xml: string): string[] {
  const failed: [file: string, name: string][] = [];
  const re =
    /<testcase name="([^"]*)" classname="([^"]*)"[^>]*>([\s\S]*?)<\/testcase>/g;
  for (const m of xml.matchAll(re)) {
    if (m[3].includes("<failure")) {
      failed.push([unescapeXml(m[2]), unescapeXml(m[1])]);
    }
  }
  // A step's file is where its function is, not always its test's.
  const names = failed.map(([, name]) => name);
  return failed
    .filter(([, n]) => !names.some((p) => n.startsWith(`${p} > `)))
    .map(([file, name]) => `${file}: ${name}`);
}

/** What running a set of tests gave. */
interface TestRun {
  /** Failed tests (`file: name`). */
  failed: string[];
  /** Whether the run ended without a report of any test (compile error, timeout). */
  broken: boolean;
  /** The end of its output, for a broken run. */
  tail: string;
  /** Wall-clock seconds. */
  seconds: number;
}

const root = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** What `deno task test` runs. */
const SUITE = ["tests/", "src/", "testing/"];

/** Copies the repository's files (tracked and untracked, not ignored). */
async function scratchCopy(): Promise<string> {
  const out = await new Deno.Command("git", {
    args: ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
    cwd: root,
    stdout: "piped",
  }).output();
  if (!out.success) throw new Error("git ls-files failed");
  const dir = await Deno.makeTempDir({ prefix: "tftpd_mutate_" });
  const files = new TextDecoder().decode(out.stdout).split("\0");
  for (const f of files.filter((f) => f !== "")) {
    const from = `${root}/${f}`;
    try {
      if (!(await Deno.lstat(from)).isFile) continue;
    } catch {
      continue; // deleted in the work tree
    }
    await Deno.mkdir(`${dir}/${f}`.replace(/\/[^/]*$/, ""), {
      recursive: true,
    });
    await Deno.copyFile(from, `${dir}/${f}`);
  }
  return dir;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

const decoder = new TextDecoder();

/** Runs `deno test` on `paths` in `dir` and reads its JUnit report. */
async function runTests(
  dir: string,
  tests: string[],
  timeoutMs: number,
): Promise<TestRun> {
  const all = tests.includes("all");
  const paths = all ? [...SUITE] : [];
  if (!all) {
    for (const p of tests) if (await exists(`${dir}/${p}`)) paths.push(p);
  }
  if (paths.length === 0) {
    return {
      failed: [],
      broken: true,
      tail: "none of its tests exist",
      seconds: 0,
    };
  }
  const report = `${dir}/.mutate-junit.xml`;
  await Deno.remove(report).catch(() => {});
  const started = performance.now();
  let out: Deno.CommandOutput | undefined;
  let tail = "";
  try {
    out = await new Deno.Command(Deno.execPath(), {
      args: [
        "test",
        "--doc",
        "--no-prompt",
        "--allow-net",
        "--allow-read",
        "--allow-write",
        "--allow-run",
        "--allow-env",
        "--allow-sys",
        "--reporter=dot",
        `--junit-path=${report}`,
        ...(all ? ["--fail-fast"] : []),
        ...paths,
      ],
      cwd: dir,
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(timeoutMs),
    }).output();
    tail = (decoder.decode(out.stdout) + decoder.decode(out.stderr))
      .slice(-2000);
  } catch (err) {
    tail = `killed after ${timeoutMs / 60_000} min: ${err}`;
  }
  const seconds = (performance.now() - started) / 1000;
  const xml = await Deno.readTextFile(report).catch(() => "");
  const ran = /<testcase /.test(xml);
  return {
    // Doc tests are named by their URL, which holds the scratch directory.
    failed: failedTests(xml).map((t) => t.replaceAll(`file://${dir}/`, "")),
    broken: !ran || out === undefined,
    tail,
    seconds,
  };
}

async function rebundle(dir: string): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      "--allow-read",
      "--allow-write",
      "--allow-run",
      "--allow-env",
      "tools/bundle_worker.ts",
    ],
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`bundle:worker failed: ${decoder.decode(out.stderr)}`);
  }
}

/** A mutant's outcome. */
interface Outcome {
  mutant: Mutant;
  /** Tests that failed with the bug and pass without it. */
  caughtBy: string[];
  /** Why it could not be judged (edit did not apply, run broken). */
  problem?: string;
  seconds: number;
}

function parseArgs(args: string[]) {
  const value = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  return {
    only: value("--only")?.split(",").filter((s) => s !== ""),
    keep: args.includes("--keep"),
    check: args.includes("--check"),
    list: args.includes("--list"),
    baseline: !args.includes("--no-baseline"),
    timeoutMs: Number(value("--timeout-min") ?? 20) * 60_000,
  };
}

/**
 * The list of `tools/mutants.json`.
 *
 * @example
 * ```ts
 * import { loadMutants } from "./mutate.ts";
 * const mutants = await loadMutants();
 * if (!mutants.every((m) => m.edits.length > 0)) throw new Error();
 * ```
 *
 * @returns The mutants, in order.
 */
export async function loadMutants(): Promise<Mutant[]> {
  const text = await Deno.readTextFile(`${root}/tools/mutants.json`);
  return (JSON.parse(text) as { mutants: Mutant[] }).mutants;
}

/**
 * Checks that every mutant applies to the repository as it is (each search
 * text once in its file), so the list follows the code it plants bugs in.
 *
 * @example
 * ```ts
 * import { checkMutants, loadMutants } from "./mutate.ts";
 * const problems = await checkMutants(await loadMutants());
 * if (problems.length > 0) throw new Error(problems.join("\n"));
 * ```
 *
 * @param mutants The mutants.
 * @returns One line per mutant that does not apply.
 */
export async function checkMutants(mutants: Mutant[]): Promise<string[]> {
  const problems: string[] = [];
  for (const m of mutants) {
    try {
      applyEdits(await Deno.readTextFile(`${root}/${m.file}`), m.edits);
    } catch (err) {
      problems.push(`${m.id} (${m.file}): ${(err as Error).message}`);
    }
  }
  return problems;
}

async function mutateOne(
  dir: string,
  m: Mutant,
  opts: { baselineFailed: Set<string>; timeoutMs: number },
): Promise<Outcome> {
  const started = performance.now();
  const path = `${dir}/${m.file}`;
  const bundle = `${dir}/src/server/workers/bundle.ts`;
  const original = await Deno.readTextFile(path);
  const originalBundle = await Deno.readTextFile(bundle);
  const done = (caughtBy: string[], problem?: string): Outcome => ({
    mutant: m,
    caughtBy,
    problem,
    seconds: (performance.now() - started) / 1000,
  });
  try {
    await Deno.writeTextFile(path, applyEdits(original, m.edits));
    const bundled = m.file !== "src/server/workers/bundle.ts" &&
      (m.rebundle ?? m.file.startsWith("src/"));
    if (bundled) await rebundle(dir);
    const run = await runTests(dir, m.tests, opts.timeoutMs);
    const caught = run.failed.filter((t) => !opts.baselineFailed.has(t));
    if (run.broken) return done(caught, `the test run broke:\n${run.tail}`);
    return done(caught);
  } catch (err) {
    return done([], (err as Error).message);
  } finally {
    await Deno.writeTextFile(path, original);
    await Deno.writeTextFile(bundle, originalBundle);
  }
}

function printOutcome(o: Outcome, index: string): void {
  const verdict = o.problem
    ? "PROBLEM"
    : o.caughtBy.length > 0
    ? `caught by ${o.caughtBy.length}`
    : "NOT CAUGHT";
  console.log(
    `${index} ${o.mutant.id}: ${verdict} (${o.seconds.toFixed(0)} s)`,
  );
  console.log(`      breaks: ${o.mutant.breaks}`);
  for (const t of o.caughtBy.slice(0, 8)) console.log(`      - ${t}`);
  if (o.caughtBy.length > 8) {
    console.log(`      ... and ${o.caughtBy.length - 8} more`);
  }
  if (o.problem) console.log(`      ${o.problem.replaceAll("\n", "\n      ")}`);
}

async function main(args: string[]): Promise<number> {
  const opts = parseArgs(args);
  let mutants = await loadMutants();
  if (opts.only) {
    const unknown = opts.only.filter((id) => !mutants.some((m) => m.id === id));
    if (unknown.length > 0) {
      console.error(`unknown mutants: ${unknown.join(", ")}`);
      return 2;
    }
    mutants = mutants.filter((m) => opts.only!.includes(m.id));
  }
  if (opts.list) {
    for (const m of mutants) console.log(`${m.id}\t${m.file}\t${m.breaks}`);
    return 0;
  }
  const problems = await checkMutants(mutants);
  for (const p of problems) console.error(`does not apply: ${p}`);
  if (opts.check || problems.length > 0) {
    if (problems.length === 0) {
      console.log(`all ${mutants.length} mutants apply`);
    }
    return problems.length > 0 ? 1 : 0;
  }
  const started = performance.now();
  const dir = await scratchCopy();
  console.log(`scratch copy: ${dir}`);
  try {
    const baselineFailed = new Set<string>();
    if (opts.baseline) {
      const all = [...new Set(mutants.flatMap((m) => m.tests))];
      const run = await runTests(dir, all, opts.timeoutMs);
      console.log(
        `baseline (unchanged copy): ${run.failed.length} failed ` +
          `(${run.seconds.toFixed(0)} s)`,
      );
      for (const t of run.failed) {
        console.log(`      - ${t} (not counted as catching)`);
        baselineFailed.add(t);
      }
      if (run.broken) console.log(`      the run broke:\n${run.tail}`);
    }
    const outcomes: Outcome[] = [];
    for (const [i, m] of mutants.entries()) {
      const o = await mutateOne(dir, m, {
        baselineFailed,
        timeoutMs: opts.timeoutMs,
      });
      outcomes.push(o);
      printOutcome(o, `[${i + 1}/${mutants.length}]`);
    }
    const bad = outcomes.filter((o) => o.problem || o.caughtBy.length === 0);
    const minutes = (performance.now() - started) / 60_000;
    console.log(
      `\n${outcomes.length - bad.length} of ${outcomes.length} planted bugs ` +
        `caught (${minutes.toFixed(1)} min)` +
        (bad.length
          ? `; not caught or not judged: ${
            bad.map((o) => o.mutant.id).join(", ")
          }`
          : ""),
    );
    return bad.length > 0 ? 1 : 0;
  } finally {
    if (opts.keep) console.log(`kept ${dir}`);
    else await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
