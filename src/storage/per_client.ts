/**
 * Per-client roots (`--per-client-root`), after dnsmasq's
 * `--tftp-unique-root`, with strict isolation:
 *
 * - a client whose directory `ROOT/<client>/` exists and is a real
 *   directory (an entry of the root itself, not a symlink to anywhere) is
 *   served from it alone, reads and uploads, and can reach nothing else;
 * - a client without one reads the shared root, where every name whose
 *   first segment is an IP address (any spelling, any case) answers like a
 *   missing file, and so does one that leads there through symlinks (by
 *   where the kernel says it led), so no client reaches another client's
 *   directory; and it cannot upload at all (ERROR 2): an upload needs the
 *   client's own directory.
 *
 * A client "directory" that is a symlink is not one, wherever it leads
 * (another client's directory, `hosts/web1`, the root, a parent, outside):
 * that client has no directory. So every client directory is a real
 * directory `ROOT/<address>`, and the fence of the shared root (a first
 * segment of the real path that spells an address) covers all of them,
 * however links are laid out or changed while the server runs; each
 * request costs one `lstat` and one `realpath` more. What such a link leads
 * to is no client's directory: the server says so at start-up
 * ({@linkcode PerClientStorage.layoutWarnings}) and the first time such a
 * client asks.
 *
 * Refusals that look like a missing file are marked as refusals
 * (`refusedAsMissing`), so an origin behind this storage is not asked for
 * them; nor for any name whose first segment spells an address, from any
 * client (the origin is the shared fallback, fenced like the shared root).
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
import { quote } from "../escape.ts";
import type { Logger } from "../log.ts";
import { checkCleanName, refusedAsMissing } from "./clean_name.ts";
import type { FsStorage } from "./files.ts";
import { isInside } from "./root.ts";
import { CwdLock } from "./cwd_lock.ts";
import type { ReadHandle, RequestInfo, Storage, WriteHandle } from "./types.ts";

/** Most root entries {@linkcode PerClientStorage.layoutWarnings} looks at. */
const LAYOUT_ENTRIES = 10_000;
/** Most names one layout warning quotes. */
const LAYOUT_NAMED = 3;
/** Most symlinked client directories remembered as already reported. */
const REPORTED_MAX = 1024;

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
 * The directory name of the address a segment spells (any spelling), so a
 * directory named in another spelling, which is no client's, can be told.
 *
 * @example
 * ```ts
 * import { spelledClientDir } from "./per_client.ts";
 * if (spelledClientDir("2001-DB8-0-0-0-0-0-7") !== "2001-db8--7") throw new Error();
 * if (spelledClientDir("::1") !== "--1") throw new Error();
 * if (spelledClientDir("boot") !== undefined) throw new Error();
 * ```
 *
 * @param segment One path segment.
 * @returns The client directory name of that address, or undefined.
 */
export function spelledClientDir(segment: string): string | undefined {
  const s = segment.toLowerCase();
  if (parseIp(s)) return clientDirName(s);
  const m = /^([0-9a-f-]+)(?:s(.*))?$/.exec(s);
  if (m === null || !m[1].includes("-")) return undefined;
  const host = m[1].replaceAll("-", ":");
  if (!parseIp(host)) return undefined;
  return clientDirName(m[2] === undefined ? host : `${host}%${m[2]}`);
}

/** Names for a log line: at most a few, quoted, and how many more. */
function named(names: string[]): string {
  const shown = names.slice(0, LAYOUT_NAMED).map((n) => quote(n, { max: 80 }));
  const more = names.length - shown.length;
  return more > 0 ? `${shown.join(", ")} and ${more} more` : shown.join(", ");
}

/** Options of {@linkcode PerClientStorage}. */
export interface PerClientOptions {
  /**
   * Where to say, once per name, that a client's directory is a symlink
   * and so not used (omit: not said).
   */
  log?: Logger;
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
  #log?: Logger;
  /** Symlinked client directories already reported. */
  #reported = new Set<string>();

  /**
   * Wraps the shared root's storage.
   *
   * @param base Storage of the shared root; its options apply to every
   * client directory.
   * @param opts Where to report a symlinked client directory.
   */
  constructor(base: FsStorage, opts: PerClientOptions = {}) {
    this.base = base;
    this.#log = opts.log;
    this.#shared = base.fenced((dir) =>
      isClientDirName(this.#firstSegment(dir))
    );
  }

