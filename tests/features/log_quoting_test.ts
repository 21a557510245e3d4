/**
 * A file name in a log line is quoted so that a reader (or a log parser)
 * gets back exactly what the client sent, whatever it holds: a `"` or `\`
 * in the name is escaped, so a name cannot end its quotes early and write
 * the rest of the line itself (a forged "ok" for a transfer that failed).
 * The reason after `error` is in parentheses with `(`, `)` and `\` escaped,
 * so a name the reason repeats cannot close them early either.
 */

import assert from "node:assert/strict";
import { CapturingLogger, startFeatureServer, WAIT_MS } from "./fixture.ts";
import { RawClient } from "../../testing/raw_client.ts";

/** A quoted name as the log writes it: `"` ... `"`, `\` escapes. */
const QUOTED = /"((?:[^"\\]|\\.)*)"/;

/** Reads back a quoted name (the escapes the log uses). */
function unquote(body: string): string {
  return body.replace(
    /\\(x[0-9a-f]{2}|u[0-9a-f]{4}|.)/g,
    (_, e: string) =>
      e.length > 1
        ? String.fromCharCode(parseInt(e.slice(1), 16))
        : ({ n: "\n", r: "\r", t: "\t" } as Record<string, string>)[e] ?? e,
  );
}

const NAMES = [
  // Would read as a finished transfer if its quote were not escaped.
  'x" octet: ok, 4096 bytes in 0.010 s, 0 retransmits',
  'back\\slash\\" octet: ok',
  'new\nline" octet: ok',
  // Would close the reason's parentheses and forge the counts after it.
  "x), 4096 bytes in 0.010 s, 0 retransmits",
  "((a)\\)(b",
  // Refused before any transfer: the refusal's reason is bracketed too.
  "../x), 4096 bytes in 0.010 s, 0 retransmits",
  // Reads as "kernel/vmlinuz" (KELVIN SIGN, fullwidth letters) but is not.
  "\u212aernel/\uff56mlinuz",
];

/** A character that is not ASCII but whose compatibility form is. */
function looksAscii(c: string): boolean {
  return c > "\x7f" && /^[\x20-\x7e]+$/.test(c.normalize("NFKC"));
}

/** A parenthesized reason as the log writes it: `(`, `)` and `\` escaped. */
const REASON = String.raw`\((?:[^()\\]|\\.)*\)`;

/** What may follow the name: the mode, then an outcome the server wrote. */
const AFTER = new RegExp(
  String
    .raw`^ octet(: error ${REASON}(, \d+ bytes in \d+\.\d{3} s, \d+ retransmits)?)?$`,
);

for (const name of NAMES) {
  Deno.test(`log: the name ${JSON.stringify(name)} reads back exactly from every line`, async () => {
    using peer = RawClient.open();
    const mine: string[] = [];
    // The request's outcome: a transfer's end, or a refusal of the name.
    const { promise: ended, resolve } = Promise.withResolvers<void>();
    const logger = new CapturingLogger({
      onLine: (line) => {
        if (!line.includes(`:${peer.port} RRQ "`)) return;
        mine.push(line);
        if (/\): error\b|" octet: error\b| octet: error\b/.test(line)) {
          resolve();
        }
      },
      onStats: () => {},
    });
    await using srv = await startFeatureServer({ logger });
    await peer.request(srv.addr, { op: "RRQ", name });
    const timer = setTimeout(resolve, WAIT_MS);
    await ended;
    clearTimeout(timer);
    assert.ok(mine.some((l) => / octet: error\b/.test(l)), mine.join("\n"));
    for (const line of mine) {
      const quoted = line.slice(line.indexOf(' RRQ "') + 5).match(QUOTED);
      assert.ok(quoted, line);
      assert.equal(unquote(quoted[1]), name, line);
      assert.ok(![...line].some(looksAscii), `a look-alike shown: ${line}`);
      // What follows the name is the server's, not the client's.
      const after = line.slice(line.indexOf(quoted[0]) + quoted[0].length);
      assert.match(after, AFTER, line);
    }
  });
}
