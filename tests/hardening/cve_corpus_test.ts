/**
 * A corpus of the classic TFTP server CVE classes, one table per class:
 * overlong names and modes (stack and heap overflows in C servers), option
 * abuse (integer overflows, duplicate and malformed options), format
 * strings in ERROR text and names, directory traversal in every spelling,
 * truncated and maximal datagrams, packets of the wrong kind at the listen
 * port, packets after our ERROR, ERROR 8 after an OACK, and request storms.
 *
 * Each case states exactly what the server answers (an ERROR code, the
 * first DATA, an OACK with given values, or silence), and every ERROR is at
 * most the request's size + 64 bytes. After each class the server still
 * serves a normal download, has logged no internal error and ends every
 * transfer the class started; nothing outside the root is touched.
 *
 * What today's server gets wrong in these classes is in
 * `tests/security/cve_corpus_gaps_test.ts`, not here (this file runs in CI).
 */

import assert from "node:assert/strict";
import {
  decode,
  encodeAck,
  encodeData,
  encodeError,
  encodeOack,
  encodeRequest,
  ErrorCode,
  Opcode,
  type Packet,
} from "../../src/protocol/packet.ts";
import { concat } from "../../testing/bytes.ts";
import { type Endpoint, getFile, RawClient } from "../../testing/raw_client.ts";
import { type Harness, startHarness } from "./harness.ts";

/** Largest UDP payload over IPv4. */
const MAX_DATAGRAM = 65507;
const RRQ = Opcode.RRQ;
const WRQ = Opcode.WRQ;
const CONTENT = "hello\n";
const FILES = { "a.txt": CONTENT, "dir/b.txt": "b\n" };
/** Short timers: whatever a case leaves running ends within a second. */
const FAST = { ackTimeout: 0.2, retries: 2, timeout: 1, minRtoMs: 0 };

const te = new TextEncoder();

/** What the server must answer. */
type Expect =
  | { error: number }
  | { data: number }
  | { oack: Record<string, string> }
  | { ack: 0 }
  | "silence";

/** What the case is, the datagram sent to the listen port, the answer. */
type Case = [what: string, datagram: Uint8Array, expect: Expect];

/** A request from raw strings (NULs in them are kept, not escaped). */
function req(op: number, name: string, mode = "octet", opts: string[] = []) {
  const z = new Uint8Array([0]);
  return concat([
    new Uint8Array([0, op]),
    ...[name, mode, ...opts].flatMap((s) => [te.encode(s), z]),
  ]);
}

function describe(p: Packet | undefined): string {
  if (!p) return "silence";
  if (p.op === Opcode.ERROR) {
    return `ERROR ${p.code} (${p.message.slice(0, 60)})`;
  }
  if (p.op === Opcode.DATA) return `DATA ${p.block}`;
  if (p.op === Opcode.OACK) {
    return `OACK ${JSON.stringify(Object.fromEntries(p.options))}`;
  }
  if (p.op === Opcode.ACK) return `ACK ${p.block}`;
  return `opcode ${p.op}`;
}

function matches(p: Packet | undefined, e: Expect): boolean {
  if (e === "silence") return p === undefined;
  if (!p) return false;
  if ("error" in e) return p.op === Opcode.ERROR && p.code === e.error;
  if ("data" in e) return p.op === Opcode.DATA && p.block === e.data;
  if ("ack" in e) return p.op === Opcode.ACK && p.block === e.ack;
  return p.op === Opcode.OACK &&
    JSON.stringify(Object.fromEntries(p.options)) === JSON.stringify(e.oack);
}

/**
 * Sends each case from a fresh port and checks the first answer; a
 * transfer the case started is ended with an ERROR from the client.
 * Returns the mismatches.
 */
async function runCases(h: Harness, cases: Case[]): Promise<string[]> {
  const wrong: string[] = [];
  const listen = { hostname: "127.0.0.1", port: h.port };
  for (const [what, datagram, expect] of cases) {
    using c = RawClient.open();
    await c.send(datagram, listen);
    const r = await c.receiveRaw(expect === "silence" ? 300 : 5000);
    let p: Packet | undefined;
    if (r) {
      try {
        p = decode(r.data);
      } catch (err) {
        wrong.push(`${what}: an undecodable answer (${err})`);
        continue;
      }
    }
    if (!matches(p, expect)) {
      wrong.push(
        `${what}: got ${describe(p)}, expected ${JSON.stringify(expect)}`,
      );
    }
    if (p?.op === Opcode.ERROR && r!.data.length > datagram.length + 64) {
      wrong.push(`${what}: a ${r!.data.length}-byte ERROR`);
    }
    if (r && p && p.op !== Opcode.ERROR) {
      await c.send(encodeError(ErrorCode.NOT_DEFINED, "corpus"), r.from);
    }
  }
  return wrong;
}

