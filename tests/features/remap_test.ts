/**
 * Remap rules (`--map-file`, tftpd-hpa `-m` format): parsing with line
 * numbers in errors, every flag and substitution end to end, and the rule
 * that remapping can never leave the root.
 */

import assert from "node:assert/strict";
import { TftpClientError } from "../../src/client/client.ts";
import { parseRemapRules } from "../../src/server/remap.ts";
import { runMain, startServer } from "../../testing/process.ts";
import {
  download,
  downloadText,
  type FeatureServerOptions,
  startFeatureServer,
  tempDir,
  upload,
} from "./fixture.ts";

/** The error a failed transfer reports: [kind, code]. */
async function failure(p: Promise<unknown>): Promise<[string, number]> {
  const err = await p.then(() => undefined, (e) => e);
  assert.ok(err instanceof TftpClientError, `expected a TFTP error: ${err}`);
  return [err.kind, err.code];
}

/** Starts a server with `rules` (remap file text). */
function withRules(rules: string, opts: FeatureServerOptions = {}) {
  return startFeatureServer({ ...opts, remap: parseRemapRules(rules) });
}

Deno.test("parseRemapRules: comments and blank lines; rules keep their line", () => {
  const rules = parseRemapRules(
    "# boot files\n\nr ^pxelinux\\.cfg/ pxe/   # trailing comment\n" +
      "  a\t\\.\\.\n",
  );
  assert.deepEqual(rules.map((r) => [r.line, r.flags]), [[3, "r"], [4, "a"]]);
  assert.equal(parseRemapRules("# only a comment\n\n").length, 0);
});

Deno.test("parseRemapRules: \\N up to the regex's groups, and an escaped backslash, are fine", () => {
  const rules = parseRemapRules("r ^(a)(b)$ \\2\\1\\0\nr ^c$ d\\\\9\n");
  assert.deepEqual(rules.map((r) => r.groups), [2, 0]);
  assert.throws(
    () => parseRemapRules("r ^(a)$ \\2\n"),
    { message: "line 1: \\2 refers to group 2, but the regex has 1" },
  );
});

Deno.test("parseRemapRules: a bad rule throws with its line number", async (t) => {
  const bad: [string, number][] = [
    ["r ^a b\nq ^a b\n", 2], // unknown flag
    ["# c\n\nr ( x\n", 3], // bad regex
    ["r\n", 1], // missing regex
    ["r ^a b\n\n\nr ^a\n", 4], // r without replacement
    ["r ^a b c d\n", 1], // too many fields
    ["r ^a b\nr ^(a)(b)$ \\1\\3\n", 2], // a group the regex lacks
    ["r ^a$ x\\1\n", 1], // a group with no group at all
  ];
  for (const [text, line] of bad) {
    await t.step(JSON.stringify(text), () => {
      assert.throws(
        () => parseRemapRules(text),
        (err: Error) => err.message.includes(`line ${line}`),
      );
    });
  }
});

Deno.test("r: rewrite with groups, \\0, \\i and \\x", async () => {
  await using srv = await withRules(
    [
      "r ^pxelinux\\.cfg/ pxe/",
      "r ^config$ configs/\\i.cfg",
      "r ^hex$ hex/\\x",
      "r ^swap-(\\w+)\\.(\\w+)$ \\2/\\1",
      "r ^whole$ all/\\0",
    ].join("\n"),
    {
      files: {
        "pxe/default": "pxe default",
        "configs/127.0.0.1.cfg": "cfg for 127.0.0.1",
        "hex/7F000001": "hex name",
        "txt/a": "swapped",
        "all/whole": "whole match",
      },
    },
  );
  assert.equal(await downloadText(srv, "pxelinux.cfg/default"), "pxe default");
  assert.equal(await downloadText(srv, "config"), "cfg for 127.0.0.1");
  assert.equal(await downloadText(srv, "hex"), "hex name");
  assert.equal(await downloadText(srv, "swap-a.txt"), "swapped");
  assert.equal(await downloadText(srv, "whole"), "whole match");
});

Deno.test("g and i: global and case-insensitive rewrites", async () => {
  await using srv = await withRules("rg - _\nri ^BOOT/ boot/\nr q z\n", {
    files: { "a_b_c.txt": "global", "boot/k": "kernel", "zq.txt": "first" },
  });
  assert.equal(await downloadText(srv, "a-b-c.txt"), "global");
  assert.equal(await downloadText(srv, "Boot/k"), "kernel");
  // Without g, only the first match is replaced.
  assert.equal(await downloadText(srv, "qq.txt"), "first");
});

