/**
 * The server's listen sockets: one per configured host, and for a wildcard
 * host one per local address (see `net/local_addresses.ts` for why), kept
 * in step with the machine's addresses by a periodic rescan. Each datagram
 * is handed on with the socket it arrived on, so the transfer it starts can
 * bind to that address and its replies leave from it.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import { ReplyBudget } from "../protocol/budget.ts";
import { encodeError } from "../protocol/packet.ts";
import {
  type InterfaceAddress,
  type ListenAddress,
  listenPlan,
} from "../net/local_addresses.ts";
import { normalizeHost } from "../net/address.ts";

/** One listen socket. */
export interface Listener {
  /** The socket. */
  readonly conn: Deno.DatagramConn;
  /**
   * The address as bound (`fe80::1%2` keeps its scope, which `conn.addr`
   * drops) and the port: transfer sockets for its requests bind to it.
   */
  readonly addr: Deno.NetAddr;
  /** Set once the socket is closed (address gone, shutdown). */
  closed: boolean;
  /**
   * ERRORs left for datagrams here that are not requests (see
   * {@linkcode JUNK_REPLIES}); absent: no bound.
   */
  readonly junk?: { take(): boolean };
  /**
   * ERRORs left for refused requests here (see
   * {@linkcode REFUSAL_REPLIES}); absent: no bound.
   */
  readonly refusals?: { take(): boolean };
}

/**
 * How many datagrams that are not requests (junk, a stray ACK or DATA)
 * one listen socket answers: anyone can send them from a spoofed address,
 * and a 1-byte datagram would get up to 64 bytes back, so past this the
 * rest are ignored (100 a second, 64 at once: at most 6.4 KB/s out).
 */
export const JUNK_REPLIES = { burst: 64, refillMs: 10 } as const;

/**
 * How many refused requests (busy, a client's limit, a name refused, no
 * free port) one listen socket answers with an ERROR. Each is one datagram
 * from a possibly spoofed address, and its ERROR can be larger than it, so
 * past this the rest go unanswered; a real client's own retry asks again
 * (256 at once, then 500 a second: at most ~50 KB/s out).
 */
export const REFUSAL_REPLIES = { burst: 256, refillMs: 2 } as const;

/**
 * Answers a refused request with an ERROR from the socket it arrived on
 * (nothing once that socket is closed or its refusal budget is spent; a
 * failed send is dropped, as UDP would).
 *
 * @example
 * ```ts
 * import { replyError } from "./listeners.ts";
 * const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
 * const on = { conn, addr: conn.addr as Deno.NetAddr, closed: true };
 * replyError(on, on.addr, { code: 4, message: "request refused" });
 * conn.close();
 * ```
 *
 * @param on The listen socket.
 * @param to The client.
 * @param error Its code and message.
 */
export function replyError(
  on: Listener,
  to: Deno.NetAddr,
  error: { code: number; message: string },
): void {
  if (on.closed || on.refusals?.take() === false) return;
  on.conn.send(encodeError(error.code, error.message), to).catch(() => {});
}

/** Options of {@linkcode ListenSockets.open}. */
export interface ListenOptions {
  /** The configured hosts. */
  hosts: readonly string[];
  /** The port (0: a free one, the same on every address). */
  port: number;
  /** Where binds, rescans and failures are logged. */
  log: Logger;
  /** Receives kept pending per socket when there are few sockets. */
  receivers: number;
  /** Seconds between rescans of the local addresses (0: never). */
  rescanSeconds: number;
  /** Called for each datagram, with the socket it arrived on. */
  onDatagram: (data: Uint8Array, peer: Deno.NetAddr, on: Listener) => void;
}

/**
 * A listen address as log lines show it: like a peer (`192.0.2.1:69`,
 * `[2001:db8::1]:69`), but a link-local address keeps its scope
 * (`[fe80::1%2]:69`), which tells apart one address on two interfaces.
 *
 * @example
 * ```ts
 * import { listenText } from "./listeners.ts";
 * if (listenText({ hostname: "FE80::1%2", port: 69 }) !== "[fe80::1%2]:69") {
 *   throw new Error();
 * }
 * ```
 *
 * @param addr The bound address and port.
 * @returns The text.
 */