  /** The first segment of a real path inside the root. */
  #firstSegment(real: string): string {
    const root = this.base.root;
    const rel = real.slice(root.endsWith("/") ? root.length : root.length + 1);
    return rel.split("/")[0];
  }

  /**
   * What in the root's own entries will not work as the operator likely
   * meant, for the start-up log: client directories that are symlinks
   * (not used: those clients read the shared root), and directories that
   * spell an address in another way than its client's directory is named
   * (`2001-DB8--7`, `::1`: no client's, and fenced from all). Looks at the
   * first 10,000 entries of the root only, never follows a symlink; the
   * symlinks found count as reported, so the first request of such a
   * client in this thread does not say it again.
   *
   * @returns Warning lines (none when all is well).
   */
  layoutWarnings(): string[] {
    const root = this.base.root;
    const calls = this.base.calls;
    const links: string[] = [];
    const spelled: string[] = [];
    let truncated = false;
    CwdLock.forThread().run(() => {
      try {
        calls.chdir(root);
        if (calls.cwd() !== root) return;
        let entries = 0;
        for (const e of calls.readDir(".")) {
          if (++entries > LAYOUT_ENTRIES) {
            truncated = true;
            break;
          }
          if (e.isFile || !isClientDirName(e.name)) continue;
          let st;
          try {
            st = calls.lstat(e.name);
          } catch {
            continue; // gone meanwhile
          }
          if (st.isSymlink) {
            links.push(e.name);
            continue;
          }
          const canonical = spelledClientDir(e.name);
          if (!st.isDirectory || canonical === e.name) continue;
          // On a file system that ignores case it may be that name all the same.
          try {
            const as = canonical === undefined
              ? undefined
              : calls.lstat(canonical);
            if (as && as.dev === st.dev && as.ino === st.ino) continue;
          } catch { /* no such entry: not that client's */ }
          spelled.push(e.name);
        }
      } catch { /* unreadable: opening the root said so */ }
    });
    for (const name of links) this.#remember(name);
    const lines: string[] = [];
    if (links.length > 0) {
      const one = links.length === 1;
      lines.push(
        `per-client roots: ${named(links)} in the root ${
          one
            ? "is a symlink, not a client directory"
            : "are symlinks, not client directories"
        } (a client directory must be a real directory): ${
          one ? "that client reads" : "those clients read"
        } the shared root and cannot upload, and what ${
          one ? "it leads" : "they lead"
        } to is no client's own`,
      );
    }
    if (spelled.length > 0) {
      lines.push(
        `per-client roots: ${named(spelled)} in the root ${
          spelled.length === 1 ? "spells" : "spell"
        } an address other than as its client's directory is named ` +
          `(IPv4 dotted quad, IPv6 RFC 5952 in lower case with - for :, ` +
          `e.g. 2001-db8--7): no client is served from ${
            spelled.length === 1 ? "it" : "them"
          }, and no client can read ${spelled.length === 1 ? "it" : "them"}`,
      );
    }
    if (truncated) {
      lines.push(
        `per-client roots: looked at the first ${LAYOUT_ENTRIES} entries ` +
          `of the root only for symlinked client directories`,
      );
    }
    return lines;
  }

  /** Notes a symlinked client directory as reported; false if it was. */
  #remember(dir: string): boolean {
    if (this.#reported.has(dir) || this.#reported.size >= REPORTED_MAX) {
      return false;
    }
    this.#reported.add(dir);
    return true;
  }

  /**
   * The shared root, as {@linkcode FsStorage.describe} says it.
   *
   * @returns E.g. `root /srv/tftp (read-write)`.
   */
  describe(): string {
    return this.base.describe();
  }

  /**
   * The client's own storage, if its directory exists now and is a real
   * directory: an entry of the root that is not a symlink, whose real path
   * is that entry (in the entry's own case, where the file system ignores
   * case). A symlink is not used, wherever it leads, and is reported once.
   */
  #own(info: RequestInfo): FsStorage | undefined {
    const dir = clientDirName(info.hostname);
    if (!dir) return undefined;
    const root = this.base.root;
    const calls = this.base.calls;
    // Looked up per request (not cached), so a client directory created,
    // removed or replaced while the server runs takes effect at once.
    const real = CwdLock.forThread().run((): string | undefined | null => {
      try {
        calls.chdir(root);
        if (calls.cwd() !== root) return undefined;
        const st = calls.lstat(dir);
        if (st.isSymlink) return null;
        if (!st.isDirectory) return undefined;
        const real = calls.realPath(dir);
        if (real === root || !isInside(root, real)) return undefined;
        const rel = real.slice(
          root.endsWith("/") ? root.length : root.length + 1,
        );
        // Swapped for a link meanwhile: not used. Swapped after this, each
        // open finds itself elsewhere than `real` and refuses.
        return rel.toLowerCase() === dir ? real : undefined;
      } catch {
        return undefined;
      }
    });
    if (real === null) {
      if (this.#log && this.#remember(dir)) {
        this.#log.warn(
          `per-client roots: ${quote(dir, { max: 80 })} in the root is a ` +
            `symlink, not a client directory (a client directory must be a ` +
            `real directory): ${
              quote(info.hostname, { max: 80 })
            } reads the shared root and cannot upload`,
        );
      }
      return undefined;
    }
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
      const fenced = isClientDirName(checkCleanName(name)[0]);
      if (!own) {
        if (fenced) throw refusedAsMissing(name);
        return this.#shared.openRead(name);
      }
      if (!fenced) return own.openRead(name);
      // In its own directory the name is the client's to have; missing
      // there, it is not asked of anything behind (an origin is shared).
      return own.openRead(name).catch((err) => {
        if (err instanceof TftpError && err.code === ErrorCode.FILE_NOT_FOUND) {
          throw refusedAsMissing(name);
        }
        throw err;
      });
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
