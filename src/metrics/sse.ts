/**
 * Server-sent events for the live page, bounded four ways: at most `limit`
 * streams at once, at most `perPeer` of them from one client, a stream whose
 * reader falls `backlog` messages behind is closed instead of queueing
 * without end, and no stream lasts longer than `lifetimeMs`: the page then
 * opens a new one.
 *
 * @module
 */

import { clientKey } from "../server/admission.ts";

const encoder = new TextEncoder();

/**
 * How long one event stream lasts, in ms, before the hub ends it (the page
 * then opens a new one at once): the bound on how long a reader that stopped
 * reading holds one of the stream slots. Backpressure alone does not bound
 * it: Deno's HTTP server takes every chunk until the socket's send buffer is
 * full, megabytes on loopback (measured: 4 MB), so `backlog` notices such a
 * reader only minutes later.
 */
export const STREAM_LIFETIME_MS = 30_000;

/**
 * The reason a stream the hub ended carries: it was dropped or renewed, or
 * the hub closed; not a failure.
 *
 * @example
 * ```ts
 * import { EventHub, EventStreamClosed } from "./sse.ts";
 * const hub = new EventHub();
 * const stream = hub.open();
 * if (typeof stream === "string") throw new Error(stream);
 * const reader = stream.getReader();
 * hub.close();
 * const why = await reader.read().catch((e) => e);
 * if (!(why instanceof EventStreamClosed)) throw new Error(String(why));
 * ```
 */
export class EventStreamClosed extends Error {
  /** Always `"EventStreamClosed"`. */
  override name = "EventStreamClosed";
}

/** Options of {@linkcode EventHub}. */
export interface EventHubOptions {
  /** Most open streams. @default {16} */
  limit?: number;
  /**
   * Most open streams from one client (an IPv4 address, IPv4-mapped IPv6
   * included, or an IPv6 /64, as transfers count per client), so that one
   * client cannot take every slot. @default {4}
   */
  perPeer?: number;
  /** Messages queued for a slow reader before its stream is closed. @default {4} */
  backlog?: number;
  /** Reconnection delay suggested to browsers, in ms. @default {2000} */
  retryMs?: number;
  /**
   * How long a stream lasts, in ms, before it gets a `renew` event and ends
   * (checked at each broadcast and when a stream is asked for while `limit`
   * are open, or the asking client's `perPeer`).
   * @default {STREAM_LIFETIME_MS}
   */
  lifetimeMs?: number;
  /** The clock, in ms. @default {performance.now} */
  now?: () => number;
}

/** Options of {@linkcode EventHub.open}. */
export interface EventOpenOptions {
  /**
   * The address the request came from, as the socket reports it: its
   * stream counts against that client's `perPeer`. Streams opened without
   * one all count as one client.
   */
  peer?: string;
}

/**
 * Why {@linkcode EventHub.open} gave no stream: `"limit"` streams are open,
 * or `"peer"`: the asking client holds `perPeer` of them.
 */
export type EventRefusal = "limit" | "peer";

/** An open stream: whom it counts against, and when it is to be renewed. */
interface Slot {
  key: string;
  until: number;
}

/**
 * Fans one message out to every open event stream.
 *
 * @example
 * ```ts
 * import { EventHub } from "./sse.ts";
 * const hub = new EventHub({ limit: 2, perPeer: 1 });
 * const stream = hub.open(undefined, { peer: "192.0.2.1" });
 * if (typeof stream === "string") throw new Error(stream);
 * const again = hub.open(undefined, { peer: "::ffff:192.0.2.1" });
 * if (again !== "peer") throw new Error("over its share");
 * hub.broadcast("status", "{}");
 * const reader = stream.getReader();
 * const first = new TextDecoder().decode((await reader.read()).value);
 * if (!first.startsWith("retry:")) throw new Error(first);
 * hub.close();
 * ```
 */
export class EventHub {
  /** Most open streams. */
  readonly limit: number;
  /** Most open streams from one client. */
  readonly perPeer: number;
  #backlog: number;
  #lifetimeMs: number;
  #now: () => number;
  #retry: Uint8Array;
  #renew = frame("renew", "{}");
  #clients = new Map<ReadableStreamDefaultController<Uint8Array>, Slot>();
  /** Open streams per client key; a key leaves when its count reaches 0. */
  #held = new Map<string, number>();

