/**
 * tftp: the client command.
 *
 * ```sh
 * deno run --allow-net --allow-read --allow-write client.ts get 127.0.0.1:9069 boot.ipxe
 * ```
 *
 * @module
 */

import { runClient } from "./src/cli/client.ts";

if (import.meta.main) {
  Deno.exit(await runClient(Deno.args));
}
