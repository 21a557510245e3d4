/**
 * `perClientRoot` and symlinks as client directories (hostile review A): a
 * client "directory" that is a symlink is not one, wherever it leads (another
 * client's directory, a directory of the shared root, the root itself, a
 * parent, a chain of links, nowhere), made before start-up or while the
 * server runs, in the main thread or a worker thread: that client reads the
 * shared root and cannot upload. The server says so once, in a quoted and
 * bounded line.
 */

import assert from "node:assert/strict";
import { ErrorCode } from "../../src/protocol/packet.ts";
import {
  answer,
  FeatureServer,
  type FeatureServerOptions,
  startFeatureServer,
  tempDir,
} from "./fixture.ts";

/** A feature server whose root gets `links` (target, name) before it starts. */
async function startWithLinks(
  opts: FeatureServerOptions,
  links: [string, string][],
): Promise<FeatureServer> {
  const root = await tempDir("tftpd-pcr-");
  const srv = new FeatureServer(root, opts);
  return await srv.start({
    files: opts.files,
    dirs: opts.dirs,
    prepare: async () => {
      for (const [target, name] of links) {
        await Deno.symlink(target, `${root}/${name}`);
      }
    },
  });
}

/** Every entry under `dir`, relative, sorted (symlinks not followed). */
function tree(dir: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    out.push(prefix + e.name);
    if (e.isDirectory) {
      out.push(...tree(`${dir}/${e.name}`, `${prefix}${e.name}/`));
    }
  }
  return out.sort();
}

const linkedClientDirs: [string, string][] = [
  ["hosts/web1", "127.0.0.4"], // the review's layout
  [".", "127.0.0.5"], // the root itself
  ["hosts", "127.0.0.6"], // a parent of another link's target
  ["127.0.0.2", "127.0.0.7"], // another client's real directory
  ["alias", "127.0.0.8"], // a chain: alias -> hosts/web1
  ["..", "127.0.0.9"], // the root's parent
  ["nowhere", "127.0.0.10"], // dangling
  ["hosts/web1", "alias"],
];

Deno.test("perClientRoot: a client directory that is a symlink is not used, wherever it leads (hostile review A)", async () => {
  await using srv = await startWithLinks({
    perClientRoot: true,
    files: {
      "a.txt": "shared",
      "hosts/web1/key": "web1-secret",
      "127.0.0.2/secret.txt": "2's secret",
      "2001-DB8--7/v6.txt": "no client's",
    },
  }, linkedClientDirs);
  const before = tree(srv.root);
  const missing = await answer(srv, "no-such.txt", { bind: "127.0.0.3" });
  assert.equal(missing[0], ErrorCode.FILE_NOT_FOUND);
  for (let i = 4; i <= 10; i++) {
    const bind = `127.0.0.${i}`;
    // Not its root: what the link leads to is not served as its own ...
    for (const name of ["key", "secret.txt", "127.0.0.2/secret.txt"]) {
      assert.deepEqual(
        await answer(srv, name, { bind }),
        missing,
        `${bind} reads ${name}`,
      );
    }
    // ... it reads the shared root, like a client without a directory,
    assert.deepEqual(await answer(srv, "a.txt", { bind }), [
      undefined,
      "shared",
    ]);
    // ... and cannot upload anywhere.
    for (const name of ["planted", "hosts/web1/planted", "127.0.0.2/planted"]) {
      assert.deepEqual(
        await answer(srv, name, { bind, put: true }),
        [
          ErrorCode.ACCESS_VIOLATION,
          "uploads need this client's own directory (per-client roots)",
        ],
        `${bind} uploads ${name}`,
      );
    }
  }
  assert.deepEqual(tree(srv.root), before, "nothing was planted");
  assert.deepEqual(
    await answer(srv, "hosts/web1/planted", { bind: "127.0.0.3" }),
    missing,
  );
  // The real client directory is fenced from all of them, and still its own.
  assert.deepEqual(await answer(srv, "secret.txt", { bind: "127.0.0.2" }), [
    undefined,
    "2's secret",
  ]);
  // Said at start-up, in one bounded line, and not again at each request.
  const links = srv.lines.filter((l) => l.includes("symlinks, not client"));
  assert.equal(links.length, 1, srv.lines.join("\n"));
  assert.match(
    links[0],
    /\[WARNING\] per-client roots: "127\.0\.0\.\d+", "127\.0\.0\.\d+", "127\.0\.0\.\d+" and 4 more in the root are symlinks, not client directories \(a client directory must be a real directory\)/,
  );
  assert.equal(
    srv.lines.filter((l) => l.includes("symlink, not a client")).length,
    0,
    "reported at start-up already",
  );
  // A directory that spells an address otherwise is no client's: said too.
  assert.ok(
    srv.lines.some((l) =>
      /"2001-DB8--7" in the root spells an address other than/.test(l)
    ),
    srv.lines.join("\n"),
  );
  assert.deepEqual(
    await answer(srv, "2001-DB8--7/v6.txt", { bind: "127.0.0.3" }),
    missing,
  );
});

