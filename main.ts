/**
 * tftpd: the server command.
 *
 * ```sh
 * deno run --allow-net --allow-read=ROOT --allow-write=ROOT main.ts \
 *   --host 127.0.0.1 -p 9069 --root ROOT
 * ```
 *
 * @module
 */

import denoJson from "./deno.json" with { type: "json" };
import { UsageError } from "./src/cli/flags.ts";
import { flagWarnings, loadServerOptions } from "./src/cli/load_options.ts";
import { parseCli, SERVER_HELP } from "./src/cli/server.ts";
import { Logger } from "./src/log.ts";
import { TftpServer } from "./src/server/server.ts";

const encoder = new TextEncoder();

function fatal(message: string, code: number): never {
  Deno.stderr.writeSync(encoder.encode(`tftpd: ${message}\n`));
  Deno.exit(code);
}

/**
 * Runs the server with command-line arguments until SIGINT or SIGTERM.
 *
 * @param args Arguments without the program name.
 */
export async function main(args: string[]): Promise<void> {
  let cli, options;
  try {
    cli = parseCli(args);
    if (cli.help) return console.log(SERVER_HELP);
    if (cli.version) return console.log(`tftpd ${denoJson.version}`);
    options = await loadServerOptions(cli);
  } catch (err) {
    if (err instanceof UsageError) fatal(err.message, 2);
    throw err;
  }
  let logger: Logger;
  try {
    logger = new Logger({
      verbose: cli.verbose,
      file: cli.fileLog,
      json: cli.logFormat === "json",
    });
  } catch (err) {
    fatal(`cannot open log file ${cli.fileLog}: ${(err as Error).message}`, 2);
  }
  for (const warning of flagWarnings(options)) logger.warn(warning);
  const server = new TftpServer({ ...options, logger });
  // Listen for signals before the "listening" line, so a supervisor that
  // stops us as soon as it sees that line gets a clean shutdown.
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info(`${signal} received: shutting down`);
    await server.close();
    logger.info("stopped");
    logger.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", () => stop("SIGINT"));
  Deno.addSignalListener("SIGTERM", () => stop("SIGTERM"));
  try {
    await server.listen();
  } catch (err) {
    // "port 69 on 192.0.2.1 is already in use": the server names the address.
    if (err instanceof Deno.errors.AddrInUse) fatal(err.message, 1);
    fatal(
      (err as Error).message,
      err instanceof Deno.errors.NotCapable ? 2 : 1,
    );
  }
}

if (import.meta.main) {
  await main(Deno.args);
}
