/**
 * The TID lock and what a stranger gets (src/protocol/peer.ts), one table
 * per rule: each case is a sequence of datagram sources (and, for replies
 * to strangers, times and whether the datagram is an ERROR).
 */

import assert from "node:assert/strict";
import {
  type Endpoint,
  PeerLock,
  type PeerLockOptions,
  Source,
} from "../../src/protocol/peer.ts";

const SERVER = { hostname: "10.0.0.1", port: 69 };
const CLIENT = { hostname: "10.0.0.9", port: 2000 };
const at = (hostname: string, port: number): Endpoint => ({ hostname, port });

interface LockCase {
  name: string;
  peer: Endpoint;
  options: PeerLockOptions;
  /** Each source, what it is, and the peer's port after it. */
  checks: [Endpoint, Source, number][];
}

const { PEER, LOCKED, STRANGER } = Source;

/** A server knows its peer's endpoint: anyone else is a stranger. */
const locked: LockCase[] = [
  {
    name: "PeerLock.check() takes the request's endpoint as the peer",
    peer: CLIENT,
    options: {},
    checks: [[CLIENT, PEER, 2000], [CLIENT, PEER, 2000]],
  },
  {
    name:
      "PeerLock.check() takes another port of the peer's host as a stranger",
    peer: CLIENT,
    options: {},
    checks: [[at("10.0.0.9", 2001), STRANGER, 2000], [CLIENT, PEER, 2000]],
  },
  {
    name:
      "PeerLock.check() takes the peer's port on another host as a stranger",
    peer: CLIENT,
    options: {},
    checks: [[at("10.0.0.8", 2000), STRANGER, 2000]],
  },
  {
    name: "PeerLock.check() takes an IPv4-mapped IPv6 address as the IPv4 peer",
    peer: CLIENT,
    options: {},
    checks: [
      [at("::ffff:10.0.0.9", 2000), PEER, 2000],
      [at("::FFFF:10.0.0.9", 2001), STRANGER, 2000],
    ],
  },
  {
    name: "PeerLock.check() compares IPv6 text case-insensitively",
    peer: at("fe80::1", 2000),
    options: {},
    checks: [[at("FE80::1", 2000), PEER, 2000]],
  },
];

/**
 * A client knows the server's address, not its transfer port: the first
 * datagram from that address locks the port, and any other port is then a
 * stranger.
 */
const unlocked: LockCase[] = [
  {
    name:
      "PeerLock.check() locks onto the first reply's port from the server's address",
    peer: SERVER,
    options: { locked: false },
    checks: [
      [at("10.0.0.1", 50001), LOCKED, 50001],
      [at("10.0.0.1", 50001), PEER, 50001],
    ],
  },
  {
    name: "PeerLock.check() takes any other port as a stranger once locked",
    peer: SERVER,
    options: { locked: false },
    checks: [
      [at("10.0.0.1", 50001), LOCKED, 50001],
      [at("10.0.0.1", 50002), STRANGER, 50001],
      [at("10.0.0.1", 69), STRANGER, 50001],
    ],
  },
  {
    name: "PeerLock.check() does not lock onto another host's datagram",
    peer: SERVER,
    options: { locked: false },
    checks: [
      [at("10.6.6.6", 50001), STRANGER, 69],
      [at("10.0.0.1", 50003), LOCKED, 50003],
    ],
  },
  {
    name:
      "PeerLock.check() locks onto the listen port itself if the server answers from it",
    peer: SERVER,
    options: { locked: false },
    checks: [[SERVER, LOCKED, 69], [at("10.0.0.1", 50001), STRANGER, 69]],
  },
  {
    name: "PeerLock.check() locks from an IPv4-mapped address of the server",
    peer: SERVER,
    options: { locked: false },
    checks: [[at("::ffff:10.0.0.1", 50001), LOCKED, 50001]],
  },
];

for (const c of [...locked, ...unlocked]) {
  Deno.test(c.name, () => {
    const lock = new PeerLock(c.peer, c.options, 0);
    assert.equal(lock.locked, c.options.locked ?? true);
    for (const [i, [from, want, port]] of c.checks.entries()) {
      assert.equal(lock.check(from), want, `check ${i}`);
      assert.equal(lock.peer.port, port, `peer port after check ${i}`);
      assert.equal(lock.peer.hostname, c.peer.hostname, "the host never moves");
    }
    if (c.checks.some(([, s]) => s !== STRANGER)) {
      assert.equal(lock.locked, true);
    }
  });
}

interface StrangerCase {
  name: string;
  options: PeerLockOptions;
  /** [time, the datagram is an ERROR, ERROR 5 is sent]. */
  replies: [number, boolean, boolean][];
}

/**
 * A stranger gets ERROR 5, never in reply to an ERROR (Loop DoS), and at a
 * bounded rate (no reflection).
 */
const strangers: StrangerCase[] = [
  {
    name: "PeerLock.answerStranger() never answers an ERROR",
    options: {},
    replies: [[0, true, false], [10_000, true, false]],
  },
  {
    name:
      "PeerLock.answerStranger() answers a burst of 4 by default, then nothing",
    options: {},
    replies: [
      [0, false, true],
      [0, false, true],
      [0, false, true],
      [0, false, true],
      [0, false, false],
      [249, false, false],
    ],
  },
  {
    name: "PeerLock.answerStranger() earns one reply per 250 ms by default",
    options: {},
    replies: [
      [0, false, true],
      [0, false, true],
      [0, false, true],
      [0, false, true],
      [250, false, true],
      [250, false, false],
      [499, false, false],
      [500, false, true],
    ],
  },
  {
    name: "PeerLock.answerStranger() never saves more than a burst",
    options: { burst: 2, refillMs: 100 },
    replies: [
      [10_000, false, true],
      [10_000, false, true],
      [10_000, false, false],
    ],
  },
  {
    name:
      "PeerLock.answerStranger() spends nothing on an ERROR it leaves unanswered",
    options: { burst: 1 },
    replies: [[0, true, false], [0, true, false], [0, false, true]],
  },
  {
    name: "PeerLock.answerStranger() with burst 0 answers no one",
    options: { burst: 0 },
    replies: [[0, false, false], [1000, false, false]],
  },
];

for (const c of strangers) {
  Deno.test(c.name, () => {
    const lock = new PeerLock(CLIENT, c.options, 0);
    for (const [i, [now, isError, want]] of c.replies.entries()) {
      assert.equal(lock.answerStranger(isError, now), want, `reply ${i}`);
    }
  });
}
