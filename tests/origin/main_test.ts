/**
 * `--origin` end to end: `main.ts` as operators run it (a subprocess, the
 * default worker threads, the least-privilege permissions docs/origin.md
 * lists) in front of an origin this test serves with `Deno.serve`.
 *
 * - files under the root first, the origin for the rest, its errors mapped,
 *   `--origin-header` and `X-TFTP-Client` on every request, a hung origin
 *   cut off by `--origin-timeout`;
 * - `--origin-only` with no root and no read permission at all;
 * - a storm across worker threads: every client has its first block from
 *   one shared body before the origin sends the rest, and the origin saw
 *   one request (the threads get requests by a hash of the name; spread by
 *   load, each thread would make its own);
 * - `server.close()` closes the storage it built: a body in flight is
 *   aborted at the origin.
 */

import assert from "node:assert/strict";
import {
  decode,
  encodeAck,
  encodeRequest,
  Opcode,
} from "../../src/protocol/packet.ts";
import { Logger } from "../../src/log.ts";
import { TftpServer } from "../../src/server/server.ts";
import {
  CHILD_ENV,
  LISTENING,
  MAIN_TS,
  runMain,
  ServerProcess,
  startServer,
} from "../../testing/process.ts";
import { RawClient } from "../../testing/raw_client.ts";
import { freeUdpPort } from "../../testing/net.ts";
import {
  gate,
  getFile,
  HttpOrigin,
  randomBody,
  tempDir,
  WAIT_MS,
} from "./harness.ts";

/** The server listens here; clients come from {@linkcode CLIENT}. */
const HOST = "127.0.0.2";
const CLIENT = "127.0.0.3";
const text = (b: Uint8Array) => new TextDecoder().decode(b);

function permissions(origin: HttpOrigin, root?: string): string[] {
  return [
    `--allow-net=${HOST},${CLIENT},127.0.0.1:${origin.port}`,
    ...(root ? [`--allow-read=${root}`] : []),
  ];
}

async function threadsReady(srv: ServerProcess): Promise<void> {
  await srv.waitForLine(/\d+ worker threads ready \(bundle\)/);
}

