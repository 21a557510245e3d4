/**
 * The worker pool's bookkeeping, with stand-in worker scripts: a worker that
 * cannot start fails `start` with its reason (and refuses what `open` handed
 * it), a worker that dies mid-transfer
 * ends its transfers as errors (logged), and the pool then stops handing it
 * work. (The real worker is exercised in tests/features/workers_test.ts.)
 */

import assert from "node:assert/strict";
import { Logger } from "../../src/log.ts";
import { Opcode, type RequestPacket } from "../../src/protocol/packet.ts";
import { WorkerPool } from "../../src/server/workers/pool.ts";
import { DEFAULT_SESSION_CONFIG } from "../../src/server/session.ts";
import {
  SharedLimiter,
  sharedSlots,
} from "../../src/storage/origin/shared_limit.ts";

const SETUP = {
  host: "127.0.0.1",
  windowMemory: 1 << 20,
  progressMs: 0,
  config: DEFAULT_SESSION_CONFIG,
  verbose: false,
};

const REQUEST: RequestPacket = {
  op: Opcode.RRQ,
  filename: "a.bin",
  mode: "octet",
  options: new Map(),
};

const PEER: Deno.NetAddr = {
  transport: "udp",
  hostname: "127.0.0.1",
  port: 40000,
};

function capture(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const log = new Logger({ stderr: false, sink: (l) => lines.push(l) });
  return { log, lines };
}

/** Hands the pool the test's one request from the test's one client. */
function hand(
  pool: WorkerPool,
  refuse: (code: number, message: string) => void = () => {},
) {
  return pool.run({ request: REQUEST, name: REQUEST.filename, peer: PEER }, {
    refuse,
  });
}

