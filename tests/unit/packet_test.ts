import assert from "node:assert/strict";
import { Rng } from "../../testing/rng.ts";
import {
  decode,
  encodeAck,
  encodeData,
  encodeError,
  encodeOack,
  encodeRequest,
  ErrorCode,
  MAX_OPTIONS,
  Opcode,
  type Packet,
  PacketError,
  replyOpcode,
  writeAck,
  writeDataHeader,
} from "../../src/protocol/packet.ts";

const te = new TextEncoder();

/** Builds a request datagram by hand: opcode then NUL-terminated strings. */
function rawRequest(op: number, parts: (string | Uint8Array)[]): Uint8Array {
  const bytes: number[] = [0, op];
  for (const p of parts) {
    bytes.push(...(typeof p === "string" ? te.encode(p) : p), 0);
  }
  return new Uint8Array(bytes);
}

/** Concatenates byte arrays. */
function concat(...parts: (number[] | Uint8Array)[]): Uint8Array {
  const flat: number[] = [];
  for (const p of parts) flat.push(...p);
  return new Uint8Array(flat);
}

function assertPacketError(buf: Uint8Array, what: string): PacketError {
  let caught: unknown;
  try {
    decode(buf);
  } catch (err) {
    caught = err;
  }
  assert.ok(
    caught instanceof PacketError,
    `${what}: expected PacketError, got ${String(caught)}`,
  );
  assert.equal(caught.code, ErrorCode.ILLEGAL_OPERATION);
  assert.equal(caught.name, "PacketError");
  return caught;
}

function asRequest(p: Packet) {
  assert.ok(p.op === Opcode.RRQ || p.op === Opcode.WRQ, `op ${p.op}`);
  return p;
}

Deno.test("packet: RRQ and WRQ round trip with mode and options", () => {
  for (const op of [Opcode.RRQ, Opcode.WRQ] as const) {
    const options = new Map([
      ["blksize", "1432"],
      ["tsize", "0"],
      ["windowsize", "16"],
    ]);
    const bytes = encodeRequest(op, "pxelinux.cfg/default", {
      mode: "netascii",
      options,
    });
    assert.deepEqual(
      bytes,
      rawRequest(op, [
        "pxelinux.cfg/default",
        "netascii",
        "blksize",
        "1432",
        "tsize",
        "0",
        "windowsize",
        "16",
      ]),
    );
    const p = asRequest(decode(bytes));
    assert.equal(p.op, op);
    assert.equal(p.filename, "pxelinux.cfg/default");
    assert.equal(p.mode, "netascii");
    assert.deepEqual([...p.options], [...options]);
  }
});

Deno.test("packet: request defaults to octet with no options", () => {
  const bytes = encodeRequest(Opcode.RRQ, "a");
  assert.deepEqual(bytes, rawRequest(Opcode.RRQ, ["a", "octet"]));
  const p = asRequest(decode(bytes));
  assert.equal(p.mode, "octet");
  assert.equal(p.options.size, 0);
});

Deno.test("packet: non-ASCII file names survive a round trip", () => {
  const name = "données/ü€😀.bin";
  const p = asRequest(decode(encodeRequest(Opcode.WRQ, name)));
  assert.equal(p.filename, name);
});

Deno.test("packet: mode is lower-cased, filename is not", () => {
  const p = asRequest(
    decode(rawRequest(Opcode.RRQ, ["Boot/BCD", "NetASCII"])),
  );
  assert.equal(p.mode, "netascii");
  assert.equal(p.filename, "Boot/BCD");
  const q = asRequest(decode(rawRequest(Opcode.RRQ, ["x", "OCTET"])));
  assert.equal(q.mode, "octet");
});

Deno.test("packet: option names lower-cased, values kept as sent", () => {
  const p = asRequest(
    decode(
      rawRequest(Opcode.RRQ, [
        "f",
        "octet",
        "BlkSize",
        "1024",
        "TSIZE",
        "0",
        "Custom",
        "MiXeD",
      ]),
    ),
  );
  assert.deepEqual([...p.options], [
    ["blksize", "1024"],
    ["tsize", "0"],
    ["custom", "MiXeD"],
  ]);
});

Deno.test("packet: first occurrence of a repeated option wins", () => {
  const p = asRequest(
    decode(
      rawRequest(Opcode.RRQ, [
        "f",
        "octet",
        "blksize",
        "1024",
        "BLKSIZE",
        "8",
        "blksize",
        "9",
        "tsize",
        "0",
      ]),
    ),
  );
  assert.deepEqual([...p.options], [["blksize", "1024"], ["tsize", "0"]]);
});

