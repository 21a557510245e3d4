/**
 * A small seeded pseudo-random generator for reproducible fault injection,
 * fuzzing and soak runs. Not for cryptography.
 *
 * The same seed gives the same sequence on every machine, so a failing
 * property test or fuzz run is replayed by passing its seed back in
 * (`HARDENING_SEED=...`).
 *
 * @module
 */

/**
 * Mixes any number of integers and strings into one 32-bit seed.
 *
 * @example
 * ```ts
 * import { mixSeed } from "./rng.ts";
 * if (mixSeed(1, "a") === mixSeed(1, "b")) throw new Error();
 * if (mixSeed(1, "a") !== mixSeed(1, "a")) throw new Error();
 * ```
 *
 * @param parts Numbers and strings to mix.
 * @returns A 32-bit unsigned seed.
 */
export function mixSeed(...parts: (number | string)[]): number {
  let h = 0x811c9dc5;
  const eat = (byte: number) => {
    h ^= byte & 0xff;
    h = Math.imul(h, 0x01000193) >>> 0;
  };
  for (const p of parts) {
    if (typeof p === "number") {
      const v = p >>> 0;
      eat(v);
      eat(v >>> 8);
      eat(v >>> 16);
      eat(v >>> 24);
      eat(Math.floor(p / 2 ** 32));
    } else {
      for (let i = 0; i < p.length; i++) {
        const c = p.charCodeAt(i);
        eat(c);
        eat(c >>> 8);
      }
    }
    eat(0x5c);
  }
  // Final avalanche so nearby inputs give unrelated seeds.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * A seeded generator (xorshift32 with a splitmix-style output step).
 *
 * @example
 * ```ts
 * import { Rng } from "./rng.ts";
 * const a = new Rng(42);
 * const b = new Rng(42);
 * if (a.int(1000) !== b.int(1000)) throw new Error("not reproducible");
 * ```
 */
export class Rng {
  /** The seed this generator started from. */
  readonly seed: number;
  #state: number;

  /**
   * @param seed Any integer; 0 is replaced by a fixed non-zero state.
   */
  constructor(seed: number) {
    this.seed = seed >>> 0;
    this.#state = mixSeed(this.seed) || 0x9e3779b9;
  }

  /**
   * Next 32-bit unsigned integer.
   *
   * @returns A value in [0, 2^32).
   */
  u32(): number {
    let x = this.#state;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    this.#state = x;
    let z = Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) >>> 0;
    z = Math.imul(z ^ (z >>> 12), 0x297a2d39) >>> 0;
    return (z ^ (z >>> 15)) >>> 0;
  }

  /**
   * Uniform float.
   *
   * @returns A value in [0, 1).
   */
  float(): number {
    return this.u32() / 4294967296;
  }

  /**
   * Uniform integer below `n`.
   *
   * @param n Upper bound (exclusive), at least 1.
   * @returns A value in [0, n).
   */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /**
   * Uniform integer in a closed range.
   *
   * @param lo Smallest value.
   * @param hi Largest value.
   * @returns A value in [lo, hi].
   */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /**
   * A biased coin.
   *
   * @param p Probability of true.
   * @returns true with probability `p`.
   */
  chance(p: number): boolean {
    return p > 0 && this.float() < p;
  }

  /**
   * One element of a non-empty array.
   *
   * @param items The choices.
   * @returns One of them.
   */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /**
   * Random bytes.
   *
   * @param n How many.
   * @returns A new array.
   */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      const v = this.u32();
      out[i] = v;
      if (i + 1 < n) out[i + 1] = v >>> 8;
      if (i + 2 < n) out[i + 2] = v >>> 16;
      if (i + 3 < n) out[i + 3] = v >>> 24;
    }
    return out;
  }

  /**
   * An independent generator derived from this one's seed and a label
   * (does not advance this generator).
   *
   * @param label What the child is for.
   * @returns A new generator.
   */
  fork(label: number | string): Rng {
    return new Rng(mixSeed(this.seed, label));
  }
}

/**
 * The seed for a run: `HARDENING_SEED` from the environment when set (to
 * replay a failure), else `fallback`.
 *
 * @param fallback The fixed default seed.
 * @returns The seed to use.
 */
export function seedFromEnv(fallback: number): number {
  let raw: string | undefined;
  try {
    raw = Deno.env.get("HARDENING_SEED");
  } catch { /* no env permission: use the default */ }
  if (raw === undefined || raw.trim() === "") return fallback >>> 0;
  const n = Number(raw);
  if (!Number.isInteger(n)) {
    throw new Error(`HARDENING_SEED must be an integer, got ${raw}`);
  }
  return n >>> 0;
}