Deno.test("e ends the rules after a match; s restarts from the first rule", async () => {
  const files = { b: "B", c: "C", d: "D" };
  {
    await using srv = await withRules("re ^a$ b\nr ^b$ c\n", { files });
    assert.equal(await downloadText(srv, "a"), "B");
  }
  {
    await using srv = await withRules("r ^a$ b\nr ^b$ c\n", { files });
    assert.equal(await downloadText(srv, "a"), "C");
  }
  {
    // Rule 1 does not match "a"; rule 2 makes "b" and restarts: rule 1 -> c.
    await using srv = await withRules("r ^b$ c\nrs ^a$ b\n", { files });
    assert.equal(await downloadText(srv, "a"), "C");
  }
  {
    // A rewrite loop is stopped with an error instead of hanging.
    await using srv = await withRules("rs ^a$ a\n", { files: { a: "A" } });
    assert.deepEqual(await failure(download(srv, "a")), ["access", 2]);
  }
});

Deno.test("a refuses with ERROR 2; ~ inverts the match", async () => {
  await using srv = await withRules("a ^secret\na~ ^(pub/|secret)\n", {
    files: { "secret.txt": "s", "pub/x": "public", "other.txt": "o" },
  });
  assert.deepEqual(await failure(download(srv, "secret.txt")), ["access", 2]);
  assert.deepEqual(await failure(download(srv, "other.txt")), ["access", 2]);
  assert.equal(await downloadText(srv, "pub/x"), "public");
});

Deno.test("G applies to reads only, P to writes only", async () => {
  await using srv = await withRules(
    "rP ^(.*)$ incoming/\\1\naG ^incoming/\n",
    { files: { "x.txt": "root copy" }, dirs: ["incoming"] },
  );
  // The upload is redirected into incoming/ ...
  await upload(srv, "x.txt", { data: "uploaded" });
  assert.equal(await srv.readText("incoming/x.txt"), "uploaded");
  assert.equal(await srv.readText("x.txt"), "root copy");
  // ... reads are not rewritten, and incoming/ is not readable.
  assert.equal(await downloadText(srv, "x.txt"), "root copy");
  assert.deepEqual(
    await failure(download(srv, "incoming/x.txt")),
    ["access", 2],
  );
});

Deno.test("\\\\ in a replacement is one literal backslash", async () => {
  await using srv = await withRules("r ^bs$ lit\\\\name\n", {
    normalizeNames: false,
    files: { "lit\\name": "backslash" },
  });
  assert.equal(await downloadText(srv, "bs"), "backslash");
});

