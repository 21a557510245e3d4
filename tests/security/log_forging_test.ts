/**
 * Class 8 of issue 12, logs cannot be forged. Every string a client chooses
 * (file name, mode, option names and values, the text of its ERROR) is
 * hostile: with C0 and C1 controls, ESC sequences, U+2028/2029, backslashes
 * and up to a whole datagram of it, one datagram must never
 *
 * - write a line of its own (a line that looks like a log line),
 * - put a raw control character, ESC, C1 control, U+2028/2029 or format
 *   character (bidi overrides, zero-width ones) in a log line (they are
 *   escaped),
 * - or make more than {@linkcode MAX_LINES} lines and
 *   {@linkcode MAX_BYTES} bytes of log at INFO and above (debug lines
 *   included: {@linkcode MAX_LINES_VERBOSE} and
 *   {@linkcode MAX_BYTES_VERBOSE}); strings are truncated.
 *
 * Checked on the server process as operators run it (`main.ts`, worker
 * threads), in text format and in JSON, with `-v` (so debug lines are
 * checked too, and the threads' readiness can be waited for), counting what
 * the server writes to stderr for each datagram.
 */

import assert from "node:assert/strict";
import { encodeRequest, Opcode } from "../../src/protocol/packet.ts";
import { concat } from "../../testing/bytes.ts";
import { RawClient } from "../../testing/raw_client.ts";
import { tempDir, writeInto } from "../../testing/server.ts";
import {
  type ServerProcess,
  startServer as startProcess,
} from "../../testing/process.ts";

/** Most log lines one datagram may cause (start and end of a transfer). */
const MAX_LINES = 3;
/** ... debug lines included. */
const MAX_LINES_VERBOSE = 8;
/** Most log bytes one datagram may cause. */
const MAX_BYTES = 8 * 1024;
/** ... debug lines included. */
const MAX_BYTES_VERBOSE = 16 * 1024;
/** What no text log line may hold raw (Cf: bidi overrides, zero-width). */
// deno-lint-ignore no-control-regex
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\p{Cf}]/u;
/** The forged lines carry this date, which the server never writes. */
const FORGED_DATE = "1999-01-01";
const FAKE = `${FORGED_DATE} 00:00:00,000 [INFO] 127.0.0.1:1 RRQ "x" octet: ok`;

/** Hostile strings (as bytes: some are not valid UTF-8). */
const HOSTILE: [string, Uint8Array][] = [
  ["LF and a fake line", text(`a\n${FAKE}`)],
  ["CR LF and a fake line", text(`a\r\n${FAKE}`)],
  ["CR alone", text(`innocent\r${FAKE}`)],
  ["ESC sequences", text("a\x1b[2J\x1b[1;1H\x1b]0;title\x07b")],
  ["C1 controls (UTF-8)", text(`a\u0085${FAKE}\u009b31mb`)],
  ["U+2028 and U+2029", text(`a\u2028${FAKE}\u2029b`)],
  // Trojan Source: a line that displays other than it reads.
  ["bidi override and isolates", text(`\u202e"ko :" 1.0.0.721\u2066x\u2069`)],
  ["zero-width characters and BOM", text("zero\u200bwidth\u200d\ufeffbom")],
  ["a format character above U+FFFF", text("tag\u{e0041}\u{e007f}")],
  [
    "every C0 control",
    text(
      Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join("")
        .replace("\0", "") + "a",
    ),
  ],
  ["backslashes and escapes", text(`a\\n\\r\\u000a\\x1b\\\\"${FAKE}`)],
  ["format strings", text("%s%n%x%p%d%1$s%99999999s")],
  ["60,000 bytes", text("A".repeat(60_000))],
  ["20,000 control bytes", text("\x01\x1b".repeat(10_000))],
];
/** Raw bytes that are not UTF-8 (only ERROR text is decoded leniently). */
const RAW: [string, Uint8Array][] = [
  ["raw C1 bytes", new Uint8Array([0x61, 0x85, 0x9b, 0x1b, 0x0a, 0x62])],
];

