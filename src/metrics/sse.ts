/**
 * Server-sent events for the live page, bounded three ways: at most `limit`
 * streams at once, a stream whose reader falls `backlog` messages behind is
 * closed instead of queueing without end, and no stream lasts longer than
 * `lifetimeMs`: the page then opens a new one.
 *
 * @module
 */

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
 * const reader = hub.open()!.getReader();
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
  /** Messages queued for a slow reader before its stream is closed. @default {4} */
  backlog?: number;
  /** Reconnection delay suggested to browsers, in ms. @default {2000} */
  retryMs?: number;
  /**
   * How long a stream lasts, in ms, before it gets a `renew` event and ends
   * (checked at each broadcast and when a stream is asked for while `limit`
   * are open). @default {STREAM_LIFETIME_MS}
   */
  lifetimeMs?: number;
  /** The clock, in ms. @default {performance.now} */
  now?: () => number;
}

/**
 * Fans one message out to every open event stream.
 *
 * @example
 * ```ts
 * import { EventHub } from "./sse.ts";
 * const hub = new EventHub({ limit: 1 });
 * const stream = hub.open()!;
 * if (hub.open() !== undefined) throw new Error("over the limit");
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
  #backlog: number;
  #lifetimeMs: number;
  #now: () => number;
  #retry: Uint8Array;
  #renew = frame("renew", "{}");
  /** Each open stream's controller, and when it is to be renewed. */
  #clients = new Map<ReadableStreamDefaultController<Uint8Array>, number>();

  /**
   * Creates a hub with no streams.
   *
   * @param options Bounds and retry delay.
   */
  constructor(options: EventHubOptions = {}) {
    this.limit = Math.max(0, options.limit ?? 16);
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
   * Opens a stream, or returns undefined when `limit` are open (and none is
   * past its lifetime).
   *
   * @param first A message (event name and data) queued at once.
   * @returns The stream to send as a response body.
   */
  open(first?: [string, string]): ReadableStream<Uint8Array> | undefined {
    const now = this.#now();
    if (this.#clients.size >= this.limit) {
      for (const [c, until] of [...this.#clients]) {
        if (now >= until) this.#end(c);
      }
    }
    if (this.#clients.size >= this.limit) return undefined;
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const stream = new ReadableStream<Uint8Array>({
      start: (c) => {
        controller = c;
      },
      cancel: () => {
        this.#clients.delete(controller);
      },
    }, new CountQueuingStrategy({ highWaterMark: this.#backlog }));
    this.#clients.set(controller, now + this.#lifetimeMs);
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
    for (const [c, until] of [...this.#clients]) {
      if ((c.desiredSize ?? 0) <= 0) {
        this.#drop(c);
      } else if (now >= until) {
        this.#end(c);
      } else {
        try {
          c.enqueue(bytes);
        } catch {
          this.#clients.delete(c);
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

  #drop(c: ReadableStreamDefaultController<Uint8Array>): void {
    this.#clients.delete(c);
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
