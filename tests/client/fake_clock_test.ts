/**
 * The client library (`tftpGet`, `tftpPut`) on a FakeTransport and a
 * FakeClock, against a server scripted in the test: each datagram the
 * client sends is answered (or not) by a handler, and time passes only
 * when the test moves the clock. What is checked is what a user of the
 * library sees: the datagrams on the wire (and when), the bytes in the
 * sink, the result, the progress calls and the error.
 */

import assert from "node:assert/strict";
import {
  type ClientOptions,
  TftpClientError,
  tftpGet,
  tftpPut,
} from "../../src/client/client.ts";
import {
  decode,
  encodeAck,
  encodeData,
  encodeError,
  encodeOack,
  ErrorCode,
  Opcode,
  type Packet,
} from "../../src/protocol/packet.ts";
import type { ReadHandle } from "../../src/storage/types.ts";
import {
  elapse,
  FakeClock,
  FakeTransport,
  settle,
} from "../../testing/fake.ts";

const HOST = "127.0.0.1";
/** The server's listen port, where requests go. */
const LISTEN: Deno.NetAddr = { transport: "udp", hostname: HOST, port: 69 };
/** The server's transfer port, where its replies come from. */
const TID: Deno.NetAddr = { ...LISTEN, port: 50001 };
/** Another port on the server's host. */
const OTHER: Deno.NetAddr = { ...LISTEN, port: 50002 };

type Reply = [Uint8Array, Deno.NetAddr];

/**
 * A FakeTransport that hands each datagram the client sends to the
 * scripted server and delivers its replies, and records when each went out.
 */
class ScriptedTransport extends FakeTransport {
  readonly at: number[] = [];
  #clock: FakeClock;
  #serve: (p: Packet, to: Deno.NetAddr) => Reply[] | void;

  constructor(
    clock: FakeClock,
    serve: (p: Packet, to: Deno.NetAddr) => Reply[] | void = () => {},
  ) {
    super();
    this.#clock = clock;
    this.#serve = serve;
  }

  override send(data: Uint8Array, addr: Deno.NetAddr): Promise<number> {
    const sent = super.send(data, addr);
    if (this.closed) return sent;
    this.at.push(this.#clock.now());
    for (const [bytes, from] of this.#serve(decode(data), addr) ?? []) {
      queueMicrotask(() => this.inject(bytes, from));
    }
    return sent;
  }

  /** The datagrams sent, as text, with where they went. */
  get wire(): string[] {
    return this.sent.map(({ data, addr }) => {
      const p = decode(data);
      const to = addr.port === 69 ? "" : ` -> ${addr.port}`;
      switch (p.op) {
        case Opcode.RRQ:
        case Opcode.WRQ: {
          const o = [...p.options].map(([k, v]) => ` ${k}=${v}`).join("");
          return `${
            p.op === Opcode.RRQ ? "RRQ" : "WRQ"
          } ${p.filename} ${p.mode}${o}${to}`;
        }
        case Opcode.DATA:
          return `DATA ${p.block} (${p.data.length})${to}`;
        case Opcode.ACK:
          return `ACK ${p.block}${to}`;
        case Opcode.ERROR:
          return `ERROR ${p.code} ${p.message}${to}`;
      }
      return `OACK${to}`;
    });
  }
}

function pattern(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 13 + (i >> 8)) & 0xff;
  return out;
}

/** A sink that keeps what it is given. */
function collector() {
  const chunks: Uint8Array[] = [];
  return {
    sink: { write: (d: Uint8Array) => void chunks.push(d.slice()) },
    bytes: () => {
      const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
      let off = 0;
      for (const c of chunks) {
        out.set(c, off);
        off += c.length;
      }
      return out;
    },
  };
}

