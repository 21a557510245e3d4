/**
 * Shared pieces of the root_*_test.ts suites (storage confined to its root):
 * the request info, checks for a TFTP error code, reading and writing whole
 * handles, and temporary directories with a served root and an outside next
 * to it.
 *
 * @module
 */

import assert from "node:assert/strict";
import { TftpError } from "../../src/protocol/packet.ts";
import type {
  ReadHandle,
  RequestInfo,
  WriteHandle,
} from "../../src/storage/types.ts";

export const te = new TextEncoder();
export const info: RequestInfo = {
  hostname: "127.0.0.1",
  port: 50000,
  mode: "octet",
};

export function assertTftpError(err: unknown, code: number, what = ""): void {
  assert.ok(
    err instanceof TftpError,
    `${what}: expected TftpError, got ${err}`,
  );
  assert.equal(err.code, code, `${what}: ${err.message}`);
}

export async function rejectsWith(
  p: Promise<unknown>,
  code: number,
  what: string,
): Promise<TftpError> {
  try {
    await p;
  } catch (err) {
    assertTftpError(err, code, what);
    return err as TftpError;
  }
  throw new Error(`${what}: expected TftpError ${code}, but it succeeded`);
}

/** Reads a whole handle through `read(offset, buf)` with a small buffer. */
export async function readAll(h: ReadHandle, chunk = 7): Promise<Uint8Array> {
  const parts: number[] = [];
  const buf = new Uint8Array(chunk);
  for (let off = 0;;) {
    const n = await h.read(off, buf);
    if (n === 0) break;
    parts.push(...buf.subarray(0, n));
    off += n;
  }
  return new Uint8Array(parts);
}

export async function writeAll(
  w: WriteHandle,
  data: Uint8Array,
): Promise<void> {
  for (let off = 0; off < data.length; off += 5) {
    await w.write(data.subarray(off, off + 5));
  }
}

/** Names in `dir` (not recursive). */
export async function list(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** A temp dir with `root/` (served) and `outside/` next to it. */
export async function withDirs(
  fn: (root: string, outside: string) => Promise<void>,
): Promise<void> {
  const base = await Deno.realPath(
    await Deno.makeTempDir({ prefix: "tftpd-root-test-" }),
  );
  const root = `${base}/root`;
  const outside = `${base}/outside`;
  await Deno.mkdir(root);
  await Deno.mkdir(outside);
  try {
    await fn(root, outside);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
}