Deno.test("main.ts --origin: root first, then the origin, with least-privilege flags and worker threads", async () => {
  const root = await tempDir("tftpd-origin-main-");
  await Deno.writeTextFile(`${root}/local.txt`, "from the root");
  const hang = gate();
  await using origin = new HttpOrigin(async (req, url) => {
    if (url.pathname === "/boot/missing.bin") {
      return new Response("no", { status: 404 });
    }
    if (url.pathname === "/boot/secret.bin") {
      return new Response("no", { status: 403 });
    }
    if (url.pathname === "/boot/hang.bin") await hang.promise;
    return new Response(
      `${url.pathname} for ${req.headers.get("x-tftp-client")} ` +
        `(${req.headers.get("x-token")})`,
    );
  });
  try {
    await using srv = await startServer(root, {
      host: HOST,
      permissions: permissions(origin, root),
      args: [
        "--read-only",
        "--origin",
        `${origin.url}boot/`,
        "--origin-header",
        "X-Token: t1",
        "--origin-timeout",
        "1",
        "--workers-start",
        "listen",
      ],
    });
    const started = srv.lines.find((l) => LISTENING.test(l))!;
    assert.match(
      started,
      new RegExp(
        `listening on 127\\.0\\.0\\.2:\\d+, root ${root} \\(read-only\\), ` +
          `origin http://127\\.0\\.0\\.1:${origin.port}/boot/, \\d+ worker threads$`,
      ),
    );
    await threadsReady(srv);
    const at = { hostname: HOST, port: srv.port };
    const get = (name: string) => getFile(at, name, { bind: CLIENT });

    const local = await get("local.txt");
    assert.equal(text(local.data), "from the root");
    assert.equal(origin.requests.length, 0, "a file under the root");

    const remote = await get("ipxe/undionly.kpxe");
    assert.equal(remote.error, undefined, srv.stderr.text);
    assert.equal(
      text(remote.data),
      `/boot/ipxe/undionly.kpxe for ${CLIENT} (t1)`,
    );
    assert.equal(origin.to("/boot/ipxe/undionly.kpxe").length, 1);

    assert.equal((await get("missing.bin")).error?.code, 1);
    assert.equal((await get("secret.bin")).error?.code, 2);
    const hung = await get("hang.bin");
    assert.equal(hung.error?.code, 0);
    assert.equal(hung.error?.message, "origin unavailable");
    hang.open();
    await srv.waitForLine(/origin GET .*\/boot\/hang\.bin: /);
    assert.equal((await srv.stop()).code, 0, srv.stderr.text);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("main.ts --origin-only: no root, no read permission, uploads refused", async () => {
  await using origin = new HttpOrigin((_req, url) =>
    new Response(`origin has ${url.pathname}`)
  );
  const port = freeUdpPort(HOST);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      ...permissions(origin),
      MAIN_TS,
      "--host",
      HOST,
      "-p",
      String(port),
      "--origin-only",
      "--origin",
      origin.url,
      "--workers",
      "2",
      "--workers-start",
      "listen",
    ],
    env: CHILD_ENV,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  await using srv = new ServerProcess(child, { host: HOST, port });
  const started = await srv.waitForLine(LISTENING);
  assert.match(
    started,
    new RegExp(
      `listening on 127\\.0\\.0\\.2:${port}, no root, ` +
        `origin http://127\\.0\\.0\\.1:${origin.port}/ \\(every name\\), 2 worker threads$`,
    ),
  );
  await threadsReady(srv);
  const at = { hostname: HOST, port };
  const r = await getFile(at, "pxelinux.cfg/default", { bind: CLIENT });
  assert.equal(text(r.data), "origin has /pxelinux.cfg/default");
  using up = RawClient.open(CLIENT);
  await up.send(encodeRequest(Opcode.WRQ, "x.bin"), at);
  const refused = await up.receive(WAIT_MS);
  assert.equal(refused?.packet.op, Opcode.ERROR);
  if (refused?.packet.op === Opcode.ERROR) assert.equal(refused.packet.code, 2);
  assert.equal((await srv.stop()).code, 0, srv.stderr.text);
});

Deno.test("main.ts --origin without the origin's --allow-net, or the cache's --allow-write, or with the cache in the root: exit 2 saying what to change", async () => {
  await using origin = new HttpOrigin(() => new Response("x"));
  const root = await tempDir("tftpd-origin-perm-");
  try {
    const base = ["--host", HOST, "-p", "0", "--root", root];
    const noNet = await runMain([...base, "--origin", origin.url], {
      permissions: [`--allow-net=${HOST}`, `--allow-read=${root}`],
    });
    assert.equal(noNet.code, 2, noNet.stderr);
    assert.equal(
      noNet.stderr,
      `tftpd: no network permission for the origin: run with --allow-net=127.0.0.1:${origin.port}\n`,
    );
    const noWrite = await runMain(
      [...base, "--origin", origin.url, "--origin-cache-dir", root],
      { permissions: [...permissions(origin, root)] },
    );
    assert.equal(noWrite.code, 2, noWrite.stderr);
    assert.equal(
      noWrite.stderr,
      `tftpd: no write permission on the origin cache ${root}: run with --allow-write=${root}\n`,
    );
    // Granted, a cache in the root is refused all the same: clients would
    // read its entries and an upload could plant one.
    const real = await Deno.realPath(root);
    for (
      const [dir, where] of [
        [root, "it is the root"],
        [`${root}/c`, "inside the root"],
        [`${root}/new/../c/d`, "inside the root"],
        [`/tmp/../${root}/c`, "inside the root"],
      ]
    ) {
      const inRoot = await runMain(
        [...base, "--origin", origin.url, "--origin-cache-dir", dir],
        {
          permissions: [...permissions(origin, root), `--allow-write=${root}`],
        },
      );
      assert.equal(inRoot.code, 2, inRoot.stderr);
      assert.equal(
        inRoot.stderr,
        `tftpd: invalid --origin-cache-dir ${dir}: ${where} ${root} ` +
          `(clients would read its entries and uploads could plant them): ` +
          `put it outside, e.g. /var/cache/tftpd-origin\n`,
      );
    }
    // The library refuses it too.
    const { openOriginStorage } = await import("../../src/storage/origin.ts");
    await assert.rejects(
      openOriginStorage({ origin: origin.url, root, cacheDir: `${real}/c/d` }),
      /inside the root/,
    );
    // A refused start creates nothing in the root.
    assert.deepEqual([...Deno.readDirSync(root)], []);
    Deno.mkdirSync(`${root}/c`);
    // A root inside the cache directory is not this problem (the cache
    // only ever touches names it writes, at its top level).
    const apart = await openOriginStorage({
      origin: origin.url,
      root: `${root}/c`,
      cacheDir: root,
    });
    await apart.close();
    assert.equal(origin.requests.length, 0);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

/**
 * A lock-step download that resolves `first` once DATA 1 is in, then reads
 * on to the end.
 */
function download(
  at: { hostname: string; port: number },
  name: string,
  bind: string,
): { first: Promise<void>; done: Promise<Uint8Array> } {
  const first = gate();
  const done = (async () => {
    using c = RawClient.open(bind);
    const parts: Uint8Array[] = [];
    let last = encodeRequest(Opcode.RRQ, name);
    let to: { hostname: string; port: number } = at;
    await c.send(last, to);
    for (let silent = 0; silent < 8;) {
      const r = await c.receiveRaw(3000);
      if (!r) {
        silent++;
        await c.send(last, to);
        continue;
      }
      silent = 0;
      const p = decode(r.data);
      if (p.op === Opcode.ERROR) {
        throw new Error(`ERROR ${p.code} ${p.message}`);
      }
      if (p.op !== Opcode.DATA) continue;
      if (p.block === parts.length + 1) parts.push(p.data.slice());
      if (p.block === 1) first.open();
      to = r.from;
      last = encodeAck(p.block);
      await c.send(last, to);
      if (p.data.length < 512 && p.block === parts.length) {
        const out = new Uint8Array(parts.reduce((n, x) => n + x.length, 0));
        let off = 0;
        for (const x of parts) {
          out.set(x, off);
          off += x.length;
        }
        return out;
      }
    }
    throw new Error(`${name}: the server went silent`);
  })();
  done.catch(() => first.open());
  return { first: first.promise, done };
}

Deno.test("main.ts --origin: a storm across worker threads makes one origin request", async () => {
  const CLIENTS = 60;
  const body = randomBody(8 * 1024 + 100);
  const allStarted = gate();
  await using origin = new HttpOrigin(() =>
    new Response(
      new ReadableStream({
        async start(c) {
          // Enough for everyone's block 1, the rest once all have it: a
          // client with block 1 has joined this body (or made a request
          // of its own, which the count below would show).
          c.enqueue(body.subarray(0, 1024));
          await allStarted.promise;
          c.enqueue(body.subarray(1024));
          c.close();
        },
      }),
      // Not storable (no freshness, no validators): nothing is served
      // from a cache, every client reads the one body in flight.
      { headers: { "content-length": String(body.length) } },
    )
  );
  const root = await tempDir("tftpd-origin-storm-");
  try {
    await using srv = await startServer(root, {
      host: HOST,
      permissions: permissions(origin, root),
      args: [
        "--origin",
        origin.url,
        "--workers",
        "2",
        "--workers-start",
        "listen",
      ],
    });
    await threadsReady(srv);
    const at = { hostname: HOST, port: srv.port };
    const clients = Array.from(
      { length: CLIENTS },
      () => download(at, "ipxe.efi", CLIENT),
    );
    await Promise.all(clients.map((c) => c.first));
    allStarted.open();
    for (const c of clients) assert.deepEqual(await c.done, body);
    assert.equal(origin.requests.length, 1, srv.stderr.text);
    assert.equal((await srv.stop()).code, 0);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("TftpServer({ origin }).close() closes the storage it built: a body in flight is aborted", async () => {
  const cancelled = gate();
  await using origin = new HttpOrigin(() =>
    new Response(
      new ReadableStream({
        start(c) {
          c.enqueue(new Uint8Array(600));
        },
        cancel() {
          cancelled.open();
        },
      }),
    )
  );
  const server = new TftpServer({
    host: "127.0.0.1",
    port: 0,
    workers: 1,
    // The body's own idle bound must not be what ends it.
    origin: { url: origin.url, only: true, idleTimeoutMs: 600_000 },
    logger: new Logger({ stderr: false }),
  });
  const addr = await server.listen();
  using c = RawClient.open("127.0.0.1");
  await c.send(encodeRequest(Opcode.RRQ, "stuck.bin"), addr);
  const first = await c.receive(WAIT_MS);
  assert.equal(first?.packet.op, Opcode.DATA);
  await server.close();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise<string>((r) => {
    timer = setTimeout(() => r("still open"), WAIT_MS);
  });
  const outcome = await Promise.race([
    cancelled.promise.then(() => "aborted"),
    bound,
  ]);
  clearTimeout(timer);
  assert.equal(outcome, "aborted");
});
