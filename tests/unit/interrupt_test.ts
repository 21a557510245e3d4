/**
 * The client command's signal handling (`src/cli/interrupt.ts`) with a
 * fake signal source: the first signal aborts the run and says so once,
 * the status is the shell's, a run that hangs is given up after the bound
 * (its temporary file removed), a second signal gives up at once, and no
 * listener outlives the command.
 */

import assert from "node:assert/strict";
import {
  type CancelSignal,
  interruptible,
  type SignalSource,
} from "../../src/cli/interrupt.ts";

/** Signal listeners kept in a map, fired by hand. */
class FakeSignals implements SignalSource {
  readonly handlers = new Map<CancelSignal, Set<() => void>>();

  addSignalListener(signal: CancelSignal, handler: () => void): void {
    if (!this.handlers.has(signal)) this.handlers.set(signal, new Set());
    this.handlers.get(signal)!.add(handler);
  }

  removeSignalListener(signal: CancelSignal, handler: () => void): void {
    this.handlers.get(signal)?.delete(handler);
  }

  fire(signal: CancelSignal): void {
    for (const h of [...(this.handlers.get(signal) ?? [])]) h();
  }

  get count(): number {
    let n = 0;
    for (const set of this.handlers.values()) n += set.size;
    return n;
  }
}

const NEVER = new Promise<number>(() => {});

Deno.test("no signal: the run's own status, and every listener removed", async () => {
  const signals = new FakeSignals();
  const lines: string[] = [];
  let during = 0;
  const status = await interruptible(
    (signal) => {
      during = signals.count;
      assert.equal(signal.aborted, false);
      return Promise.resolve(6);
    },
    {
      cleanup: () => assert.fail("no cleanup"),
      report: (l) => lines.push(l),
      signals,
    },
  );
  assert.equal(status, 6);
  assert.equal(during, 3);
  assert.equal(signals.count, 0);
  assert.deepEqual(lines, []);
});

Deno.test("each signal aborts the run, says so once and exits 128 + its number", async (t) => {
  for (
    const [name, code] of [["SIGINT", 130], ["SIGTERM", 143], [
      "SIGHUP",
      129,
    ]] as const
  ) {
    await t.step(name, async () => {
      const signals = new FakeSignals();
      const lines: string[] = [];
      let cleaned = 0;
      const status = await interruptible(
        (signal) =>
          new Promise<number>((resolve) => {
            signal.addEventListener("abort", () => resolve(1));
            signals.fire(name);
          }),
        { cleanup: () => cleaned++, report: (l) => lines.push(l), signals },
      );
      assert.equal(status, code);
      assert.deepEqual(lines, [`tftp: ${name} received: transfer cancelled`]);
      // The run finished its own cleanup: nothing is forced.
      assert.equal(cleaned, 0);
      assert.equal(signals.count, 0);
    });
  }
});

Deno.test("a run that hangs after the signal is given up after the bound, after cleanup", async () => {
  const signals = new FakeSignals();
  let cleaned = 0;
  let aborted = false;
  const status = await interruptible(
    (signal) => {
      signal.addEventListener("abort", () => aborted = true);
      signals.fire("SIGTERM");
      return NEVER;
    },
    { cleanup: () => cleaned++, report: () => {}, signals, boundMs: 20 },
  );
  assert.equal(status, 143);
  assert.equal(aborted, true);
  assert.equal(cleaned, 1);
  assert.equal(signals.count, 0);
});

Deno.test("a second signal gives up at once, whatever the bound", async () => {
  const signals = new FakeSignals();
  let cleaned = 0;
  const lines: string[] = [];
  const status = await interruptible(
    () => {
      signals.fire("SIGINT");
      signals.fire("SIGINT");
      return NEVER;
    },
    {
      cleanup: () => cleaned++,
      report: (l) => lines.push(l),
      signals,
      // Far beyond the test's own time limit: only the second signal ends it.
      boundMs: 3_600_000,
    },
  );
  assert.equal(status, 130);
  assert.equal(cleaned, 1);
  assert.equal(lines.length, 1);
  assert.equal(signals.count, 0);
});
