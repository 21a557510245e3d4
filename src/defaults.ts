/**
 * Every default value of the server and the client, in one place. The
 * protocol's own limits (RFC 2348's blksize range, RFC 7440's windowsize
 * range) live beside the codec in `protocol/options.ts`; these are the
 * choices this project makes within them.
 *
 * @example
 * ```ts
 * import { SERVER_DEFAULTS } from "./defaults.ts";
 * if (SERVER_DEFAULTS.port !== 9069) throw new Error();
 * ```
 *
 * @module
 */

/** Defaults of the server (library options and command-line flags). */
export const SERVER_DEFAULTS = {
  /** Address to listen on. */
  host: "0.0.0.0",
  /**
   * Seconds between looks at the local addresses when a wildcard host is
   * served per address (a new address is served within this long).
   */
  rescanInterval: 5,
  /** UDP port (the standard 69 needs CAP_NET_BIND_SERVICE). */
  port: 9069,
  /** Directory served: the current directory. */
  root: ".",
  /** Retransmit interval in seconds when the client sets no timeout. */
  ackTimeout: 0.5,
  /** Seconds without progress before a transfer is abandoned. */
  timeout: 3,
  /** Retransmit rounds without progress before giving up. */
  retries: 5,
  /**
   * Longest a transfer may stay without progress, in seconds, whatever
   * timeout option the client asks for (RFC 2349 allows 255 s per
   * retransmit, which would hold a slot for 25 minutes).
   */
  maxIdle: 30,
  /** Floor of the adaptive retransmit interval, ms (0: fixed interval). */
  minRtoMs: 50,
  /** Longest busy-poll spin in µs (0: off). */
  busyPollUs: 50,
  /** Largest blksize granted. */
  maxBlksize: 65464,
  /** Largest windowsize granted. */
  maxWindowsize: 64,
  /**
   * Bytes for the buffers of windowed sends beyond each transfer's first,
   * for the whole server (split between its threads).
   */
  maxWindowMemory: 64 * 1024 * 1024,
  /** Most transfers at once. */
  maxSessions: 2048,
  /** Most transfers at once from one client (IPv4 address or IPv6 /64). */
  maxSessionsPerClient: 128,
  /** Prefix length that makes one IPv6 "client" for the per-client limit. */
  ipv6ClientPrefix: 64,
  /** Fewest and most worker threads `--workers auto` picks. */
  autoWorkersMin: 2,
  /** Most worker threads `--workers auto` picks. */
  autoWorkersMax: 8,
  /** Log line format of the command (`--log-format`). */
  logFormat: "text",
} as const;

/**
 * Defaults of the HTTP origin storage (`--origin-*`, `openOriginStorage`),
 * in milliseconds and bytes. With worker threads, `maxConcurrent` and
 * `cacheMemoryBytes` are split between the threads.
 */
export const ORIGIN_DEFAULTS = {
  /** From asking (queueing included) to the response headers, ms. */
  timeoutMs: 5_000,
  /** Longest silence within a body, ms. */
  idleTimeoutMs: 10_000,
  /** Origin requests at once (bodies being read included). */
  maxConcurrent: 16,
  /** Same-origin redirects followed. */
  maxRedirects: 3,
  /** Largest body served, bytes (held in memory while it is read). */
  maxObjectBytes: 256 * 1024 * 1024,
  /** Memory cache, bytes (0: none). */
  cacheMemoryBytes: 64 * 1024 * 1024,
  /** Directory cache bound, bytes. */
  cacheDirBytes: 1024 * 1024 * 1024,
} as const;

/** Defaults of the client (library and `client.ts`). */
export const CLIENT_DEFAULTS = {
  /** Server address. */
  host: "127.0.0.1",
  /** Server port. */
  port: 69,
  /** Retransmit interval in ms when no timeout option is sent. */
  retransmitMs: 1000,
  /** Retransmits without progress before giving up. */
  retries: 5,
  /** Transfer mode. */
  mode: "octet",
} as const;
