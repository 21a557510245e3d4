/**
 * The logger's JSON lines: `msg` carries no raw control character or line
 * break, whatever the message holds (as text lines), so a viewer that
 * decodes `msg` cannot be handed a forged line.
 */

import assert from "node:assert/strict";
import { Logger } from "../../src/log.ts";

Deno.test("log: a JSON line's msg is escaped as a text line is", () => {
  const lines: string[] = [];
  const log = new Logger({
    stderr: false,
    json: true,
    sink: (line) => lines.push(line),
  });
  const hostile = "mode 'oct\n2026-12-07 [INFO] forged\u001b[2J\r\u0085\u2028'";
  log.warn(`peer RRQ: error (ERROR 4: unsupported transfer ${hostile})`, {
    stats: { mode: hostile },
  });
  assert.equal(lines.length, 1);
  assert.doesNotMatch(lines[0], /\n/);
  const rec = JSON.parse(lines[0]);
  const raw = [...rec.msg as string].filter((c) => {
    const n = c.codePointAt(0)!;
    return n < 0x20 || (n >= 0x7f && n <= 0x9f) || n === 0x2028;
  });
  assert.deepEqual(raw, []);
  assert.match(rec.msg, /oct\\n2026-12-07 \[INFO\] forged\\x1b\[2J/);
  assert.equal(rec.stats.mode, hostile, "raw values stay in the fields");
});