Deno.test("packet: hundreds of options are bounded by MAX_OPTIONS", () => {
  const parts = ["f", "octet"];
  for (let i = 0; i < 500; i++) parts.push(`opt${i}`, String(i));
  const p = asRequest(decode(rawRequest(Opcode.RRQ, parts)));
  assert.ok(p.options.size > 0);
  assert.ok(p.options.size <= MAX_OPTIONS, `parsed ${p.options.size}`);
  // The ones kept are the first ones, in order.
  assert.equal(p.options.get("opt0"), "0");
  assert.equal([...p.options.keys()][0], "opt0");
  assert.ok(!p.options.has("opt499"));
});

Deno.test("packet: hundreds of repeats of one option do not throw", () => {
  const parts = ["f", "octet"];
  for (let i = 0; i < 400; i++) parts.push("blksize", String(i + 8));
  const p = asRequest(decode(rawRequest(Opcode.RRQ, parts)));
  assert.deepEqual([...p.options], [["blksize", "8"]]);
});

Deno.test("packet: malformed option tail keeps earlier options", () => {
  const base = rawRequest(Opcode.RRQ, ["f", "octet", "blksize", "1024"]);
  // Value without its NUL.
  const p1 = asRequest(decode(concat(base, te.encode("tsize\x000"))));
  assert.deepEqual([...p1.options], [["blksize", "1024"]]);
  // Name without NUL, no value at all.
  const p2 = asRequest(decode(concat(base, te.encode("tsize"))));
  assert.deepEqual([...p2.options], [["blksize", "1024"]]);
  // Name but no value.
  const p3 = asRequest(decode(concat(base, te.encode("tsize\x00"))));
  assert.deepEqual([...p3.options], [["blksize", "1024"]]);
  // Option name that is not UTF-8.
  const p4 = asRequest(decode(concat(base, [0xff, 0xfe, 0, 0x31, 0])));
  assert.deepEqual([...p4.options], [["blksize", "1024"]]);
  assert.equal(p4.filename, "f");
  assert.equal(p4.mode, "octet");
});

Deno.test("packet: trailing NUL padding after the last option is tolerated", () => {
  const p = asRequest(
    decode(
      concat(rawRequest(Opcode.RRQ, ["f", "octet", "tsize", "0"]), [0, 0, 0]),
    ),
  );
  assert.deepEqual([...p.options], [["tsize", "0"]]);
  const q = asRequest(
    decode(concat(rawRequest(Opcode.WRQ, ["f", "octet"]), [0])),
  );
  assert.equal(q.options.size, 0);
});

Deno.test("packet: DATA round trip, payload is a view", () => {
  const payload = new Uint8Array([1, 2, 3, 0, 255]);
  const bytes = encodeData(7, payload);
  assert.deepEqual(bytes, new Uint8Array([0, 3, 0, 7, 1, 2, 3, 0, 255]));
  const p = decode(bytes);
  assert.equal(p.op, Opcode.DATA);
  if (p.op !== Opcode.DATA) return;
  assert.equal(p.block, 7);
  assert.deepEqual(p.data, payload);
  assert.equal(p.data.buffer, bytes.buffer, "payload should not be copied");
});

Deno.test("packet: empty DATA (final block of an exact multiple)", () => {
  const p = decode(new Uint8Array([0, 3, 0x12, 0x34]));
  assert.equal(p.op, Opcode.DATA);
  if (p.op !== Opcode.DATA) return;
  assert.equal(p.block, 0x1234);
  assert.equal(p.data.length, 0);
});

Deno.test("packet: ACK round trip", () => {
  assert.deepEqual(encodeAck(258), new Uint8Array([0, 4, 1, 2]));
  assert.deepEqual(decode(encodeAck(258)), { op: Opcode.ACK, block: 258 });
});

Deno.test("packet: block numbers 0 and 65535 encode and decode", () => {
  for (const block of [0, 1, 255, 256, 65535]) {
    const ack = decode(encodeAck(block));
    assert.deepEqual(ack, { op: Opcode.ACK, block });
    const data = decode(encodeData(block, new Uint8Array([9])));
    assert.equal(data.op, Opcode.DATA);
    if (data.op === Opcode.DATA) assert.equal(data.block, block);
  }
  assert.deepEqual(encodeAck(65535), new Uint8Array([0, 4, 255, 255]));
  assert.deepEqual(encodeAck(0), new Uint8Array([0, 4, 0, 0]));
});