export function listenText(addr: { hostname: string; port: number }): string {
  const pct = addr.hostname.indexOf("%");
  const bare = pct < 0 ? addr.hostname : addr.hostname.slice(0, pct);
  const host = normalizeHost(bare) + (pct < 0 ? "" : addr.hostname.slice(pct));
  return host.includes(":") ? `[${host}]:${addr.port}` : `${host}:${addr.port}`;
}

/** Fresh ports tried when port 0 is taken on another address. */
const PORT_ATTEMPTS = 8;
/** Pending receives across all sockets stay near this (each holds 64 KiB). */
const RECEIVES_TOTAL = 64;

/**
 * The interface addresses, or undefined when Deno does not grant them.
 */
function interfaces(): InterfaceAddress[] | undefined {
  const p = Deno.permissions.querySync({
    name: "sys",
    kind: "networkInterfaces",
  });
  if (p.state !== "granted") return undefined;
  return Deno.networkInterfaces();
}

/**
 * The set of listen sockets of one server.
 *
 * @example
 * ```ts
 * import { ListenSockets } from "./listeners.ts";
 * import { Logger } from "../log.ts";
 * const sockets = ListenSockets.open({
 *   hosts: ["127.0.0.1"], port: 0, log: new Logger({ stderr: false }),
 *   receivers: 1, rescanSeconds: 0, onDatagram: () => {},
 * });
 * if (sockets.all.length !== 1) throw new Error();
 * await sockets.close();
 * ```
 */
export class ListenSockets {
  #opts: ListenOptions;
  #port: number;
  #by = new Map<string, Listener>();
  #loops = new Set<Promise<void>>();
  #failed = new Set<string>();
  #timer?: ReturnType<typeof setTimeout>;
  #closing = false;
  #stopped = false;
  /** Whether a wildcard is served per local address (and rescanned). */
  readonly expanded: boolean;

  private constructor(opts: ListenOptions, port: number, expanded: boolean) {
    this.#opts = opts;
    this.#port = port;
    this.expanded = expanded;
  }

  /**
   * Binds every socket of the plan and starts receiving.
   *
   * @param opts Hosts, port, logger, handler.
   * @returns The running sockets.
   * @throws {Deno.errors.AddrInUse} When the port is taken on an address.
   * @throws {Error} When an explicit host cannot be bound, or no address
   * at all.
   */
  static open(opts: ListenOptions): ListenSockets {
    const wildcard = listenPlan(opts.hosts, []).expanded;
    let found: InterfaceAddress[] | undefined;
    if (wildcard) {
      let why = "no permission to list network interfaces " +
        "(--allow-sys=networkInterfaces)";
      try {
        found = interfaces();
      } catch (err) {
        // A sandbox without netlink sockets, say.
        why = `cannot list network interfaces (${err})`;
      }
      if (!found) {
        const host = listenPlan(opts.hosts, undefined).addresses[0].hostname;
        opts.log.warn(
          `${why}: listening on ${host} as one socket, so replies may ` +
            `leave from another local address than the one a client sent to`,
        );
      }
    }
    let plan = listenPlan(opts.hosts, found);
    let denied: ListenAddress[] = [];
    if (plan.expanded) {
      denied = plan.addresses.filter((a) =>
        !a.explicit && !netGranted(a.hostname, opts.port)
      );
      const kept = plan.addresses.filter((a) => !denied.includes(a));
      const names = denied.map((a) => a.hostname).join(", ");
      if (!kept.some((a) => !a.explicit)) {
        plan = listenPlan(opts.hosts, undefined);
        if (denied.length) {
          opts.log.warn(
            `no --allow-net for any local address (${names}): listening ` +
              `on ${plan.addresses[0].hostname} as one socket, so replies ` +
              `may leave from another local address than the one a client ` +
              `sent to`,
          );
        }
      } else {
        if (denied.length) {
          const them = denied.length > 1 ? "them" : "it";
          opts.log.warn(`not serving ${names}: no --allow-net for ${them}`);
        }
        plan = { ...plan, addresses: kept };
      }
    }
    const conns = bindAll(plan.addresses, opts);
    const port = (conns[0][1].addr as Deno.NetAddr).port;
    const sockets = new ListenSockets(opts, port, plan.expanded);
    for (const [a, conn] of conns) sockets.#add(a.hostname, conn);
    for (const a of denied) sockets.#failed.add(a.hostname.toLowerCase());
    if (plan.expanded) {
      const hosts = plan.addresses.filter((a) => !a.explicit).length;
      opts.log.info(
        `serving each local address on its own socket (${hosts} now), ` +
          (opts.rescanSeconds > 0
            ? `looked up again every ${opts.rescanSeconds} s`
            : "never looked up again"),
      );
      sockets.#schedule();
    }
    return sockets;
  }

