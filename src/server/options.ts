/**
 * The options of {@linkcode TftpServer}, as plain data (worker threads get
 * a copy of what they need).
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { OriginSettings } from "../storage/origin.ts";
import type { Storage } from "../storage/types.ts";
import type { Clock } from "../transport/types.ts";
import type { RemapRule } from "./remap.ts";
import type { TransferStats } from "./session.ts";

/** Options of {@linkcode TftpServer}. */
export interface ServerOptions {
  /**
   * Address or addresses to listen on (default `0.0.0.0`; `::` serves IPv4
   * and IPv6). A wildcard is served as one socket per local address, so
   * replies leave from the address each request was sent to; that needs
   * `--allow-sys=networkInterfaces`, and without it the wildcard is one
   * socket as before (with a warning).
   */
  host?: string | readonly string[];
  /**
   * Seconds between looks at the local addresses when a wildcard host is
   * served per address (default 5; 0: only at start): new addresses get a
   * socket, gone ones lose theirs, without a restart.
   */
  rescanInterval?: number;
  /** UDP port (default 9069; 0 picks a free one). */
  port?: number;
  /** Directory to serve (default: current directory). Ignored with `storage`. */
  root?: string;
  /** Custom storage instead of the file system under `root`. */
  storage?: Storage;
  /**
   * An HTTP(S) origin for names not found under `root` (or for every name,
   * with `only`): see docs/origin.md. Plain data, not a storage: the server
   * builds the storage (one per thread, sharing one count of origin
   * requests at once, each with its part of the memory cache) and
   * closes it on `close()`. With worker threads, requests are routed by a
   * hash of the name, so concurrent requests for one name meet in one
   * thread and make one origin request. Excludes `storage`.
   */
  origin?: OriginSettings;
  /** Retransmit interval in seconds (default 0.5). */
  ackTimeout?: number;
  /**
   * Seconds without progress before giving up on a transfer (default 3;
   * when unset, an upload that has sent DATA waits up to 12 s for the next,
   * since its sender resends only on its own timer).
   */
  timeout?: number;
  /** Retransmit rounds without progress before giving up (default 5). */
  retries?: number;
  /**
   * Longest time in seconds a transfer may go without progress, whatever
   * timeout option the client asks for (default 30).
   */
  maxIdle?: number;
  /**
   * Floor in ms of the adaptive retransmit interval used when the client
   * sets no timeout option (default 50; 0 keeps `ackTimeout` fixed).
   */
  minRtoMs?: number;
  /**
   * Longest busy-poll spin in µs while a lock-step transfer is alone in its
   * thread (default 50; 0 off): after sending, the thread spins briefly so
   * a fast client's reply is taken without a sleep and wake-up.
   */
  busyPollUs?: number;
  /** Largest blksize granted (default 65464). */
  maxBlksize?: number;
  /** Largest windowsize granted (default 64). */
  maxWindowsize?: number;
  /** Largest upload in bytes (default: no limit). */
  maxUpload?: number;
  /**
   * Bytes for the packet buffers of windowed sends, for the whole server
   * (default 64 MiB): a transfer beyond the budget sends its window in
   * bursts instead of holding a buffer per block.
   */
  maxWindowMemory?: number;
  /** Refuse all uploads. */
  readOnly?: boolean;
  /** Let uploads replace existing regular files (default: ERROR 6). */
  allowOverwrite?: boolean;
  /** `\\` to `/` and leading `/` stripped from names (default true). */
  normalizeNames?: boolean;
  /** Find names case-insensitively when the exact name does not exist. */
  ignoreCase?: boolean;
  /** Serve `ROOT/<client ip>/` to a client when that directory exists. */
  perClientRoot?: boolean;
  /** Remap rules applied to names before the root check. */
  remap?: RemapRule[];
  /** Most transfers at once (default 2048). */
  maxSessions?: number;
  /** Most transfers at once from one client (IPv4 address or IPv6 /64; default 128). */
  maxSessionsPerClient?: number;
  /** Only clients in these networks (CIDR) get any reply, at any port. */
  allowFrom?: string[];
  /** Bind transfer sockets in this inclusive port range. */
  portRange?: [number, number];
  /** Run every transfer on the listen port (for NAT and strict firewalls). */
  singlePort?: boolean;
  /**
   * Threads that run transfers (default 1: all in the main thread). With
   * more, the main thread admits requests and hands each transfer to the
   * least busy worker thread, so a boot storm uses every CPU and no
   * thread's event loop holds hundreds of sockets. Needs the file-system
   * root (no custom `storage`), per-transfer ports (no `singlePort`), the
   * stock session classes (no `selectProtocol` or `createTransport`
   * override) and the real clock: anything else is refused here, since it
   * could not run in the threads.
   */
  workers?: number;
  /**
   * When the worker threads start (with `workers` above 1): `demand`
   * (default) at the first request that arrives while the main thread
   * already runs a transfer, so a server that serves one client at a time
   * stays one thread and ~35 MB lighter with two threads; `listen` 100 ms
   * after listening.
   */
  workersStart?: "demand" | "listen";
  /** Logger (default: INFO to stderr). */
  logger?: Logger;
  /** Clock for sessions (tests). */
  clock?: Clock;
  /** Called after every transfer with its stats. */
  onTransferEnd?: (stats: TransferStats) => void;
  /**
   * Serve Prometheus metrics, a JSON status API and a live status page on
   * this TCP address (off by default; bind it to loopback or a management
   * address: it has no authentication). See docs/metrics.md.
   */
  metrics?: { hostname: string; port: number };
}