/** A scripted read server: DATA from `content` in windows of `w`. */
function readServer(
  content: Uint8Array,
  o: { blksize?: number; w?: number; oack?: Record<string, string> } = {},
) {
  const blksize = o.blksize ?? 512;
  const w = o.w ?? 1;
  const last = Math.floor(content.length / blksize) + 1;
  const block = (n: number): Reply => [
    encodeData(n, content.subarray((n - 1) * blksize, n * blksize)),
    TID,
  ];
  const windowFrom = (n: number): Reply[] => {
    const out: Reply[] = [];
    for (let b = n; b < n + w && b <= last; b++) out.push(block(b));
    return out;
  };
  return (p: Packet): Reply[] => {
    if (p.op === Opcode.RRQ) {
      return o.oack
        ? [[encodeOack(new Map(Object.entries(o.oack))), TID]]
        : windowFrom(1);
    }
    if (p.op === Opcode.ACK && p.block < last) return windowFrom(p.block + 1);
    return [];
  };
}

/** A scripted write server: ACKs each window; keeps what it gets. */
function writeServer(
  o: { w?: number; oack?: Record<string, string>; blksize?: number } = {},
) {
  const got: Uint8Array[] = [];
  const w = o.w ?? 1;
  const blksize = o.blksize ?? 512;
  const serve = (p: Packet): Reply[] => {
    if (p.op === Opcode.WRQ) {
      return [[
        o.oack ? encodeOack(new Map(Object.entries(o.oack))) : encodeAck(0),
        TID,
      ]];
    }
    if (p.op !== Opcode.DATA) return [];
    got.push(p.data.slice());
    const short = p.data.length < blksize;
    return p.block % w === 0 || short ? [[encodeAck(p.block), TID]] : [];
  };
  return { serve, got };
}

function setup(serve?: (p: Packet, to: Deno.NetAddr) => Reply[] | void) {
  const clock = new FakeClock();
  const transport = new ScriptedTransport(clock, serve);
  const opts: ClientOptions = { host: HOST, port: 69, transport, clock };
  return { clock, transport, opts };
}

/** Runs `p` while the fake clock moves `ms`; returns its result or error. */
async function within<T>(
  clock: FakeClock,
  ms: number,
  p: Promise<T>,
): Promise<T | TftpClientError> {
  const settled = p.catch((e) => e);
  await elapse(clock, ms);
  return await settled;
}

Deno.test('tftpGet retransmits its RRQ at each interval, then fails "timed out waiting for the server"', async () => {
  const { clock, transport, opts } = setup();
  const t0 = clock.now();
  const { sink } = collector();
  const err = await within(
    clock,
    10_000,
    tftpGet("boot.ipxe", { ...opts, sink, retries: 2, retransmitMs: 100 }),
  );
  assert.ok(err instanceof TftpClientError);
  assert.equal(err.message, "timed out waiting for the server");
  assert.equal(err.kind, "timeout");
  assert.equal(err.code, -1);
  assert.deepEqual(transport.wire, [
    "RRQ boot.ipxe octet",
    "RRQ boot.ipxe octet",
    "RRQ boot.ipxe octet",
  ]);
  assert.deepEqual(transport.at.map((t) => t - t0), [0, 100, 200]);
  assert.equal(transport.closed, true);
});

Deno.test("tftpGet by default sends its RRQ 6 times, 1000 ms apart, and gives up at 6000 ms", async () => {
  const { clock, transport, opts } = setup();
  const t0 = clock.now();
  const p = tftpGet("a", { ...opts, sink: collector().sink }).catch((e) => e);
  await elapse(clock, 5999);
  assert.equal(transport.closed, false);
  await elapse(clock, 1);
  const err = await p;
  assert.ok(err instanceof TftpClientError && err.kind === "timeout");
  assert.deepEqual(transport.at.map((t) => t - t0), [
    0,
    1000,
    2000,
    3000,
    4000,
    5000,
  ]);
});

