/**
 * Content from an HTTP(S) origin: names not found under the root (or every
 * name, with `originOnly`) are fetched from an origin base URL, streamed
 * to the client as they arrive and kept in a bounded cache that follows
 * the origin's caching headers. See docs/origin.md.
 *
 * @example
 * ```ts ignore
 * import { openOriginStorage } from "./origin.ts";
 * import { TftpServer } from "../server/server.ts";
 * const storage = await openOriginStorage({
 *   origin: "https://artifacts.example/netboot/",
 *   root: "/srv/tftp",
 * });
 * const server = new TftpServer({ port: 69, storage });
 * await server.listen();
 * ```
 *
 * @module
 */

import type { Logger } from "../log.ts";
import { CwdLock } from "./cwd_lock.ts";
import { openRootStorage, type RootOptions } from "./fs_root.ts";
import { isInside } from "./root.ts";
import { type ClosableStorage, CompositeStorage } from "./origin/composite.ts";
import { ORIGIN_DEFAULTS } from "../defaults.ts";
import { DirCache } from "./origin/dir_cache.ts";
import { OriginStorage, type OriginStorageOptions } from "./origin/storage.ts";
import { parseOriginUrl } from "./origin/url.ts";
import type { OriginSettings } from "./origin/share.ts";
import type { SharedSlots } from "./origin/shared_limit.ts";

export { type ClosableStorage, CompositeStorage } from "./origin/composite.ts";
export {
  type OriginBounds,
  type OriginSettings,
  originShare,
} from "./origin/share.ts";
export {
  DirCache,
  type DirCacheOptions,
  type DirHit,
} from "./origin/dir_cache.ts";
export type { RootOptions } from "./fs_root.ts";
export type { CachePolicy } from "./origin/policy.ts";
export { ORIGIN_DEFAULTS } from "../defaults.ts";
export { OriginStorage, type OriginStorageOptions } from "./origin/storage.ts";

/** Options of {@linkcode openOriginStorage}. */
export interface OpenOriginOptions
  extends RootOptions, Omit<OriginStorageOptions, "dirCache" | "logger"> {
  /** Origin base URL (`--origin`). */
  origin: string | URL;
  /** Serve every name from the origin; no root (`--origin-only`). */
  originOnly?: boolean;
  /** Directory cache, shared by threads and processes (`--origin-cache-dir`). */
  cacheDir?: string;
  /** Directory cache bound in bytes (default 1 GiB). */
  cacheDirBytes?: number;
}

/**
 * The options {@linkcode openOriginStorage} takes for server settings and
 * the root options beside them.
 *
 * @example
 * ```ts
 * import { originOptions } from "./origin.ts";
 * const o = originOptions({ url: "http://127.0.0.1:8080/", only: true }, {
 *   root: "/srv/tftp",
 * });
 * if (o.origin !== "http://127.0.0.1:8080/" || !o.originOnly) throw new Error();
 * ```
 *
 * @param settings The origin settings.
 * @param root Root and name handling.
 * @param options `slots`: the whole server's bound on origin requests,
 * shared with its other threads.
 * @returns The options.
 */
export function originOptions(
  settings: OriginSettings,
  root: RootOptions,
  options: { slots?: SharedSlots } = {},
): OpenOriginOptions {
  return {
    root: root.root,
    readOnly: root.readOnly,
    normalizeNames: root.normalizeNames,
    ignoreCase: root.ignoreCase,
    allowOverwrite: root.allowOverwrite,
    perClientRoot: root.perClientRoot,
    cwdLock: root.cwdLock,
    origin: settings.url,
    originOnly: settings.only,
    timeoutMs: settings.timeoutMs,
    idleTimeoutMs: settings.idleTimeoutMs,
    maxConcurrent: settings.maxConcurrent,
    maxRedirects: settings.maxRedirects,
    maxObjectBytes: settings.maxObjectBytes,
    cacheMemoryBytes: settings.cacheMemoryBytes,
    cacheDir: settings.cacheDir,
    cacheDirBytes: settings.cacheDirBytes,
    headers: settings.headers,
    slots: options.slots,
  };
}

/**
 * The `host:port` Deno's `--allow-net` must grant for an origin URL.
 *
 * @example
 * ```ts
 * import { originNetPermission } from "./origin.ts";
 * if (originNetPermission("https://a.example/x") !== "a.example:443") {
 *   throw new Error();
 * }
 * ```
 *
 * @param url The origin URL.
 * @returns `host:port`, the port always written out.
 */
export function originNetPermission(url: string | URL): string {
  const base = parseOriginUrl(url);
  const port = base.port || (base.protocol === "https:" ? "443" : "80");
  return `${base.hostname}:${port}`;
}

