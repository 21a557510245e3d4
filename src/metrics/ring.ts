/**
 * A fixed-capacity ring: keeps the last `capacity` items pushed, so a
 * monitor that has seen millions of transfers holds only the newest few.
 *
 * @module
 */

/**
 * The newest `capacity` items, oldest overwritten first.
 *
 * @example
 * ```ts
 * import { Ring } from "./ring.ts";
 * const r = new Ring<number>(2);
 * r.push(1);
 * r.push(2);
 * r.push(3);
 * if (r.newestFirst().join() !== "3,2") throw new Error();
 * ```
 */
export class Ring<T> {
  /** Most items kept. */
  readonly capacity: number;
  #items: (T | undefined)[];
  #next = 0;
  #size = 0;

  /**
   * Creates an empty ring.
   *
   * @param capacity Most items kept (at least 1).
   */
  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`ring capacity must be >= 1, got ${capacity}`);
    }
    this.capacity = capacity;
    this.#items = new Array(capacity);
  }

  /** Items held now (at most `capacity`). */
  get size(): number {
    return this.#size;
  }

  /**
   * Adds an item, dropping the oldest when full.
   *
   * @param item The item.
   */
  push(item: T): void {
    this.#items[this.#next] = item;
    this.#next = (this.#next + 1) % this.capacity;
    if (this.#size < this.capacity) this.#size++;
  }

  /**
   * The items, newest first.
   *
   * @param limit Most items returned (default all).
   * @returns A new array.
   */
  newestFirst(limit: number = this.#size): T[] {
    const n = Math.min(limit, this.#size);
    const out: T[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const at = (this.#next - 1 - i + this.capacity) % this.capacity;
      out[i] = this.#items[at] as T;
    }
    return out;
  }

  /**
   * The items, oldest first.
   *
   * @returns A new array.
   */
  oldestFirst(): T[] {
    return this.newestFirst().reverse();
  }

  /**
   * The newest item.
   *
   * @returns It, or undefined when empty.
   */
  newest(): T | undefined {
    if (this.#size === 0) return undefined;
    return this.#items[(this.#next - 1 + this.capacity) % this.capacity];
  }
}