/** Bounds a promise so a broken pool fails the test instead of hanging it. */
async function within<T>(p: Promise<T>, ms = 10_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no result in ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("a worker that cannot start fails start() with its reason", async () => {
  const { log } = capture();
  const source = `self.onmessage = () => self.postMessage({
    type: "failed", error: "no read permission on /nowhere" });`;
  await assert.rejects(
    within(WorkerPool.start(2, SETUP, { source, log })),
    /no read permission on \/nowhere/,
  );
});

Deno.test("a worker that dies ends its transfers as errors and is replaced", async () => {
  const lines: string[] = [];
  let restarted!: () => void;
  const restartedOnce = new Promise<void>((r) => restarted = r);
  const watched = new Logger({
    stderr: false,
    sink: (l) => {
      lines.push(l);
      if (/worker 1 restarted$/.test(l)) restarted();
    },
  });
  // Ready at once; any transfer it is given kills it.
  const source = `self.onmessage = (e) => {
    if (e.data.type === "setup") self.postMessage({ type: "ready" });
    if (e.data.type === "start") throw new Error("boom in " + e.data.request.filename);
    if (e.data.type === "close") self.postMessage({ type: "closed" });
  };`;
  const pool = await within(
    WorkerPool.start(1, SETUP, { source, log: watched }),
  );
  assert.equal(pool.size, 1);
  const refusals: string[] = [];
  const remote = hand(pool, (_code, message) => refusals.push(message));
  assert.ok(remote);
  const stats = await within(remote.stats);
  await within(remote.done);
  assert.equal(stats.outcome, "error");
  assert.match(stats.error ?? "", /worker died: .*boom in a\.bin/);
  assert.ok(
    lines.some((l) =>
      /\[ERROR\] worker 1 died \(.*boom.*\); 1 transfers lost/.test(l)
    ),
    lines.join("\n"),
  );
  assert.deepEqual(refusals, []);
  // A fresh thread takes its place and gets work again.
  await within(restartedOnce);
  assert.equal(pool.size, 1);
  const second = hand(pool);
  assert.ok(second, "the replacement takes transfers");
  assert.equal((await within(second.stats)).outcome, "error");
  // It died again at once, so the next restart pauses (5 s); closing must
  // not wait for that pause.
  await within(pool.close(), 3000);
  assert.equal(pool.size, 0);
});

/**
 * A stand-in worker with the origin slots it was set up with as `limit`;
 * `onSetup` runs before it says it is ready (or instead), `onStart` when
 * it is handed a transfer.
 */
function slotWorker(code: { onSetup?: string; onStart?: string }): string {
  const module = new URL(
    "../../src/storage/origin/shared_limit.ts",
    import.meta.url,
  );
  return `import { SharedLimiter } from ${JSON.stringify(module.href)};
  let limit;
  self.onmessage = (e) => {
    if (e.data.type === "setup") {
      limit = new SharedLimiter(e.data.setup.originSlots);
      ${code.onSetup ?? ""}
      self.postMessage({ type: "ready" });
    }
    if (e.data.type === "start") { ${code.onStart ?? ""} }
    if (e.data.type === "close") self.postMessage({ type: "closed" });
  };`;
}

Deno.test("a worker that dies holding origin request slots, or waiting for one: both are taken back", async (t) => {
  // It takes (or, the main thread holding it, waits for) the one slot for
  // its transfer, then dies.
  const source = slotWorker({
    onStart: `limit.acquire(); throw new Error("boom");`,
  });
  for (
    const [name, mainHolds] of [["holding", false], ["waiting", true]] as const
  ) {
    await t.step(name, async () => {
      const { log } = capture();
      const slots = sharedSlots(1, 1);
      const here = new SharedLimiter(slots);
      const held = mainHolds ? await here.acquire() : undefined;
      const pool = await within(
        WorkerPool.start(1, { ...SETUP, originSlots: slots }, { source, log }),
      );
      const remote = hand(pool);
      assert.ok(remote);
      assert.match((await within(remote.stats)).error ?? "", /boom/);
      assert.equal(here.active, mainHolds ? 1 : 0);
      assert.equal(here.waiting, 0, "a dead thread's wait is not counted");
      held?.();
      (await within(here.acquire()))();
      await within(pool.close(), 3000);
    });
  }
});

Deno.test("a pool whose other thread cannot start takes back the origin slots its started threads held", async () => {
  const { log } = capture();
  const slots = sharedSlots(1, 2);
  const here = new SharedLimiter(slots);
  // Thread 1 takes the slot as it starts; thread 2 fails to start later.
  const source = slotWorker({
    onSetup: `if (e.data.setup.originSlots.thread === 2) {
        setTimeout(() => self.postMessage({ type: "failed", error: "no" }), 50);
        return;
      }
      limit.acquire();`,
  });
  const pool = WorkerPool.open(2, { ...SETUP, originSlots: slots }, {
    source,
    log,
  });
  await assert.rejects(within(pool.ready), /no/);
  assert.equal(here.active, 0);
  (await within(here.acquire()))();
  await within(pool.close());
});

Deno.test("stats, log lines and refusals from a worker reach the main thread", async () => {
  const { log, lines } = capture();
  const source = `self.onmessage = (e) => {
    const m = e.data;
    if (m.type === "setup") self.postMessage({ type: "ready" });
    if (m.type === "start") {
      self.postMessage({ type: "refused", id: m.id, code: 0, message: "no port" });
      const stats = { peer: m.peer.hostname + ":" + m.peer.port, filename: m.request.filename,
        direction: "read", mode: m.request.mode, options: {}, bytes: 0, durationMs: 0,
        retransmits: 0, outcome: "error", error: "no port" };
      self.postMessage({ type: "log", level: "warning", message: "refused " + m.request.filename, fields: { stats } });
      self.postMessage({ type: "stats", id: m.id, stats });
      self.postMessage({ type: "done", id: m.id });
    }
    if (m.type === "close") self.postMessage({ type: "closed" });
  };`;
  const pool = await within(WorkerPool.start(2, SETUP, { source, log }));
  const refusals: string[] = [];
  const remote = hand(
    pool,
    (code, message) => refusals.push(`${code} ${message}`),
  );
  assert.ok(remote);
  const stats = await within(remote.stats);
  await within(remote.done);
  assert.equal(stats.peer, "127.0.0.1:40000");
  assert.ok(stats.worker === 1 || stats.worker === 2);
  assert.deepEqual(refusals, ["0 no port"]);
  assert.ok(
    lines.some((l) => /\[WARNING\] refused a\.bin$/.test(l)),
    lines.join("\n"),
  );
  await within(pool.close());
  assert.equal(pool.size, 0);
});

Deno.test("open() takes requests before the threads are up; they start once the thread is", async () => {
  const { log } = capture();
  // Ready only after a pause: a start posted before then must still run.
  const source = `self.onmessage = (e) => {
    const m = e.data;
    if (m.type === "setup") setTimeout(() => self.postMessage({ type: "ready" }), 50);
    if (m.type === "start") {
      self.postMessage({ type: "stats", id: m.id, stats: { outcome: "ok", filename: m.request.filename } });
      self.postMessage({ type: "done", id: m.id });
    }
    if (m.type === "close") self.postMessage({ type: "closed" });
  };`;
  const pool = WorkerPool.open(1, SETUP, { source, log });
  let ready = false;
  pool.ready.then(() => ready = true);
  const remote = hand(pool);
  assert.ok(remote, "a starting pool takes the request");
  assert.equal(ready, false);
  assert.equal((await within(remote.stats)).outcome, "ok");
  await within(pool.ready);
  await within(pool.close());
});

Deno.test("a pool whose thread cannot start hands back, unanswered and without stats, the requests that can be served elsewhere", async () => {
  const { log } = capture();
  const source = `self.onmessage = (e) => {
    if (e.data.type === "setup") setTimeout(() => self.postMessage({
      type: "failed", error: "cannot load its code" }), 20);
  };`;
  const pool = WorkerPool.open(2, SETUP, { source, log });
  const refusals: string[] = [];
  let retried = 0;
  const handed = [0, 1, 2].map(() =>
    pool.run({ request: REQUEST, name: REQUEST.filename, peer: PEER }, {
      refuse: (code, message) => refusals.push(`${code} ${message}`),
      retryHere: () => retried++,
    })
  );
  await assert.rejects(within(pool.ready), /cannot load its code/);
  for (const remote of handed) await within(remote!.done);
  assert.equal(retried, 3);
  assert.deepEqual(refusals, []);
  const settled = await Promise.race([
    handed[0]!.stats.then(() => "stats"),
    Promise.resolve("none"),
  ]);
  assert.equal(settled, "none", "a handed-back request has no outcome here");
  await within(pool.close());
});

Deno.test("a pool whose thread cannot start refuses the requests it was handed (ERROR 0) and ends them as errors", async () => {
  const { log } = capture();
  const source = `self.onmessage = (e) => {
    if (e.data.type === "setup") setTimeout(() => self.postMessage({
      type: "failed", error: "no read permission on /nowhere" }), 20);
  };`;
  const pool = WorkerPool.open(2, SETUP, { source, log });
  const refusals: string[] = [];
  const handed = [0, 1, 2].map(() =>
    hand(pool, (code, message) => refusals.push(`${code} ${message}`))
  );
  await assert.rejects(within(pool.ready), /no read permission on \/nowhere/);
  for (const remote of handed) {
    assert.ok(remote);
    const stats = await within(remote.stats);
    await within(remote.done);
    assert.equal(stats.outcome, "error");
    assert.match(stats.error ?? "", /worker threads failed to start/);
  }
  assert.deepEqual(
    refusals,
    Array(3).fill("0 worker threads failed to start, try again"),
  );
  assert.equal(pool.size, 0);
  assert.equal(
    hand(pool),
    undefined,
    "a failed pool takes no more requests",
  );
  await within(pool.close());
});
