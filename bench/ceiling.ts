/**
 * The ceiling: the least a Deno TFTP responder can do per block, run in the
 * comparison beside the real servers so every scenario reports how close
 * ours comes to what Deno allows in one thread.
 *
 * It keeps each served file whole in memory (read once, shared by every
 * transfer), opens one socket per transfer, and does nothing else: no
 * timers (the client's own retransmits drive recovery), no name or
 * permission checks beyond staying inside the root, no logging, one thread.
 * It answers blksize, windowsize and tsize (so it can serve every read
 * scenario) and takes uploads. Never expose it: it is a measuring stick.
 *
 * ```sh
 * deno run --allow-net --allow-read=ROOT --allow-write=ROOT bench/ceiling.ts \
 *   --root ROOT [--host 127.0.0.1] [--port 6969]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";

const OP_RRQ = 1;
const OP_WRQ = 2;
const OP_DATA = 3;
const OP_ACK = 4;
const OP_ERROR = 5;
const OP_OACK = 6;
const MAX_BLKSIZE = 65464;
const MAX_WINDOWSIZE = 65535;

/** Where and what the ceiling serves. */
export interface CeilingOptions {
  /** Directory served (and written by uploads). */
  root: string;
  /** Listening address. @default "127.0.0.1" */
  host?: string;
  /** Listening port; 0 picks one. @default 6969 */
  port?: number;
}

/** A running ceiling responder. */
export interface Ceiling {
  /** The port it listens on. */
  port: number;
  /** Stops listening (transfers in flight end with their sockets). */
  close(): void;
  /** Resolves when the listening loop has ended. */
  done: Promise<void>;
}