/**
 * What must hold after every class: a normal download works, no internal
 * error was logged, every transfer ended, the outside is untouched.
 */
async function keepsServing(h: Harness): Promise<void> {
  const r = await getFile({ hostname: "127.0.0.1", port: h.port }, "a.txt");
  assert.equal(r.error, undefined, "the server stopped serving");
  assert.equal(new TextDecoder().decode(r.data), CONTENT);
  await withBound(h.server.whenIdle(), 10_000, "transfers left running");
  assert.deepEqual(h.errors, [], "internal errors were logged");
  assert.deepEqual(await h.list(h.outside), ["secret.txt"]);
  assert.equal(
    await Deno.readTextFile(`${h.outside}/secret.txt`),
    "OUTSIDE SECRET\n",
  );
}

async function withBound<T>(p: Promise<T>, ms: number, what: string) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(what)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

async function corpus(
  cases: Case[],
  extra: Parameters<typeof startHarness>[0] = {},
) {
  await using h = await startHarness({ files: FILES, ...FAST, ...extra });
  assert.deepEqual(await runCases(h, cases), []);
  await keepsServing(h);
}

Deno.test("cve corpus: long file names and modes get their exact ERROR", async () => {
  // The longest name that fits in one datagram with "octet" is 65,498
  // bytes; its ERROR 1 would echo it past the datagram limit (see
  // tests/security/cve_corpus_gaps_test.ts). Up to 65,000 bytes:
  const long = (n: number) => "a".repeat(n);
  const wholeName = new Uint8Array(MAX_DATAGRAM).fill(0x61);
  wholeName.set([0, RRQ]);
  wholeName[MAX_DATAGRAM - 1] = 0;
  // deno-fmt-ignore
  await corpus([
    ["a 255-byte name", req(RRQ, long(255)), { error: 1 }],
    // A component longer than NAME_MAX: the generic ERROR 0 (no path in it).
    ["a 256-byte name", req(RRQ, long(256)), { error: 2 }],
    ["a 4,000-byte name", req(RRQ, long(4000)), { error: 2 }],
    ["2,000 directories deep", req(RRQ, "d/".repeat(2000) + "x"), { error: 2 }],
    ["a 65,000-byte path of short components", req(RRQ, "a/".repeat(32_500)), { error: 2 }],
    ["a 256-byte name, WRQ", req(WRQ, long(256)), { error: 2 }],
    ["2,000 directories deep, WRQ", req(WRQ, "d/".repeat(2000) + "x"), { error: 2 }],
    ["a 1,000-byte mode", req(RRQ, "a.txt", "m".repeat(1000)), { error: 4 }],
    ["a 60,000-byte mode", req(RRQ, "a.txt", "m".repeat(60_000)), { error: 4 }],
    ["an empty mode", req(RRQ, "a.txt", ""), { error: 4 }],
    ["mode mail", req(RRQ, "a.txt", "mail"), { error: 4 }],
    ["mode NETASCII (case-insensitive)", req(RRQ, "a.txt", "NETASCII"), { data: 1 }],
    ["an empty name", req(RRQ, ""), { error: 4 }],
    ["a whole datagram: name without a terminating NUL for the mode", wholeName, { error: 4 }],
  ]);
});

