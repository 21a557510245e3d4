/**
 * A counting limit on origin requests that every thread of one server
 * shares: the counts live in an `Int32Array` over a `SharedArrayBuffer`
 * handed to each worker thread, a slot is taken with a compare-and-swap
 * and waited for with `Atomics.waitAsync`, so `--origin-max-requests` is a
 * bound for the whole server whatever its thread count, and a slot one
 * thread frees goes to a request waiting in any other.
 *
 * @module
 */

/** Word: slots held now, all threads together. */
const HELD = 0;
/** Word: requests waiting for a slot, all threads together. */
const WAITING = 1;
/** Word: the bound. */
const MAX = 2;
/** Word: waits started so far (wraps), for {@linkcode SharedLimiter.arrival}. */
const ARRIVALS = 3;
/**
 * Words from here: slots held by thread 0 (the main thread), 1, 2 ...;
 * then, as many words on, the requests each thread has waiting.
 */
const PER_THREAD = 4;
/**
 * Longest single wait, ms: a wait given up (its caller's signal aborted)
 * stays registered with the buffer until woken, at most this long.
 */
const WAIT_SLICE_MS = 1000;

/**
 * One thread's handle on a shared limit (structured-cloneable): hand each
 * thread the same `buffer` and its own `thread` number.
 */
export interface SharedSlots {
  /** The counts (see {@linkcode sharedSlots}). */
  buffer: SharedArrayBuffer;
  /** This thread's number, from 0 up to the count it was made for. */
  thread: number;
}

/**
 * A new limit of `max` slots for threads numbered 0 to `threads`.
 *
 * @example
 * ```ts
 * import { SharedLimiter, sharedSlots } from "./shared_limit.ts";
 * const main = sharedSlots(2, 4);
 * const worker = new SharedLimiter({ ...main, thread: 1 });
 * if (worker.max !== 2 || main.thread !== 0) throw new Error();
 * ```
 *
 * @param max Most slots held at once (at least 1).
 * @param threads Highest thread number that will use it.
 * @returns The handle for thread 0.
 */
export function sharedSlots(max: number, threads: number): SharedSlots {
  if (!Number.isInteger(max) || max < 1) {
    throw new Error(`invalid limit ${max}`);
  }
  const buffer = new SharedArrayBuffer(4 * (PER_THREAD + 2 * (threads + 1)));
  Atomics.store(new Int32Array(buffer), MAX, max);
  return { buffer, thread: 0 };
}

/**
 * Gives back the slots a thread held when it died (it can release none
 * any more), and wakes as many waiters; its waits stop being counted.
 *
 * @example
 * ```ts
 * import { reclaimSlots, SharedLimiter, sharedSlots } from "./shared_limit.ts";
 * const slots = sharedSlots(1, 1);
 * await new SharedLimiter({ ...slots, thread: 1 }).acquire();
 * const main = new SharedLimiter(slots);
 * const before = main.active;
 * if (reclaimSlots(slots, 1) !== 1) throw new Error();
 * if (before !== 1 || main.active !== 0) throw new Error();
 * ```
 *
 * @param slots Any thread's handle on the limit.
 * @param thread The dead thread's number.
 * @returns How many slots it held.
 */
export function reclaimSlots(slots: SharedSlots, thread: number): number {
  const words = new Int32Array(slots.buffer);
  // Its waits ended with it, uncounted: no one waits for them any more.
  const waited = Atomics.exchange(words, waitingWord(words, thread), 0);
  if (waited > 0) Atomics.sub(words, WAITING, waited);
  const held = Atomics.exchange(words, PER_THREAD + thread, 0);
  if (held > 0) {
    Atomics.sub(words, HELD, held);
    Atomics.notify(words, HELD, held);
  }
  return held;
}

/**
 * At most `max` holders at once across every thread sharing the buffer;
 * the others wait (in the order they started waiting, unless a newcomer
 * takes a freed slot first).
 *
 * @example
 * ```ts
 * import { SharedLimiter, sharedSlots } from "./shared_limit.ts";
 * const slots = sharedSlots(1, 1);
 * const a = new SharedLimiter(slots);
 * const b = new SharedLimiter({ ...slots, thread: 1 });
 * const release = await a.acquire();
 * const next = b.acquire();
 * if (b.active !== 1 || a.waiting !== 1) throw new Error();
 * release();
 * (await next)();
 * ```
 */