  /**
   * Creates a hub with no streams.
   *
   * @param options Bounds and retry delay.
   */
  constructor(options: EventHubOptions = {}) {
    this.limit = Math.max(0, options.limit ?? 16);
    this.perPeer = Math.max(0, options.perPeer ?? 4);
    this.#backlog = Math.max(1, options.backlog ?? 4);
    this.#lifetimeMs = Math.max(0, options.lifetimeMs ?? STREAM_LIFETIME_MS);
    this.#now = options.now ?? (() => performance.now());
    this.#retry = encoder.encode(`retry: ${options.retryMs ?? 2000}\n\n`);
  }

  /** Streams open now. */
  get size(): number {
    return this.#clients.size;
  }

  /**
   * Opens a stream, or says why not: `limit` streams are open, or `perPeer`
   * from `options.peer` (streams past their lifetime are ended first, so they
   * do not count).
   *
   * @param first A message (event name and data) queued at once.
   * @param options Who asks.
   * @returns The stream to send as a response body, or the refusal.
   */
  open(
    first?: [string, string],
    options: EventOpenOptions = {},
  ): ReadableStream<Uint8Array> | EventRefusal {
    const now = this.#now();
    const key = clientKey(options.peer ?? "");
    const full = () =>
      this.#clients.size >= this.limit ? "limit" as const : undefined;
    const over = () =>
      (this.#held.get(key) ?? 0) >= this.perPeer ? "peer" as const : undefined;
    if (over() ?? full()) {
      for (const [c, slot] of [...this.#clients]) {
        if (now >= slot.until) this.#end(c);
      }
    }
    const refusal = over() ?? full();
    if (refusal) return refusal;
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const stream = new ReadableStream<Uint8Array>({
      start: (c) => {
        controller = c;
      },
      cancel: () => {
        this.#release(controller);
      },
    }, new CountQueuingStrategy({ highWaterMark: this.#backlog }));
    this.#clients.set(controller, { key, until: now + this.#lifetimeMs });
    this.#held.set(key, (this.#held.get(key) ?? 0) + 1);
    controller.enqueue(this.#retry);
    if (first) controller.enqueue(frame(first[0], first[1]));
    return stream;
  }

  /**
   * Sends one event to every stream; a stream with `backlog` messages still
   * unread is closed, and one past its lifetime gets a `renew` event instead
   * and ends.
   *
   * @param event Event name.
   * @param data One line of data (no line breaks).
   */
  broadcast(event: string, data: string): void {
    if (this.#clients.size === 0) return;
    const now = this.#now();
    const bytes = frame(event, data);
    for (const [c, slot] of [...this.#clients]) {
      if ((c.desiredSize ?? 0) <= 0) {
        this.#drop(c);
      } else if (now >= slot.until) {
        this.#end(c);
      } else {
        try {
          c.enqueue(bytes);
        } catch {
          this.#release(c);
        }
      }
    }
  }

  /** Closes every stream. */
  close(): void {
    for (const c of [...this.#clients.keys()]) this.#drop(c);
  }

  /** Tells the page to open a new stream, then ends this one. */
  #end(c: ReadableStreamDefaultController<Uint8Array>): void {
    // A reader that keeps up has a read pending, which this chunk fulfils at
    // once, so the drop below does not discard it.
    try {
      c.enqueue(this.#renew);
    } catch { /* already closed or errored */ }
    this.#drop(c);
  }

  /**
   * Frees a stream's slot and its client's share; every way a stream ends
   * comes here, and only the first call for a stream counts.
   */
  #release(c: ReadableStreamDefaultController<Uint8Array>): void {
    const slot = this.#clients.get(c);
    if (!slot) return;
    this.#clients.delete(c);
    const left = (this.#held.get(slot.key) ?? 1) - 1;
    if (left > 0) this.#held.set(slot.key, left);
    else this.#held.delete(slot.key);
  }

  #drop(c: ReadableStreamDefaultController<Uint8Array>): void {
    this.#release(c);
    // error(), not close(): it discards what is queued and aborts the
    // connection, so a reader that stopped reading holds no memory, no
    // socket, and does not hold up a shutdown.
    try {
      c.error(new EventStreamClosed("event stream closed"));
    } catch { /* already closed or errored */ }
  }
}

function frame(event: string, data: string): Uint8Array {
  const safe = (s: string) => s.replace(/[\r\n]+/g, " ");
  return encoder.encode(`event: ${safe(event)}\ndata: ${safe(data)}\n\n`);
}
