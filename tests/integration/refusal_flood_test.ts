/**
 * Refused requests are logged at most once per reason per interval
 * (`src/server/refusal_log.ts`): each is one datagram, spoofable at line
 * rate, so a flood must not turn into a line per datagram. Every request
 * is still answered; with `-v` every refusal is logged.
 */

import assert from "node:assert/strict";
import { encodeRequest, Opcode } from "../../src/protocol/packet.ts";
import { RefusalLog } from "../../src/server/refusal_log.ts";
import { Logger } from "../../src/log.ts";
import { startServer } from "../../testing/server.ts";
import { RawClient } from "../../testing/raw_client.ts";

const FLOOD = 40;

async function flood(verbose: boolean) {
  const srv = await startServer({
    verbose,
    server: { maxSessionsPerClient: 1 },
    files: { "a.bin": new Uint8Array(4096) },
  });
  using client = RawClient.open();
  const to = { hostname: "127.0.0.1", port: srv.port };
  // One transfer held open (never ACKed), then requests past the per-client
  // limit from other ports of that address, and names outside the root
  // from another address (the per-client limit comes first).
  await client.send(encodeRequest(Opcode.RRQ, "a.bin"), to);
  assert.equal((await client.receive())?.packet.op, Opcode.DATA);
  const others: RawClient[] = [];
  let errors = 0;
  try {
    for (let i = 0; i < FLOOD; i++) {
      const c = RawClient.open(i % 2 ? "127.0.0.1" : "127.0.0.2");
      others.push(c);
      await c.send(encodeRequest(Opcode.RRQ, i % 2 ? "a.bin" : "../x"), to);
      const r = await c.receive();
      if (r?.packet.op === Opcode.ERROR) errors++;
    }
  } finally {
    for (const c of others) c.close();
  }
  return { srv, errors };
}

Deno.test("a flood of refused requests: every one answered, one line per reason", async () => {
  const { srv, errors } = await flood(false);
  await using _srv = srv;
  assert.equal(errors, FLOOD, "each refused request gets its ERROR");
  const perClient = srv.lines.filter((l) =>
    /refused: .* transfers from/.test(l)
  );
  const names = srv.lines.filter((l) => /RRQ "\.\.\/x".*error/.test(l));
  assert.equal(perClient.length, 1, perClient.join("\n"));
  assert.equal(names.length, 1, names.join("\n"));
  assert.match(perClient[0], /\[WARNING\]/);
  // A refused name's line names the ERROR it was sent, as a transfer's does.
  assert.match(names[0], /octet: error \(ERROR 2: /);
});

Deno.test("with -v every refusal is logged", async () => {
  const { srv, errors } = await flood(true);
  await using _srv = srv;
  assert.equal(errors, FLOOD);
  const perClient = srv.lines.filter((l) =>
    /refused: .* transfers from/.test(l)
  );
  const names = srv.lines.filter((l) => /RRQ "\.\.\/x".*error/.test(l));
  assert.equal(perClient.length, FLOOD / 2);
  assert.equal(names.length, FLOOD / 2);
});

Deno.test("RefusalLog: one line per kind per interval, the next says how many were left out", () => {
  const lines: string[] = [];
  const log = new Logger({ stderr: false, sink: (l) => lines.push(l) });
  let now = 0;
  const refusals = new RefusalLog(log, { intervalMs: 10_000, now: () => now });
  for (let i = 0; i < 5; i++) refusals.write("busy", "warn", `busy ${i}`);
  refusals.write("name", "warn", "name 0");
  now = 9_999;
  refusals.write("busy", "warn", "busy 5");
  now = 10_000;
  refusals.write("busy", "warn", "busy 6");
  refusals.write("busy", "debug", "not shown without -v");
  now = 30_000;
  refusals.write("busy", "info", "busy 7");
  assert.deepEqual(lines.map((l) => l.replace(/^\S+ \S+ /, "")), [
    "[WARNING] busy 0",
    "[WARNING] name 0",
    "[WARNING] busy 6 (5 more for this reason not logged)",
    "[INFO] busy 7",
  ]);
});
