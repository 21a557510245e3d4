/**
 * The transfer-port allocator (`src/transport/ports.ts`): an ephemeral port
 * without a range; with one, the next free port in turn, skipping ports
 * another socket holds, and a clear error when every port is taken.
 *
 * The ranges come from {@linkcode freeUdpRange} (below the ephemeral range,
 * so no other socket lands in them by chance); "held" ports are bound by the
 * test itself.
 */

import assert from "node:assert/strict";
import { PortAllocator } from "../../src/transport/ports.ts";
import { freeUdpRange, ipv6Available } from "../../testing/net.ts";
import { needs } from "../../testing/gates.ts";

const HOST = "127.0.0.1";

type Conn = Deno.DatagramConn & Disposable;

/** Closes `conn` on dispose (closing twice is harmless). */
function own(conn: Deno.DatagramConn): Conn {
  return Object.assign(conn, {
    [Symbol.dispose]() {
      try {
        conn.close();
      } catch { /* already closed */ }
    },
  });
}

function bind(port: number, hostname = HOST): Conn {
  return own(Deno.listenDatagram({ transport: "udp", hostname, port }));
}

function portOf(conn: Deno.DatagramConn): number {
  return (conn.addr as Deno.NetAddr).port;
}

/** Opens `n` sockets in turn, closing each at once; returns their ports. */
function cycle(ports: PortAllocator, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const conn = ports.open();
    out.push(portOf(conn));
    conn.close();
  }
  return out;
}

Deno.test("open() without a range binds an ephemeral port on the hostname", () => {
  const ports = new PortAllocator(HOST);
  using a = own(ports.open());
  using b = own(ports.open());
  const addr = a.addr as Deno.NetAddr;
  assert.equal(addr.hostname, HOST);
  assert.ok(addr.port >= 1024, `port ${addr.port}`);
  assert.notEqual(portOf(a), portOf(b));
});

Deno.test("open() hands out the ports of the range in turn and wraps around", () => {
  const [low] = freeUdpRange(3);
  const ports = new PortAllocator(HOST, { range: [low, low + 2] });
  assert.deepEqual(cycle(ports, 7), [
    low,
    low + 1,
    low + 2,
    low,
    low + 1,
    low + 2,
    low,
  ]);
});

Deno.test("open() with every socket still open fills the range, then refuses", () => {
  const [low, high] = freeUdpRange(3);
  const ports = new PortAllocator(HOST, { range: [low, high] });
  const open = [ports.open(), ports.open(), ports.open()];
  try {
    assert.deepEqual(open.map(portOf), [low, low + 1, low + 2]);
    assert.throws(
      () => ports.open(),
      (err: unknown) =>
        err instanceof Error &&
        err.message === `no free transfer port in range ${low}:${high}`,
    );
  } finally {
    for (const c of open) c.close();
  }
  // Freed ports are handed out again.
  using again = own(ports.open());
  assert.ok(portOf(again) >= low && portOf(again) <= high);
});

Deno.test("open() skips a port another socket holds and returns the next one", () => {
  const [low, high] = freeUdpRange(4);
  using held = bind(low + 1);
  const ports = new PortAllocator(HOST, { range: [low, high] });
  assert.deepEqual(cycle(ports, 6), [
    low,
    low + 2,
    low + 3,
    low,
    low + 2,
    low + 3,
  ]);
  assert.equal(portOf(held), low + 1);
});

Deno.test("open() moves past a taken first port instead of trying it again", () => {
  // An allocator that stays on a taken port fails every call here.
  const [low, high] = freeUdpRange(3);
  using held = bind(low);
  const ports = new PortAllocator(HOST, { range: [low, high] });
  using a = own(ports.open());
  using b = own(ports.open());
  assert.deepEqual([portOf(a), portOf(b)], [low + 1, low + 2]);
  assert.throws(() => ports.open(), /no free transfer port in range/);
  assert.equal(portOf(held), low);
});

Deno.test("open() refuses with the documented error when another process holds the whole range", () => {
  const [low, high] = freeUdpRange(2);
  using a = bind(low);
  using b = bind(high);
  const ports = new PortAllocator(HOST, { range: [low, high] });
  assert.throws(
    () => ports.open(),
    (err: unknown) =>
      err instanceof Error &&
      err.message === `no free transfer port in range ${low}:${high}`,
  );
  assert.deepEqual([portOf(a), portOf(b)], [low, high]);
});

