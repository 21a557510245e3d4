/**
 * Test helper: byte-array utilities shared by the test files.
 *
 * @module
 */

import { createHash } from "node:crypto";

/**
 * Joins byte chunks into one array, in order.
 *
 * @param parts The pieces.
 * @returns One array holding every piece.
 */
export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * Random bytes (any length; filled in 64 KiB pieces, the most
 * `crypto.getRandomValues` takes at once).
 *
 * @param n Length.
 * @returns The bytes.
 */
export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let off = 0; off < n; off += 65536) {
    crypto.getRandomValues(out.subarray(off, Math.min(n, off + 65536)));
  }
  return out;
}

/**
 * SHA-256 of bytes, as hex.
 *
 * @param data Bytes.
 * @returns Hex digest.
 */
export function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * Where two byte arrays first differ, for assertions on big payloads
 * (`assert.deepEqual` on them takes minutes to print its diff).
 *
 * @example
 * ```ts
 * import { firstDifference } from "./bytes.ts";
 * const a = new Uint8Array([1, 2, 3]);
 * if (firstDifference(a, a.slice()) !== undefined) throw new Error();
 * if (firstDifference(a, new Uint8Array([1, 9, 3])) !== "byte 1: 2, not 9") {
 *   throw new Error();
 * }
 * ```
 *
 * @param got What arrived.
 * @param want What was expected.
 * @returns `undefined` when equal, else where and how they differ.
 */
export function firstDifference(
  got: Uint8Array,
  want: Uint8Array,
): string | undefined {
  const n = Math.min(got.length, want.length);
  for (let i = 0; i < n; i++) {
    if (got[i] !== want[i]) return `byte ${i}: ${got[i]}, not ${want[i]}`;
  }
  if (got.length !== want.length) {
    return `${got.length} bytes, not ${want.length}`;
  }
  return undefined;
}
