/**
 * The storage interface: how sessions get bytes to send and put bytes
 * received. Implement it to serve in-memory or generated content without
 * touching protocol code.
 *
 * @module
 */

/** Who asks for a file, and how. */
export interface RequestInfo {
  /** Client address (IPv4-mapped IPv6 already turned into IPv4). */
  hostname: string;
  /** Client port. */
  port: number;
  /** Transfer mode (`octet` or `netascii`). */
  mode: string;
}

/** An open file (or generated content) being read. */
export interface ReadHandle {
  /**
   * Size in bytes when known (enables the tsize option); `undefined` when
   * the content is generated on the fly.
   */
  readonly size?: number;
  /**
   * Copies bytes starting at `offset` into `buf`, filling it unless the end
   * is reached. Returns how many bytes were copied (0 at the end). May be
   * synchronous (fast path) or return a promise.
   */
  read(offset: number, buf: Uint8Array): number | Promise<number>;
  /** Releases the handle. */
  close(): void;
}

/** An upload in progress. Nothing is visible until {@linkcode WriteHandle.commit}. */
export interface WriteHandle {
  /** Appends bytes. Throw to fail the upload (the client gets ERROR 3). */
  write(data: Uint8Array): void | Promise<void>;
  /**
   * Publishes the upload. Throw a `TftpError` (e.g. ERROR 6 when
   * the name appeared meanwhile) to refuse it; nothing may be left behind.
   */
  commit(): Promise<void>;
  /** Discards the upload, leaving nothing behind. */
  abort(): Promise<void>;
}

/**
 * Where a server reads and writes files. Methods throw a `TftpError`
 * carrying the code to send (1 not found, 2 access violation, 6 exists...).
 */
export interface Storage {
  /** Opens `name` (as sent by the client) for reading. */
  openRead(name: string, info: RequestInfo): Promise<ReadHandle>;
  /** Prepares an upload to `name`; must refuse an existing file (ERROR 6). */
  openWrite(name: string, info: RequestInfo): Promise<WriteHandle>;
  /**
   * What it serves in a few words, for the server's "listening" line (e.g.
   * `root /srv/tftp (read-only)`); without it the line says "custom
   * storage".
   */
  describe?(): string;
}
