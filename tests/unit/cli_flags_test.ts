/**
 * The table-driven flag parser (`src/cli/flags.ts`): argument vectors ->
 * values, or the exact one-line error; and the help rendered from a table.
 */

import assert from "node:assert/strict";
import {
  type Flag,
  type FlagValues,
  parseFlags,
  renderHelp,
  UsageError,
} from "../../src/cli/flags.ts";

/** One flag of each kind, with a short name, an alias and a keyword. */
const FLAGS = [
  {
    name: "port",
    key: "port",
    short: "p",
    kind: "integer",
    value: "PORT",
    max: 65535,
    default: 69,
    help: "UDP port",
    section: "one",
  },
  {
    name: "timeout",
    key: "timeout",
    aliases: ["conn-timeout"],
    kind: "number",
    value: "S",
    min: 0.5,
    max: 60,
    help: "seconds",
    section: "one",
  },
  {
    name: "workers",
    key: "workers",
    kind: "integer",
    value: "N|auto",
    keyword: "auto",
    min: 1,
    max: 8,
    default: "auto",
    help: "threads",
    section: "one",
  },
  {
    name: "file-log",
    key: "fileLog",
    short: "l",
    kind: "string",
    value: "FILE",
    help: "log file",
    section: "two",
  },
  {
    name: "allow-from",
    key: "allowFrom",
    kind: "repeatable",
    value: "CIDR",
    parse: (t: string) => {
      if (!t.includes("/")) throw new Error("expected a network");
      return t;
    },
    help: "networks",
    section: "two",
  },
  {
    name: "format",
    key: "format",
    kind: "enum",
    choices: ["text", "json", "logfmt"],
    default: "text",
    help: "line format",
    section: "two",
  },
  {
    name: "verbose",
    key: "verbose",
    short: "v",
    kind: "boolean",
    help: "more",
    section: "two",
  },
  {
    name: "no-normalize",
    key: "normalize",
    kind: "boolean",
    set: false,
    default: true,
    help: "literal names",
    section: "two",
  },
] as const satisfies readonly Flag[];

const DEFAULTS: FlagValues<typeof FLAGS> = {
  port: 69,
  timeout: undefined,
  workers: "auto",
  fileLog: undefined,
  allowFrom: [],
  format: "text",
  verbose: false,
  normalize: true,
};

const PARSES: [string[], Partial<FlagValues<typeof FLAGS>>][] = [
  [[], {}],
  [["-p", "9069"], { port: 9069 }],
  [["-p9069"], { port: 9069 }],
  [["--port=0"], { port: 0 }],
  [["--port", "1", "--port", "2"], { port: 2 }],
  [["--timeout", "0.5"], { timeout: 0.5 }],
  [["--timeout", ".5"], { timeout: 0.5 }],
  [["--conn-timeout", "2", "--timeout", "3"], { timeout: 3 }],
  [["--timeout", "3", "--conn-timeout", "2"], { timeout: 2 }],
  [["--workers", "3"], { workers: 3 }],
  [["--workers", "auto"], { workers: "auto" }],
  [["-l", "log.txt"], { fileLog: "log.txt" }],
  [["-l", "-"], { fileLog: "-" }],
  [["-l=-v"], { fileLog: "=-v" }],
  [["--file-log=-v"], { fileLog: "-v" }],
  [["-l-v"], { fileLog: "-v" }],
  [["--allow-from", "a/1", "--allow-from=b/2"], {
    allowFrom: ["a/1", "b/2"],
  }],
  [["--format", "json"], { format: "json" }],
  [["-v"], { verbose: true }],
  [["-vp", "70"], { verbose: true, port: 70 }],
  [["--no-normalize"], { normalize: false }],
];

for (const [args, want] of PARSES) {
  Deno.test(`flags: ${JSON.stringify(args)} parses`, () => {
    const { values, positionals } = parseFlags(FLAGS, args);
    assert.deepEqual(values, { ...DEFAULTS, ...want });
    assert.deepEqual(positionals, []);
  });
}

