/**
 * Per-client roots (`--per-client-root`), after dnsmasq's
 * `--tftp-unique-root`, with strict isolation:
 *
 * - a client whose directory `ROOT/<client>/` exists (a real directory
 *   inside the root, not the root itself) is served from it alone, reads
 *   and uploads, and can reach nothing else;
 * - a client without one reads the shared root, where every name whose
 *   first segment is an IP address (any spelling, any case) answers like a
 *   missing file, and so does one that leads there through symlinks (by
 *   where the kernel says it led), so no client reaches another client's
 *   directory; a client directory that is a link to another client's is
 *   not the client's own; and it
 *   cannot upload at all (ERROR 2): an upload needs the client's own
 *   directory.
 *
 * Directory names: an IPv4 client is its dotted quad (`192.0.2.7`); an
 * IPv6 client is its RFC 5952 form (lower case, longest zero run
 * compressed) with `:` written `-` and a zone `%x` written `sx`, as
 * Windows spells IPv6 literals in names (`fe80--1s2`, `2001-db8--7`):
 * a colon is not allowed in names on FAT, NTFS or SMB shares and means a
 * host in `scp` and `rsync` paths.
 *
 * @module
 */

import { ErrorCode, TftpError } from "../protocol/packet.ts";
import { parseIp } from "../net/cidr.ts";
import { normalizeHost } from "../net/address.ts";
import { checkCleanName, notFound } from "./clean_name.ts";
import type { FsStorage } from "./files.ts";
import { isInside } from "./root.ts";
import { CwdLock } from "./cwd_lock.ts";
import type { ReadHandle, RequestInfo, Storage, WriteHandle } from "./types.ts";

function ipv6Groups(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes[i] << 8 | bytes[i + 1]);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(":");
  const head = hex.slice(0, best).join(":");
  const tail = hex.slice(best + bestLen).join(":");
  return `${head}::${tail}`;
}

/**
 * The directory name of a client address (see the module documentation).
 *
 * @example
 * ```ts
 * import { clientDirName } from "./per_client.ts";
 * if (clientDirName("::ffff:192.0.2.7") !== "192.0.2.7") throw new Error();
 * if (clientDirName("2001:DB8:0:0:0:0:0:7") !== "2001-db8--7") throw new Error();
 * if (clientDirName("fe80::1%2") !== "fe80--1s2") throw new Error();
 * ```
 *
 * @param hostname The client's address.
 * @returns Its directory name, or undefined when it is not an address.
 */
export function clientDirName(hostname: string): string | undefined {
  const host = normalizeHost(hostname);
  const bytes = parseIp(host);
  if (!bytes) return undefined;
  if (bytes.length === 4) return [...bytes].join(".");
  // normalizeHost drops a zone (sockets report none): take it from the text.
  const pct = hostname.indexOf("%");
  const zone = pct < 0
    ? ""
    : hostname.slice(pct + 1).toLowerCase().replace(/[^a-z0-9_.-]/g, "_");
  return ipv6Groups(bytes).replaceAll(":", "-") + (zone ? `s${zone}` : "");
}

/**
 * Whether a name segment spells an IP address in any form (dotted quad,
 * IPv6 with colons or dashes, any case, with or without a zone): such a
 * first segment in the shared root could be a client's directory.
 *
 * @example
 * ```ts
 * import { isClientDirName } from "./per_client.ts";
 * if (!isClientDirName("127.0.0.2") || !isClientDirName("FE80--1")) throw new Error();
 * if (isClientDirName("pxelinux.cfg")) throw new Error();
 * ```
 *
 * @param segment One path segment.
 * @returns true when it spells an address.
 */
export function isClientDirName(segment: string): boolean {
  const s = segment.toLowerCase();
  if (parseIp(s)) return true;
  const m = /^([0-9a-f-]+)(s.*)?$/.exec(s);
  return m !== null && m[1].includes("-") &&
    parseIp(m[1].replaceAll("-", ":")) !== undefined;
}

/**
 * Per-client roots with strict isolation (see the module documentation).
 *
 * @example Each client reads its own directory
 * ```ts
 * import { FsStorage } from "./files.ts";
 * import { PerClientStorage } from "./per_client.ts";
 * const root = await Deno.makeTempDir();
 * await Deno.mkdir(`${root}/10.0.0.7`);
 * await Deno.writeTextFile(`${root}/10.0.0.7/boot.cfg`, "mine\n");
 * const storage = new PerClientStorage(await FsStorage.open(root));
 * const info = { hostname: "10.0.0.7", port: 1000, mode: "octet" };
 * const h = await storage.openRead("boot.cfg", info);
 * h.close();
 * let refused = false; // another client may not name that directory
 * const other = { ...info, hostname: "10.0.0.8" };
 * await storage.openRead("10.0.0.7/boot.cfg", other).catch(() => refused = true);
 * await Deno.remove(root, { recursive: true });
 * if (h.size !== 5 || !refused) throw new Error();
 * ```
 */
export class PerClientStorage implements Storage {
  /** The shared root. */
  readonly base: FsStorage;
  /** The shared root as clients without a directory see it. */
  #shared: FsStorage;

  /**
   * Wraps the shared root's storage.
   *
   * @param base Storage of the shared root; its options apply to every
   * client directory.
   */
  constructor(base: FsStorage) {
    this.base = base;
    const root = base.root;
    this.#shared = base.fenced((dir) =>
      isClientDirName(dir.slice(root.length + 1).split("/")[0])
    );
  }

  /**
   * The shared root, as {@linkcode FsStorage.describe} says it.
   *
   * @returns E.g. `root /srv/tftp (read-write)`.
   */
  describe(): string {
    return this.base.describe();
  }

  /** The client's own storage, if its directory exists now. */
  #own(info: RequestInfo): FsStorage | undefined {
    const dir = clientDirName(info.hostname);
    if (!dir) return undefined;
    const root = this.base.root;
    const calls = this.base.calls;
    // Looked up per request (not cached), so a client directory created or
    // removed while the server runs takes effect at once.
    const real = CwdLock.forThread().run(() => {
      try {
        calls.chdir(root);
        if (calls.cwd() !== root) return undefined;
        const real = calls.realPath(dir);
        if (real === root || !isInside(root, real)) return undefined;
        // A link to another client's directory is not this client's.
        const first = real.slice(root.length + 1).split("/")[0];
        if (first !== dir && isClientDirName(first)) return undefined;
        return calls.stat(real).isDirectory ? real : undefined;
      } catch {
        return undefined;
      }
    });
    return real ? this.base.within(real) : undefined;
  }

  /**
   * Opens a file from the client's directory, or from the shared root for
   * a client without one (never from another client's directory).
   *
   * @param name Clean name.
   * @param info Who asks.
   * @returns A read handle.
   */
  openRead(name: string, info: RequestInfo): Promise<ReadHandle> {
    try {
      const own = this.#own(info);
      if (own) return own.openRead(name);
      if (isClientDirName(checkCleanName(name)[0])) throw notFound(name);
      return this.#shared.openRead(name);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Prepares an upload into the client's own directory; a client without
   * one gets ERROR 2.
   *
   * @param name Clean name.
   * @param info Who asks.
   * @returns A write handle.
   */
  openWrite(name: string, info: RequestInfo): Promise<WriteHandle> {
    const own = this.#own(info);
    if (own) return own.openWrite(name);
    return Promise.reject(
      new TftpError(
        ErrorCode.ACCESS_VIOLATION,
        "uploads need this client's own directory (per-client roots)",
      ),
    );
  }
}
