/**
 * nginx (from apt) as the origin: a temporary prefix, config and pid file
 * in a temporary directory, listening on a free loopback port, stopped by
 * PID. Big file past the block rollover, revalidation against nginx's own
 * ETag/Last-Modified (304s in its access log), 404/403, traversal.
 *
 * nginx missing fails the test when `CI` is set, and ignores it otherwise.
 */

import assert from "node:assert/strict";
import { getFile, randomBody, startOriginServer, tempDir } from "./harness.ts";
import { LineCollector } from "../../testing/process.ts";

const NGINX = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
});
const IN_CI = !!Deno.env.get("CI") && Deno.env.get("CI") !== "false";

/** One access-log line: request, status, and the headers we care about. */
interface Access {
  request: string;
  status: number;
  ifNoneMatch: string;
  ifModifiedSince: string;
  client: string;
}

class Nginx implements AsyncDisposable {
  readonly dir: string;
  readonly port: number;
  #child: Deno.ChildProcess;
  #stderr: LineCollector;

  constructor(dir: string, port: number, child: Deno.ChildProcess) {
    this.dir = dir;
    this.port = port;
    this.#child = child;
    this.#stderr = new LineCollector(child.stderr, "nginx stderr");
  }

  static async start(dir: string): Promise<Nginx> {
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = probe.addr.port;
    probe.close();
    const temp = ["body", "proxy", "fastcgi", "uwsgi", "scgi"]
      .map((t) =>
        `${t === "body" ? "client_body" : t}_temp_path ${dir}/tmp-${t};`
      )
      .join("\n    ");
    const conf = `
daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log stderr notice;
${Deno.uid() === 0 ? "user root;" : ""}
events { worker_connections 256; }
http {
    ${temp}
    log_format probe escape=none '$request|$status|$http_if_none_match|$http_if_modified_since|$http_x_tftp_client';
    access_log ${dir}/access.log probe;
    server {
        listen 127.0.0.1:${port};
        root ${dir}/www;
        location /boot/denied/ { deny all; }
    }
}
`;
    await Deno.writeTextFile(`${dir}/nginx.conf`, conf);
    const child = new Deno.Command(NGINX!, {
      args: ["-p", dir, "-c", `${dir}/nginx.conf`, "-e", "stderr"],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const nginx = new Nginx(dir, port, child);
    try {
      // The sockets are bound before the workers start: this line is the
      // signal that the port accepts connections.
      await nginx.#stderr.waitFor(/start worker process/);
    } catch (err) {
      await nginx.close();
      throw err;
    }
    return nginx;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/`;
  }

  async log(): Promise<Access[]> {
    const text = await Deno.readTextFile(`${this.dir}/access.log`);
    return text.split("\n").filter((l) => l).map((l) => {
      const [request, status, ifNoneMatch, ifModifiedSince, client] = l.split(
        "|",
      );
      return {
        request,
        status: Number(status),
        ifNoneMatch,
        ifModifiedSince,
        client,
      };
    });
  }

  /**
   * The access log once it holds `count` lines that `match`: nginx logs a
   * request after its response has gone, so a transfer served from that
   * response can end before the line is written (seen in CI under load).
   * Waits for changes of the log, 5 s at most.
   */
  async logOnce(
    match: (a: Access) => boolean,
    count: number,
  ): Promise<Access[]> {
    using watcher = Deno.watchFs(`${this.dir}/access.log`);
    const events = watcher[Symbol.asyncIterator]();
    const deadline = Date.now() + 5000;
    for (;;) {
      const found = (await this.log()).filter(match);
      const left = deadline - Date.now();
      if (found.length >= count || left <= 0) return found;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        events.next(),
        new Promise((resolve) => timer = setTimeout(resolve, left)),
      ]);
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    try {
      Deno.kill(this.#child.pid, "SIGTERM");
    } catch { /* already gone */ }
    await this.#child.status;
    await this.#stderr.done;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

Deno.test({
  name: "nginx as the origin: rollover, revalidation (304), 404/403, traversal",
  ignore: NGINX === undefined && !IN_CI,
  async fn(t) {
    assert.ok(
      NGINX,
      "nginx is not installed (CI is set, so this fails; apt-get install nginx)",
    );
    const dir = await tempDir("tftpd-nginx-");
    try {
      const big = randomBody(65_540 * 512 + 100);
      await Deno.mkdir(`${dir}/www/boot/denied`, { recursive: true });
      await Deno.writeFile(`${dir}/www/boot/big.img`, big);
      await Deno.writeTextFile(
        `${dir}/www/boot/menu.ipxe`,
        "#!ipxe\nchain big.img\n",
      );
      await Deno.writeTextFile(`${dir}/www/boot/denied/key`, "no");
      await Deno.writeTextFile(`${dir}/www/secret.txt`, "above the base");
      await Deno.writeTextFile(`${dir}/secret.txt`, "above the root");
      await using nginx = await Nginx.start(dir);
      await using srv = await startOriginServer({
        origin: nginx.url + "boot/",
        originOnly: true,
      });

      await t.step(
        "a file past the block rollover at blksize 512",
        async () => {
          const r = await getFile(srv.addr, "big.img", {
            options: { tsize: "0", windowsize: "16" },
          });
          assert.equal(r.error, undefined);
          assert.equal(r.oack?.get("tsize"), String(big.length));
          assert.equal(r.blocks, 65_541);
          assert.ok(
            r.data.length === big.length &&
              r.data.every((b, i) => b === big[i]),
          );
        },
      );

      await t.step(
        "nginx's validators: the second transfer is a 304",
        async () => {
          for (let i = 0; i < 2; i++) {
            const r = await getFile(srv.addr, "menu.ipxe");
            assert.equal(
              new TextDecoder().decode(r.data),
              "#!ipxe\nchain big.img\n",
            );
          }
          const menu = await nginx.logOnce(
            (a) => a.request.includes("menu.ipxe"),
            2,
          );
          assert.deepEqual(menu.map((a) => a.status), [200, 304]);
          assert.equal(menu[0].ifNoneMatch, "");
          assert.match(menu[1].ifNoneMatch, /^"[0-9a-f]+-[0-9a-f]+"$/);
          assert.match(menu[1].ifModifiedSince, / GMT$/);
          assert.equal(menu[1].client, "127.0.0.1");
        },
      );

      await t.step("404 -> ERROR 1, 403 -> ERROR 2", async () => {
        assert.equal((await getFile(srv.addr, "missing.efi")).error?.code, 1);
        assert.equal((await getFile(srv.addr, "denied/key")).error?.code, 2);
      });

      await t.step("traversal spellings never get past /boot/", async () => {
        const names = [
          "../secret.txt",
          "../../secret.txt",
          "%2e%2e/secret.txt",
          "..%2fsecret.txt",
          "%2e%2e%2f%2e%2e%2fsecret.txt",
          "..\\secret.txt",
          ".%2e/secret.txt",
        ];
        for (const name of names) {
          const r = await getFile(srv.addr, name);
          assert.ok(r.error, `${name} was served`);
          assert.ok([1, 2].includes(r.error.code), `${name}: ${r.error.code}`);
        }
        for (const a of await nginx.log()) {
          assert.match(a.request, /^GET \/boot\/[^ ]* HTTP\/1\.1$/);
          assert.ok(!a.request.includes("/../"), a.request);
        }
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