Deno.test("tftpGet's timeout option sets its own retransmit interval", async () => {
  const { clock, transport, opts } = setup();
  const t0 = clock.now();
  const err = await within(
    clock,
    10_000,
    tftpGet("a", { ...opts, sink: collector().sink, timeout: 2, retries: 1 }),
  );
  assert.ok(err instanceof TftpClientError && err.kind === "timeout");
  assert.deepEqual(transport.wire, [
    "RRQ a octet timeout=2",
    "RRQ a octet timeout=2",
  ]);
  assert.deepEqual(transport.at.map((t) => t - t0), [0, 2000]);
});

Deno.test('tftpPut retransmits its WRQ at each interval, then fails "timed out waiting for the server"', async () => {
  const { clock, transport, opts } = setup();
  const t0 = clock.now();
  const err = await within(
    clock,
    10_000,
    tftpPut("up.bin", {
      ...opts,
      data: pattern(10),
      retries: 1,
      retransmitMs: 300,
    }),
  );
  assert.ok(err instanceof TftpClientError);
  assert.equal(err.message, "timed out waiting for the server");
  assert.deepEqual(transport.wire, ["WRQ up.bin octet", "WRQ up.bin octet"]);
  assert.deepEqual(transport.at.map((t) => t - t0), [0, 300]);
});

Deno.test("tftpGet without options takes DATA from the transfer port and ACKs to it", async () => {
  const content = pattern(1300);
  const { transport, opts } = setup(readServer(content));
  const out = collector();
  const progress: [number, number | undefined][] = [];
  const result = await tftpGet("f", {
    ...opts,
    sink: out.sink,
    onProgress: (n, total) => progress.push([n, total]),
  });
  assert.deepEqual(out.bytes(), content);
  assert.equal(result.bytes, 1300);
  assert.deepEqual(result.options, new Map());
  assert.equal(result.retransmits, 0);
  assert.deepEqual(transport.wire, [
    "RRQ f octet",
    "ACK 1 -> 50001",
    "ACK 2 -> 50001",
    "ACK 3 -> 50001",
  ]);
  assert.deepEqual(progress, [[512, undefined], [1024, undefined], [
    1300,
    undefined,
  ]]);
});

Deno.test("tftpGet accepts an OACK within its request, ACKs 0 and receives in windows", async () => {
  const content = pattern(3000);
  const { transport, opts } = setup(readServer(content, {
    blksize: 1024,
    w: 2,
    oack: { blksize: "1024", windowsize: "2", tsize: "3000" },
  }));
  const out = collector();
  const progress: [number, number | undefined][] = [];
  const result = await tftpGet("f", {
    ...opts,
    sink: out.sink,
    blksize: 1024,
    windowsize: 2,
    tsize: true,
    onProgress: (n, total) => progress.push([n, total]),
  });
  assert.deepEqual(out.bytes(), content);
  assert.deepEqual(transport.wire, [
    "RRQ f octet blksize=1024 windowsize=2 tsize=0",
    "ACK 0 -> 50001",
    "ACK 2 -> 50001",
    "ACK 3 -> 50001",
  ]);
  assert.deepEqual(
    result.options,
    new Map([["blksize", "1024"], ["windowsize", "2"], ["tsize", "3000"]]),
  );
  assert.deepEqual(progress, [[1024, 3000], [2048, 3000], [3000, 3000]]);
});

Deno.test("tftpGet refuses an OACK beyond its request: ERROR 8 to the transfer port, and fails", async () => {
  const { transport, opts } = setup(
    readServer(pattern(10), { oack: { blksize: "2048" } }),
  );
  const err = await tftpGet("f", {
    ...opts,
    sink: collector().sink,
    blksize: 1024,
  })
    .catch((e) => e);
  assert.ok(err instanceof TftpClientError);
  assert.equal(
    err.message,
    "server sent an unacceptable OACK: blksize 2048 out of range",
  );
  assert.equal(err.kind, "protocol");
  assert.deepEqual(transport.wire, [
    "RRQ f octet blksize=1024",
    "ERROR 8 bad OACK -> 50001",
  ]);
});

