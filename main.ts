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
  const stop = async (signal: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    if (code === 0) logger.info(`${signal} received: shutting down`);
    await server.close();
    logger.info("stopped");
    logger.close();
    Deno.exit(code);
  };
  Deno.addSignalListener("SIGINT", () => stop("SIGINT"));
  Deno.addSignalListener("SIGTERM", () => stop("SIGTERM"));
  Deno.addSignalListener("SIGHUP", () => {
    try {
      const reopened = logger.reopen();
      logger.info(
        reopened
          ? "SIGHUP received: log file reopened"
          : "SIGHUP received: no log file to reopen",
      );
    } catch (err) {
      logger.error(`SIGHUP received: cannot reopen the log file: ${err}`);
    }
  });
  // Deno answers SIGUSR1 by opening its inspector on 127.0.0.1:9229, which
  // any local user may connect to and run code as this server; it cannot
  // be turned off, so the server stops rather than serve with it open.
  Deno.addSignalListener("SIGUSR1", () => {
    logger.error(
      "SIGUSR1 received: Deno opens its debugger on 127.0.0.1:9229 on this " +
        "signal, open to every local user; shutting down (use SIGHUP to " +
        "reopen the log file)",
    );
    stop("SIGUSR1", 1);
  });
  try {
    await server.listen();
  } catch (err) {
    // "port 69 on 192.0.2.1 is already in use": the server names the address.
    // Through the logger, so -l FILE and --log-format json have it too.
    logger.error((err as Error).message);
    logger.close();
    Deno.exit(err instanceof Deno.errors.NotCapable ? 2 : 1);
  }
}

if (import.meta.main) {
  await main(Deno.args);
}