Deno.test("cve corpus: option abuse is ignored or clamped, never trusted", async () => {
  const many: string[] = [];
  for (let i = 0; many.join("").length + many.length < 64_000; i++) {
    many.push(`x${i}`, "1");
  }
  const manyBlksize: string[] = [];
  for (let i = 0; i < 2500; i++) manyBlksize.push("blksize", String(512 + i));
  const blksize = (v: string) => req(RRQ, "a.txt", "octet", ["blksize", v]);
  const ignored = { data: 1 } as const;
  // deno-fmt-ignore
  await corpus([
    [`${many.length / 2} unknown options (a whole datagram)`, req(RRQ, "a.txt", "octet", many), ignored],
    ["2,500 blksize options: the first counts", req(RRQ, "a.txt", "octet", manyBlksize), { oack: { blksize: "512" } }],
    ["blksize twice: the first counts", req(RRQ, "a.txt", "octet", ["blksize", "600", "blksize", "700"]), { oack: { blksize: "600" } }],
    ["BLKSIZE (names are case-insensitive)", req(RRQ, "a.txt", "octet", ["BLKSIZE", "600"]), { oack: { blksize: "600" } }],
    ["blksize 2^66", blksize("99999999999999999999"), ignored],
    ["blksize 1e308", blksize("1e308"), ignored],
    ["blksize -1", blksize("-1"), ignored],
    ["blksize 0", blksize("0"), ignored],
    ["blksize 7 (below RFC 2348's 8)", blksize("7"), ignored],
    ["blksize 8", blksize("8"), { oack: { blksize: "8" } }],
    ["blksize 65465 (above the maximum): clamped", blksize("65465"), { oack: { blksize: "65464" } }],
    ["blksize 0x200", blksize("0x200"), ignored],
    ["blksize 1e3", blksize("1e3"), ignored],
    ["blksize +512", blksize("+512"), ignored],
    ["blksize 512.0", blksize("512.0"), ignored],
    ["blksize NaN", blksize("NaN"), ignored],
    ["blksize Infinity", blksize("Infinity"), ignored],
    ["blksize in full-width digits", blksize("\uff15\uff11\uff12"), ignored],
    ["blksize empty", blksize(""), ignored],
    ["timeout 0", req(RRQ, "a.txt", "octet", ["timeout", "0"]), ignored],
    ["timeout 256", req(RRQ, "a.txt", "octet", ["timeout", "256"]), ignored],
    ["timeout -1", req(RRQ, "a.txt", "octet", ["timeout", "-1"]), ignored],
    ["timeout 2^36", req(RRQ, "a.txt", "octet", ["timeout", "99999999999"]), ignored],
    ["windowsize 0", req(RRQ, "a.txt", "octet", ["windowsize", "0"]), ignored],
    ["windowsize -1", req(RRQ, "a.txt", "octet", ["windowsize", "-1"]), ignored],
    ["windowsize 65536: clamped", req(RRQ, "a.txt", "octet", ["windowsize", "65536"]), { oack: { windowsize: "64" } }],
    ["RRQ tsize 0", req(RRQ, "a.txt", "octet", ["tsize", "0"]), { oack: { tsize: "6" } }],
    ["RRQ tsize -1", req(RRQ, "a.txt", "octet", ["tsize", "-1"]), ignored],
    ["RRQ tsize 2^66", req(RRQ, "a.txt", "octet", ["tsize", "99999999999999999999"]), ignored],
    ["WRQ tsize -1", req(WRQ, "t1.bin", "octet", ["tsize", "-1"]), { ack: 0 }],
    ["WRQ tsize 2^66", req(WRQ, "t2.bin", "octet", ["tsize", "99999999999999999999"]), { ack: 0 }],
    ["WRQ tsize abc", req(WRQ, "t3.bin", "octet", ["tsize", "abc"]), { ack: 0 }],
    ["an option without a value", req(RRQ, "a.txt", "octet", ["blksize"]), ignored],
    ["an empty option name", req(RRQ, "a.txt", "octet", ["", "1"]), ignored],
    ["extra NULs after the request", concat([req(RRQ, "a.txt"), new Uint8Array(3)]), ignored],
    ["a NUL inside the name ends it: the rest is the mode", req(RRQ, "a.txt\0x"), { error: 4 }],
    ["no NUL after the mode", concat([new Uint8Array([0, RRQ]), te.encode("a.txt\0octet")]), { error: 4 }],
  ]);
});

Deno.test("cve corpus: WRQ tsize above --max-upload gets ERROR 3", async () => {
  // deno-fmt-ignore
  await corpus([
    ["tsize 1 over the limit", req(WRQ, "big.bin", "octet", ["tsize", "1001"]), { error: 3 }],
    ["tsize 2^66", req(WRQ, "big2.bin", "octet", [ "tsize", "99999999999999999999"]), { ack: 0 }],
  ], { maxUpload: 1000 });
});