Deno.test("packet: absolute block numbers go on the wire as their low 16 bits", () => {
  assert.deepEqual(encodeAck(65536), new Uint8Array([0, 4, 0, 0]));
  assert.deepEqual(encodeAck(65537), new Uint8Array([0, 4, 0, 1]));
  assert.deepEqual(
    encodeData(65537, new Uint8Array(0)),
    new Uint8Array([0, 3, 0, 1]),
  );
  const buf = new Uint8Array(8).fill(0xaa);
  assert.deepEqual(
    writeAck(buf, 65536 + 65535),
    new Uint8Array([0, 4, 255, 255]),
  );
  assert.equal(buf[4], 0xaa, "writeAck touches only 4 bytes");
  const pkt = new Uint8Array(6).fill(7);
  writeDataHeader(pkt, 65536 + 2);
  assert.deepEqual(pkt, new Uint8Array([0, 3, 0, 2, 7, 7]));
});

Deno.test("packet: ERROR round trip", () => {
  const bytes = encodeError(ErrorCode.FILE_NOT_FOUND, "File not found");
  assert.deepEqual(
    bytes,
    concat([0, 5, 0, 1], te.encode("File not found"), [0]),
  );
  assert.deepEqual(decode(bytes), {
    op: Opcode.ERROR,
    code: 1,
    message: "File not found",
  });
  assert.deepEqual(decode(encodeError(8, "")), {
    op: Opcode.ERROR,
    code: 8,
    message: "",
  });
  assert.deepEqual(decode(encodeError(0, "ünïcode")), {
    op: Opcode.ERROR,
    code: 0,
    message: "ünïcode",
  });
});

Deno.test("packet: ERROR without trailing NUL or message is accepted", () => {
  assert.deepEqual(decode(concat([0, 5, 0, 2], te.encode("denied"))), {
    op: Opcode.ERROR,
    code: 2,
    message: "denied",
  });
  assert.deepEqual(decode(new Uint8Array([0, 5, 0, 3])), {
    op: Opcode.ERROR,
    code: 3,
    message: "",
  });
});

Deno.test("packet: OACK round trip keeps order", () => {
  const options = new Map([["tsize", "1234"], ["blksize", "1428"], [
    "windowsize",
    "8",
  ]]);
  const bytes = encodeOack(options);
  assert.deepEqual(
    bytes,
    concat(
      [0, 6],
      te.encode("tsize\x001234\x00blksize\x001428\x00windowsize\x008\x00"),
    ),
  );
  const p = decode(bytes);
  assert.equal(p.op, Opcode.OACK);
  if (p.op !== Opcode.OACK) return;
  assert.deepEqual([...p.options], [...options]);
});

Deno.test("packet: OACK with no options and names lower-cased", () => {
  const empty = decode(encodeOack(new Map()));
  assert.equal(empty.op, Opcode.OACK);
  if (empty.op === Opcode.OACK) assert.equal(empty.options.size, 0);
  const p = decode(concat([0, 6], te.encode("BLKSIZE\x00512\x00")));
  assert.equal(p.op, Opcode.OACK);
  if (p.op === Opcode.OACK) {
    assert.deepEqual([...p.options], [["blksize", "512"]]);
  }
});

Deno.test("packet: PacketError for malformed datagrams", () => {
  const cases: [string, Uint8Array][] = [
    ["empty", new Uint8Array(0)],
    ["1 byte", new Uint8Array([0])],
    ["1 byte RRQ-ish", new Uint8Array([1])],
    ["opcode 0", new Uint8Array([0, 0, 0, 1])],
    ["opcode 7", new Uint8Array([0, 7, 0, 1])],
    ["opcode 0x0101", new Uint8Array([1, 1, 0, 1])],
    ["opcode 0xffff", new Uint8Array([255, 255])],
    ["RRQ with nothing", new Uint8Array([0, 1])],
    ["RRQ filename without NUL", concat([0, 1], te.encode("file"))],
    ["RRQ mode missing", concat([0, 1], te.encode("file\x00"))],
    ["RRQ mode without NUL", concat([0, 1], te.encode("file\x00octet"))],
    ["WRQ mode without NUL", concat([0, 2], te.encode("file\x00octet"))],
    ["RRQ empty filename", concat([0, 1], te.encode("\x00octet\x00"))],
    ["WRQ empty filename", concat([0, 2], te.encode("\x00octet\x00"))],
    [
      "RRQ invalid UTF-8 filename",
      concat([0, 1, 0xc3, 0x28, 0], te.encode("octet\x00")),
    ],
    [
      "WRQ lone continuation byte",
      concat([0, 2, 0x80, 0], te.encode("octet\x00")),
    ],
    ["RRQ invalid UTF-8 mode", concat([0, 1], te.encode("f\x00"), [0xff, 0])],
    ["DATA 2 bytes", new Uint8Array([0, 3])],
    ["DATA 3 bytes", new Uint8Array([0, 3, 0])],
    ["ACK 2 bytes", new Uint8Array([0, 4])],
    ["ACK 3 bytes", new Uint8Array([0, 4, 1])],
    ["ERROR 2 bytes", new Uint8Array([0, 5])],
    ["ERROR 3 bytes", new Uint8Array([0, 5, 0])],
    ["OACK name without NUL", concat([0, 6], te.encode("blksize"))],
    ["OACK value without NUL", concat([0, 6], te.encode("blksize\x00512"))],
  ];
  for (const [what, buf] of cases) assertPacketError(buf, what);
});

