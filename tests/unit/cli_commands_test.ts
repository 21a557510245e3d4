/**
 * The server's and the client's command lines (`src/cli/server.ts`,
 * `src/cli/client.ts`): argument vectors -> options, or the exact
 * one-line error. No processes: the process-level checks are in
 * `tests/cli/` and `tests/client/cli_test.ts`.
 */

import assert from "node:assert/strict";
import { UsageError } from "../../src/cli/flags.ts";
import { type ClientCli, parseClientCli } from "../../src/cli/client.ts";
import { type CliOptions, parseCli } from "../../src/cli/server.ts";
import {
  CLIENT_DEFAULTS,
  ORIGIN_DEFAULTS,
  SERVER_DEFAULTS,
} from "../../src/defaults.ts";

const AUTO_WORKERS = Math.max(
  SERVER_DEFAULTS.autoWorkersMin,
  Math.min(navigator.hardwareConcurrency || 1, SERVER_DEFAULTS.autoWorkersMax),
);

Deno.test("server: no arguments -> every default from defaults.ts", () => {
  const d = SERVER_DEFAULTS;
  const want: CliOptions = {
    server: {
      host: [d.host],
      port: d.port,
      root: d.root,
      ackTimeout: d.ackTimeout,
      // Unset, so that uploads can wait longer (`uploadTimeout`).
      timeout: undefined,
      retries: d.retries,
      maxIdle: d.maxIdle,
      maxBlksize: d.maxBlksize,
      maxWindowsize: d.maxWindowsize,
      maxUpload: undefined,
      maxWindowMemory: d.maxWindowMemory,
      readOnly: false,
      allowOverwrite: false,
      ignoreCase: false,
      normalizeNames: true,
      perClientRoot: false,
      maxSessions: d.maxSessions,
      maxSessionsPerClient: d.maxSessionsPerClient,
      allowFrom: [],
      portRange: undefined,
      singlePort: false,
      workers: AUTO_WORKERS,
      workersStart: d.workersStart,
      busyPollUs: d.busyPollUs,
      metrics: undefined,
    },
    fileLog: undefined,
    logFormat: "text",
    mapFile: undefined,
    verbose: false,
    help: false,
    version: false,
  };
  assert.deepEqual(parseCli([]), want);
});

const SERVER_PARSES: [string[], Partial<CliOptions["server"]>][] = [
  [["--host", "::", "-p", "69", "--root", "/srv"], {
    host: ["::"],
    port: 69,
    root: "/srv",
  }],
  [["--host", "192.0.2.1", "--host", "fe80::1%eth0"], {
    host: ["192.0.2.1", "fe80::1%eth0"],
  }],
  [["--ack-timeout", "1", "--conn-timeout", "0.2", "--retries", "0"], {
    ackTimeout: 1,
    timeout: 0.2,
    retries: 0,
  }],
  [["--max-blksize", "1468", "--max-windowsize", "16"], {
    maxBlksize: 1468,
    maxWindowsize: 16,
  }],
  [["--max-upload", "0"], { maxUpload: 0 }],
  [["--read-only", "--allow-overwrite", "--ignore-case"], {
    readOnly: true,
    allowOverwrite: true,
    ignoreCase: true,
  }],
  [["--no-normalize", "--per-client-root"], {
    normalizeNames: false,
    perClientRoot: true,
  }],
  [["--allow-from", "10.0.0.0/8", "--allow-from", "::1"], {
    allowFrom: ["10.0.0.0/8", "::1"],
  }],
  [["--port-range", "30000:30009"], { portRange: [30000, 30009] }],
  [["--single-port"], { singlePort: true, workers: 1 }],
  [["--single-port", "--workers", "1"], { singlePort: true, workers: 1 }],
  [["--single-port", "--workers", "auto"], { singlePort: true, workers: 1 }],
  [["--workers", "5"], { workers: 5 }],
  [["--busy-poll-us", "0"], { busyPollUs: 0 }],
];

