/**
 * driveReceive (src/transport/driver.ts) on the fakes, the peer played by
 * the test: the order of write, commit and the final ACK, failures of either
 * ending the transfer for every receiver, and timers or a close during them.
 */

import assert from "node:assert/strict";
import { encodeData, ErrorCode, TftpError } from "../../src/protocol/packet.ts";
import { ReceiveTransfer } from "../../src/protocol/receive_transfer.ts";
import { driveReceive } from "../../src/transport/driver.ts";
import { elapse, FakeTransport, settle } from "../../testing/fake.ts";
import {
  CountingClock,
  deferred,
  finished,
  pattern,
  PEER,
  what,
} from "./driver_cases.ts";

/** A server receiving an upload over fakes; `log` records the order of events. */
function serverWrite(
  o: {
    lingerMs?: number;
    role?: "server" | "client";
    write?: (d: Uint8Array) => void | Promise<void>;
    commit?: () => Promise<void>;
  } = {},
) {
  const transport = new FakeTransport();
  const clock = new CountingClock();
  const log: string[] = [];
  const client = o.role === "client";
  const t = new ReceiveTransfer({
    role: o.role ?? "server",
    peer: client ? { hostname: PEER.hostname, port: 69 } : PEER,
    lingerMs: o.lingerMs,
  }, clock.now());
  const origSend = transport.send.bind(transport);
  transport.send = (data, addr) => {
    log.push(`send ${what({ data, addr })}`);
    return origSend(data, addr);
  };
  const run = driveReceive(t, {
    transport,
    clock,
    maxBlksize: 512,
    request: client
      ? new Uint8Array([0, 1, 97, 0, 111, 99, 116, 101, 116, 0])
      : undefined,
    write: (d) => {
      log.push(`write ${d.length}`);
      return o.write?.(d);
    },
    commit: () => {
      log.push("commit");
      return o.commit?.() ?? Promise.resolve();
    },
  });
  return { t, run, transport, clock, log };
}

Deno.test("driveReceive commits before it sends the final ACK", async () => {
  const commit = deferred<void>();
  const { t, run, transport, log } = serverWrite({
    commit: () => commit.promise,
  });
  await settle();
  transport.inject(encodeData(1, pattern(512)), PEER);
  await settle();
  transport.inject(encodeData(2, pattern(10)), PEER);
  await settle();
  assert.deepEqual(log, [
    "send ACK 0",
    "write 512",
    "send ACK 1",
    "write 10",
    "commit",
  ], "no final ACK while the commit runs");
  commit.resolve();
  await finished(run);
  assert.equal(log.at(-1), "send ACK 2");
  assert.equal(t.outcome, "ok");
  assert.equal(run.bytes, 522);
});

Deno.test("driveReceive sends the ACK of a block only once its write completed", async () => {
  const write = deferred<void>();
  let first = true;
  const { run, transport, log } = serverWrite({
    write: () => {
      if (!first) return;
      first = false;
      return write.promise;
    },
  });
  await settle();
  transport.inject(encodeData(1, pattern(512)), PEER);
  await settle();
  assert.deepEqual(log, ["send ACK 0", "write 512"]);
  write.resolve();
  await settle();
  assert.deepEqual(log, ["send ACK 0", "write 512", "send ACK 1"]);
  run.close();
});

const failures: {
  name: string;
  commit?: () => Promise<void>;
  write?: () => void;
  error: string;
  log: string[];
}[] = [
  {
    name: "driveReceive sends a failing commit's TftpError and no final ACK",
    commit: () =>
      Promise.reject(new TftpError(ErrorCode.FILE_EXISTS, "exists")),
    error: "ERROR 6 exists",
    log: ["write 10", "commit"],
  },
  {
    name:
      "driveReceive sends ERROR 3 for a commit failing otherwise, and no final ACK",
    commit: () => Promise.reject(new Error("EIO")),
    error: "ERROR 3 could not store: EIO",
    log: ["write 10", "commit"],
  },
  {
    name:
      "driveReceive sends ERROR 3 for a failing write of the final block, and neither commit nor ACK",
    write: () => {
      throw new Error("ENOSPC");
    },
    error: "ERROR 3 write failed: ENOSPC",
    log: ["write 10"],
  },
];

/** Who receives: the failure must end the transfer for each of them. */
const receivers = [
  { label: "server", role: "server", lingerMs: 0 },
  { label: "lingering server", role: "server", lingerMs: 3000 },
  { label: "client", role: "client", lingerMs: 0 },
] as const;

for (const f of failures) {
  for (const r of receivers) {
    Deno.test(`${f.name} (${r.label})`, async () => {
      const { t, run, transport, clock, log } = serverWrite({
        role: r.role,
        lingerMs: r.lingerMs,
        commit: f.commit,
        write: f.write,
      });
      await settle();
      const from = r.role === "client" ? { ...PEER, port: 50001 } : PEER;
      transport.inject(encodeData(1, pattern(10)), from);
      await settle();
      await elapse(clock, 60_000);
      assert.equal(transport.closed, true, "the transfer ended");
      await finished(run);
      assert.deepEqual(log.slice(1), [...f.log, `send ${f.error}`]);
      assert.equal(t.outcome, "error");
      assert.equal(
        `ERROR ${run.localError?.code} ${run.localError?.message}`,
        f.error,
      );
      assert.equal(transport.sendsAfterClose, 0);
    });
  }
}

Deno.test("driveReceive (server): a timer firing while the commit runs does not end the transfer", async () => {
  const commit = deferred<void>();
  const { t, run, transport, clock, log } = serverWrite({
    lingerMs: 3000,
    commit: () => commit.promise,
  });
  await settle();
  transport.inject(encodeData(1, pattern(10)), PEER);
  await settle();
  assert.equal(clock.pending, 1, "the retransmit timer is still armed");
  await elapse(clock, 60_000);
  assert.equal(transport.closed, false);
  assert.equal(t.outcome, undefined);
  assert.deepEqual(log, ["send ACK 0", "write 10", "commit"]);
  commit.resolve();
  await settle();
  assert.equal(log.at(-1), "send ACK 1");
  // The linger runs from the final ACK.
  await elapse(clock, 2999);
  assert.equal(transport.closed, false);
  await elapse(clock, 1);
  await finished(run);
  assert.equal(t.outcome, "ok");
  assert.equal(log.filter((l) => l.startsWith("send ERROR")).length, 0);
});

Deno.test("driveReceive (client): a timer firing while the commit runs does not end the transfer", async () => {
  const commit = deferred<void>();
  const { t, run, transport, clock, log } = serverWrite({
    role: "client",
    commit: () => commit.promise,
  });
  await settle();
  transport.inject(encodeData(1, pattern(10)), { ...PEER, port: 50001 });
  await settle();
  await elapse(clock, 60_000);
  assert.equal(transport.closed, false);
  commit.resolve();
  await finished(run);
  assert.equal(t.outcome, "ok");
  assert.deepEqual(log.slice(-3), ["write 10", "commit", "send ACK 1"]);
});

Deno.test("driveReceive sends nothing once closed during a write", async () => {
  const write = deferred<void>();
  const { t, run, transport } = serverWrite({ write: () => write.promise });
  await settle();
  transport.inject(encodeData(1, pattern(512)), PEER);
  await settle();
  t.end("cancelled", "shutdown");
  run.close();
  write.resolve();
  await finished(run);
  assert.deepEqual(transport.sent.map(what), ["ACK 0"]);
  assert.equal(transport.sendsAfterClose, 0);
});
