/**
 * Deterministic test files for the benchmarks, and their SHA-256.
 *
 * @module
 */

import { createHash } from "node:crypto";

/** A file made for the benchmark. */
export interface BenchFile {
  /** Name inside the root. */
  name: string;
  /** Size in bytes. */
  size: number;
  /** Hex SHA-256 of the content. */
  sha256: string;
}

/**
 * Hex SHA-256 of bytes.
 *
 * @param data Bytes.
 * @returns Hex digest.
 */
export function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * Pseudo-random bytes from a seed (xorshift32): the same seed and size give
 * the same bytes on every machine.
 *
 * @param size Bytes.
 * @param seed Non-zero seed.
 * @returns The bytes.
 */
export function seededBytes(size: number, seed: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(size / 4));
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return new Uint8Array(words.buffer, 0, size);
}

/**
 * Writes `name` of `size` seeded bytes into `root`, unless a file of that
 * size is already there (then it is hashed as it is).
 *
 * @param root Directory.
 * @param name File name.
 * @param size Bytes.
 * @returns The file's facts.
 */
export function ensureFile(
  root: string,
  name: string,
  size: number,
): BenchFile {
  const path = `${root}/${name}`;
  try {
    if (Deno.statSync(path).size === size) {
      return { name, size, sha256: sha256(Deno.readFileSync(path)) };
    }
  } catch { /* make it */ }
  let seed = 0x9e3779b9;
  for (const c of name) seed = (Math.imul(seed, 31) + c.charCodeAt(0)) >>> 0;
  const data = seededBytes(size, seed);
  Deno.writeFileSync(path, data);
  return { name, size, sha256: sha256(data) };
}