/**
 * What Deno does not grant that the origin storage needs: network access
 * to the origin's `host:port`, read and write on the cache directory.
 *
 * @example
 * ```ts
 * import { originPermissionProblem } from "./origin.ts";
 * const why = await originPermissionProblem({ origin: "http://127.0.0.1:1/" });
 * if (why !== undefined && !why.includes("--allow-net=127.0.0.1:1")) {
 *   throw new Error();
 * }
 * ```
 *
 * @param options The origin URL and cache directory.
 * @returns A message naming the flag to add, or undefined when all is granted.
 */
export async function originPermissionProblem(
  options: Pick<OpenOriginOptions, "origin" | "cacheDir">,
): Promise<string | undefined> {
  const need = originNetPermission(options.origin);
  const net = await Deno.permissions.query({ name: "net", host: need });
  if (net.state !== "granted") {
    return `no network permission for the origin: run with --allow-net=${need}`;
  }
  const dir = options.cacheDir;
  if (dir === undefined) return undefined;
  for (const name of ["read", "write"] as const) {
    const p = await Deno.permissions.query({ name, path: dir });
    if (p.state !== "granted") {
      return `no ${name} permission on the origin cache ${dir}: ` +
        `run with --allow-${name}=${dir}`;
    }
  }
  return undefined;
}

/**
 * The real path `dir` has, or would have once created: its deepest
 * existing ancestor's real path plus the rest, so a refused directory is
 * judged without being made.
 */
function realPathToBe(lock: CwdLock, dir: string): string {
  const parts = lock.fromHome(dir).split("/");
  const missing: string[] = [];
  let real = "";
  while (parts.length > 0) {
    try {
      real = lock.realPath(parts.join("/") || "/");
      break;
    } catch {
      missing.unshift(parts.pop()!);
    }
  }
  // What does not exist yet cannot be a symlink: its `..` are lexical.
  const out = real.split("/").filter((p) => p !== "");
  for (const p of missing) {
    if (p === "..") out.pop();
    else if (p !== "" && p !== ".") out.push(p);
  }
  return `/${out.join("/")}`;
}

/**
 * Why `cacheDir` cannot be the directory cache of this root: the root
 * itself or a directory inside it. Clients would read its entries, an
 * upload could plant one, and its eviction would remove a served file
 * whose name looks like an entry's. Creates nothing.
 *
 * @example
 * ```ts
 * import { cacheDirProblem } from "./origin.ts";
 * const root = await Deno.makeTempDir();
 * const why = cacheDirProblem({ root, cacheDir: `${root}/cache` });
 * if (!why?.includes("inside the root")) throw new Error(why);
 * await Deno.remove(root, { recursive: true });
 * ```
 *
 * @param options The root, whether there is one, and the cache directory.
 * @returns A message saying what to change, or undefined when they are apart.
 */
export function cacheDirProblem(
  options: Pick<OpenOriginOptions, "root" | "originOnly" | "cacheDir">,
): string | undefined {
  const dir = options.cacheDir;
  if (dir === undefined || options.originOnly) return undefined;
  const lock = CwdLock.forThread();
  const root = options.root ?? ".";
  let realRoot: string;
  try {
    realRoot = lock.realPath(root);
  } catch {
    return undefined; // no root: opening it says so
  }
  const real = realPathToBe(lock, dir);
  if (real !== realRoot && !isInside(realRoot, real)) return undefined;
  return `invalid --origin-cache-dir ${dir}: ${
    real === realRoot ? "it is the root" : "inside the root"
  } ${root} (clients would read its entries and uploads could plant them): ` +
    `put it outside, e.g. /var/cache/tftpd-origin`;
}

/**
 * Opens the storage for `--origin`: the root with the origin behind it, or
 * the origin alone. Checks first that Deno grants what it needs.
 *
 * @param options Origin, root, bounds and cache.
 * @param log Where to log origin failures and root warnings.
 * @returns A storage to pass as the server's `storage`; await its
 * `close()` after the server has closed.
 * @throws {Error} Saying what to fix: a bad URL, a missing permission
 * (with the flag to add), a missing root.
 */
export async function openOriginStorage(
  options: OpenOriginOptions,
  log?: Logger,
): Promise<ClosableStorage> {
  const missing = await originPermissionProblem(options) ??
    cacheDirProblem(options);
  if (missing) throw new Error(missing);
  let dirCache: DirCache | undefined;
  if (options.cacheDir !== undefined) {
    const dir = options.cacheDir;
    dirCache = await DirCache.open(dir, {
      maxBytes: options.cacheDirBytes ?? ORIGIN_DEFAULTS.cacheDirBytes,
      log,
    });
  }
  const origin = new OriginStorage(options.origin, {
    ...options,
    dirCache,
    logger: log,
  });
  if (options.originOnly) return origin;
  try {
    return new CompositeStorage(await openRootStorage(options, log), origin);
  } catch (err) {
    await origin.close();
    throw err;
  }
}
