/**
 * Extension point 3: a storage backend. Serve generated content without a
 * file system: here a per-machine iPXE script, whose size is declared so
 * tsize works.
 *
 * ```sh
 * deno run --allow-net examples/memory_storage.ts
 * ```
 *
 * @module
 */

import { MemoryStorage, TftpServer } from "../mod.ts";

/**
 * Builds the storage: `boot.ipxe` is generated per client address.
 *
 * @param kernelUrl Where the script sends the machine next.
 * @returns The storage.
 */
export function bootStorage(kernelUrl: string): MemoryStorage {
  return new MemoryStorage({
    "boot.ipxe": (info) =>
      `#!ipxe\necho booting ${info.hostname}\nchain ${kernelUrl}?ip=${info.hostname}\n`,
    "motd.txt": "served from memory\n",
  });
}

if (import.meta.main) {
  const server = new TftpServer({
    host: "127.0.0.1",
    port: 9069,
    storage: bootStorage("http://10.0.0.1/boot"),
  });
  await server.listen();
}