Deno.test("cve corpus: format strings in names and ERROR text are inert", async () => {
  const fmt = "%s%n%x%p%d%1$s%99999999s%n%n%n";
  await using h = await startHarness({ files: FILES, ...FAST });
  // deno-fmt-ignore
  assert.deepEqual(
    await runCases(h, [
      ["RRQ for a format-string name", req(RRQ, fmt), { error: 1 }],
      ["WRQ to a format-string directory", req(WRQ, `${fmt}/x`), { error: 2 }],
      ["a format-string mode", req(RRQ, "a.txt", fmt), { error: 4 }],
      ["a format-string option", req(RRQ, "a.txt", "octet", [fmt, fmt]), { data: 1 }],
      ["ERROR with a format string at the listen port", encodeError(0, fmt), "silence"],
    ]),
    [],
  );
  // The ERROR 1 quotes the name literally.
  using c = RawClient.open();
  await c.send(req(RRQ, fmt), { hostname: "127.0.0.1", port: h.port });
  const r = await c.receive(5000);
  assert.ok(r?.packet.op === Opcode.ERROR && r.packet.message.includes(fmt));
  // During a transfer: the ERROR ends it, nothing is sent back.
  using d = RawClient.open();
  await d.send(req(RRQ, "a.txt"), { hostname: "127.0.0.1", port: h.port });
  const first = await d.receive(5000);
  assert.ok(first?.packet.op === Opcode.DATA);
  await d.send(encodeError(0, fmt), first.from);
  const stats = await h.waitForPeer(d.addr.port);
  assert.equal(stats.outcome, "aborted");
  assert.equal(await d.receive(300), undefined, "an answer to the ERROR");
  await keepsServing(h);
});

Deno.test("cve corpus: traversal in every spelling never leaves the root", async () => {
  const denied = { error: 2 } as const;
  const missing = { error: 1 } as const;
  const noDir = { error: 2 } as const;
  await using h = await startHarness({ files: FILES, ...FAST });
  // deno-fmt-ignore
  assert.deepEqual(
    await runCases(h, [
      ["../", req(RRQ, "../outside/secret.txt"), denied],
      ["../../../../etc/passwd", req(RRQ, "../../../../etc/passwd"), denied],
      ["..", req(RRQ, ".."), denied],
      ["dir/../a.txt", req(RRQ, "dir/../a.txt"), denied],
      ["..\\ (backslashes)", req(RRQ, "..\\outside\\secret.txt"), denied],
      ["dir\\..\\..\\", req(RRQ, "dir\\..\\..\\outside\\secret.txt"), denied],
      ["....// (dots only: refused)", req(RRQ, "....//....//etc/passwd"), denied],
      ["%2e%2e/ (no URL decoding)", req(RRQ, "%2e%2e/outside/secret.txt"), missing],
      ["%2e%2e%2f", req(RRQ, "%2e%2e%2foutside%2fsecret.txt"), missing],
      ["..%5c..%5c", req(RRQ, "..%5c..%5cetc"), missing],
      ["..%00/", req(RRQ, "..%00/a"), missing],
      ["C:\\Windows\\win.ini", req(RRQ, "C:\\Windows\\win.ini"), missing],
      ["C:/", req(RRQ, "C:/outside/secret.txt"), missing],
      ["UNC \\\\host\\share", req(RRQ, "\\\\host\\share\\secret.txt"), missing],
      ["//host/share", req(RRQ, "//host/share/x"), missing],
      ["absolute /etc/passwd (read under the root)", req(RRQ, "/etc/passwd"), missing],
      ["trailing dot", req(RRQ, "a.txt."), denied],
      ["trailing dots", req(RRQ, "a.txt..."), denied],
      ["...", req(RRQ, "..."), denied],
      ["U+2025 two-dot leader", req(RRQ, "\u2025/outside"), missing],
      ["full-width dots", req(RRQ, "\uff0e\uff0e/outside/secret.txt"), missing],
      [". (no name)", req(RRQ, "."), denied],
      ["a directory", req(RRQ, "dir"), denied],
      ["./a.txt (inside)", req(RRQ, "./a.txt"), { data: 1 }],
      ["dir/./b.txt (inside)", req(RRQ, "dir/./b.txt"), { data: 1 }],
      ["WRQ ../", req(WRQ, "../outside/new.txt"), denied],
      ["WRQ ..\\", req(WRQ, "..\\outside\\new.txt"), denied],
      ["WRQ dir/../../", req(WRQ, "dir/../../outside/n"), denied],
      ["WRQ /etc/x", req(WRQ, "/etc/x"), noDir],
      ["WRQ ....//x", req(WRQ, "....//x"), noDir],
      ["WRQ %2e%2e/x", req(WRQ, "%2e%2e/x"), noDir],
      ["WRQ C:\\x", req(WRQ, "C:\\x"), noDir],
      ["WRQ UNC", req(WRQ, "\\\\host\\share\\x"), noDir],
    ]),
    [],
  );
  await keepsServing(h);
  assert.deepEqual(await h.list(h.root), ["a.txt", "dir/", "dir/b.txt"]);
});

