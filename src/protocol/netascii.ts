/**
 * Streaming netascii conversion (RFC 764 as used by RFC 1350).
 *
 * Local text uses LF line ends. On the wire a line end is CR LF and a bare CR
 * is CR NUL. Both converters keep state between chunks, so a CR at the end
 * of one block and its partner at the start of the next are handled right.
 *
 * @module
 */

const CR = 13;
const LF = 10;
const NUL = 0;

/**
 * Converts local bytes to netascii, chunk by chunk.
 *
 * @example
 * ```ts
 * import { NetasciiEncoder } from "./netascii.ts";
 * const enc = new NetasciiEncoder();
 * const out = enc.encode(new TextEncoder().encode("a\nb\r"));
 * // out: "a\r\nb\r\0"
 * if (out.length !== 6) throw new Error();
 * ```
 */
export class NetasciiEncoder {
  /**
   * Converts one chunk.
   *
   * @param input Local bytes.
   * @returns Netascii bytes (a new array).
   */
  encode(input: Uint8Array): Uint8Array {
    let extra = 0;
    for (let i = 0; i < input.length; i++) {
      const b = input[i];
      if (b === LF || b === CR) extra++;
    }
    if (extra === 0) return input.slice();
    const out = new Uint8Array(input.length + extra);
    let o = 0;
    for (let i = 0; i < input.length; i++) {
      const b = input[i];
      if (b === LF) {
        out[o++] = CR;
        out[o++] = LF;
      } else if (b === CR) {
        out[o++] = CR;
        out[o++] = NUL;
      } else {
        out[o++] = b;
      }
    }
    return out;
  }
}

/**
 * Counts the bytes that `data` takes on the wire in netascii.
 *
 * @example
 * ```ts
 * import { netasciiLength } from "./netascii.ts";
 * // LF becomes CR LF, CR becomes CR NUL.
 * if (netasciiLength(new TextEncoder().encode("a\nb\r")) !== 6) throw new Error();
 * ```
 *
 * @param data Local bytes.
 * @returns The netascii length.
 */
export function netasciiLength(data: Uint8Array): number {
  let n = data.length;
  for (let i = 0; i < data.length; i++) {
    const b = data[i];
    if (b === LF || b === CR) n++;
  }
  return n;
}

/**
 * Converts netascii from the wire to local bytes, chunk by chunk.
 *
 * CR LF becomes LF, CR NUL becomes CR; a CR followed by anything else is kept
 * as it is (lenient towards clients that send bare CRs).
 *
 * @example
 * ```ts
 * import { NetasciiDecoder } from "./netascii.ts";
 * const dec = new NetasciiDecoder();
 * const a = dec.decode(new Uint8Array([65, 13]));      // "A", CR held back
 * const b = dec.decode(new Uint8Array([10, 66]));      // "\nB"
 * if (a.length + b.length !== 3) throw new Error();
 * ```
 */
export class NetasciiDecoder {
  #pendingCr = false;

  /**
   * Converts one chunk. A trailing CR is held until the next chunk or
   * {@linkcode NetasciiDecoder.flush}.
   *
   * @param input Netascii bytes.
   * @returns Local bytes (a new array).
   */
  decode(input: Uint8Array): Uint8Array {
    const out = new Uint8Array(input.length + 1);
    let o = 0;
    let i = 0;
    if (this.#pendingCr && input.length > 0) {
      this.#pendingCr = false;
      const b = input[0];
      if (b === LF) {
        out[o++] = LF;
        i = 1;
      } else if (b === NUL) {
        out[o++] = CR;
        i = 1;
      } else {
        out[o++] = CR;
      }
    }
    for (; i < input.length; i++) {
      const b = input[i];
      if (b !== CR) {
        out[o++] = b;
        continue;
      }
      if (i + 1 === input.length) {
        this.#pendingCr = true;
        break;
      }
      const next = input[i + 1];
      if (next === LF) {
        out[o++] = LF;
        i++;
      } else if (next === NUL) {
        out[o++] = CR;
        i++;
      } else {
        out[o++] = CR;
      }
    }
    return out.subarray(0, o);
  }

  /**
   * Ends the stream: returns a held-back CR, if any.
   *
   * @returns The remaining local bytes.
   */
  flush(): Uint8Array {
    if (!this.#pendingCr) return new Uint8Array(0);
    this.#pendingCr = false;
    return new Uint8Array([CR]);
  }
}