for (const [args, want] of SERVER_PARSES) {
  Deno.test(`server: ${args.join(" ")}`, () => {
    const { server } = parseCli(args);
    assert.deepEqual(server, { ...parseCli([]).server, ...want });
  });
}

Deno.test("server: logging, map file, help and version", () => {
  const o = parseCli([
    "-l",
    "/tmp/log",
    "--log-format",
    "json",
    "-v",
    "--map-file",
    "rules",
    "-h",
    "--version",
  ]);
  assert.deepEqual(
    [o.fileLog, o.logFormat, o.verbose, o.mapFile, o.help, o.version],
    ["/tmp/log", "json", true, "rules", true, true],
  );
});

Deno.test("server: --origin and its flags -> ServerOptions.origin, every bound filled in, seconds in ms", () => {
  const o = ORIGIN_DEFAULTS;
  assert.deepEqual(
    parseCli(["--origin", "https://mirror/boot"]).server.origin,
    {
      url: "https://mirror/boot",
      only: false,
      timeoutMs: o.timeoutMs,
      idleTimeoutMs: o.idleTimeoutMs,
      maxConcurrent: o.maxConcurrent,
      maxRedirects: o.maxRedirects,
      maxObjectBytes: o.maxObjectBytes,
      cacheMemoryBytes: o.cacheMemoryBytes,
      cacheDir: undefined,
      cacheDirBytes: o.cacheDirBytes,
      headers: [],
    },
  );
  const all = parseCli([
    "--origin",
    "http://10.0.0.5:8080/",
    "--origin-only",
    "--origin-timeout",
    "1.5",
    "--origin-idle-timeout",
    "30",
    "--origin-max-requests",
    "4",
    "--origin-redirects",
    "0",
    "--origin-max-size",
    "1000",
    "--origin-cache-memory",
    "0",
    "--origin-cache-dir",
    "/var/cache/tftpd",
    "--origin-cache-dir-size",
    "2048",
    "--origin-header",
    "Authorization: Bearer a:b",
    "--origin-header",
    "X-Site:  lab-3 ",
  ]);
  assert.deepEqual(all.server.origin, {
    url: "http://10.0.0.5:8080/",
    only: true,
    timeoutMs: 1500,
    idleTimeoutMs: 30_000,
    maxConcurrent: 4,
    maxRedirects: 0,
    maxObjectBytes: 1000,
    cacheMemoryBytes: 0,
    cacheDir: "/var/cache/tftpd",
    cacheDirBytes: 2048,
    headers: [["Authorization", "Bearer a:b"], ["X-Site", "lab-3"]],
  });
  assert.equal(parseCli([]).server.origin, undefined);
});