Deno.test("cve corpus: datagrams of 0 to 4 bytes and of 65,507 bytes", async () => {
  const big = (fill: number, head: number[]) => {
    const d = new Uint8Array(MAX_DATAGRAM).fill(fill);
    d.set(head);
    return d;
  };
  await using h = await startHarness({ files: FILES, ...FAST });
  // deno-fmt-ignore
  assert.deepEqual(
    await runCases(h, [
      ["0 bytes", new Uint8Array(0), { error: 4 }],
      ["1 byte", new Uint8Array(1), { error: 4 }],
      ["2 bytes, opcode 0", new Uint8Array(2), { error: 4 }],
      ["2 bytes, RRQ", new Uint8Array([0, RRQ]), { error: 4 }],
      ["3 bytes, RRQ 'a'", new Uint8Array([0, RRQ, 0x61]), { error: 4 }],
      ["4 bytes, RRQ with an empty name", new Uint8Array([0, RRQ, 0, 0]), { error: 4 }],
      ["4 bytes, ACK", new Uint8Array([0, 4, 0, 1]), { error: 4 }],
      ["4 bytes, ERROR without text or NUL (never answered)", new Uint8Array([0, 5, 0, 1]), "silence"],
      ["65,507 zeros", new Uint8Array(MAX_DATAGRAM), { error: 4 }],
      ["65,507 x 0xff", big(0xff, []), { error: 4 }],
      ["65,507-byte DATA", big(0x61, [0, 3, 0, 1]), { error: 4 }],
    ]),
    [],
  );
  // At a transfer port, from the client itself: ignored, the transfer goes on.
  const data = new Uint8Array(512 * 3).fill(7);
  await h.writeFile("three.bin", data);
  using c = RawClient.open();
  await c.send(req(RRQ, "three.bin"), { hostname: "127.0.0.1", port: h.port });
  let r = await c.receive(5000);
  assert.ok(r?.packet.op === Opcode.DATA);
  const tid: Endpoint = r.from;
  for (
    const junk of [0, 1, 2, 3].map((n) => new Uint8Array(n)).concat([
      big(0x61, [0, 3, 0, 9]),
    ])
  ) {
    await c.send(junk, tid);
  }
  for (let block = 1; block <= 4; block++) {
    await c.send(encodeAck(block), tid);
    if (block === 4) break;
    do r = await c.receive(5000); while (
      r && !(r.packet.op === Opcode.DATA && r.packet.block === block + 1)
    );
    assert.ok(r, `no DATA ${block + 1} after junk at the transfer port`);
  }
  assert.equal((await h.waitForPeer(c.addr.port)).outcome, "ok");
  await keepsServing(h);
});

Deno.test("cve corpus: DATA, ACK, OACK, ERROR and unknown opcodes at the listen port", async () => {
  // deno-fmt-ignore
  await corpus([
    ["DATA", encodeData(1, new Uint8Array([1, 2, 3])), { error: 4 }],
    ["ACK 0", encodeAck(0), { error: 4 }],
    ["OACK", encodeOack(new Map([["blksize", "512"]])), { error: 4 }],
    ["ERROR", encodeError(5, "unknown transfer ID"), "silence"],
    ["ERROR 8", encodeError(8, "refused"), "silence"],
    ["opcode 0", new Uint8Array([0, 0, 1, 2]), { error: 4 }],
    ["opcode 7", new Uint8Array([0, 7, 1, 2]), { error: 4 }],
    ["opcode 0xffff", new Uint8Array([0xff, 0xff, 1, 2]), { error: 4 }],
  ]);
});

