/**
 * The client library (`tftpGet`, `tftpPut`) on the fakes, against a scripted
 * server: its TID lock and strangers, duplicates, the server's ERROR, a
 * failing sink, and netascii both ways.
 */

import assert from "node:assert/strict";
import { TftpClientError, tftpGet, tftpPut } from "../../src/client/client.ts";
import {
  encodeData,
  encodeError,
  ErrorCode,
  Opcode,
} from "../../src/protocol/packet.ts";
import {
  collector,
  OTHER,
  pattern,
  readServer,
  setup,
  TID,
  within,
  writeServer,
} from "./fake_clock_cases.ts";

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