Deno.test("perClientRoot: a client directory turned into a symlink while the server runs is not used from then on, and said once", async () => {
  await using srv = await startFeatureServer({
    perClientRoot: true,
    files: {
      "a.txt": "shared",
      "hosts/web1/key": "web1-secret",
      "127.0.0.4/own.txt": "4's own",
    },
  });
  const r = srv.root;
  assert.deepEqual(await answer(srv, "own.txt", { bind: "127.0.0.4" }), [
    undefined,
    "4's own",
  ]);
  await Deno.rename(`${r}/127.0.0.4`, `${r}/old-4`);
  await Deno.symlink("hosts/web1", `${r}/127.0.0.4`);
  await Deno.symlink("old-4", `${r}/127.0.0.5`); // created after start-up
  const missing = await answer(srv, "no-such.txt", { bind: "127.0.0.3" });
  for (const bind of ["127.0.0.4", "127.0.0.5"]) {
    for (let round = 0; round < 2; round++) {
      for (const name of ["key", "own.txt"]) {
        assert.deepEqual(await answer(srv, name, { bind }), missing, name);
      }
      const w = await answer(srv, "planted", { bind, put: true });
      assert.equal(w[0], ErrorCode.ACCESS_VIOLATION);
    }
  }
  assert.equal(await srv.readText("hosts/web1/planted"), undefined);
  assert.equal(await srv.readText("old-4/planted"), undefined);
  const said = srv.lines.filter((l) => l.includes("symlink, not a client"));
  assert.deepEqual(said.map((l) => l.replace(/^.*\] /, "")), [
    'per-client roots: "127.0.0.4" in the root is a symlink, not a client directory (a client directory must be a real directory): "127.0.0.4" reads the shared root and cannot upload',
    'per-client roots: "127.0.0.5" in the root is a symlink, not a client directory (a client directory must be a real directory): "127.0.0.5" reads the shared root and cannot upload',
  ]);
  // Made a real directory again, it is the client's again.
  await Deno.remove(`${r}/127.0.0.4`);
  await Deno.rename(`${r}/old-4`, `${r}/127.0.0.4`);
  assert.deepEqual(await answer(srv, "own.txt", { bind: "127.0.0.4" }), [
    undefined,
    "4's own",
  ]);
});

Deno.test("perClientRoot: the start-up line quotes and bounds what it names", async () => {
  // A zone may hold anything but a line terminator: it still spells fe80::1.
  const hostile = "fe80--1s\u001b[31m\t" + "x".repeat(200);
  await using srv = await startWithLinks({
    perClientRoot: true,
    files: { "a.txt": "shared" },
  }, [["a.txt", hostile]]);
  const line = srv.lines.find((l) => l.includes("is a symlink, not a client"));
  assert.ok(line, srv.lines.join("\n"));
  assert.ok(!line.includes("\u001b") && !line.includes("\t"), line);
  assert.ok(line.includes('"fe80--1s\\x1b[31m\\t'), line);
  assert.match(line, /\.\.\.\(\+\d+ chars\)/);
  assert.ok(line.length < 600, `${line.length} characters`);
});

Deno.test("perClientRoot with worker threads: a symlinked client directory is not used there either", async () => {
  await using srv = await startFeatureServer({
    perClientRoot: true,
    workers: 2,
    files: {
      "a.txt": "shared",
      "hosts/web1/key": "web1-secret",
      "127.0.0.2/secret.txt": "2's secret",
    },
  });
  await srv.server.startWorkers();
  await Deno.symlink("hosts/web1", `${srv.root}/127.0.0.4`);
  await Deno.symlink("127.0.0.2", `${srv.root}/127.0.0.5`);
  const missing = await answer(srv, "no-such.txt", { bind: "127.0.0.3" });
  for (const bind of ["127.0.0.4", "127.0.0.5"]) {
    for (const name of ["key", "secret.txt", "127.0.0.2/secret.txt"]) {
      assert.deepEqual(await answer(srv, name, { bind }), missing, name);
    }
    const w = await answer(srv, "planted", { bind, put: true });
    assert.equal(w[0], ErrorCode.ACCESS_VIOLATION);
  }
  assert.deepEqual(await answer(srv, "a.txt", { bind: "127.0.0.4" }), [
    undefined,
    "shared",
  ]);
  const s = await srv.waitForTransfer((t) =>
    t.filename === "key" && t.peer.startsWith("127.0.0.4")
  );
  assert.ok(s.worker !== undefined, "served by a worker thread");
  assert.equal(await srv.readText("hosts/web1/planted"), undefined);
  assert.equal(await srv.readText("127.0.0.2/planted"), undefined);
  // Said by the threads that met it, at most once each.
  const said = srv.lines.filter((l) =>
    l.includes('"127.0.0.4" in the root is a symlink')
  );
  assert.ok(said.length >= 1 && said.length <= 3, said.join("\n"));
});