Deno.test("cve corpus: an ACK or DATA after our ERROR gets nothing and changes nothing", async () => {
  await using h = await startHarness({ files: FILES, ...FAST, maxUpload: 600 });
  const listen = { hostname: "127.0.0.1", port: h.port };
  // A missing file: ERROR 1 from its transfer port, then ACK 1 there.
  using a = RawClient.open();
  await a.send(req(RRQ, "missing"), listen);
  const e1 = await a.receive(5000);
  assert.ok(e1?.packet.op === Opcode.ERROR && e1.packet.code === 1);
  await a.send(encodeAck(1), e1.from);
  await a.send(encodeAck(0), e1.from);
  assert.equal(await a.receive(300), undefined, "an answer after our ERROR 1");
  // An upload past --max-upload: ERROR 3, then more DATA.
  using b = RawClient.open();
  await b.send(req(WRQ, "over.bin"), listen);
  const ack0 = await b.receive(5000);
  assert.ok(ack0?.packet.op === Opcode.ACK);
  const block = new Uint8Array(512).fill(1);
  await b.send(encodeData(1, block), ack0.from);
  assert.ok((await b.receive(5000))?.packet.op === Opcode.ACK);
  await b.send(encodeData(2, block), ack0.from);
  const e3 = await b.receive(5000);
  assert.ok(e3?.packet.op === Opcode.ERROR && e3.packet.code === 3);
  await h.waitForPeer(b.addr.port);
  await b.send(encodeData(3, block), ack0.from);
  await b.send(encodeData(2, block), ack0.from);
  assert.equal(await b.receive(300), undefined, "an answer after our ERROR 3");
  await keepsServing(h);
  assert.deepEqual(await h.list(h.root), ["a.txt", "dir/", "dir/b.txt"]);
});

Deno.test("cve corpus: ERROR 8 after an OACK ends the transfer silently, and the client may ask again", async () => {
  await using h = await startHarness({ files: FILES, ...FAST });
  const listen = { hostname: "127.0.0.1", port: h.port };
  using c = RawClient.open();
  const probe = encodeRequest(RRQ, "a.txt", {
    options: new Map([["tsize", "0"], ["blksize", "1468"]]),
  });
  for (let round = 0; round < 3; round++) {
    await c.send(probe, listen);
    const oack = await c.receive(5000);
    assert.ok(oack?.packet.op === Opcode.OACK, `round ${round}: no OACK`);
    await c.send(
      encodeError(ErrorCode.OPTION_REFUSED, "size probe"),
      oack.from,
    );
    const stats = await h.waitForTransfer(
      (s) => s.peer === `127.0.0.1:${c.addr.port}` && s.outcome === "probe",
      { timeoutMs: 5000 },
    );
    assert.equal(stats.bytes, 0);
    h.transfers.splice(h.transfers.indexOf(stats), 1);
    assert.equal(await c.receive(300), undefined, "an answer to ERROR 8");
  }
  // And then the real download from the same port.
  const r = await c.get(listen, "a.txt", { options: { blksize: "1468" } });
  assert.equal(new TextDecoder().decode(r.data), CONTENT);
  await keepsServing(h);
});

Deno.test("cve corpus: a duplicate-RRQ storm from one port starts one transfer; from many ports, at most the per-client limit", async () => {
  await using h = await startHarness({
    files: FILES,
    ...FAST,
    maxSessionsPerClient: 16,
  });
  const listen = { hostname: "127.0.0.1", port: h.port };
  using c = RawClient.open();
  for (let i = 0; i < 200; i++) await c.send(req(RRQ, "a.txt"), listen);
  // Never acknowledged: the one transfer gives up after its retransmits.
  const stats = await h.waitForPeer(c.addr.port);
  assert.equal(stats.outcome, "timeout");
  const got = await c.drain(100, 1000);
  const tids = new Set(got.map((r) => r.from.port));
  assert.equal(tids.size, 1, `answers from ${tids.size} ports`);
  assert.ok(
    got.every((r) => r.packet.op === Opcode.DATA && r.packet.block === 1),
  );
  // DATA 1 once, plus at most the retransmits of one transfer.
  assert.ok(got.length <= 1 + FAST.retries, `${got.length} DATA 1`);
  // 64 ports, each sending its RRQ 5 times.
  const clients = Array.from({ length: 64 }, () => RawClient.open());
  try {
    for (let i = 0; i < 5; i++) {
      for (const k of clients) await k.send(req(RRQ, "a.txt"), listen);
    }
    let started = 0;
    let refused = 0;
    for (const k of clients) {
      const first = await k.receive(5000);
      assert.ok(first, "a client got no answer");
      if (first.packet.op === Opcode.DATA) {
        started++;
        await k.send(encodeAck(1), first.from);
      } else {
        assert.ok(first.packet.op === Opcode.ERROR && first.packet.code === 0);
        assert.match(first.packet.message, /too many/);
        refused++;
      }
    }
    assert.ok(started >= 16 && started + refused === 64, `${started} started`);
  } finally {
    for (const k of clients) k.close();
  }
  await keepsServing(h);
});
