/**
 * Micro-benchmarks of reading one block for sending: octet from a real file
 * (seek + read into the packet buffer), octet from memory, and netascii.
 *
 * @module
 */

import {
  NetasciiBlockSource,
  OctetBlockSource,
} from "../src/transport/block_source.ts";
import { FsStorage } from "../src/storage/files.ts";
import { BytesReadHandle } from "../src/storage/memory.ts";

const SIZE = 4 * 1024 * 1024;
const BLK = 1468;
const blocks = Math.floor(SIZE / BLK);
const dir = Deno.makeTempDirSync({ prefix: "tftpd-bench-" });
const content = new Uint8Array(SIZE).map((_, i) => (i * 31) & 0xff);
Deno.writeFileSync(`${dir}/f.bin`, content);
const text = new TextEncoder().encode(
  "menu label Boot from disk\n".repeat(SIZE / 26),
);
Deno.writeFileSync(`${dir}/t.txt`, text);
globalThis.addEventListener("unload", () => {
  Deno.removeSync(dir, { recursive: true });
});

const storage = await FsStorage.open(dir, { writable: false });
const fileHandle = await storage.openRead("f.bin");
const fileSource = new OctetBlockSource(fileHandle, BLK);
const memSource = new OctetBlockSource(new BytesReadHandle(content), BLK);
const buf = new Uint8Array(BLK);
let seq = 1;
let rnd = 1;

Deno.bench("octet file, sequential block", { group: "octet" }, async () => {
  const n = fileSource.read(seq, buf);
  if (typeof n !== "number") await n;
  seq = seq >= blocks ? 1 : seq + 1;
});

Deno.bench("octet file, random block (seek)", { group: "octet" }, async () => {
  rnd = (rnd * 48271) % 2147483647;
  const n = fileSource.read(1 + (rnd % blocks), buf);
  if (typeof n !== "number") await n;
});

Deno.bench("octet memory, sequential block", {
  group: "octet",
  baseline: true,
}, async () => {
  const n = memSource.read(seq, buf);
  if (typeof n !== "number") await n;
  seq = seq >= blocks ? 1 : seq + 1;
});

Deno.bench("netascii file, 64 blocks in order", {
  group: "netascii",
}, async () => {
  const h = await storage.openRead("t.txt");
  const src = new NetasciiBlockSource(h, BLK);
  for (let b = 1; b <= 64; b++) {
    await src.read(b, buf);
    src.release(b);
  }
  h.close();
});