Deno.test("tftpPut accepts an OACK within its request and sends at its blksize", async () => {
  const content = pattern(2500);
  const server = writeServer({
    blksize: 1024,
    oack: { blksize: "1024", tsize: "2500" },
  });
  const { transport, opts } = setup(server.serve);
  const result = await tftpPut("f", {
    ...opts,
    data: content,
    blksize: 1024,
    tsize: true,
  });
  assert.deepEqual(transport.wire, [
    "WRQ f octet blksize=1024 tsize=2500",
    "DATA 1 (1024) -> 50001",
    "DATA 2 (1024) -> 50001",
    "DATA 3 (452) -> 50001",
  ]);
  assert.equal(result.bytes, 2500);
  assert.deepEqual(
    result.options,
    new Map([["blksize", "1024"], ["tsize", "2500"]]),
  );
});

Deno.test("tftpPut refuses an OACK with an option it did not ask for: ERROR 8, and fails", async () => {
  const server = writeServer({ oack: { windowsize: "4" } });
  const { transport, opts } = setup(server.serve);
  const err = await tftpPut("f", { ...opts, data: pattern(10) }).catch((e) =>
    e
  );
  assert.ok(err instanceof TftpClientError);
  assert.match(err.message, /option windowsize was not requested$/);
  assert.deepEqual(transport.wire, [
    "WRQ f octet",
    "ERROR 8 bad OACK -> 50001",
  ]);
  assert.equal(server.got.length, 0);
});

Deno.test("tftpGet locks onto the first reply's port: another port gets ERROR 5 and has no say", async () => {
  const content = pattern(700);
  const serve = readServer(content);
  const { transport, opts } = setup((p) => {
    const replies = serve(p);
    // Someone on the server's host answers too, from another port.
    if (p.op === Opcode.RRQ) replies.push([encodeData(1, pattern(3)), OTHER]);
    if (p.op === Opcode.ACK) {
      replies.push([encodeData(p.block + 1, pattern(3)), OTHER]);
    }
    return replies;
  });
  const out = collector();
  const result = await tftpGet("f", { ...opts, sink: out.sink });
  assert.deepEqual(out.bytes(), content);
  assert.equal(result.bytes, 700);
  assert.deepEqual(transport.wire, [
    "RRQ f octet",
    "ACK 1 -> 50001",
    "ERROR 5 unknown transfer ID -> 50002",
    "ACK 2 -> 50001",
  ]);
});

Deno.test("tftpGet never answers a stranger's ERROR, and goes on", async () => {
  const content = pattern(700);
  const serve = readServer(content);
  const { transport, opts } = setup((p) => {
    const replies = serve(p);
    if (p.op === Opcode.ACK && p.block === 1) {
      replies.unshift([encodeError(ErrorCode.UNKNOWN_TID, "who?"), OTHER]);
    }
    return replies;
  });
  const out = collector();
  await tftpGet("f", { ...opts, sink: out.sink });
  assert.deepEqual(out.bytes(), content);
  assert.deepEqual(transport.wire, [
    "RRQ f octet",
    "ACK 1 -> 50001",
    "ACK 2 -> 50001",
  ]);
});

Deno.test("tftpGet takes a reply from another host as a stranger's and keeps asking its server", async () => {
  const content = pattern(10);
  const serve = readServer(content);
  let requests = 0;
  const { clock, transport, opts } = setup((p) => {
    if (p.op === Opcode.RRQ && ++requests === 1) {
      return [[encodeData(1, pattern(3)), { ...TID, hostname: "127.0.0.2" }]];
    }
    return serve(p);
  });
  const out = collector();
  const result = await within(
    clock,
    5000,
    tftpGet("f", { ...opts, sink: out.sink }),
  );
  assert.ok(!(result instanceof Error), String(result));
  assert.deepEqual(out.bytes(), content);
  assert.deepEqual(transport.wire, [
    "RRQ f octet",
    "ERROR 5 unknown transfer ID -> 50001",
    "RRQ f octet",
    "ACK 1 -> 50001",
  ]);
  assert.equal(transport.sent[1].addr.hostname, "127.0.0.2");
});