function text(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

/** A request built from raw strings (the codec would reject some). */
function request(
  op: number,
  parts: { name: Uint8Array; mode: Uint8Array; options?: Uint8Array[] },
): Uint8Array {
  const z = new Uint8Array([0]);
  const fields = [parts.name, parts.mode, ...(parts.options ?? [])];
  return concat([new Uint8Array([0, op]), ...fields.flatMap((f) => [f, z])]);
}

function errorPacket(code: number, message: Uint8Array): Uint8Array {
  return concat([
    new Uint8Array([0, Opcode.ERROR, code >> 8, code & 0xff]),
    message,
    new Uint8Array([0]),
  ]);
}

/** One hostile datagram, and how it reaches the server. */
interface Case {
  what: string;
  /** Sends it; may start a transfer first (for ERROR text). */
  send: (c: RawClient, port: number) => Promise<void>;
  /** Whether the server answers it (an ERROR never is). */
  silent?: boolean;
}

const octet = text("octet");
const CASES: Case[] = [
  ...HOSTILE.map(([w, s]): Case => ({
    what: `file name: ${w}`,
    send: (c, port) =>
      sendTo(c, port, request(Opcode.RRQ, { name: s, mode: octet })),
  })),
  ...HOSTILE.map(([w, s]): Case => ({
    what: `mode: ${w}`,
    send: (c, port) =>
      sendTo(c, port, request(Opcode.RRQ, { name: text("nofile"), mode: s })),
  })),
  ...HOSTILE.map(([w, s]): Case => ({
    what: `option name: ${w}`,
    send: (c, port) =>
      sendTo(
        c,
        port,
        request(Opcode.RRQ, {
          name: text("nofile"),
          mode: octet,
          options: [s, text("1")],
        }),
      ),
  })),
  ...HOSTILE.map(([w, s]): Case => ({
    what: `option value: ${w}`,
    send: (c, port) =>
      sendTo(
        c,
        port,
        request(Opcode.RRQ, {
          name: text("nofile"),
          mode: octet,
          options: s.length > 1000
            ? [text("x-opt"), s]
            : [text("blksize"), s, text("x-opt"), s],
        }),
      ),
  })),
  ...[...HOSTILE, ...RAW].map(([w, s]): Case => ({
    what: `ERROR text: ${w}`,
    silent: true,
    send: async (c, port) => {
      await sendTo(c, port, encodeRequest(Opcode.RRQ, "f.bin"));
      const r = await c.receive(5000);
      assert.ok(r?.packet.op === Opcode.DATA, "no DATA 1");
      await c.send(errorPacket(0, s), r.from);
    },
  })),
];

async function sendTo(c: RawClient, port: number, data: Uint8Array) {
  await c.send(data, { hostname: "127.0.0.1", port });
}

interface Output {
  what: string;
  /** Every line logged for the case. */
  lines: string[];
  /** Their bytes. */
  bytes: number;
  /** Lines above debug level. */
  infoLines: number;
  /** Their bytes. */
  infoBytes: number;
}

/**
 * Sends every case to a fresh server process and returns the lines it
 * logged for each. A case's lines are those between the end of the
 * previous marker transfer and the end of the next one (a benign RRQ for
 * `marker-N`, sent once the case's datagram has been answered: the server
 * logs a transfer's end right after sending its last packet).
 */
async function logsPerDatagram(format: "text" | "json"): Promise<Output[]> {
  const root = await tempDir("tftpd-security-");
  try {
    await writeInto(root, "f.bin", new Uint8Array(512 * 10));
    await using srv = await startProcess(root, {
      args: ["-v", "--workers-start", "listen", "--log-format", format],
    });
    await srv.waitForLine(/worker threads ready/);
    const out: Output[] = [];
    let from = srv.lines.length;
    for (const [i, k] of CASES.entries()) {
      using c = RawClient.open();
      await k.send(c, srv.port);
      if (!k.silent) await c.receive(2000); // its answer

      using m = RawClient.open();
      await m.send(encodeRequest(Opcode.RRQ, `marker-${i}`), {
        hostname: "127.0.0.1",
        port: srv.port,
      });
      await transferEnded(srv, `127.0.0.1:${m.addr.port}`, from);
      const lines = srv.lines.slice(from).filter((l) =>
        !l.includes(`127.0.0.1:${m.addr.port}`)
      );
      const size = (ls: string[]) =>
        ls.reduce((n, l) => n + text(l).length + 1, 0);
      const info = lines.filter((l) => !isDebug(l));
      out.push({
        what: k.what,
        lines,
        bytes: size(lines),
        infoLines: info.length,
        infoBytes: size(info),
      });
      from = srv.lines.length;
    }
    return out;
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

function isDebug(line: string): boolean {
  if (line.startsWith("{")) {
    try {
      return JSON.parse(line).level === "debug";
    } catch {
      return false;
    }
  }
  return HEADER.exec(line)?.[1] === "DEBUG";
}

/** Whether a case logged more than it may. */
function tooMuch(o: Output): string[] {
  const bad: string[] = [];
  if (o.infoLines > MAX_LINES) bad.push(`${o.infoLines} lines at INFO`);
  if (o.infoBytes > MAX_BYTES) bad.push(`${o.infoBytes} bytes at INFO`);
  if (o.lines.length > MAX_LINES_VERBOSE) bad.push(`${o.lines.length} lines`);
  if (o.bytes > MAX_BYTES_VERBOSE) bad.push(`${o.bytes} bytes`);
  return bad;
}

/** Runs each format once, for all the tests of that format. */
const runs = new Map<string, Promise<Output[]>>();
function logsOf(format: "text" | "json"): Promise<Output[]> {
  if (!runs.has(format)) runs.set(format, logsPerDatagram(format));
  return runs.get(format)!;
}

/** Waits until two lines about `peer` (its start and end) are logged. */
async function transferEnded(
  srv: ServerProcess,
  peer: string,
  from: number,
): Promise<void> {
  let at = from;
  for (let seen = 0; seen < 2; seen++) {
    const line = await srv.waitForLine(
      new RegExp(`${peer.replaceAll(".", "\\.")}\\D`),
      { from: at, timeoutMs: 20_000 },
    );
    at = srv.lines.indexOf(line, at) + 1;
  }
}

const HEADER =
  /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \[(DEBUG|INFO|WARNING|ERROR)\] /;

function forgedText(out: Output[]): string[] {
  const problems: string[] = [];
  for (const o of out) {
    const bad: string[] = [];
    for (const l of o.lines) {
      if (!HEADER.test(l) || l.startsWith(FORGED_DATE)) {
        bad.push(`a forged line: ${JSON.stringify(l.slice(0, 120))}`);
      } else if (FORBIDDEN.test(l)) {
        const ch = l.match(FORBIDDEN)![0].codePointAt(0)!.toString(16);
        bad.push(`raw U+${ch.padStart(4, "0")} in a line`);
      }
    }
    if (bad.length) problems.push(`${o.what}: ${[...new Set(bad)].join("; ")}`);
  }
  return problems;
}

function bounds(out: Output[]): string[] {
  return out.filter((o) => tooMuch(o).length > 0).map((o) =>
    `${o.what}: ${tooMuch(o).join("; ")}`
  );
}

Deno.test("log forging (text): no client string makes a line of its own or puts a raw control character, C1, ESC, U+2028/2029 or format character in a line (debug lines included)", async () => {
  assert.deepEqual(forgedText(await logsOf("text")), []);
});

Deno.test(`log forging (text): a datagram logs at most ${MAX_LINES} lines and ${MAX_BYTES} bytes at INFO, ${MAX_LINES_VERBOSE} lines and ${MAX_BYTES_VERBOSE} bytes with debug`, async () => {
  assert.deepEqual(bounds(await logsOf("text")), []);
});

Deno.test("log forging (json): every line is one JSON log record", async () => {
  const problems: string[] = [];
  for (const o of await logsOf("json")) {
    const bad: string[] = [];
    for (const l of o.lines) {
      let v: unknown;
      try {
        v = JSON.parse(l);
      } catch {
        bad.push(`not JSON: ${JSON.stringify(l.slice(0, 120))}`);
        continue;
      }
      const rec = v as Record<string, unknown>;
      if (typeof rec?.msg !== "string" || typeof rec.level !== "string") {
        bad.push(`not a log record: ${l.slice(0, 120)}`);
      }
    }
    if (bad.length) problems.push(`${o.what}: ${[...new Set(bad)].join("; ")}`);
  }
  assert.deepEqual(problems, []);
});

Deno.test(`log forging (json): a datagram logs at most ${MAX_LINES} lines and ${MAX_BYTES} bytes at INFO, ${MAX_LINES_VERBOSE} lines and ${MAX_BYTES_VERBOSE} bytes with debug`, async () => {
  assert.deepEqual(bounds(await logsOf("json")), []);
});

Deno.test("log forging (json): no line holds a raw C1 control, U+2028/2029 or format character (JSON.stringify leaves them raw; line-oriented readers split on the first, viewers reorder text on the last)", async () => {
  const problems = (await logsOf("json")).filter((o) =>
    o.lines.some((l) => /[\u0080-\u009f\u2028\u2029\p{Cf}]/u.test(l))
  ).map((o) => o.what);
  assert.deepEqual(problems, []);
});
