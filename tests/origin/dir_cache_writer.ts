/**
 * A process storing versions of one entry into a shared cache directory,
 * for the directory cache's concurrency test.
 *
 * Usage: `dir_cache_writer.ts DIR WRITER_ID COUNT`. Version `i` of writer
 * `w` is {@linkcode versionBytes}`(w, i)`.
 *
 * @module
 */

import { DirCache } from "../../src/storage/origin/dir_cache.ts";

/**
 * The body of one version: 8 bytes (writer, version) then a pattern
 * derived from them, 1 to 200 KiB long, so a torn or mixed read shows.
 *
 * @param writer Writer id.
 * @param version Version number.
 * @returns The bytes.
 */
export function versionBytes(writer: number, version: number): Uint8Array {
  const length = 8 + ((writer * 7919 + version * 104_729) % (200 * 1024));
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  view.setUint32(0, writer);
  view.setUint32(4, version);
  for (let i = 8; i < length; i++) {
    out[i] = (i * 31 + writer * 17 + version) & 0xff;
  }
  return out;
}

if (import.meta.main) {
  const [dir, id, count] = Deno.args;
  const cache = await DirCache.open(dir, { maxBytes: 64 * 1024 * 1024 });
  const policy = {
    shared: true,
    freshUntil: Date.now() + 600_000,
    noCache: false,
  };
  for (let v = 0; v < Number(count); v++) {
    if (!await cache.put("shared/entry", policy, versionBytes(Number(id), v))) {
      throw new Error("put failed");
    }
  }
}
