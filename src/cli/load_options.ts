/**
 * What the command line names, checked before the server starts: the
 * root, what Deno grants the origin and its cache, and the map file. A
 * problem is a {@linkcode UsageError} (exit 2, one line).
 *
 * @module
 */

import { SERVER_DEFAULTS } from "../defaults.ts";
import { parseRemapRules } from "../server/remap.ts";
import type { ServerOptions } from "../server/server.ts";
import { UsageError } from "./flags.ts";
import type { CliOptions } from "./server.ts";

const D = SERVER_DEFAULTS;

/**
 * Checks the root the command line names and the permissions its origin
 * needs, and reads its `--map-file`.
 *
 * @example
 * ```ts
 * import { loadServerOptions } from "./load_options.ts";
 * import { parseCli } from "./server.ts";
 * const cli = parseCli(["--root", "."]);
 * const options = await loadServerOptions(cli);
 * if (options.root !== ".") throw new Error();
 * ```
 *
 * @param cli The parsed command line.
 * @returns The server's options, with the remap rules.
 * @throws {UsageError} When the root is not a readable directory (unless
 * `--origin-only`), Deno does not grant what the origin needs, the origin
 * cache directory is inside the root, or the map file cannot be read or
 * parsed.
 */
export async function loadServerOptions(
  cli: CliOptions,
): Promise<ServerOptions> {
  const origin = cli.server.origin;
  const root = cli.server.root ?? D.root;
  if (origin) {
    const checks = await import("../storage/origin.ts");
    const missing = await checks.originPermissionProblem({
      origin: origin.url,
      cacheDir: origin.cacheDir,
    });
    if (missing) throw new UsageError(missing);
    if (!origin.only) await checkRoot(root);
    const overlap = checks.cacheDirProblem({
      root,
      originOnly: origin.only,
      cacheDir: origin.cacheDir,
    });
    if (overlap) throw new UsageError(overlap);
  } else await checkRoot(root);
  if (cli.mapFile === undefined) return cli.server;
  try {
    const remap = parseRemapRules(await Deno.readTextFile(cli.mapFile));
    return { ...cli.server, remap };
  } catch (err) {
    throw new UsageError(
      `invalid --map-file ${cli.mapFile}: ${(err as Error).message}`,
    );
  }
}

async function checkRoot(root: string): Promise<void> {
  try {
    const st = await Deno.stat(root);
    if (!st.isDirectory) {
      throw new UsageError(`invalid --root ${root}: not a directory`);
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new UsageError(`invalid --root ${root}: no such directory`);
    }
    if (err instanceof Deno.errors.NotCapable) {
      throw new UsageError(
        `no read permission on ${root}: run with --allow-read=${root}`,
      );
    }
    throw err;
  }
}

/**
 * Flags that are valid alone but useless together, each as one warning
 * line for the log at start (the server runs all the same).
 *
 * @example
 * ```ts
 * import { flagWarnings } from "./load_options.ts";
 * const w = flagWarnings({ readOnly: true, allowOverwrite: true });
 * if (!/--allow-overwrite/.test(w[0])) throw new Error();
 * if (flagWarnings({}).length !== 0) throw new Error();
 * ```
 *
 * @param options The server's options.
 * @returns Warnings, none when the flags agree.
 */
export function flagWarnings(options: ServerOptions): string[] {
  const out: string[] = [];
  if (options.readOnly && options.allowOverwrite) {
    out.push("--allow-overwrite does nothing with --read-only");
  }
  const ack = options.ackTimeout ?? D.ackTimeout;
  const timeout = options.timeout ?? D.timeout;
  if (ack >= timeout) {
    out.push(
      `--ack-timeout ${ack} is not shorter than --timeout ${timeout}: a ` +
        "transfer is given up before it could retransmit",
    );
  }
  const [low, high] = options.portRange ?? [1, 0];
  const port = options.port ?? D.port;
  if (!options.singlePort && port >= low && port <= high) {
    out.push(
      `--port-range ${low}:${high} holds the listen port ${port}, which ` +
        "transfers can never use",
    );
  }
  return out;
}