Deno.test("a rule can never map outside the root", async () => {
  const outside = await tempDir("tftpd-outside-");
  try {
    await Deno.writeTextFile(`${outside}/secret.txt`, "outside");
    await using srv = await withRules(
      [
        `r ^up$ ../${outside.split("/").pop()}/secret.txt`,
        `r ^abs$ ${outside}/secret.txt`,
        "r ^dots$ a/../../x",
      ].join("\n"),
    );
    for (const name of ["up", "abs", "dots"]) {
      const err = await download(srv, name).then(() => undefined, (e) => e);
      assert.ok(err instanceof TftpClientError, `${name}: ${err}`);
      assert.ok(
        err.kind === "access" || err.kind === "not-found",
        `${name}: ${err.kind}`,
      );
    }
    // Uploads too.
    const err = await upload(srv, "up", { data: "x" }).then(
      () => undefined,
      (e) => e,
    );
    assert.ok(err instanceof TftpClientError);
    assert.equal(await Deno.readTextFile(`${outside}/secret.txt`), "outside");
  } finally {
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("the command: --map-file applies rules; a bad rule exits 2 naming its line", async (t) => {
  const dir = await tempDir("tftpd-map-");
  try {
    const root = `${dir}/root`;
    await Deno.mkdir(`${root}/cfg`, { recursive: true });
    await Deno.writeTextFile(`${root}/cfg/host1`, "host1 config");
    await Deno.writeTextFile(
      `${dir}/good.map`,
      "# configs live in cfg/\nr ^(.*)\\.cfg$ cfg/\\1\n",
    );
    await Deno.writeTextFile(`${dir}/bad.map`, "# x\nr ^a b\nr (oops x\n");
    await t.step("good rules", async () => {
      await using server = await startServer(root, {
        args: ["--map-file", `${dir}/good.map`],
        permissions: [
          "--allow-net",
          `--allow-read=${dir}`,
          `--allow-write=${root}`,
        ],
      });
      const target = { target: { host: server.host, port: server.port } };
      assert.equal(await downloadText(target, "host1.cfg"), "host1 config");
    });
    await t.step("bad rule", async () => {
      const r = await runMain(
        ["-p", "0", "--root", root, "--map-file", `${dir}/bad.map`],
        { permissions: ["--allow-net", `--allow-read=${dir}`] },
      );
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /line 3/);
      assert.doesNotMatch(r.stderr, /listening on/);
    });
    await t.step("missing file", async () => {
      const r = await runMain(
        ["-p", "0", "--root", root, "--map-file", `${dir}/nope.map`],
        { permissions: ["--allow-net", `--allow-read=${dir}`] },
      );
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /nope\.map/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Spellings of `private/x` that all mean the same file under the root. */
const PRIVATE_SPELLINGS = [
  "private/x",
  "/private/x",
  "\\private\\x",
  "./private/x",
  "//private/x",
  "private//x",
  "private/./x",
  ".\\private\\x",
  "/./private//./x",
];
/** The same with other letter cases, for `ignoreCase`. */
const PRIVATE_CASES = ["PRIVATE/x", "Private\\X", "/pRiVaTe/x", "private/X"];

Deno.test("the README's deny rule `a ^private/` holds for every spelling of the name", async (t) => {
  for (const ignoreCase of [false, true]) {
    await using srv = await withRules("a ^private/\n", {
      ignoreCase,
      files: { "private/x": "secret", "public/x": "public" },
    });
    const names = ignoreCase
      ? [...PRIVATE_SPELLINGS, ...PRIVATE_CASES]
      : PRIVATE_SPELLINGS;
    for (const name of names) {
      await t.step(`${name}${ignoreCase ? " (ignoreCase)" : ""}`, async () => {
        assert.deepEqual(await failure(download(srv, name)), ["access", 2]);
      });
    }
    assert.equal(await downloadText(srv, "\\public\\x"), "public");
  }
});

Deno.test("ignoreCase: a deny rule holds for letters whose other case is another script's (KELVIN SIGN, ANGSTROM SIGN)", async (t) => {
  await using srv = await withRules("a ^kernel/\na ^\u00c5rhus/\n", {
    ignoreCase: true,
    files: { "kernel/vmlinuz": "secret", "\u00c5rhus/x": "secret" },
  });
  // U+212A lower-cases to "k" and U+212B to U+00E5, yet neither is the
  // same letter under the rule's case folding: they must not open the file.
  for (const name of ["\u212aernel/vmlinuz", "\u212brhus/x"]) {
    await t.step(JSON.stringify(name), async () => {
      const got = await download(srv, name).then(
        (r) => new TextDecoder().decode(r.data),
        (err: Error) => err.message,
      );
      assert.notEqual(got, "secret");
    });
  }
  for (const name of ["KERNEL/vmlinuz", "\u00e5rhus/x", "\u00c5RHUS/X"]) {
    await t.step(`${JSON.stringify(name)} is denied`, async () => {
      assert.deepEqual(await failure(download(srv, name)), ["access", 2]);
    });
  }
});

Deno.test("a deny rule holds after an earlier rewrite makes a name in another spelling", async (t) => {
  const maps = [
    // A prefix stripped, leaving a leading slash, two or a backslash.
    "r ^boot(.*) \\1\na ^private/\n",
    // tftpd-hpa's man page idiom, then the README's deny rule.
    "rg \\\\ /\nr ^[^/] /\\0\na \\.\\.\na ^private/\n",
  ];
  for (const map of maps) {
    await using srv = await withRules(map, {
      files: { "private/x": "secret", "public/x": "public" },
    });
    const names = [
      "boot/private/x",
      "boot//private/x",
      "boot\\private\\x",
      "private/x",
      "/private/x",
      "\\private\\x",
    ];
    for (const name of names) {
      await t.step(`${JSON.stringify(map)}: ${name}`, async () => {
        const got = await download(srv, name).then(
          (r) => new TextDecoder().decode(r.data),
          (err: Error) => err.message,
        );
        assert.notEqual(got, "secret");
      });
    }
    assert.equal(await downloadText(srv, "public/x"), "public");
  }
});

Deno.test("a tftpd-hpa rule anchored at a leading / matches the normalised name", async (t) => {
  // tftpd-hpa matches names as sent, so its map files say `^/private/`.
  for (const rule of ["a ^/private/", "a ^\\/private/"]) {
    await using srv = await withRules(`${rule}\n`, {
      files: { "private/x": "secret", "public/x": "public" },
    });
    for (const name of PRIVATE_SPELLINGS) {
      await t.step(`${rule}: ${name}`, async () => {
        assert.deepEqual(await failure(download(srv, name)), ["access", 2]);
      });
    }
    assert.equal(await downloadText(srv, "/public/x"), "public");
  }
  await using srv = await withRules(
    "r ^/boot/(.*) images/\\1\na~ ^/(images|pub)/\nr ^/ nothing\na ^/|x\n",
    { files: { "images/k": "kernel", "pub/y": "pub", "boot/k": "wrong" } },
  );
  // The rewrite and the inverted deny both match without the slash; `^/`
  // alone, or before `|`, is left as written (it would match every name).
  assert.equal(await downloadText(srv, "boot/k"), "kernel");
  assert.equal(await downloadText(srv, "/boot/k"), "kernel");
  assert.equal(await downloadText(srv, "pub/y"), "pub");
  assert.deepEqual(await failure(download(srv, "other")), ["access", 2]);
});

Deno.test("an `aP` upload rule holds for every spelling of the name", async (t) => {
  for (const ignoreCase of [false, true]) {
    await using srv = await withRules("aP ^private/\n", {
      ignoreCase,
      dirs: ["private", "public"],
    });
    const names = ignoreCase
      ? [...PRIVATE_SPELLINGS, ...PRIVATE_CASES]
      : PRIVATE_SPELLINGS;
    for (const name of names) {
      await t.step(`${name}${ignoreCase ? " (ignoreCase)" : ""}`, async () => {
        assert.deepEqual(
          await failure(upload(srv, name, { data: "planted" })),
          ["access", 2],
        );
      });
    }
    assert.deepEqual([...Deno.readDirSync(`${srv.root}/private`)], []);
    await upload(srv, "\\public\\y", { data: "ok" });
    assert.equal(await srv.readText("public/y"), "ok");
  }
});

Deno.test("a rewrite result is validated again: a rule cannot produce .. or a reserved name", async () => {
  await using srv = await withRules(
    "r ^dots$ a/../x\nr ^tmp$ .tftp-upload-x\nr ^lead$ //x\n",
    { files: { x: "X", ".tftp-upload-x": "temporary" } },
  );
  assert.deepEqual(await failure(download(srv, "dots")), ["access", 2]);
  assert.deepEqual(await failure(download(srv, "tmp")), ["not-found", 1]);
  assert.equal(await downloadText(srv, "lead"), "X");
});

Deno.test("a rewrite that keeps growing the name is stopped with ERROR 2", async () => {
  await using srv = await withRules("rs ^(a+)$ \\1\\1\n", {
    files: { a: "A" },
  });
  assert.deepEqual(await failure(download(srv, "a")), ["access", 2]);
});

Deno.test("the command: a rule a backtracking engine takes 2^n steps on answers a hostile name at once", async () => {
  const dir = await tempDir("tftpd-map-");
  try {
    const root = `${dir}/root`;
    await Deno.mkdir(`${root}/boot`, { recursive: true });
    await Deno.writeTextFile(`${root}/boot/vmlinuz`, "kernel");
    await Deno.writeTextFile(`${root}/ok`, "still serving");
    await Deno.writeTextFile(
      `${dir}/slow.map`,
      "r ^(.*[/])*vmlinuz$ boot/vmlinuz\na (x+x+)+y\n",
    );
    const server = await startServer(root, {
      args: ["--map-file", `${dir}/slow.map`],
      permissions: ["--allow-net", `--allow-read=${dir}`],
    });
    // SIGKILL: a server stuck in a regex would never run its SIGTERM handler.
    await using _stop = {
      [Symbol.asyncDispose]: async () => void await server.stop("SIGKILL"),
    };
    const target = { target: { host: server.host, port: server.port } };
    // Each would hold the server's thread for seconds to ages if the rule
    // backtracked: 2^31 ways to split the first, 2^250 the second.
    const deep = Array(31).fill("a").join("/") + "/x";
    const opts = { retransmitMs: 1000, retries: 2 };
    const notFound = ["not-found", 1];
    assert.deepEqual(await failure(download(target, deep, opts)), notFound);
    const many = "x".repeat(250);
    assert.deepEqual(await failure(download(target, many, opts)), notFound);
    const denied = await failure(download(target, "xxxxy", opts));
    assert.deepEqual(denied, ["access", 2]);
    assert.equal(await downloadText(target, "a/b/vmlinuz", opts), "kernel");
    assert.equal(await downloadText(target, "ok", opts), "still serving");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
