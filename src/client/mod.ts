/**
 * The TFTP client library: {@linkcode tftpGet} and {@linkcode tftpPut},
 * on the same transfer machines and driver as the server.
 *
 * @example Fetch a file into memory
 * ```ts ignore
 * import { tftpGet } from "./mod.ts";
 * const parts: Uint8Array[] = [];
 * await tftpGet("boot.ipxe", { host: "10.0.0.1", sink: { write: (d) => void parts.push(d.slice()) } });
 * ```
 *
 * @module
 */

export {
  type ByteSink,
  type ClientErrorKind,
  type ClientOptions,
  type ClientResult,
  TftpClientError,
  tftpGet,
  tftpPut,
} from "./client.ts";