Deno.test("tftpGet writes a duplicate DATA once and ACKs it again", async () => {
  const content = pattern(700);
  const serve = readServer(content);
  const { transport, opts } = setup((p) => {
    const replies = serve(p);
    return p.op === Opcode.RRQ ? [...replies, ...replies] : replies;
  });
  const out = collector();
  const result = await tftpGet("f", { ...opts, sink: out.sink });
  assert.deepEqual(out.bytes(), content);
  assert.equal(result.bytes, 700);
  assert.deepEqual(transport.wire, [
    "RRQ f octet",
    "ACK 1 -> 50001",
    "ACK 1 -> 50001",
    "ACK 2 -> 50001",
  ]);
});

Deno.test("tftpPut sends no extra DATA for a duplicate ACK", async () => {
  const server = writeServer();
  const { transport, opts } = setup((p) => {
    const replies = server.serve(p);
    return [...replies, ...replies];
  });
  const content = pattern(1100);
  const result = await tftpPut("f", { ...opts, data: content });
  assert.equal(result.bytes, 1100);
  assert.deepEqual(transport.wire, [
    "WRQ f octet",
    "DATA 1 (512) -> 50001",
    "DATA 2 (512) -> 50001",
    "DATA 3 (76) -> 50001",
  ]);
});

Deno.test("tftpGet fails with the server's ERROR and sends nothing back", async () => {
  const { transport, opts } = setup((p) =>
    p.op === Opcode.RRQ
      ? [[encodeError(ErrorCode.FILE_NOT_FOUND, "File not found"), TID]]
      : []
  );
  const err = await tftpGet("nope", { ...opts, sink: collector().sink }).catch((
    e,
  ) => e);
  assert.ok(err instanceof TftpClientError);
  assert.equal(err.code, 1);
  assert.equal(err.kind, "not-found");
  assert.equal(err.message, 'server error 1: "File not found"');
  assert.deepEqual(transport.wire, ["RRQ nope octet"]);
});

Deno.test("tftpGet whose sink fails on the last block sends ERROR 3 and fails", async () => {
  const { transport, clock, opts } = setup(readServer(pattern(600)));
  let writes = 0;
  const sink = {
    write: () => {
      if (++writes === 2) throw new Error("disk full");
    },
  };
  const err = await within(clock, 60_000, tftpGet("f", { ...opts, sink }));
  assert.ok(err instanceof TftpClientError, String(err));
  assert.equal(err.message, "ERROR 3: write failed: disk full");
  assert.deepEqual(transport.wire, [
    "RRQ f octet",
    "ACK 1 -> 50001",
    "ERROR 3 write failed: disk full -> 50001",
  ]);
});

Deno.test("tftpGet in netascii turns CR LF into LF and CR NUL into CR, across blocks", async () => {
  const te = new TextEncoder();
  // A CR LF split between blocks 1 and 2, then a CR NUL.
  const wire = te.encode("x".repeat(511) + "\r\ny\r\0z");
  const { opts } = setup(readServer(wire));
  const out = collector();
  const result = await tftpGet("t.txt", {
    ...opts,
    sink: out.sink,
    mode: "netascii",
  });
  assert.equal(
    new TextDecoder().decode(out.bytes()),
    "x".repeat(511) + "\ny\rz",
  );
  assert.equal(result.bytes, 515);
});