Deno.test("open() with a range of one port: that port, or the error while it is in use", () => {
  const [low] = freeUdpRange(1);
  const ports = new PortAllocator(HOST, { range: [low, low] });
  const conn = ports.open();
  assert.equal(portOf(conn), low);
  assert.throws(() => ports.open(), /no free transfer port in range/);
  conn.close();
  using again = own(ports.open());
  assert.equal(portOf(again), low);
});

/** `start`: offset into the range of the first port tried. */
const STARTS: { start: number; count: number; want: number[] }[] = [
  { start: 0, count: 4, want: [0, 1, 2, 3, 0] },
  { start: 1, count: 4, want: [1, 2, 3, 0, 1] },
  { start: 3, count: 4, want: [3, 0, 1, 2, 3] },
  { start: 4, count: 4, want: [0, 1, 2, 3, 0] }, // wraps
  { start: 9, count: 4, want: [1, 2, 3, 0, 1] },
  { start: 0, count: 1, want: [0, 0, 0] },
];

Deno.test("open() begins at the start offset into the range", () => {
  for (const { start, count, want } of STARTS) {
    const [low, high] = freeUdpRange(count);
    const ports = new PortAllocator(HOST, { range: [low, high], start });
    assert.deepEqual(
      cycle(ports, want.length).map((p) => p - low),
      want,
      `start ${start} in ${count} ports`,
    );
  }
});

Deno.test("open() with a start offset still skips held ports", () => {
  const [low, high] = freeUdpRange(4);
  using held = bind(low + 2);
  const ports = new PortAllocator(HOST, { range: [low, high], start: 2 });
  assert.deepEqual(cycle(ports, 4).map((p) => p - low), [3, 0, 1, 3]);
  assert.equal(portOf(held), low + 2);
});

/** Ranges the constructor refuses, with why. */
const INVALID_RANGES: [[number, number], string][] = [
  [[0, 10], "port 0 is no port"],
  [[10, 5], "low above high"],
  [[1, 65536], "above 65535"],
  [[65536, 65536], "above 65535"],
  [[-5, 10], "negative"],
  [[1.5, 3], "not an integer"],
  [[1000, 1000.5], "not an integer"],
  [[NaN, 10], "NaN"],
  [[10, NaN], "NaN"],
  [[1000, Infinity], "infinite"],
];

Deno.test("new PortAllocator() refuses an invalid range, naming it", () => {
  for (const [range, why] of INVALID_RANGES) {
    assert.throws(
      () => new PortAllocator(HOST, { range }),
      (err: unknown) =>
        err instanceof Error &&
        err.message === `invalid port range ${range[0]}:${range[1]}`,
      `${range.join(":")}: ${why}`,
    );
  }
});

Deno.test("new PortAllocator() accepts the extreme valid ranges", () => {
  for (const range of [[1, 1], [1, 65535], [65535, 65535]] as const) {
    const ports = new PortAllocator(HOST, { range: [range[0], range[1]] });
    assert.deepEqual(ports.range, range);
  }
});

/** Start offsets the constructor refuses. */
const INVALID_STARTS: [number, string][] = [
  [-1, "negative: would bind below the range"],
  [1.5, "not an integer"],
  [NaN, "NaN"],
  [Infinity, "infinite"],
];

Deno.test("new PortAllocator() refuses a start offset that is not a whole number", () => {
  for (const [start, why] of INVALID_STARTS) {
    assert.throws(
      () => new PortAllocator(HOST, { range: [2000, 2003], start }),
      (err: unknown) =>
        err instanceof Error && err.message === `invalid port start ${start}`,
      `${start}: ${why}`,
    );
  }
});

Deno.test("open() passes on errors other than 'in use' at once", () => {
  // 192.0.2.1 (TEST-NET-1) is no address of this host.
  const ports = new PortAllocator("192.0.2.1", { range: [2000, 2003] });
  assert.throws(() => ports.open(), Deno.errors.AddrNotAvailable);
});

Deno.test({
  name: "open() binds in the range on IPv6 too",
  ignore: needs("IPv6 on loopback (a UDP socket on ::1)", ipv6Available()),
  fn: () => {
    const [low, high] = freeUdpRange(2, "::1");
    using held = bind(low, "::1");
    const ports = new PortAllocator("::1", { range: [low, high] });
    using conn = own(ports.open());
    const addr = conn.addr as Deno.NetAddr;
    assert.equal(addr.hostname, "::1");
    assert.equal(addr.port, high);
    assert.equal(portOf(held), low);
  },
});