const SERVER_ERRORS: [string[], string][] = [
  [
    ["-p", "70000"],
    'invalid --port "70000": expected an integer from 0 to 65535',
  ],
  [
    ["--port", "-1"],
    'invalid --port "-1": expected an integer from 0 to 65535',
  ],
  [
    ["--timeout", "-1"],
    'invalid --timeout "-1": expected a number from 0.01 to 3600',
  ],
  [
    ["--ack-timeout", "256"],
    'invalid --ack-timeout "256": expected a number from 0.01 to 255',
  ],
  [
    ["--retries", "1.5"],
    'invalid --retries "1.5": expected an integer from 0 to 100',
  ],
  [
    ["--max-blksize", "7"],
    'invalid --max-blksize "7": expected an integer from 8 to 65464',
  ],
  [
    ["--max-windowsize", "0"],
    'invalid --max-windowsize "0": expected an integer from 1 to 65535',
  ],
  [
    ["--max-upload", "-3"],
    'invalid --max-upload "-3": expected an integer of at least 0',
  ],
  [
    ["--max-sessions", "0"],
    'invalid --max-sessions "0": expected an integer from 1 to 1000000',
  ],
  [
    ["--workers", "65"],
    'invalid --workers "65": expected auto or an integer from 1 to 64',
  ],
  [
    ["--busy-poll-us", "1001"],
    'invalid --busy-poll-us "1001": expected an integer from 0 to 1000',
  ],
  [["--host", ""], 'invalid --host "": expected a value'],
  [
    ["--host", "[::1]"],
    'invalid --host "[::1]": expected an IP address, not a name (0.0.0.0, ::, 192.0.2.1, fe80::1%eth0)',
  ],
  [
    ["--log-format", "xml"],
    'invalid --log-format "xml": expected text or json',
  ],
  [
    ["--origin", "ftp://mirror/"],
    'invalid --origin "ftp://mirror/": origin URL must be http: or https:, not ftp:',
  ],
  [
    ["--origin", "https://u:p@mirror/"],
    'invalid --origin "https://u:p@mirror/": origin URL must not carry credentials (send them as a header)',
  ],
  [["--origin-only"], "--origin-only needs --origin URL"],
  [
    ["--origin-cache-dir", "/var/cache/x"],
    "--origin-cache-dir needs --origin URL",
  ],
  [["--origin-header", "A: b"], "--origin-header needs --origin URL"],
  [
    ["--origin", "http://m/", "--origin-only", "--root", "/srv"],
    "--origin-only and --root exclude each other",
  ],
  [
    ["--origin", "http://m/", "--origin-header", "Bad Name: x"],
    'invalid --origin-header "Bad Name: x": expected "Name: value"',
  ],
  // Values fetch would refuse on every request: refused at start.
  [
    ["--origin", "http://m/", "--origin-header", "X-Tok: a\x01b"],
    'invalid --origin-header "X-Tok: a\\u0001b": expected "Name: value"',
  ],
  [
    ["--origin", "http://m/", "--origin-header", "X-Tok: a\x7fb"],
    'invalid --origin-header "X-Tok: a\x7fb": expected "Name: value"',
  ],
  [
    ["--origin", "http://m/", "--origin-header", "X-Tok: caf\u20ac"],
    'invalid --origin-header "X-Tok: caf\u20ac": expected "Name: value"',
  ],
  [
    ["--origin", "http://m/", "--origin-timeout", "0"],
    'invalid --origin-timeout "0": expected a number from 0.1 to 600',
  ],
  [
    ["--origin", "http://m/", "--origin-max-requests", "0"],
    'invalid --origin-max-requests "0": expected an integer from 1 to 4096',
  ],
  [
    ["--port-range", "0:10"],
    'invalid --port-range "0:10": expected LOW:HIGH within 1-65535',
  ],
  [
    ["--port-range", "9:1"],
    'invalid --port-range "9:1": expected LOW:HIGH within 1-65535',
  ],
  [
    ["--port-range", "1-9"],
    'invalid --port-range "1-9": expected LOW:HIGH within 1-65535',
  ],
  [
    ["--allow-from", "10.0.0.0/33"],
    'invalid --allow-from "10.0.0.0/33": expected an address or a network (10.0.0.0/8, fd00::/8)',
  ],
  [
    ["-l", "-x"],
    "missing value for --file-log FILE (for a value starting with -, write --file-log=-x)",
  ],
  [
    ["--map-file", "-x"],
    "missing value for --map-file FILE (for a value starting with -, write --map-file=-x)",
  ],
  [
    ["--allow-from", "-x"],
    "missing value for --allow-from CIDR (for a value starting with -, write --allow-from=-x)",
  ],
  [["--root"], "missing value for --root DIR"],
  [["--read-only=yes"], "--read-only takes no value"],
  [["--bogus"], "unknown option --bogus"],
  [["serve"], 'unexpected argument "serve"'],
  [
    ["--single-port", "--workers", "2"],
    "--single-port and --workers exclude each other",
  ],
  [
    ["--single-port", "--port-range", "1:2"],
    "--single-port and --port-range exclude each other",
  ],
];