Deno.test("tftpPut in netascii sends LF as CR LF and announces the wire size as tsize", async () => {
  const server = writeServer({ oack: { tsize: "6" } });
  const { transport, opts } = setup(server.serve);
  const result = await tftpPut("t.txt", {
    ...opts,
    data: new TextEncoder().encode("a\nb\n"),
    mode: "netascii",
    tsize: true,
  });
  assert.deepEqual(transport.wire, [
    "WRQ t.txt netascii tsize=6",
    "DATA 1 (6) -> 50001",
  ]);
  assert.equal(new TextDecoder().decode(server.got[0]), "a\r\nb\r\n");
  assert.equal(result.bytes, 4);
});

/** A handle whose reads complete asynchronously, recording each offset. */
function asyncHandle(content: Uint8Array, o: { size?: boolean } = {}) {
  const reads: number[] = [];
  const handle: ReadHandle = {
    size: o.size === false ? undefined : content.length,
    read: async (offset, buf) => {
      reads.push(offset);
      await Promise.resolve();
      const part = content.subarray(offset, offset + buf.length);
      buf.set(part);
      return part.length;
    },
    close: () => {},
  };
  return { handle, reads };
}

Deno.test("tftpPut streams from an async source: each block is read when the window reaches it", async () => {
  const content = pattern(4 * 512 + 10);
  const { handle, reads } = asyncHandle(content);
  const { transport, opts } = setup();
  const progress: [number, number | undefined][] = [];
  const p = tftpPut("f", {
    ...opts,
    source: handle,
    onProgress: (n, total) => progress.push([n, total]),
  });
  await transport.waitForSent(1);
  assert.deepEqual(reads, [], "nothing read before the server answered");
  transport.inject(encodeAck(0), TID);
  for (let b = 1; b <= 5; b++) {
    const [d] = await transport.waitForSent(b + 1, b);
    assert.equal(decode(d.data).op, Opcode.DATA);
    assert.deepEqual(
      reads,
      [0, 512, 1024, 1536, 2048].slice(0, b),
      `after DATA ${b}`,
    );
    await settle();
    assert.equal(transport.sent.length, b + 1, "one block per ACK");
    transport.inject(encodeAck(b), TID);
  }
  const result = await p;
  assert.equal(result.bytes, content.length);
  const sent = transport.sent.slice(1).map((s) => decode(s.data));
  const joined = sent.flatMap((s) => s.op === Opcode.DATA ? [...s.data] : []);
  assert.deepEqual(new Uint8Array(joined), content);
  assert.deepEqual(progress, [
    [0, 2058],
    [512, 2058],
    [1024, 2058],
    [1536, 2058],
    [2048, 2058],
    [2058, 2058],
  ]);
});

Deno.test("tftpPut from a source of unknown size announces no tsize and reports what it read", async () => {
  const content = pattern(700);
  const { handle } = asyncHandle(content, { size: false });
  const server = writeServer();
  const { transport, opts } = setup(server.serve);
  const result = await tftpPut("f", { ...opts, source: handle, tsize: true });
  assert.equal(transport.wire[0], "WRQ f octet");
  assert.equal(result.bytes, 700);
  assert.equal(server.got.reduce((n, d) => n + d.length, 0), 700);
});

Deno.test("tftpPut in windows: the server's ACK of each window moves it, a partial ACK resends the rest", async () => {
  const content = pattern(6 * 512 + 1);
  const { transport, opts } = setup();
  const p = tftpPut("f", { ...opts, data: content, windowsize: 4 });
  await transport.waitForSent(1);
  transport.inject(encodeOack(new Map([["windowsize", "4"]])), TID);
  await transport.waitForSent(5);
  transport.inject(encodeAck(2), TID); // blocks 3 and 4 were lost
  await transport.waitForSent(9);
  transport.inject(encodeAck(6), TID);
  await transport.waitForSent(10);
  transport.inject(encodeAck(7), TID);
  await p;
  assert.deepEqual(transport.wire.slice(1).map((w) => w.split(" ")[1]), [
    "1",
    "2",
    "3",
    "4",
    "3",
    "4",
    "5",
    "6",
    "7",
  ]);
});
