/**
 * Integration: block numbers past 65535, both directions, lock-step and
 * windowsize 16. blksize 8 keeps files of just over 65536 blocks small.
 */

import assert from "node:assert/strict";
import { startServer } from "../../testing/server.ts";
import { getFile, putFile, randomBytes } from "../../testing/raw_client.ts";

const BLKSIZE = "8";
/** 65538 full blocks and a short one: block 65536 goes out as wire 0. */
const DATA = randomBytes(65538 * 8 + 5);
/** Exactly 65539 full blocks: the file ends with an empty block 65540. */
const EXACT = randomBytes(65539 * 8);

Deno.test("RRQ lock-step rolls over past block 65535", async () => {
  await using srv = await startServer({ files: { "big.bin": DATA } });
  const r = await getFile(srv.addr, "big.bin", {
    options: { blksize: BLKSIZE },
  });
  assert.equal(r.error, undefined);
  assert.equal(r.blocks, 65539);
  assert.deepEqual(r.data, DATA);
  const s = await srv.waitForTransferEnd();
  assert.equal(s.outcome, "ok");
  assert.equal(s.bytes, DATA.length);
});

Deno.test("RRQ windowsize 16 rolls over, with a mid-window ACK across it", async () => {
  await using srv = await startServer({ files: { "big.bin": EXACT } });
  const r = await getFile(srv.addr, "big.bin", {
    options: { blksize: BLKSIZE, windowsize: "16" },
    // After ACK 65534 the next window is 65535, 0, 1, ... (wire numbers).
    ackEarly: new Set([7, 65534]),
  });
  assert.equal(r.error, undefined);
  assert.equal(r.oack?.get("windowsize"), "16");
  assert.equal(r.blocks, 65540);
  assert.equal(r.lengths.at(-1), 0);
  assert.deepEqual(r.data, EXACT);
  assert.equal((await srv.waitForTransferEnd()).outcome, "ok");
});

Deno.test("WRQ lock-step rolls over past block 65535 (client wraps to 0)", async () => {
  await using srv = await startServer();
  const r = await putFile(srv.addr, "up.bin", {
    data: DATA,
    options: { blksize: BLKSIZE },
  });
  assert.equal(r.error, undefined);
  assert.equal(r.blocks, 65539);
  assert.deepEqual(await srv.readFile("up.bin"), DATA);
});

Deno.test("WRQ lock-step from a client that wraps from 65535 to 1", async () => {
  await using srv = await startServer();
  const r = await putFile(srv.addr, "up.bin", {
    data: DATA,
    options: { blksize: BLKSIZE },
    rolloverToOne: true,
  });
  assert.equal(r.error, undefined);
  assert.deepEqual(await srv.readFile("up.bin"), DATA);
});

Deno.test("WRQ windowsize 16 rolls over, with losses around the wrap", async () => {
  await using srv = await startServer();
  const r = await putFile(srv.addr, "up.bin", {
    data: EXACT,
    options: { blksize: BLKSIZE, windowsize: "16" },
    // Losing 65530 makes the server ACK mid-window; the resent window then
    // runs 65530 .. 65545 across the wrap. 65536 is wire block 0.
    drop: new Set([65530, 65536]),
  });
  assert.equal(r.error, undefined);
  assert.equal(r.oack?.get("windowsize"), "16");
  assert.equal(r.blocks, 65540);
  assert.deepEqual(await srv.readFile("up.bin"), EXACT);
});
