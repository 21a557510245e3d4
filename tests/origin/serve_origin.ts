/**
 * A server over origin-only storage, for the permission tests: run it with
 * exactly the flags docs/origin.md shows.
 *
 * Usage: `deno run --allow-net=... serve_origin.ts ORIGIN_URL HOST [CACHE_DIR]`.
 * Prints `listening on PORT` on stdout; closing stdin stops it.
 *
 * @module
 */

import { TftpServer } from "../../src/server/server.ts";
import { openOriginStorage } from "../../src/storage/origin.ts";
import { Logger } from "../../src/log.ts";

const [origin, host, cacheDir] = Deno.args;
const logger = new Logger();
let storage;
try {
  storage = await openOriginStorage(
    { origin, originOnly: true, cacheDir },
    logger,
  );
} catch (err) {
  console.error(`error: ${(err as Error).message}`);
  Deno.exit(2);
}
const server = new TftpServer({ host, port: 0, storage, logger });
const addr = await server.listen();
console.log(`listening on ${addr.port}`);
for await (const _ of Deno.stdin.readable) { /* until stdin closes */ }
await server.close();
await storage.close();