interface Request {
  op: number;
  name: string;
  options: Map<string, string>;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

function parseRequest(d: Uint8Array): Request | undefined {
  if (d.length < 4 || d[0] !== 0 || (d[1] !== OP_RRQ && d[1] !== OP_WRQ)) {
    return undefined;
  }
  const fields = decoder.decode(d.subarray(2)).split("\0");
  const options = new Map<string, string>();
  for (let i = 2; i + 1 < fields.length; i += 2) {
    options.set(fields[i].toLowerCase(), fields[i + 1]);
  }
  return { op: d[1], name: fields[0], options };
}

function errorPacket(code: number, msg: string): Uint8Array {
  const text = encoder.encode(msg);
  const p = new Uint8Array(5 + text.length);
  p[1] = OP_ERROR;
  p[3] = code;
  p.set(text, 4);
  return p;
}

function oackPacket(granted: [string, string][]): Uint8Array {
  const body = encoder.encode(granted.map(([k, v]) => `${k}\0${v}\0`).join(""));
  const p = new Uint8Array(2 + body.length);
  p[1] = OP_OACK;
  p.set(body, 2);
  return p;
}

function clampOption(
  options: Map<string, string>,
  key: string,
  min: number,
  max: number,
): number | undefined {
  const v = options.get(key);
  if (v === undefined || !/^\d+$/.test(v)) return undefined;
  return Math.max(min, Math.min(max, Number(v)));
}

/** Blocks `base`..`base + ws - 1` (absolute numbers) into one reused buffer each. */
async function sendWindow(
  sock: Deno.DatagramConn,
  to: Deno.Addr,
  file: Uint8Array,
  at: { base: number; ws: number; blksize: number; last: number },
  bufs: Uint8Array[],
): Promise<void> {
  const end = Math.min(at.base + at.ws - 1, at.last);
  let last: Promise<number> | undefined;
  for (let n = at.base, i = 0; n <= end; n++, i++) {
    const off = (n - 1) * at.blksize;
    const len = Math.max(0, Math.min(at.blksize, file.length - off));
    const p = bufs[i];
    p[2] = (n >> 8) & 0xff;
    p[3] = n & 0xff;
    p.set(file.subarray(off, off + len), 4);
    last = sock.send(len === at.blksize ? p : p.subarray(0, 4 + len), to);
  }
  await last;
}

async function serveRead(
  sock: Deno.DatagramConn,
  to: Deno.Addr,
  file: Uint8Array,
  req: Request,
): Promise<void> {
  const blksize = clampOption(req.options, "blksize", 8, MAX_BLKSIZE);
  const ws = clampOption(req.options, "windowsize", 1, MAX_WINDOWSIZE);
  const granted: [string, string][] = [];
  if (blksize !== undefined) granted.push(["blksize", String(blksize)]);
  if (ws !== undefined) granted.push(["windowsize", String(ws)]);
  if (req.options.has("tsize")) granted.push(["tsize", String(file.length)]);
  const at = {
    base: 1,
    ws: ws ?? 1,
    blksize: blksize ?? 512,
    last: Math.floor(file.length / (blksize ?? 512)) + 1,
  };
  const bufs = Array.from({ length: Math.min(at.ws, at.last) }, () => {
    const p = new Uint8Array(4 + at.blksize);
    p[1] = OP_DATA;
    return p;
  });
  const rx = new Uint8Array(516);
  // ACK 0 answers the OACK; without options the first window goes at once.
  if (granted.length > 0) await sock.send(oackPacket(granted), to);
  else await sendWindow(sock, to, file, at, bufs);
  for (;;) {
    const [d] = await sock.receive(rx);
    if (d.length < 4 || d[1] !== OP_ACK) {
      if (d[1] === OP_ERROR) return;
      continue;
    }
    // The ACK names a block of the window in flight (16 bits, rolling over)
    // or repeats the one before it (the client's timeout): resend from it.
    const delta = (((d[2] << 8) | d[3]) - (at.base - 1)) & 0xffff;
    if (delta > at.ws) continue;
    at.base += delta;
    if (at.base > at.last) return;
    await sendWindow(sock, to, file, at, bufs);
  }
}

async function serveWrite(
  sock: Deno.DatagramConn,
  to: Deno.Addr,
  path: string,
  req: Request,
): Promise<void> {
  const blksize = clampOption(req.options, "blksize", 8, MAX_BLKSIZE);
  const ws = clampOption(req.options, "windowsize", 1, MAX_WINDOWSIZE);
  const granted: [string, string][] = [];
  if (blksize !== undefined) granted.push(["blksize", String(blksize)]);
  if (ws !== undefined) granted.push(["windowsize", String(ws)]);
  const size = req.options.get("tsize");
  if (size !== undefined) granted.push(["tsize", size]);
  const bs = blksize ?? 512;
  const window = ws ?? 1;
  const ack = new Uint8Array(4);
  ack[1] = OP_ACK;
  const sendAck = (n: number) => {
    ack[2] = (n >> 8) & 0xff;
    ack[3] = n & 0xff;
    return sock.send(ack, to);
  };
  // Each block goes to the file as it comes (a synchronous write costs a
  // few microseconds); the final ACK leaves once the file is closed.
  const file = Deno.openSync(path, {
    write: true,
    create: true,
    truncate: true,
  });
  try {
    if (granted.length > 0) await sock.send(oackPacket(granted), to);
    else await sendAck(0);
    const rx = new Uint8Array(4 + bs + 1);
    let got = 0; // absolute number of the last block received in order
    let inWindow = 0;
    let answered = -1; // the position a gap was last ACKed at
    for (;;) {
      const [d] = await sock.receive(rx);
      if (d.length < 4 || d[1] !== OP_DATA) {
        if (d[1] === OP_ERROR) return;
        continue;
      }
      const n = (d[2] << 8) | d[3];
      if (n !== ((got + 1) & 0xffff)) {
        // A gap or a resent window: say where we are, once.
        if (answered !== got) {
          answered = got;
          inWindow = 0;
          await sendAck(got & 0xffff);
        }
        continue;
      }
      got++;
      for (let off = 4; off < d.length;) off += file.writeSync(d.subarray(off));
      const final = d.length - 4 < bs;
      if (final || ++inWindow >= window) {
        inWindow = 0;
        if (final) file.close();
        await sendAck(n);
        if (final) return;
      }
    }
  } finally {
    try {
      file.close();
    } catch { /* closed after the final block */ }
  }
}

/**
 * Starts the ceiling responder.
 *
 * @example Serve a directory on a free port, then stop
 * ```ts
 * import { startCeiling } from "./ceiling.ts";
 * const root = Deno.makeTempDirSync();
 * const c = startCeiling({ root, port: 0 });
 * if (c.port === 0) throw new Error("no port");
 * c.close();
 * await c.done;
 * Deno.removeSync(root);
 * ```
 *
 * @param options Root, host and port.
 * @returns The running responder.
 */
export function startCeiling(options: CeilingOptions): Ceiling {
  const host = options.host ?? "127.0.0.1";
  const listener = Deno.listenDatagram({
    transport: "udp",
    hostname: host,
    port: options.port ?? 6969,
  });
  const root = Deno.realPathSync(options.root);
  const files = new Map<string, Uint8Array>();
  const transfer = async (req: Request, to: Deno.Addr) => {
    const sock = Deno.listenDatagram({
      transport: "udp",
      hostname: host,
      port: 0,
    });
    try {
      const path = `${root}/${req.name.replace(/^\/+/, "")}`;
      if (req.name.split("/").includes("..")) {
        await sock.send(errorPacket(2, "access violation"), to);
      } else if (req.op === OP_WRQ) {
        files.delete(path);
        await serveWrite(sock, to, path, req);
      } else {
        // Read once, whole (the comparison warms the ceiling with the
        // scenario's file, so this is not measured).
        let data = files.get(path);
        if (!data) {
          try {
            data = Deno.readFileSync(path);
          } catch {
            await sock.send(errorPacket(1, "file not found"), to);
            return;
          }
          files.set(path, data);
        }
        await serveRead(sock, to, data, req);
      }
    } catch {
      /* the socket was closed or the peer went away */
    } finally {
      sock.close();
    }
  };
  const done = (async () => {
    const buf = new Uint8Array(1024);
    for (;;) {
      let d: Uint8Array;
      let from: Deno.Addr;
      try {
        [d, from] = await listener.receive(buf);
      } catch {
        return;
      }
      const req = parseRequest(d);
      if (req) transfer(req, from);
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    close: () => listener.close(),
    done,
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      root: { type: "string" },
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string", short: "p", default: "6969" },
    },
  });
  if (!values.root) {
    console.error("usage: ceiling.ts --root DIR [--host ADDR] [--port N]");
    Deno.exit(2);
  }
  const c = startCeiling({
    root: values.root,
    host: values.host,
    port: Number(values.port),
  });
  await c.done;
}
