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
  /**
   * The same for an upload once its first DATA has come, when `timeout` is
   * not set: a sender resends a lost DATA only on its own timer (RFC 1123
   * 4.2.3.1), 5 s in tftp-hpa and atftp, so 3 s lost every such upload at
   * its first lost packet. Two of those resends, and a margin.
   */
  uploadTimeout: 12,
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
  /** When the worker threads start (`--workers-start`). */
  workersStart: "demand",
  /** Log line format of the command (`--log-format`). */
  logFormat: "text",
} as const;

/**
 * Defaults of the HTTP origin storage (`--origin-*`, `openOriginStorage`),
 * in milliseconds and bytes. With worker threads, `cacheMemoryBytes` is
 * split between the threads; `maxConcurrent` is for them all together.
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

/**
 * How a windowed sender tells a receiver that drops bursts (a small RX
 * ring, a slow port) from random loss, and paces it (`protocol/pacing.ts`).
 * Measured with `deno task compare --only h,e,c` (bench/README.md: the
 * small-buffer family and the windowed-loss scenarios).
 */
export const PACING_DEFAULTS = {
  /**
   * Mid-window ACKs in a row at about the same count after the window
   * start that prove a burst dropper. At 1% random loss three in a row
   * within the tolerance came once in a 32 MiB read at windowsize 64; four
   * are rarer by another ~25x, and a burst dropper that ACKs a gap (U-Boot)
   * shows four in four round trips.
   */
  evidence: 4,
  /** How far apart (blocks) two counts may be and still agree. */
  tolerance: 2,
  /**
   * Timeouts in a row on one window before its resend goes paced. At 1%
   * loss a single timeout came several times per 32 MiB read (a resent
   * block lost again), and pacing on it cost up to 3x; a receiver that
   * neither ACKs a gap nor holds a whole window draws two at once.
   */
  timeouts: 2,
  /**
   * Blocks per burst of the paced resend after a timeout (nothing known of
   * the receiver's queue). Deno's sends leave in clumps (a burst of 4 took
   * 0.1-0.6 ms to go out and one block of it left with the next burst), so
   * a burst is at most half the queue: 2 fits the smallest queue measured
   * (K = 4), where 4 lost a block every few windows.
   */
  firstBurst: 2,
  /**
   * Largest burst while paced (what U-Boot's virtio-net ring holds). A
   * burst grows by one per window acknowledged whole, and never again past
   * one that lost.
   */
  maxBurst: 32,
  /**
   * The link assumed when pacing starts, Mb/s: a 100 Mb/s port, the
   * slowest a netbooting NIC runs; the pace then follows the receiver.
   */
  startMbps: 100,
  /**
   * Margin of the starting gap over a packet's wire time: a receiver at
   * exactly that rate keeps up, and the family at 100 Mb/s finishes within
   * 5% of the wire time.
   */
  margin: 1.05,
  /**
   * The gap holds while the receiver's smallest lag per packet is at least
   * this share of it (it sets the pace); below, the receiver idles.
   */
  idleShare: 0.5,
  /**
   * Once the receiver has set the pace (or lost a packet while paced):
   * windows in a row with it idle before the gap shrinks again. A
   * receiver's lag never drops below its work, while noise only adds, so
   * a burst dropper rarely shows two; a fast link shows them at once.
   */
  idleWindows: 2,
  /**
   * The gap per packet is multiplied by this after a window acknowledged
   * whole with the receiver idle: halving leaves pacing within 3 windows
   * on a fast link that only lost packets at random.
   */
  speedUp: 0.5,
  /** The gap per packet is multiplied by this after a loss while paced. */
  slowDown: 1.25,
  /**
   * Most the gap may grow to, as a multiple of the starting gap: losses
   * while paced slow it down by `slowDown` each, and a 64th of the
   * starting rate (1.5 Mb/s from 100) still ends a boot file in seconds.
   */
  maxSlowDown: 64,
  /**
   * Below this gap per packet (ms) pacing ends: 20 us a packet is about
   * what one Deno send costs, so pacing there gains nothing.
   */
  minGapMs: 0.05,
  /**
   * Windowsizes above this start paced ("cautious"): U-Boot 2023.01's
   * virtio-net holds 32 receive buffers and stops receiving for good once
   * they fill at once, so no reaction to loss can save it: the first
   * window must already fit. A window of 16 fits every ring measured and
   * goes at full speed from the first block.
   */
  cautiousAbove: 16,
  /**
   * Blocks per burst of a cautious start, and the most it grows to while
   * the receiver shows no loss: an eighth of U-Boot's ring. With bursts of
   * 8 at 50 Mb/s U-Boot on virtio-net still stalled in its second window
   * in 3 of 40 runs on 2026-12-04 (4 of 56 in all); with bursts of 4, in
   * none of 70 (0.77-0.84 s for 4 MiB against 0.74-0.76 s). The pace
   * matters too: bursts of 4 at 100 Mb/s stalled in 9 of 40.
   */
  cautiousBurst: 4,
  /**
   * The link assumed by a cautious start, Mb/s (258 us a packet at
   * blksize 1468): U-Boot on virtio-net under QEMU finished at one packet
   * per 200 us and in bursts of 8 every 2 ms, and stalled at 100 Mb/s in
   * two runs of three.
   */
  cautiousMbps: 50,
  /**
   * Windows of a cautious start that may show the receiver fast; then it
   * stays paced. A PC on loopback ACKed one first window in seven slowly
   * (35 us a packet), the next one fast; U-Boot's first two windows took
   * 79-255 us a packet in six runs.
   */
  cautiousWindows: 2,
  /**
   * Windows of the last `fastOf` that must show a paced receiver fast
   * before pacing ends, when its cautious start did not or when the round
   * trip known is no shorter than the lag (so the lag cannot move the
   * gap). U-Boot on virtio-net under QEMU ACKed 16 of 270 paced windows
   * that fast, never two in a row (on 2026-12-04, 7 of 138, at most two
   * within six); a PC on loopback 10 of its first 18 (a cold server's
   * first read, still paced at block 1216 when six in a row were asked).
   */
  fastWindows: 5,
  /** The windows `fastWindows` counts in (the most recent ones). */
  fastOf: 6,
  /**
   * A receiver is fast when a window's ACK came less than this many us per
   * packet of its last burst after that burst went out (see
   * `cautiousWindows` and `fastWindows`). Measured for a burst of 8 (a
   * burst of 4 shows less of the receiver's work, so the bar is loose): a PC
   * on loopback mostly 5-26 us a packet (39-207 us), once in seven first
   * windows 35 us; U-Boot on virtio-net under QEMU a median 83 us (0.67
   * ms), 17 us at the least; a receiver at 100 Mb/s 123 us and more.
   */
  cautiousFastUs: 30,
} as const;
