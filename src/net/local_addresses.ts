/**
 * Which addresses to listen on. Deno has no `IP_PKTINFO`, so a socket bound
 * to a wildcard (`0.0.0.0`, `::`) cannot tell which local address a request
 * was sent to, and the kernel picks the source of its replies by routing:
 * a PXE client that sent to a secondary address or a virtual IP drops them.
 * A wildcard is therefore served as one socket per local address (from
 * `Deno.networkInterfaces()`), and each transfer binds to the address its
 * request arrived on. Pure: interfaces in, bind addresses out.
 *
 * @module
 */

import { parseIp } from "./cidr.ts";

/** One address of a network interface (the fields of `Deno.NetworkInterfaceInfo` used here). */
export interface InterfaceAddress {
  /** `IPv4` or `IPv6`. */
  family: "IPv4" | "IPv6";
  /** The address. */
  address: string;
  /** The interface index, for IPv6 (`null` for IPv4). */
  scopeid: number | null;
}

/** One socket to bind. */
export interface ListenAddress {
  /**
   * The address to bind: as given for an explicit host, with `%scope` for
   * a link-local IPv6 address (Deno refuses those without a scope).
   */
  hostname: string;
  /** Named on the command line (a failure is fatal) or found on an interface. */
  explicit: boolean;
}

/** What {@linkcode listenPlan} decided. */
export interface ListenPlan {
  /** The sockets to bind, in order (explicit hosts first, then by family). */
  addresses: ListenAddress[];
  /** Whether a wildcard was expanded (then addresses are rescanned). */
  expanded: boolean;
}

/**
 * Whether `host` is a wildcard address (`0.0.0.0`, `::` in any spelling).
 *
 * @example
 * ```ts
 * import { isWildcard } from "./local_addresses.ts";
 * if (!isWildcard("::") || !isWildcard("0:0::0") || isWildcard("::1")) {
 *   throw new Error();
 * }
 * ```
 *
 * @param host An address.
 * @returns true for an all-zero address.
 */
export function isWildcard(host: string): boolean {
  const bytes = parseIp(host);
  return bytes !== undefined && bytes.every((b) => b === 0);
}

/** Whether an IPv6 address is link-local (`fe80::/10`). */
function linkLocal(bytes: Uint8Array): boolean {
  return bytes[0] === 0xfe && (bytes[1] & 0xc0) === 0x80;
}

/**
 * The bind address for one interface address: link-local IPv6 with its
 * interface index as scope (`fe80::1%2`), anything else as it is.
 *
 * @example
 * ```ts
 * import { bindAddress } from "./local_addresses.ts";
 * const a = { family: "IPv6", address: "fe80::1", scopeid: 2 } as const;
 * if (bindAddress(a) !== "fe80::1%2") throw new Error();
 * ```
 *
 * @param a The interface address.
 * @returns The hostname to bind, or undefined when it cannot be bound (a
 * link-local address without a scope, an unparsable address).
 */
export function bindAddress(a: InterfaceAddress): string | undefined {
  const bytes = parseIp(a.address);
  if (!bytes || a.address.includes("%")) return undefined;
  if (a.family === "IPv6" && linkLocal(bytes)) {
    return a.scopeid ? `${a.address.toLowerCase()}%${a.scopeid}` : undefined;
  }
  return a.family === "IPv6" ? a.address.toLowerCase() : a.address;
}

/**
 * The sockets to bind for the configured hosts.
 *
 * Without wildcards: the hosts themselves. With a wildcard and the
 * interfaces known: `0.0.0.0` becomes every IPv4 address, `::` every IPv6
 * and every IPv4 address (a `::` socket is dual-stack, so IPv4 clients keep
 * being served), plus the explicit hosts. Without the interfaces (no
 * permission): the wildcard itself, one socket as before, `::` covering
 * `0.0.0.0` and both covering every explicit host of their family (the
 * kernel refuses binding a port on an address and on the wildcard at once).
 *
 * @example
 * ```ts
 * import { listenPlan } from "./local_addresses.ts";
 * const ifs = [
 *   { family: "IPv4", address: "127.0.0.1", scopeid: null },
 *   { family: "IPv4", address: "192.0.2.2", scopeid: null },
 *   { family: "IPv6", address: "::1", scopeid: 0 },
 * ] as const;
 * const plan = listenPlan(["0.0.0.0"], ifs);
 * const names = plan.addresses.map((a) => a.hostname);
 * if (names.join(" ") !== "127.0.0.1 192.0.2.2") throw new Error();
 * const fallback = listenPlan(["0.0.0.0", "::"], undefined);
 * if (fallback.addresses.map((a) => a.hostname).join() !== "::") throw new Error();
 * ```
 *
 * @param hosts The configured hosts (`--host`, several allowed).
 * @param interfaces The interface addresses, or undefined when unknown.
 * @returns The plan.
 */
export function listenPlan(
  hosts: readonly string[],
  interfaces: readonly InterfaceAddress[] | undefined,
): ListenPlan {
  const wild = hosts.filter(isWildcard);
  const explicit = hosts.filter((h) => !isWildcard(h));
  const seen = new Set<string>();
  const out: ListenAddress[] = [];
  const add = (hostname: string, isExplicit: boolean) => {
    // `::1` and `0:0:0:0:0:0:0:1` are one address: binding both collides.
    const bytes = hostname.includes("%") ? undefined : parseIp(hostname);
    const key = bytes ? bytes.join(".") : hostname.toLowerCase();
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ hostname, explicit: isExplicit });
  };
  if (wild.length === 0) {
    for (const h of explicit) add(h, true);
    return { addresses: out, expanded: false };
  }
  const v6 = wild.some((h) => h.includes(":"));
  if (interfaces === undefined) {
    add(v6 ? "::" : "0.0.0.0", true);
    // An explicit IPv6 host beside 0.0.0.0 is not covered by it.
    if (!v6) { for (const h of explicit) if (h.includes(":")) add(h, true); }
    return { addresses: out, expanded: false };
  }
  for (const h of explicit) add(h, true);
  for (const family of v6 ? ["IPv4", "IPv6"] : ["IPv4"]) {
    for (const a of interfaces) {
      if (a.family !== family) continue;
      const hostname = bindAddress(a);
      if (hostname !== undefined) add(hostname, false);
    }
  }
  return { addresses: out, expanded: true };
}
