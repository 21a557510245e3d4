/**
 * `--origin-max-requests N` with `--workers 4`: a bound for the whole
 * server, not for each thread. `main.ts` runs as operators run it, in
 * front of an origin that counts the requests it has open (from the
 * request to the last byte of its body) and holds every body until the
 * test lets it go.
 *
 * - with more clients than N, for distinct names that spread over the
 *   threads, the origin sees exactly N at once (never more, and N is
 *   reached), and every client gets its file byte for byte;
 * - slots come back on every path: a body cut mid-way, a transfer the
 *   client abandons mid-body (before a request waits for its slot, or
 *   after), a hung origin cut off by the timeout, a
 *   request that timed out waiting for a slot; a request after them all
 *   is still served at N = 1.
 */

import assert from "node:assert/strict";
import { encodeError, Opcode } from "../../src/protocol/packet.ts";
import { type ServerProcess, startServer } from "../../testing/process.ts";
import { RawClient } from "../../testing/raw_client.ts";
import { gate, getFile, HttpOrigin, randomBody, tempDir } from "./harness.ts";

/** The server listens here; clients come from {@linkcode CLIENT}. */
const HOST = "127.0.0.2";
const CLIENT = "127.0.0.3";
const WORKERS = 4;
/** Long enough for any wait in these tests: the client never gives up. */
const PATIENT = { bind: CLIENT, packetTimeoutMs: 10_000 };

/**
 * An origin that counts requests open at once and holds each body until
 * {@linkcode CountingOrigin.releaseAll}; `hold` picks what a path does.
 */
class CountingOrigin {
  open = 0;
  max = 0;
  readonly http: HttpOrigin;
  #released = gate();
  #arrivals = new Set<() => void>();

  constructor(
    bodies: Map<string, Uint8Array<ArrayBuffer>>,
    special: (
      path: string,
      done: () => void,
    ) => Response | Promise<Response> | undefined = () => undefined,
  ) {
    this.http = new HttpOrigin((_req, url) => {
      this.open++;
      this.max = Math.max(this.max, this.open);
      for (const wake of [...this.#arrivals]) wake();
      let closed = false;
      const done = () => {
        if (!closed) this.open--;
        closed = true;
      };
      const other = special(url.pathname, done);
      if (other) return other;
      const body = bodies.get(url.pathname);
      if (!body) {
        done();
        return new Response("no", { status: 404 });
      }
      const released = this.#released.promise;
      return new Response(
        new ReadableStream({
          async start(c) {
            await released;
            c.enqueue(body);
            done();
            c.close();
          },
          cancel: done,
        }),
        { headers: { "content-length": String(body.length) } },
      );
    });
  }

  /** Resolves once `n` requests are open at the origin. */
  openAt(n: number): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.open < n) return;
        this.#arrivals.delete(check);
        resolve();
      };
      this.#arrivals.add(check);
      check();
    });
  }

  /** Lets every body held now or later go. */
  releaseAll(): void {
    this.#released.open();
  }
}

async function serve(
  origin: HttpOrigin,
  root: string,
  extra: string[],
): Promise<ServerProcess> {
  return await startServer(root, {
    host: HOST,
    permissions: [
      `--allow-net=${HOST},${CLIENT},127.0.0.1:${origin.port}`,
      `--allow-read=${root}`,
    ],
    args: [
      "--read-only",
      "-v",
      "--log-format",
      "json",
      "--origin",
      origin.url,
      "--workers",
      String(WORKERS),
      "--workers-start",
      "listen",
      ...extra,
    ],
  });
}

/** The worker threads that ran transfers, from the JSON transfer ends. */
function workersSeen(srv: ServerProcess): Set<number> {
  const seen = new Set<number>();
  for (const line of srv.lines) {
    if (!line.startsWith("{")) continue;
    const worker = JSON.parse(line).stats?.worker;
    if (typeof worker === "number") seen.add(worker);
  }
  return seen;
}

