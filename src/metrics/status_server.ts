/**
 * The HTTP listener of `--metrics HOST:PORT`: `/metrics` (Prometheus),
 * `/api/status` (JSON), `/api/events` (the same document as server-sent
 * events, once per interval), and the live page `/` with its script and
 * style sheet. Read-only: GET and HEAD only, anything else is 405.
 *
 * @module
 */

import { renderMetrics } from "./collect.ts";
import { EXPOSITION_CONTENT_TYPE } from "./exposition.ts";
import type { TransferMonitor } from "./monitor.ts";
import { CONTENT_SECURITY_POLICY, PAGE_CSS, PAGE_HTML } from "./page.ts";
import { PAGE_SCRIPT } from "./page_script.ts";
import { EventHub, EventStreamClosed, STREAM_LIFETIME_MS } from "./sse.ts";

/** Where the listener binds. */
export interface StatusListen {
  /** Address (bind it to loopback unless the network is trusted). */
  hostname: string;
  /** TCP port (0: any free port, see {@linkcode StatusServer.addr}). */
  port: number;
}

/** Options of {@linkcode startStatusServer}. */
export interface StatusServerOptions {
  /** Most live-page event streams open at once. @default {16} */
  streams?: number;
  /**
   * Most of those streams one client holds (an IPv4 address, IPv4-mapped
   * IPv6 included, or an IPv6 /64), so that a client reconnecting in a loop
   * cannot take every slot; over it, a request gets the same 503 as over
   * `streams`, and its page polls. @default {4}
   */
  streamsPerPeer?: number;
  /**
   * How long one event stream lasts, in ms, before the page is told to open
   * a new one: a reader that stopped reading holds its slot at most this
   * long, plus one interval. @default {30000}
   */
  streamLifetimeMs?: number;
  /** How often throughput is sampled and pages updated, in ms (at least 250). @default {1000} */
  intervalMs?: number;
  /** Running transfers listed in each live-page update. @default {100} */
  pageActive?: number;
  /** Finished transfers listed in each live-page update. @default {50} */
  pageRecent?: number;
  /**
   * Told about a request that failed inside the handler (not about an event
   * stream that ended: a page gone, renewed or dropped, or the listener
   * closing).
   */
  onError?: (error: unknown) => void;
}

/** A running status listener. */
export interface StatusServer extends AsyncDisposable {
  /** The bound address (the real port when 0 was asked for). */
  readonly addr: Deno.NetAddr;
  /** Live-page event streams open now. */
  readonly streams: number;
  /** Closes the event streams and the listener. */
  close(): Promise<void>;
}

const COMMON_HEADERS: Record<string, string> = {
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-resource-policy": "same-origin",
};

function respond(
  body: BodyInit | null,
  status: number,
  headers: Record<string, string>,
): Response {
  return new Response(body, {
    status,
    headers: { ...COMMON_HEADERS, ...headers },
  });
}

function text(status: number, message: string): Response {
  return respond(message + "\n", status, {
    "content-type": "text/plain; charset=utf-8",
    "cache-control": "no-store",
  });
}

const STATIC: Record<string, [string, string]> = {
  "/": [PAGE_HTML, "text/html; charset=utf-8"],
  "/status.js": [PAGE_SCRIPT, "text/javascript; charset=utf-8"],
  "/status.css": [PAGE_CSS, "text/css; charset=utf-8"],
};

/**
 * Starts the status listener for a monitor.
 *
 * @example
 * ```ts
 * import { TransferMonitor } from "./monitor.ts";
 * import { startStatusServer } from "./status_server.ts";
 * const monitor = new TransferMonitor();
 * await using server = startStatusServer(
 *   { hostname: "127.0.0.1", port: 0 },
 *   monitor,
 * );
 * const res = await fetch(`http://127.0.0.1:${server.addr.port}/metrics`);
 * const body = await res.text();
 * if (!body.includes("tftp_active_transfers 0")) throw new Error(body);
 * ```
 *
 * @param listen Address and port to bind.
 * @param monitor What to show.
 * @param options Bounds and update interval.
 * @returns The running listener.
 * @throws {Deno.errors.AddrInUse} When the port is taken (and other bind
 * errors).
 */
export function startStatusServer(
  listen: StatusListen,
  monitor: TransferMonitor,
  options: StatusServerOptions = {},
): StatusServer {
  const hub = new EventHub({
    limit: options.streams ?? 16,
    perPeer: options.streamsPerPeer ?? 4,
    lifetimeMs: options.streamLifetimeMs ?? STREAM_LIFETIME_MS,
  });
  const pageView = () =>
    JSON.stringify(monitor.status({
      listed: options.pageActive ?? 100,
      recent: options.pageRecent ?? 50,
    }));
  const interval = Math.max(250, options.intervalMs ?? 1000);
  monitor.sample();
  const timer = setInterval(() => {
    monitor.sample();
    if (hub.size > 0) hub.broadcast("status", pageView());
  }, interval);

  const handle = (req: Request, info: Deno.ServeHandlerInfo): Response => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      const res = text(405, "method not allowed: this endpoint is read-only");
      res.headers.set("allow", "GET, HEAD");
      return res;
    }
    const path = new URL(req.url).pathname;
    const asset = STATIC[path];
    if (asset) {
      return respond(asset[0], 200, {
        "content-type": asset[1],
        "cache-control": "no-cache",
      });
    }
    switch (path) {
      case "/metrics":
        return respond(
          renderMetrics(monitor, {
            extra: [{
              name: "tftp_status_streams",
              help: "Live status page event streams open now.",
              type: "gauge",
              samples: [{ value: hub.size }],
            }],
          }),
          200,
          {
            "content-type": EXPOSITION_CONTENT_TYPE,
            "cache-control": "no-store",
          },
        );
      case "/api/status":
        return respond(JSON.stringify(monitor.status()), 200, {
          "content-type": "application/json; charset=utf-8",
          "cache-control": "no-store",
        });
      case "/api/events": {
        const headers = {
          "content-type": "text/event-stream; charset=utf-8",
          "cache-control": "no-store",
        };
        if (req.method === "HEAD") return respond(null, 200, headers);
        const opened = hub.open(["status", pageView()], {
          peer: (info.remoteAddr as Deno.NetAddr).hostname,
        });
        if (opened === "peer") {
          return text(
            503,
            `too many live pages open from your address (at most ${hub.perPeer}); poll /api/status`,
          );
        }
        if (opened === "limit") {
          return text(503, "too many live pages open; poll /api/status");
        }
        return respond(opened, 200, headers);
      }
      case "/favicon.ico":
        return respond(null, 204, { "cache-control": "max-age=86400" });
      default:
        return text(404, "not found");
    }
  };

  const server = Deno.serve({
    hostname: listen.hostname,
    port: listen.port,
    onListen: () => {},
    onError: (err) => {
      // An event stream the hub ended reaches here as its body's error.
      if (!(err instanceof EventStreamClosed)) options.onError?.(err);
      return text(500, "internal error");
    },
  }, handle);

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      clearInterval(timer);
      hub.close();
      await server.shutdown();
    })();
    return closing;
  };
  return {
    addr: server.addr as Deno.NetAddr,
    get streams() {
      return hub.size;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
