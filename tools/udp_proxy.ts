/**
 * The lossy proxy of the tests as a command: put it in front of a TFTP
 * server and point any client (tftp-hpa, curl, a boot ROM in a VM) at it to
 * see how transfers fare under loss, duplication, reordering and delay.
 *
 * ```sh
 * deno run --allow-net tools/udp_proxy.ts --target 127.0.0.1:9069 \
 *   --drop 0.05 --duplicate 0.02 --reorder 0.02 --jitter 10 --seed 7
 * tftp 127.0.0.1 <printed port> -c get boot.ipxe
 * ```
 *
 * The faults apply both ways. Ctrl-C prints per-flow counts and exits.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { LossyProxy } from "../testing/lossy_proxy.ts";

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      target: { type: "string", default: "127.0.0.1:9069" },
      host: { type: "string", default: "127.0.0.1" },
      drop: { type: "string", default: "0" },
      duplicate: { type: "string", default: "0" },
      reorder: { type: "string", default: "0" },
      delay: { type: "string", default: "0" },
      jitter: { type: "string", default: "0" },
      seed: { type: "string", default: "1" },
    },
  });
  const target = values.target;
  const colon = target.lastIndexOf(":");
  const hostname = target.slice(0, colon).replace(/^\[|\]$/g, "");
  const port = Number(target.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
    console.error(`invalid --target ${target}: expected HOST:PORT`);
    Deno.exit(2);
  }
  const faults = {
    drop: Number(values.drop),
    duplicate: Number(values.duplicate),
    reorder: Number(values.reorder),
    delayMs: Number(values.delay),
    jitterMs: Number(values.jitter),
  };
  const proxy = new LossyProxy({
    target: { hostname, port },
    host: values.host,
    seed: Number(values.seed),
    toServer: faults,
    toClient: faults,
  });
  console.log(
    `proxy on ${values.host}:${proxy.port} -> ${hostname}:${port} ` +
      `(${JSON.stringify(faults)}); Ctrl-C to stop`,
  );
  const stop = async () => {
    for (const f of proxy.flows) {
      const c = f.toServer;
      const s = f.toClient;
      console.log(
        `${f.client.hostname}:${f.client.port} ${f.filename ?? "?"}: ` +
          `to server ${c.received} in, ${c.delivered} out (${c.dropped} dropped); ` +
          `to client ${s.received} in, ${s.delivered} out (${s.dropped} dropped)`,
      );
    }
    await proxy.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}
