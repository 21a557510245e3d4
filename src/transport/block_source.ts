/**
 * Block sources: give a sending session the payload of block n, in octet
 * (random access straight from the handle) or netascii (converted stream,
 * with the blocks of the current window kept for retransmits).
 *
 * @module
 */

import { NetasciiEncoder, netasciiLength } from "../protocol/netascii.ts";
import type { ReadHandle } from "../storage/types.ts";

/** Payload of numbered blocks (absolute numbers from 1). */
export interface BlockSource {
  /**
   * Copies block `block`'s payload into `buf` (blksize bytes long) and
   * returns its length; shorter than blksize means it is the last block.
   */
  read(block: number, buf: Uint8Array): number | Promise<number>;
  /** Blocks below `block` will not be asked for again. */
  release(block: number): void;
}

/**
 * Octet mode: block n is bytes `(n-1)*blksize ..` of the handle.
 *
 * @example
 * ```ts
 * import { OctetBlockSource } from "./block_source.ts";
 * import { BytesReadHandle } from "../storage/memory.ts";
 * const src = new OctetBlockSource(new BytesReadHandle(new Uint8Array(600)), 512);
 * if (src.read(2, new Uint8Array(512)) !== 88) throw new Error();
 * ```
 */
export class OctetBlockSource implements BlockSource {
  #handle: ReadHandle;
  #blksize: number;

  /**
   * Blocks of `blksize` bytes read from `handle`.
   *
   * @param handle Where the bytes come from.
   * @param blksize Payload bytes per block.
   */
  constructor(handle: ReadHandle, blksize: number) {
    this.#handle = handle;
    this.#blksize = blksize;
  }

  /**
   * Reads one block.
   *
   * @param block Absolute block number (from 1).
   * @param buf Destination, blksize bytes.
   * @returns Payload length.
   */
  read(block: number, buf: Uint8Array): number | Promise<number> {
    return this.#handle.read((block - 1) * this.#blksize, buf);
  }

  /** Nothing is cached in octet mode. */
  release(): void {}
}

/**
 * Netascii mode: the converted stream is cut into blocks in order; blocks
 * not yet released are kept so a window can be sent again.
 */
export class NetasciiBlockSource implements BlockSource {
  #handle: ReadHandle;
  #blksize: number;
  #encoder = new NetasciiEncoder();
  #blocks = new Map<number, Uint8Array>();
  #produced = 0;
  #offset = 0;
  #pending: Uint8Array = new Uint8Array(0);
  #eof = false;
  #chunk: Uint8Array;
  #producing?: Promise<void>;

  /**
   * Blocks of `blksize` bytes of `handle`'s text converted to netascii.
   *
   * @param handle Where the local text comes from.
   * @param blksize Payload bytes per block.
   */
  constructor(handle: ReadHandle, blksize: number) {
    this.#handle = handle;
    this.#blksize = blksize;
    this.#chunk = new Uint8Array(Math.max(blksize, 4096));
  }

  async #produce(): Promise<void> {
    while (this.#pending.length < this.#blksize && !this.#eof) {
      let n = this.#handle.read(this.#offset, this.#chunk);
      if (typeof n !== "number") n = await n;
      if (n === 0) {
        this.#eof = true;
        break;
      }
      this.#offset += n;
      const enc = this.#encoder.encode(this.#chunk.subarray(0, n));
      const merged = new Uint8Array(this.#pending.length + enc.length);
      merged.set(this.#pending);
      merged.set(enc, this.#pending.length);
      this.#pending = merged;
    }
    const take = Math.min(this.#blksize, this.#pending.length);
    this.#blocks.set(++this.#produced, this.#pending.slice(0, take));
    this.#pending = this.#pending.subarray(take);
  }

  /**
   * Reads one block (converting on first use). Calls may overlap (a whole
   * window at once): the conversion runs once, in order.
   *
   * @param block Absolute block number (from 1).
   * @param buf Destination, blksize bytes.
   * @returns Payload length.
   */
  async read(block: number, buf: Uint8Array): Promise<number> {
    while (this.#produced < block) {
      // One conversion at a time: callers reading a window at once would
      // otherwise read the same offset twice and number blocks out of order.
      this.#producing ??= this.#produce().finally(() => {
        this.#producing = undefined;
      });
      await this.#producing;
    }
    const data = this.#blocks.get(block);
    if (!data) throw new Error(`netascii block ${block} was released`);
    buf.set(data);
    return data.length;
  }

  /**
   * Forgets blocks below `block`.
   *
   * @param block First block still needed.
   */
  release(block: number): void {
    for (const k of this.#blocks.keys()) {
      if (k < block) this.#blocks.delete(k);
    }
  }
}

/**
 * Computes the netascii size of a handle's content by reading it through.
 *
 * @example
 * ```ts
 * import { netasciiSize } from "./block_source.ts";
 * import { BytesReadHandle } from "../storage/memory.ts";
 * const text = new TextEncoder().encode("a\nb");
 * if (await netasciiSize(new BytesReadHandle(text)) !== 4) throw new Error();
 * ```
 *
 * @param handle Content to measure.
 * @param limit Give up (return undefined) above this many local bytes,
 * known from the size or found while reading.
 * @returns Netascii size, or undefined when unknown or too large.
 */
export async function netasciiSize(
  handle: ReadHandle,
  limit = 64 * 1024 * 1024,
): Promise<number | undefined> {
  if (handle.size === undefined || handle.size > limit) return undefined;
  const buf = new Uint8Array(65536);
  let total = 0;
  let offset = 0;
  for (;;) {
    let n = handle.read(offset, buf);
    if (typeof n !== "number") n = await n;
    if (n === 0) break;
    offset += n;
    // The file may have grown since it was opened: the limit, not the size
    // seen at open, bounds the work.
    if (offset > limit) return undefined;
    total += netasciiLength(buf.subarray(0, n));
  }
  return total;
}
