/**
 * Micro-benchmarks of the Deno UDP calls the server makes per block, on
 * loopback: how much an `await` per send costs against firing a window of
 * sends and awaiting them together, and one lock-step round trip.
 *
 * @module
 */

const sink = Deno.listenDatagram({
  transport: "udp",
  hostname: "127.0.0.1",
  port: 0,
});
const sinkAddr = sink.addr as Deno.NetAddr;
const conn = Deno.listenDatagram({
  transport: "udp",
  hostname: "127.0.0.1",
  port: 0,
});
const pkt = new Uint8Array(4 + 1468);
const rx = new Uint8Array(2048);
const WINDOW = 16;

// Drain the sink so its buffer never fills (drops would hide the cost).
let draining = true;
const drainer = (async () => {
  const buf = new Uint8Array(2048);
  while (draining) {
    try {
      await sink.receive(buf);
    } catch {
      return;
    }
  }
})();
globalThis.addEventListener("unload", () => {
  draining = false;
  sink.close();
  conn.close();
  drainer.catch(() => {});
});

Deno.bench("16 sends, await each", { group: "send" }, async () => {
  for (let i = 0; i < WINDOW; i++) await conn.send(pkt, sinkAddr);
});

Deno.bench("16 sends, await all at once", {
  group: "send",
  baseline: true,
}, async () => {
  const ps: Promise<number>[] = [];
  for (let i = 0; i < WINDOW; i++) ps.push(conn.send(pkt, sinkAddr));
  await Promise.all(ps);
});

const echo = Deno.listenDatagram({
  transport: "udp",
  hostname: "127.0.0.1",
  port: 0,
});
const echoAddr = echo.addr as Deno.NetAddr;
const peer = Deno.listenDatagram({
  transport: "udp",
  hostname: "127.0.0.1",
  port: 0,
});
const ack = new Uint8Array([0, 4, 0, 1]);

Deno.bench("round trip (send DATA, receive ACK), in-process echo", {
  group: "round trip",
}, async () => {
  const got = peer.receive(rx);
  await echo.send(pkt, peer.addr as Deno.NetAddr);
  await got;
  const back = echo.receive(rx);
  await peer.send(ack, echoAddr);
  await back;
});
globalThis.addEventListener("unload", () => {
  echo.close();
  peer.close();
});