const ERRORS: [string[], string][] = [
  [["--bogus"], "unknown option --bogus"],
  [["-x"], "unknown option -x"],
  [["--bogus=1"], "unknown option --bogus"],
  [["stray"], 'unexpected argument "stray"'],
  [["--", "-p"], 'unexpected argument "-p"'],
  [["-p"], "missing value for --port PORT"],
  [["--conn-timeout"], "missing value for --conn-timeout S"],
  [
    ["-p", "70000"],
    'invalid --port "70000": expected an integer from 0 to 65535',
  ],
  [["-p", "-5"], 'invalid --port "-5": expected an integer from 0 to 65535'],
  [["--port=-5"], 'invalid --port "-5": expected an integer from 0 to 65535'],
  [
    ["-p", "0x10"],
    'invalid --port "0x10": expected an integer from 0 to 65535',
  ],
  [["-p", " 5"], 'invalid --port " 5": expected an integer from 0 to 65535'],
  [["-p", "1e3"], 'invalid --port "1e3": expected an integer from 0 to 65535'],
  [["-p", "1.5"], 'invalid --port "1.5": expected an integer from 0 to 65535'],
  [["-p", ""], 'invalid --port "": expected an integer from 0 to 65535'],
  [["-p", "-"], 'invalid --port "-": expected an integer from 0 to 65535'],
  [
    ["--timeout", "-1"],
    'invalid --timeout "-1": expected a number from 0.5 to 60',
  ],
  [
    ["--timeout", "-.5"],
    'invalid --timeout "-.5": expected a number from 0.5 to 60',
  ],
  [
    ["--conn-timeout", "abc"],
    'invalid --conn-timeout "abc": expected a number from 0.5 to 60',
  ],
  [
    ["--timeout", "-v"],
    "missing value for --timeout S (for a value starting with -, write --timeout=-v)",
  ],
  [
    ["--workers", "two"],
    'invalid --workers "two": expected auto or an integer from 1 to 8',
  ],
  [
    ["--workers", "0"],
    'invalid --workers "0": expected auto or an integer from 1 to 8',
  ],
  // A flag whose value is free text takes no separate value starting with
  // a dash: it is the next flag, and this one's value was forgotten.
  [
    ["-l", "-v"],
    "missing value for --file-log FILE (for a value starting with -, write --file-log=-v)",
  ],
  [
    ["-l", "-x"],
    "missing value for --file-log FILE (for a value starting with -, write --file-log=-x)",
  ],
  [
    ["--allow-from", "-x"],
    "missing value for --allow-from CIDR (for a value starting with -, write --allow-from=-x)",
  ],
  [["-l", ""], 'invalid --file-log "": expected a value'],
  [["-l", " "], 'invalid --file-log " ": expected a value'],
  [["--allow-from", "x"], 'invalid --allow-from "x": expected a network'],
  [
    ["--format", "xml"],
    'invalid --format "xml": expected text, json or logfmt',
  ],
  [
    ["--format", "-j"],
    "missing value for --format text|json|logfmt (for a value starting with -, write --format=-j)",
  ],
  [["--verbose=yes"], "--verbose takes no value"],
  [["--no-normalize=0"], "--no-normalize takes no value"],
  // The first error in argument order is the one reported.
  [["--bogus", "-p", "x"], "unknown option --bogus"],
  [
    ["-p", "x", "--bogus"],
    'invalid --port "x": expected an integer from 0 to 65535',
  ],
];

for (const [args, message] of ERRORS) {
  Deno.test(`flags: ${JSON.stringify(args)} -> ${message}`, () => {
    assert.throws(
      () => parseFlags(FLAGS, args),
      (err: unknown) => {
        assert.ok(err instanceof UsageError, String(err));
        assert.equal(err.message, message);
        return true;
      },
    );
  });
}

Deno.test("flags: positionals when asked, flags among them, -- ends the flags", () => {
  const { values, positionals } = parseFlags(
    FLAGS,
    ["get", "-v", "host", "--", "-p", "x"],
    { positionals: true },
  );
  assert.equal(values.verbose, true);
  assert.equal(values.port, 69);
  assert.deepEqual(positionals, ["get", "host", "-p", "x"]);
});

Deno.test("flags: a repeatable flag's default is replaced, not appended to", () => {
  const flags = [{
    name: "host",
    key: "host",
    kind: "repeatable",
    value: "HOST",
    default: ["0.0.0.0"],
    help: "addresses",
    section: "one",
  }] as const satisfies readonly Flag[];
  assert.deepEqual(parseFlags(flags, []).values.host, ["0.0.0.0"]);
  assert.deepEqual(
    parseFlags(flags, ["--host", "::1", "--host", "::2"]).values.host,
    ["::1", "::2"],
  );
  // The default array is copied: a parse does not change the table.
  parseFlags(flags, []).values.host.push("x");
  assert.deepEqual(parseFlags(flags, []).values.host, ["0.0.0.0"]);
});

Deno.test("help: synopsis, sections, value names, ranges, aliases, defaults", () => {
  const help = renderHelp(FLAGS, {
    program: "prog",
    about: "About it.",
    footer: "Footer.",
  });
  assert.equal(
    help,
    `usage: prog [-p PORT] [--timeout S] [--workers N|auto] [-l FILE]
            [--allow-from CIDR]... [--format text|json|logfmt] [-v]
            [--no-normalize]

About it.

one:
  -p, --port PORT       UDP port. Default: 69; range: 0-65535
  --timeout S           seconds (alias: --conn-timeout). Range: 0.5-60
  --workers N|auto      threads. Default: auto; range: 1-8

two:
  -l, --file-log FILE   log file
  --allow-from CIDR     networks (repeatable)
  --format text|json|logfmt
                        line format. Default: text
  -v, --verbose         more
  --no-normalize        literal names

Footer.`,
  );
});

Deno.test("help: long text wraps under its column, lines at most 79 wide", () => {
  const help = renderHelp([{
    name: "x",
    key: "x",
    kind: "boolean",
    help: "word ".repeat(40).trim(),
    section: "s",
  }], { program: "p", usage: ["p one", "p two"] });
  const lines = help.split("\n");
  assert.equal(lines[0], "usage: p one");
  assert.equal(lines[1], "       p two");
  assert.match(lines[4], /^ {2}--x {19}word/);
  for (const line of lines.slice(5)) assert.match(line, /^ {24}word/);
  for (const line of lines) assert.ok(line.length <= 79, line);
});
