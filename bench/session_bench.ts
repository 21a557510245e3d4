/**
 * Micro-benchmark of a whole read session without sockets: a fake transport
 * answers each DATA with the ACK a client would send, so one iteration is
 * the server-side JavaScript cost of a 1 MiB transfer (715 blocks of 1468
 * bytes): pump loop, block read, header, send, ACK decode, sender step,
 * timer re-arm.
 *
 * @module
 */

import { Logger } from "../src/log.ts";
import { Opcode } from "../src/protocol/packet.ts";
import { DEFAULT_SESSION_CONFIG } from "../src/server/session.ts";
import { ReadSession } from "../src/server/read_session.ts";
import type { Transport } from "../src/transport/types.ts";
import { MemoryStorage } from "../src/storage/memory.ts";
import { FsStorage } from "../src/storage/files.ts";

const SIZE = 1024 * 1024;
const content = new Uint8Array(SIZE).map((_, i) => (i * 13) & 0xff);
const dir = Deno.makeTempDirSync({ prefix: "tftpd-bench-" });
Deno.writeFileSync(`${dir}/f.bin`, content);
globalThis.addEventListener("unload", () => {
  Deno.removeSync(dir, { recursive: true });
});
const memory = new MemoryStorage({ "f.bin": content });
const files = await FsStorage.open(dir, { writable: false });
const log = new Logger({ stderr: false });
const peer: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: 9 };

/** A client on the other end of a fake socket, ACKing as it should. */
class FakeClient implements Transport {
  readonly addr: Deno.Addr = {
    transport: "udp",
    hostname: "127.0.0.1",
    port: 10,
  };
  #queue: Uint8Array[] = [];
  #waiting?: (v: [Uint8Array, Deno.Addr]) => void;
  #fail?: (e: Error) => void;
  #blksize: number;
  #windowsize: number;

  constructor(blksize: number, windowsize: number) {
    this.#blksize = blksize;
    this.#windowsize = windowsize;
  }

  #push(p: Uint8Array): void {
    if (this.#waiting) {
      const w = this.#waiting;
      this.#waiting = undefined;
      w([p, peer]);
    } else {
      this.#queue.push(p);
    }
  }

  send(data: Uint8Array): Promise<number> {
    if (data[1] === Opcode.OACK) {
      this.#push(new Uint8Array([0, 4, 0, 0]));
    } else if (data[1] === Opcode.DATA) {
      const block = (data[2] << 8) | data[3];
      const last = data.length - 4 < this.#blksize;
      if (last || block % this.#windowsize === 0) {
        this.#push(new Uint8Array([0, 4, data[2], data[3]]));
      }
    }
    return Promise.resolve(data.length);
  }

  receive(): Promise<[Uint8Array, Deno.Addr]> {
    const p = this.#queue.shift();
    if (p) return Promise.resolve([p, peer]);
    return new Promise((resolve, reject) => {
      this.#waiting = resolve;
      this.#fail = reject;
    });
  }

  close(): void {
    this.#fail?.(new Deno.errors.Interrupted("closed"));
  }
}

async function serve(
  storage: MemoryStorage | FsStorage,
  windowsize: number,
): Promise<void> {
  const options = new Map([["blksize", "1468"]]);
  if (windowsize > 1) options.set("windowsize", String(windowsize));
  const session = new ReadSession({
    request: { op: Opcode.RRQ, filename: "f.bin", mode: "octet", options },
    peer,
    transport: new FakeClient(1468, windowsize),
    storage,
    config: DEFAULT_SESSION_CONFIG,
    log,
  });
  const stats = await session.run();
  if (stats.outcome !== "ok" || stats.bytes !== SIZE) {
    throw new Error(`transfer failed: ${stats.outcome} ${stats.error}`);
  }
}

Deno.bench("RRQ 1 MiB lock-step, memory storage", {
  group: "session",
  baseline: true,
}, async () => {
  await serve(memory, 1);
});

Deno.bench("RRQ 1 MiB lock-step, file storage", {
  group: "session",
}, async () => {
  await serve(files, 1);
});

Deno.bench("RRQ 1 MiB windowsize 16, file storage", {
  group: "session",
}, async () => {
  await serve(files, 16);
});