for (const [args, message] of SERVER_ERRORS) {
  Deno.test(`server: ${JSON.stringify(args)} -> ${message}`, () => {
    assert.throws(() => parseCli(args), new UsageError(message));
  });
}

Deno.test("server: --map-file=-x and -l=... name files that start with a dash", () => {
  const o = parseCli(["--map-file=-x", "--file-log=-y"]);
  assert.equal(o.mapFile, "-x");
  assert.equal(o.fileLog, "-y");
});

const CLIENT_BASE = {
  blksize: undefined,
  windowsize: undefined,
  tsize: false,
  timeout: undefined,
  retries: CLIENT_DEFAULTS.retries,
  mode: CLIENT_DEFAULTS.mode,
};

const CLIENT_PARSES: [string[], ClientCli][] = [
  [["get", "10.0.0.1", "boot.ipxe"], {
    help: false,
    verb: "get",
    source: "boot.ipxe",
    target: undefined,
    quiet: false,
    options: { ...CLIENT_BASE, host: "10.0.0.1", port: CLIENT_DEFAULTS.port },
  }],
  [["put", "-q", "[::1]:9069", "a.cfg", "in/a.cfg"], {
    help: false,
    verb: "put",
    source: "a.cfg",
    target: "in/a.cfg",
    quiet: true,
    options: { ...CLIENT_BASE, host: "::1", port: 9069 },
  }],
  [[
    "get",
    "-b",
    "1468",
    "-w",
    "4",
    "-t",
    "--timeout",
    "2",
    "--retries",
    "0",
    "--netascii",
    "h:69",
    "r",
    "-",
  ], {
    help: false,
    verb: "get",
    source: "r",
    target: "-",
    quiet: false,
    options: {
      blksize: 1468,
      windowsize: 4,
      tsize: true,
      timeout: 2,
      retries: 0,
      mode: "netascii",
      host: "h",
      port: 69,
    },
  }],
  [["-h"], { help: true }],
  [["--help", "anything"], { help: true }],
];

for (const [args, want] of CLIENT_PARSES) {
  Deno.test(`client: ${args.join(" ")}`, () => {
    assert.deepEqual(parseClientCli(args), want);
  });
}

const USAGE = "expected: get|put HOST[:PORT] FILE [FILE] (see --help)";
const CLIENT_ERRORS: [string[], string][] = [
  [[], USAGE],
  [["fetch", "h", "a"], USAGE],
  [["get", "h"], USAGE],
  [["get", "h", "a", "b", "c"], 'unexpected argument "c"'],
  [["get", "h:99999", "a"], "invalid server address h:99999"],
  [["get", "h:x", "a"], "invalid server address h:x"],
  [["get", "h:", "a"], "invalid server address h:"],
  [["get", "[::1]:0", "a"], "invalid server address [::1]:0"],
  [
    ["get", "-b", "7", "h", "a"],
    'invalid --blksize "7": expected an integer from 8 to 65464',
  ],
  [
    ["get", "-w", "0", "h", "a"],
    'invalid --windowsize "0": expected an integer from 1 to 65535',
  ],
  [
    ["get", "--timeout", "256", "h", "a"],
    'invalid --timeout "256": expected an integer from 1 to 255',
  ],
  [
    ["get", "--retries", "x", "h", "a"],
    'invalid --retries "x": expected an integer from 0 to 100',
  ],
  [["get", "--bogus", "h", "a"], "unknown option --bogus"],
  [["get", "--tsize=1", "h", "a"], "--tsize takes no value"],
];

for (const [args, message] of CLIENT_ERRORS) {
  Deno.test(`client: ${JSON.stringify(args)} -> ${message}`, () => {
    assert.throws(() => parseClientCli(args), new UsageError(message));
  });
}
