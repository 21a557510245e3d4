import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  Logger,
  TftpClientError,
  tftpGet,
  tftpPut,
  TftpServer,
} from "../../mod.ts";
import { RoutingServer } from "../../examples/select_protocol.ts";
import { Sha256Server } from "../../examples/custom_option.ts";
import { bootStorage } from "../../examples/memory_storage.ts";
import { concat } from "../../testing/bytes.ts";

function quietLogger(): Logger {
  return new Logger({ stderr: false });
}

function collect(): { sink: { write(d: Uint8Array): void }; text(): string } {
  const parts: Uint8Array[] = [];
  return {
    sink: { write: (d) => void parts.push(d.slice()) },
    text: () => new TextDecoder().decode(concat(parts)),
  };
}

Deno.test("selectProtocol override routes 'whoami' to a generated session", async () => {
  const root = await Deno.makeTempDir();
  const server = new RoutingServer({
    host: "127.0.0.1",
    port: 0,
    root,
    logger: quietLogger(),
  });
  const { port } = await server.listen();
  try {
    const out = collect();
    await tftpGet("whoami", { host: "127.0.0.1", port, sink: out.sink });
    assert.ok(/^127\.0\.0\.1:\d+\n$/.test(out.text()), out.text());
    // Other names still come from the file system, uploads from loopback work.
    await tftpPut("up.txt", {
      host: "127.0.0.1",
      port,
      data: new TextEncoder().encode("x"),
    });
    assert.equal(await Deno.readTextFile(`${root}/up.txt`), "x");
  } finally {
    await server.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a session subclass adds the x-sha256 option", async () => {
  const root = await Deno.makeTempDir();
  const data = crypto.getRandomValues(new Uint8Array(5000));
  await Deno.writeFile(`${root}/fw.bin`, data);
  const server = new Sha256Server({
    host: "127.0.0.1",
    port: 0,
    root,
    logger: quietLogger(),
  });
  const { port } = await server.listen();
  try {
    const got: Uint8Array[] = [];
    const res = await tftpGet("fw.bin", {
      host: "127.0.0.1",
      port,
      extraOptions: { "x-sha256": "0" },
      sink: { write: (d) => void got.push(d.slice()) },
    });
    const want = createHash("sha256").update(data).digest("hex");
    assert.equal(res.options.get("x-sha256"), want);
    assert.equal(createHash("sha256").update(concat(got)).digest("hex"), want);
    // Without the option there is no OACK at all.
    const plain = await tftpGet("fw.bin", {
      host: "127.0.0.1",
      port,
      sink: { write() {} },
    });
    assert.equal(plain.options.size, 0);
  } finally {
    await server.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("memory storage serves per-client content with a declared size", async () => {
  const server = new TftpServer({
    host: "127.0.0.1",
    port: 0,
    storage: bootStorage("http://10.0.0.1/boot"),
    logger: quietLogger(),
  });
  const { port } = await server.listen();
  try {
    const out = collect();
    const res = await tftpGet("boot.ipxe", {
      host: "127.0.0.1",
      port,
      tsize: true,
      sink: out.sink,
    });
    assert.ok(out.text().includes("echo booting 127.0.0.1"));
    assert.equal(res.options.get("tsize"), String(out.text().length));
    await assert.rejects(
      () =>
        tftpGet("missing", { host: "127.0.0.1", port, sink: { write() {} } }),
      (e) => e instanceof TftpClientError && e.code === 1,
    );
    // Uploads are refused by a read-only memory storage.
    await assert.rejects(
      () => tftpPut("x", { host: "127.0.0.1", port, data: new Uint8Array(1) }),
      (e) => e instanceof TftpClientError && e.code === 2,
    );
  } finally {
    await server.close();
  }
});