Deno.test("packet: PacketError messages say what is wrong", () => {
  assert.match(
    assertPacketError(new Uint8Array([0, 9]), "op 9").message,
    /opcode 9/,
  );
  assert.match(
    assertPacketError(concat([0, 1], te.encode("\x00octet\x00")), "empty")
      .message,
    /filename/,
  );
});

Deno.test("packet: random junk never throws anything but PacketError", () => {
  const rng = new Rng(0x7f7f_1234);
  const rand = () => rng.float();
  const byte = () => Math.floor(rand() * 256);
  let decoded = 0;
  let refused = 0;
  const tryDecode = (buf: Uint8Array) => {
    try {
      decode(buf);
      decoded++;
    } catch (err) {
      if (!(err instanceof PacketError)) {
        throw new Error(
          `decode threw ${String(err)} for ${
            JSON.stringify([...buf.subarray(0, 64)])
          }`,
        );
      }
      refused++;
    }
  };
  // 64 KiB datagrams of pure junk, and with each valid opcode in front.
  for (let round = 0; round < 4; round++) {
    for (let op = -1; op <= 7; op++) {
      const buf = new Uint8Array(65536);
      for (let i = 0; i < buf.length; i++) buf[i] = byte();
      if (op >= 0) {
        buf[0] = 0;
        buf[1] = op;
      }
      tryDecode(buf);
      // NUL-rich junk exercises the string/option parser harder.
      for (let i = 2; i < buf.length; i += 1 + Math.floor(rand() * 8)) {
        buf[i] = 0;
      }
      tryDecode(buf);
    }
  }
  // Many short datagrams, mostly with a plausible opcode, NUL-heavy.
  for (let i = 0; i < 30000; i++) {
    const len = Math.floor(rand() * 80);
    const buf = new Uint8Array(len);
    for (let j = 0; j < len; j++) {
      const r = rand();
      buf[j] = r < 0.25 ? 0 : r < 0.5 ? 0x61 + (j % 26) : byte();
    }
    if (len >= 2 && rand() < 0.9) {
      buf[0] = 0;
      buf[1] = Math.floor(rand() * 8);
    }
    tryDecode(buf);
  }
  // Truncations of every valid packet kind.
  const valid = [
    encodeRequest(Opcode.RRQ, "file.bin", {
      options: new Map([["blksize", "1024"], ["tsize", "0"]]),
    }),
    encodeData(3, new Uint8Array([1, 2, 3])),
    encodeAck(9),
    encodeError(1, "nope"),
    encodeOack(new Map([["blksize", "1024"]])),
  ];
  for (const v of valid) {
    for (let n = 0; n <= v.length; n++) tryDecode(v.subarray(0, n));
  }
  assert.ok(
    decoded > 0 && refused > 0,
    `decoded ${decoded}, refused ${refused}`,
  );
});

Deno.test("packet: replyOpcode takes a 2-byte OACK, and no other reply under 4 bytes", () => {
  assert.equal(replyOpcode(new Uint8Array([0, 6])), Opcode.OACK);
  for (const short of [[], [0], [0, 3], [0, 4, 0], [0, 5, 0]]) {
    assert.equal(replyOpcode(new Uint8Array(short)), -1, `${short}`);
  }
  assert.equal(replyOpcode(new Uint8Array([0, 3, 0, 1])), Opcode.DATA);
  assert.equal(replyOpcode(new Uint8Array([0, 5, 0, 0])), Opcode.ERROR);
});