for (const n of [1, 3]) {
  Deno.test(`--workers ${WORKERS} --origin-max-requests ${n}: the origin sees exactly ${n} requests at once, and every client gets its file`, async () => {
    const names = Array.from({ length: n + 5 }, (_, i) => `f${i}.bin`);
    const bodies = new Map(
      names.map((name, i) => [`/${name}`, randomBody(1500 + 700 * i)]),
    );
    const origin = new CountingOrigin(bodies);
    await using _http = origin.http;
    const root = await tempDir("tftpd-origin-bound-");
    try {
      await using srv = await serve(origin.http, root, [
        "--origin-max-requests",
        String(n),
        "--origin-timeout",
        "60",
      ]);
      const at = { hostname: HOST, port: srv.port };
      const gets = names.map((name) => getFile(at, name, PATIENT));
      // N at the origin, every other request queued behind them (logged
      // by whichever thread it went to) while nothing was released.
      const queued = /: queued behind \d+ requests/;
      const formed = (async () => {
        await origin.openAt(n);
        for (let i = 0; i < names.length - n; i++) {
          await srv.waitForLine(queued, { from: matchIndex(srv, queued, i) });
        }
      })();
      const over = origin.openAt(n + 1).then(() => {
        throw new Error(`the origin saw ${n + 1} requests at once`);
      });
      await Promise.race([formed, over]);
      assert.equal(origin.open, n, srv.stderr.text);
      origin.releaseAll();
      const results = await Promise.all(gets);
      results.forEach((r, i) => {
        assert.equal(r.error, undefined, srv.stderr.text);
        assert.deepEqual(r.data, bodies.get(`/${names[i]}`));
      });
      assert.equal(origin.max, n);
      assert.equal(origin.http.requests.length, names.length);
      assert.ok(workersSeen(srv).size > 1, "the names spread over threads");
      assert.equal((await srv.stop()).code, 0, srv.stderr.text);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  });
}

/** The index just past the `i`th line matching `re` (0 for i = 0). */
function matchIndex(srv: ServerProcess, re: RegExp, i: number): number {
  if (i === 0) return 0;
  let seen = 0;
  for (let k = 0; k < srv.lines.length; k++) {
    if (re.test(srv.lines[k]) && ++seen === i) return k + 1;
  }
  return srv.lines.length;
}

Deno.test(`--workers ${WORKERS} --origin-max-requests 1: no slot leaks on a cut body, an abandoned transfer, a hung origin or a timed-out wait`, async () => {
  const hang = gate();
  const abandoned = gate();
  const left = gate();
  const stall = gate();
  const good = randomBody(3000);
  const big = randomBody(64 * 1024);
  /** A body: `head` at once, the rest once `later` opens. */
  const held = (
    bytes: Uint8Array,
    head: number,
    later: Promise<void>,
    done: () => void,
  ) =>
    new Response(
      new ReadableStream({
        async start(c) {
          c.enqueue(bytes.slice(0, head));
          await later;
          c.enqueue(bytes.slice(head));
          done();
          c.close();
        },
        cancel: done,
      }),
      { headers: { "content-length": String(bytes.length) } },
    );
  const origin = new CountingOrigin(
    new Map([["/good.bin", good]]),
    (path, done) => {
      if (path === "/cut.bin") {
        // 600 of the 4096 bytes announced, then the connection breaks.
        return new Response(
          new ReadableStream({
            start(c) {
              c.enqueue(new Uint8Array(600));
              c.error(new Error("cut"));
              done();
            },
          }),
          { headers: { "content-length": "4096" } },
        );
      }
      if (path === "/abandoned.bin") {
        return held(big, 1024, abandoned.promise, done);
      }
      if (path === "/left.bin") return held(big, 1024, left.promise, done);
      if (path === "/stall.bin") return held(big, 1024, stall.promise, done);
      if (path === "/hang.bin") {
        // No headers until the test says so.
        return hang.promise.then(() => {
          done();
          return new Response("late");
        });
      }
      return undefined;
    },
  );
  origin.releaseAll();
  await using _http = origin.http;
  const root = await tempDir("tftpd-origin-leak-");
  try {
    await using srv = await serve(origin.http, root, [
      "--origin-max-requests",
      "1",
      "--origin-timeout",
      "1",
    ]);
    const at = { hostname: HOST, port: srv.port };
    const queuedLine = (name: string, i: number) => {
      const re = new RegExp(`${name}: queued behind 1 requests`);
      return srv.waitForLine(re, { from: matchIndex(srv, re, i) });
    };

    const cut = await getFile(at, "cut.bin", PATIENT);
    assert.equal(cut.error?.code, 0, srv.stderr.text);
    assert.equal(cut.error?.message, "origin unavailable");

    // The client takes block 1, then leaves; a request that wants the
    // slot meanwhile waits, and the body nobody reads gives it up.
    using leaver = RawClient.open(CLIENT);
    await leaver.request(at, { op: "RRQ", name: "abandoned.bin" });
    const first = await leaver.expect();
    assert.equal(first.packet.op, Opcode.DATA);
    const waiting = getFile(at, "good.bin", PATIENT);
    await queuedLine("good\\.bin", 0);
    await leaver.send(encodeError(0, "cancelled"), first.from);
    const served = await waiting;
    assert.equal(served.error, undefined, srv.stderr.text);
    assert.deepEqual(served.data, good);
    abandoned.open();

    // Left first, then asked: the thread holding the body learns of the
    // wait, in whichever thread it began, and gives the slot up.
    await leaver.request(at, { op: "RRQ", name: "left.bin" });
    const firstOfLeft = await leaver.expect();
    assert.equal(firstOfLeft.packet.op, Opcode.DATA);
    await leaver.send(encodeError(0, "cancelled"), firstOfLeft.from);
    await srv.waitForLine(
      /left\.bin\W{0,2} octet: aborted \(client sent ERROR 0/,
    );
    const next = await getFile(at, "good.bin", PATIENT);
    assert.equal(next.error, undefined, srv.stderr.text);
    assert.deepEqual(next.data, good);
    await srv.waitForLine(/\/left\.bin: cache fill given up at \d+ bytes/);
    left.open();

    // Headers that never come: cut off at --origin-timeout.
    const hung = await getFile(at, "hang.bin", PATIENT);
    assert.equal(hung.error?.code, 0, srv.stderr.text);
    assert.equal(hung.error?.message, "origin unavailable");
    await srv.waitForLine(/\/hang\.bin: no response within 1000 ms/);
    hang.open();

    // A body that stalls holds the slot (bodies have --origin-idle-timeout,
    // 10 s): a request waiting for it times out at --origin-timeout, with
    // the error and log line of any request without an answer in time.
    const stalled = getFile(at, "stall.bin", PATIENT);
    await srv.waitForLine(/\/stall\.bin -> 200/);
    const late = await getFile(at, "good.bin", PATIENT);
    assert.equal(late.error?.code, 0, srv.stderr.text);
    assert.equal(late.error?.message, "origin unavailable");
    await queuedLine("good\\.bin", 1);
    await srv.waitForLine(/\/good\.bin: no response within 1000 ms/);
    stall.open();
    const whole = await stalled;
    assert.equal(whole.error, undefined, srv.stderr.text);
    assert.deepEqual(whole.data, big);

    // Every slot back: a request after all that is served at N = 1.
    const after = await getFile(at, "good.bin", PATIENT);
    assert.equal(after.error, undefined, srv.stderr.text);
    assert.deepEqual(after.data, good);
    assert.equal((await srv.stop()).code, 0, srv.stderr.text);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
