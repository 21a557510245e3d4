/**
 * Server-sent events for the live page, bounded twice: at most `limit`
 * streams at once, and a stream whose reader falls `backlog` messages
 * behind is closed instead of queueing without end.
 *
 * @module
 */

const encoder = new TextEncoder();

/** Options of {@linkcode EventHub}. */
export interface EventHubOptions {
  /** Most open streams. @default {16} */
  limit?: number;
  /** Messages queued for a slow reader before its stream is closed. @default {4} */
  backlog?: number;
  /** Reconnection delay suggested to browsers, in ms. @default {2000} */
  retryMs?: number;
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
  #retry: Uint8Array;
  #clients = new Set<ReadableStreamDefaultController<Uint8Array>>();

  /**
   * Creates a hub with no streams.
   *
   * @param options Bounds and retry delay.
   */
  constructor(options: EventHubOptions = {}) {
    this.limit = Math.max(0, options.limit ?? 16);
    this.#backlog = Math.max(1, options.backlog ?? 4);
    this.#retry = encoder.encode(`retry: ${options.retryMs ?? 2000}\n\n`);
  }

  /** Streams open now. */
  get size(): number {
    return this.#clients.size;
  }

  /**
   * Opens a stream, or returns undefined when `limit` are open.
   *
   * @param first A message (event name and data) queued at once.
   * @returns The stream to send as a response body.
   */
  open(first?: [string, string]): ReadableStream<Uint8Array> | undefined {
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
    this.#clients.add(controller);
    controller.enqueue(this.#retry);
    if (first) controller.enqueue(frame(first[0], first[1]));
    return stream;
  }

  /**
   * Sends one event to every stream; a stream with `backlog` messages still
   * unread is closed.
   *
   * @param event Event name.
   * @param data One line of data (no line breaks).
   */
  broadcast(event: string, data: string): void {
    if (this.#clients.size === 0) return;
    const bytes = frame(event, data);
    for (const c of [...this.#clients]) {
      if ((c.desiredSize ?? 0) <= 0) {
        this.#drop(c);
        continue;
      }
      try {
        c.enqueue(bytes);
      } catch {
        this.#clients.delete(c);
      }
    }
  }

  /** Closes every stream. */
  close(): void {
    for (const c of [...this.#clients]) this.#drop(c);
  }

  #drop(c: ReadableStreamDefaultController<Uint8Array>): void {
    this.#clients.delete(c);
    // error(), not close(): it discards what is queued, so a reader that
    // stopped reading holds no memory and does not hold up a shutdown.
    try {
      c.error(new Error("event stream closed"));
    } catch { /* already closed or errored */ }
  }
}

function frame(event: string, data: string): Uint8Array {
  const safe = (s: string) => s.replace(/[\r\n]+/g, " ");
  return encoder.encode(`event: ${safe(event)}\ndata: ${safe(data)}\n\n`);
}
