/**
 * The Deno side of `bench/fairness.ts`: N UDP echo sockets on 127.0.0.1,
 * each with the receive-then-send loop a transfer session runs, spread over
 * W threads (W = 1: all in the main thread; W > 1: W worker threads, the
 * way `--workers` spreads transfers). Prints the ports as one JSON line.
 *
 * Usage: `deno run --unstable-net -A bench/fairness_echo.ts N W`
 *
 * @module
 */

/** Runs `n` echo sockets in this thread; resolves with their ports. */
function echoSockets(n: number): number[] {
  const ports: number[] = [];
  for (let i = 0; i < n; i++) {
    const conn = Deno.listenDatagram({
      transport: "udp",
      hostname: "127.0.0.1",
      port: 0,
    });
    ports.push((conn.addr as Deno.NetAddr).port);
    echoLoop(conn);
  }
  return ports;
}

async function echoLoop(conn: Deno.DatagramConn): Promise<void> {
  const buf = new Uint8Array(2048);
  for (;;) {
    const [data, from] = await conn.receive(buf);
    await conn.send(data, from as Deno.NetAddr);
  }
}

interface WorkerScope {
  onmessage: ((e: MessageEvent<number>) => void) | null;
  postMessage(ports: number[]): void;
}

const inWorker = typeof (globalThis as { WorkerGlobalScope?: unknown })
  .WorkerGlobalScope !== "undefined";

if (inWorker) {
  const scope = globalThis as unknown as WorkerScope;
  scope.onmessage = (e) => scope.postMessage(echoSockets(e.data));
} else if (import.meta.main) {
  const n = Number(Deno.args[0] ?? 1000);
  const threads = Number(Deno.args[1] ?? 1);
  if (threads <= 1) {
    console.log(JSON.stringify(echoSockets(n)));
  } else {
    const all = await Promise.all(
      Array.from(
        { length: threads },
        (_, i) =>
          new Promise<number[]>((resolve) => {
            const w = new Worker(import.meta.url, { type: "module" });
            w.onmessage = (e: MessageEvent<number[]>) => resolve(e.data);
            const share = Math.floor(n / threads) + (i < n % threads ? 1 : 0);
            w.postMessage(share);
          }),
      ),
    );
    console.log(JSON.stringify(all.flat()));
  }
}