  /** The port every socket is bound to. */
  get port(): number {
    return this.#port;
  }

  /** Every open socket, in the order bound. */
  get all(): Listener[] {
    return [...this.#by.values()];
  }

  /**
   * The socket bound to `hostname` (as in {@linkcode Listener.addr}).
   *
   * @param hostname The bound address.
   * @returns The socket, if open.
   */
  find(hostname: string): Listener | undefined {
    return this.#by.get(hostname.toLowerCase());
  }

  #add(hostname: string, conn: Deno.DatagramConn): void {
    const junk = new ReplyBudget(JUNK_REPLIES, performance.now());
    const refusals = new ReplyBudget(REFUSAL_REPLIES, performance.now());
    const listener: Listener = {
      conn,
      addr: { transport: "udp", hostname, port: this.#port },
      closed: false,
      junk: { take: () => junk.take(performance.now()) },
      refusals: { take: () => refusals.take(performance.now()) },
    };
    this.#by.set(hostname.toLowerCase(), listener);
    const share = Math.ceil(RECEIVES_TOTAL / Math.max(1, this.#by.size));
    const receivers = Math.max(1, Math.min(this.#opts.receivers, share));
    for (let i = 0; i < receivers; i++) {
      const loop = this.#receive(listener).finally(() =>
        this.#loops.delete(loop)
      );
      this.#loops.add(loop);
    }
  }

  async #receive(listener: Listener): Promise<void> {
    const buf = new Uint8Array(65536);
    const { log, onDatagram } = this.#opts;
    while (!listener.closed) {
      let data: Uint8Array;
      let addr: Deno.Addr;
      try {
        [data, addr] = await listener.conn.receive(buf);
      } catch (err) {
        if (listener.closed) break;
        log.error(`receive failed: ${err}`);
        continue;
      }
      try {
        onDatagram(data, addr as Deno.NetAddr, listener);
      } catch (err) {
        log.error(`failed to handle a datagram: ${err}`);
      }
    }
  }

  #schedule(): void {
    const s = this.#opts.rescanSeconds;
    if (this.#closing || this.#stopped || !(s > 0)) return;
    this.#timer = setTimeout(() => {
      this.rescan();
      this.#schedule();
    }, s * 1000);
  }

  /**
   * Looks at the local addresses again: binds new ones, closes the sockets
   * of addresses that went away (their transfers run on until they time
   * out). Runs by itself every `rescanSeconds`.
   */
  rescan(): void {
    if (this.#closing || this.#stopped || !this.expanded) return;
    const { log, hosts } = this.#opts;
    let found: InterfaceAddress[] | undefined;
    try {
      found = interfaces();
    } catch (err) {
      log.warn(`cannot list network interfaces: ${err}`);
    }
    if (!found) {
      // The permission was revoked: keep the sockets, stop looking.
      log.warn("network interfaces unknown: local addresses not rescanned");
      this.#stopped = true;
      return;
    }
    const wanted = listenPlan(hosts, found).addresses;
    const keys = new Set(wanted.map((a) => a.hostname.toLowerCase()));
    for (const [key, l] of this.#by) {
      if (keys.has(key)) continue;
      this.#by.delete(key);
      l.closed = true;
      try {
        l.conn.close();
      } catch { /* already closed */ }
      log.info(
        `local address ${l.addr.hostname} went away: ` +
          `stopped serving ${listenText(l.addr)}`,
      );
    }
    for (const f of this.#failed) if (!keys.has(f)) this.#failed.delete(f);
    for (const a of wanted) {
      const key = a.hostname.toLowerCase();
      if (this.#by.has(key)) continue;
      const at = { hostname: a.hostname, port: this.#port };
      if (!netGranted(a.hostname, this.#port)) {
        if (!this.#failed.has(key)) {
          this.#failed.add(key);
          log.warn(`not serving ${a.hostname}: no --allow-net for it`);
        }
        continue;
      }
      try {
        this.#add(a.hostname, bind(a.hostname, this.#port));
        this.#failed.delete(key);
        log.info(
          `local address ${a.hostname} appeared: serving ${listenText(at)}`,
        );
      } catch (err) {
        if (this.#failed.has(key)) continue;
        this.#failed.add(key);
        log.warn(
          `cannot serve local address ${a.hostname} at ${listenText(at)}: ` +
            `${err}; trying again at each rescan`,
        );
      }
    }
  }

  /** Closes every socket and waits for the receive loops to end. */
  async close(): Promise<void> {
    this.#closing = true;
    clearTimeout(this.#timer);
    for (const l of this.#by.values()) {
      l.closed = true;
      try {
        l.conn.close();
      } catch { /* already closed */ }
    }
    await Promise.all([...this.#loops]);
  }
}

/**
 * Whether Deno lets this program bind `hostname` (a wildcard's addresses
 * need their own grant: `--allow-net=0.0.0.0` covers only the wildcard).
 */
function netGranted(hostname: string, port: number): boolean {
  const bare = hostname.replace(/%.*$/, "");
  const host = bare.includes(":") ? `[${bare}]` : bare;
  return Deno.permissions.querySync({
    name: "net",
    host: port ? `${host}:${port}` : host,
  }).state === "granted";
}

function bind(hostname: string, port: number): Deno.DatagramConn {
  return Deno.listenDatagram({ transport: "udp", hostname, port });
}

/**
 * Binds every address of the plan to one port. With port 0, the first
 * address picks it; when another address has it taken, all start again on
 * a fresh one. A taken port is fatal; so is any failure of an explicit
 * host; an address found on an interface that cannot be bound (a tentative
 * IPv6 address, say) is skipped with a warning.
 */
function bindAll(
  plan: readonly ListenAddress[],
  opts: ListenOptions,
): [ListenAddress, Deno.DatagramConn][] {
  const attempts = opts.port === 0 ? PORT_ATTEMPTS : 1;
  for (let attempt = 1;; attempt++) {
    const bound: [ListenAddress, Deno.DatagramConn][] = [];
    let port = opts.port;
    let retry = false;
    for (const a of plan) {
      try {
        const conn = bind(a.hostname, port);
        port = (conn.addr as Deno.NetAddr).port;
        bound.push([a, conn]);
      } catch (err) {
        const inUse = err instanceof Deno.errors.AddrInUse;
        if (!inUse && !a.explicit) {
          opts.log.warn(`cannot serve local address ${a.hostname}: ${err}`);
          continue;
        }
        for (const [, c] of bound) c.close();
        if (inUse && bound.length > 0 && attempt < attempts) {
          retry = true;
          break;
        }
        if (err instanceof Deno.errors.AddrNotAvailable) {
          throw new Deno.errors.AddrNotAvailable(
            `cannot listen on ${a.hostname}: not an address of this host`,
          );
        }
        if (inUse) {
          throw new Deno.errors.AddrInUse(
            `port ${port} on ${a.hostname} is already in use`,
          );
        }
        throw err;
      }
    }
    if (retry) continue;
    if (bound.length === 0) {
      throw new Error(
        `no local address could be bound for ${opts.hosts.join(", ")}`,
      );
    }
    return bound;
  }
}
