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
import { parseCli, USAGE, UsageError } from "./src/cli.ts";
import { Logger } from "./src/log.ts";
import { TftpServer } from "./src/server/server.ts";
import { parseRemapRules } from "./src/server/remap.ts";

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
  let cli;
  try {
    cli = parseCli(args);
  } catch (err) {
    if (err instanceof UsageError) fatal(err.message, 2);
    throw err;
  }
  if (cli.help) {
    console.log(USAGE);
    return;
  }
  if (cli.version) {
    console.log(`tftpd ${denoJson.version}`);
    return;
  }
  const root = cli.server.root ?? ".";
  try {
    const st = await Deno.stat(root);
    if (!st.isDirectory) fatal(`invalid --root ${root}: not a directory`, 2);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      fatal(`invalid --root ${root}: no such directory`, 2);
    }
    if (err instanceof Deno.errors.NotCapable) {
      fatal(
        `no read permission on ${root}: run with --allow-read=${root}`,
        2,
      );
    }
    throw err;
  }
  if (cli.mapFile !== undefined) {
    try {
      cli.server.remap = parseRemapRules(await Deno.readTextFile(cli.mapFile));
    } catch (err) {
      fatal(`invalid --map-file ${cli.mapFile}: ${(err as Error).message}`, 2);
    }
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
  const server = new TftpServer({ ...cli.server, logger });
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
    if (err instanceof Deno.errors.AddrInUse) {
      fatal(
        `port ${cli.server.port} on ${cli.server.host} is already in use`,
        1,
      );
    }
    if (err instanceof Deno.errors.NotCapable) {
      fatal(`${(err as Error).message}`, 2);
    }
    fatal((err as Error).message, 1);
  }
}

if (import.meta.main) {
  await main(Deno.args);
}