export class SharedLimiter {
  /** Most holders at once, all threads together. */
  readonly max: number;
  #words: Int32Array;
  #mine: number;

  /**
   * Counts in the shared buffer, as thread `slots.thread`.
   *
   * @param slots The buffer and this thread's number.
   */
  constructor(slots: SharedSlots) {
    this.#words = new Int32Array(slots.buffer);
    this.#mine = PER_THREAD + slots.thread;
    if (slots.thread > threadsOf(this.#words)) {
      throw new Error(`no thread ${slots.thread} in this limit`);
    }
    this.max = Atomics.load(this.#words, MAX);
  }

  /** Holders now, all threads together. */
  get active(): number {
    return Atomics.load(this.#words, HELD);
  }

  /** Callers waiting for a slot, all threads together. */
  get waiting(): number {
    return Atomics.load(this.#words, WAITING);
  }

  /** Waits started so far, all threads together (wraps around). */
  get arrivals(): number {
    return Atomics.load(this.#words, ARRIVALS);
  }

  /**
   * Resolves once a wait has started after `seen` (in any thread): a thread
   * holding a slot it could give up (a body nobody reads) learns that
   * another thread wants one.
   *
   * @param seen {@linkcode SharedLimiter.arrivals} as last read.
   * @returns A promise for that moment.
   */
  async arrival(seen: number): Promise<void> {
    const w = this.#words;
    while (Atomics.load(w, ARRIVALS) === seen) {
      const wait = Atomics.waitAsync(w, ARRIVALS, seen);
      if (wait.async) await wait.value;
    }
  }

  /**
   * Waits for a slot.
   *
   * @param signal Gives up waiting when it aborts (rejects with its reason).
   * @returns A function that frees the slot (calling it again does nothing).
   */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#take()) return Promise.resolve(this.#release());
    return this.#wait(signal);
  }

  #take(): boolean {
    const w = this.#words;
    let seen = Atomics.load(w, HELD);
    while (seen < this.max) {
      const was = Atomics.compareExchange(w, HELD, seen, seen + 1);
      if (was === seen) {
        Atomics.add(w, this.#mine, 1);
        return true;
      }
      seen = was;
    }
    return false;
  }

  async #wait(signal?: AbortSignal): Promise<() => void> {
    const w = this.#words;
    const mine = waitingWord(w, this.#mine - PER_THREAD);
    Atomics.add(w, WAITING, 1);
    Atomics.add(w, mine, 1);
    Atomics.add(w, ARRIVALS, 1);
    Atomics.notify(w, ARRIVALS);
    try {
      for (;;) {
        if (signal?.aborted) {
          // Woken for a free slot and aborted at once: wake another for it.
          if (Atomics.load(w, HELD) < this.max) Atomics.notify(w, HELD, 1);
          throw signal.reason;
        }
        const seen = Atomics.load(w, HELD);
        if (seen < this.max) {
          if (this.#take()) return this.#release();
          continue;
        }
        const wait = Atomics.waitAsync(w, HELD, seen, WAIT_SLICE_MS);
        if (!wait.async) continue;
        if (await untilAborted(wait.value, signal)) {
          // The wake-up this wait may yet take belongs to another waiter.
          wait.value.then((how) => {
            if (how === "ok") Atomics.notify(w, HELD, 1);
          });
          throw signal!.reason;
        }
      }
    } finally {
      Atomics.sub(w, mine, 1);
      Atomics.sub(w, WAITING, 1);
    }
  }

  #release(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const w = this.#words;
      Atomics.sub(w, this.#mine, 1);
      Atomics.sub(w, HELD, 1);
      Atomics.notify(w, HELD, 1);
    };
  }
}

/**
 * Whether `signal` aborted before `wait` settled. A pending
 * `Atomics.waitAsync` does not keep Deno's event loop alive (a process
 * with nothing else to do would exit under it); the timer here does.
 */
function untilAborted(
  wait: Promise<unknown>,
  signal?: AbortSignal,
): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {}, WAIT_SLICE_MS + 1);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(true);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    wait.then(() => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      resolve(false);
    });
  });
}

/** The highest thread number the counts were made for. */
function threadsOf(words: Int32Array): number {
  return (words.length - PER_THREAD) / 2 - 1;
}

/** The word counting the requests `thread` has waiting. */
function waitingWord(words: Int32Array, thread: number): number {
  return PER_THREAD + threadsOf(words) + 1 + thread;
}
