/**
 * Disk trouble: when storing an upload fails (a full disk, an I/O error at
 * commit), the client gets an ERROR (3 for a failed write), the upload is
 * aborted, and nothing is left in the root: no target, no temporary file.
 */

import assert from "node:assert/strict";
import { TftpClientError, tftpPut } from "../../src/client/client.ts";
import { ErrorCode } from "../../src/protocol/packet.ts";
import { FsStorage } from "../../src/storage/files.ts";
import type {
  ReadHandle,
  RequestInfo,
  Storage,
  WriteHandle,
} from "../../src/storage/types.ts";
import { startHarness } from "./harness.ts";

/** Where a {@linkcode FaultyStorage} fails. */
type Fault =
  | { at: "write"; afterBytes: number; async: boolean }
  | { at: "commit" };

/** FsStorage whose uploads fail as told, counting calls. */
class FaultyStorage implements Storage {
  readonly inner: FsStorage;
  readonly fault: Fault;
  readonly calls = { write: 0, commit: 0, abort: 0 };

  constructor(root: string, fault: Fault) {
    this.inner = new FsStorage(root);
    this.fault = fault;
  }

  openRead(name: string, _info: RequestInfo): Promise<ReadHandle> {
    return this.inner.openRead(name);
  }

  async openWrite(name: string, _info: RequestInfo): Promise<WriteHandle> {
    const w = await this.inner.openWrite(name);
    const calls = this.calls;
    const fault = this.fault;
    let bytes = 0;
    return {
      write(data: Uint8Array): void | Promise<void> {
        calls.write++;
        bytes += data.length;
        if (fault.at === "write" && bytes > fault.afterBytes) {
          const err = new Error("ENOSPC: no space left on device");
          if (fault.async) return Promise.reject(err);
          throw err;
        }
        return w.write(data);
      },
      commit(): Promise<void> {
        calls.commit++;
        if (fault.at === "commit") {
          return Promise.reject(new Error("EIO: input/output error"));
        }
        return w.commit();
      },
      abort(): Promise<void> {
        calls.abort++;
        return w.abort();
      },
    };
  }
}

async function upload(
  port: number,
  name: string,
  size: number,
): Promise<TftpClientError> {
  try {
    await tftpPut(name, {
      host: "127.0.0.1",
      port,
      data: new Uint8Array(size).fill(9),
      retransmitMs: 200,
    });
  } catch (err) {
    if (err instanceof TftpClientError) return err;
    throw err;
  }
  throw new Error("the upload succeeded");
}

for (
  const fault of [
    { at: "write", afterBytes: 3000, async: false },
    { at: "write", afterBytes: 3000, async: true },
    { at: "write", afterBytes: 0, async: false },
  ] as const
) {
  Deno.test(`disk: a write that fails (${fault.async ? "rejects" : "throws"} after ${fault.afterBytes} bytes) gets ERROR 3 and leaves nothing`, async () => {
    let storage: FaultyStorage | undefined;
    await using h = await startHarness({
      storageFor: (root) => (storage = new FaultyStorage(root, fault)),
    });
    const err = await upload(h.port, "full.bin", 10 * 512 + 1);
    assert.equal(err.code, ErrorCode.DISK_FULL, err.message);
    assert.match(err.message, /no space left/);
    const stats = await h.waitForTransfer((s) => s.filename === "full.bin");
    assert.equal(stats.outcome, "error");
    await h.server.close();
    assert.deepEqual(storage!.calls.commit, 0, "commit was called");
    assert.ok(storage!.calls.abort >= 1, "abort was not called");
    assert.deepEqual(await h.list(h.root), [], "files left in the root");
  });
}

Deno.test("disk: a commit that fails gets an ERROR instead of the last ACK and leaves nothing", async () => {
  let storage: FaultyStorage | undefined;
  await using h = await startHarness({
    storageFor: (root) => (storage = new FaultyStorage(root, { at: "commit" })),
  });
  const err = await upload(h.port, "eio.bin", 3 * 512 + 7);
  // ERROR 3 with the reason, where the ACK of the last block would be.
  assert.equal(err.code, ErrorCode.DISK_FULL, err.message);
  assert.equal(
    err.message,
    'server error 3: "could not store the upload: EIO: input/output error"',
  );
  const stats = await h.waitForTransfer((s) => s.filename === "eio.bin");
  assert.equal(stats.outcome, "error");
  assert.equal(stats.bytes, 3 * 512 + 7, "every block was taken");
  await h.server.close();
  assert.equal(storage!.calls.commit, 1);
  assert.ok(storage!.calls.abort >= 1, "abort was not called");
  assert.deepEqual(await h.list(h.root), [], "files left in the root");
});

Deno.test("disk: an upload over maxUpload gets ERROR 3 mid-transfer and leaves nothing", async () => {
  await using h = await startHarness({ maxUpload: 4000 });
  const err = await upload(h.port, "big.bin", 20 * 512);
  assert.equal(err.code, ErrorCode.DISK_FULL, err.message);
  await h.server.close();
  assert.deepEqual(await h.list(h.root), [], "files left in the root");
});
