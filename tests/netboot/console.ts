/**
 * An interactive serial console for a QEMU guest: the netboot tests type
 * into firmware that waits for a key (U-Boot's autoboot prompt, its `=> `
 * prompt), so unlike `runQemu` the guest's stdin is ours and the output can
 * be waited on before a line ends.
 *
 * ```ts ignore
 * import { QemuConsole } from "./console.ts";
 * const qemu = new QemuConsole(["qemu-system-aarch64", ...args], { timeoutS: 60 });
 * await qemu.expect(/Hit any key/, 30_000);
 * await qemu.send("\n");
 * await qemu.stop();
 * ```
 *
 * @module
 */

import { LineLog, spawnBounded } from "./harness.ts";

/** Options of {@linkcode QemuConsole}. */
export interface ConsoleOptions {
  /** Upper bound in seconds for the guest (`timeout`, then by PID). */
  timeoutS: number;
  /** Command prefix, e.g. `nsenter --net=... --`. */
  prefix?: string[];
}

/** Most console text kept for matching (a few MiB at most). */
const MAX_TEXT = 4 * 1024 * 1024;

/** A QEMU guest whose serial console is on our stdin and stdout. */
export class QemuConsole {
  /** Console lines (plain text), for failure messages and checks. */
  readonly serial: LineLog;
  /** QEMU's own messages. */
  readonly stderr: LineLog;
  #child: Deno.ChildProcess;
  #stdin: WritableStreamDefaultWriter<Uint8Array>;
  #text = "";
  #cursor = 0;
  #ended = false;
  #wake = new Set<() => void>();
  #status: Promise<Deno.CommandStatus>;

  /**
   * Starts `argv` (a QEMU command line with `-nographic`) under `timeout`.
   *
   * @param argv QEMU binary and arguments.
   * @param opts Time bound and prefix.
   */
  constructor(argv: string[], opts: ConsoleOptions) {
    this.#child = spawnBounded(argv, { ...opts, stdin: "piped" });
    this.#stdin = this.#child.stdin.getWriter();
    const [forLines, forText] = this.#child.stdout.tee();
    this.serial = new LineLog(forLines);
    this.stderr = new LineLog(this.#child.stderr);
    this.#status = this.#child.status;
    this.#pump(forText);
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    try {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        this.#text += chunk;
        if (this.#text.length > MAX_TEXT) {
          const drop = this.#text.length - MAX_TEXT;
          this.#text = this.#text.slice(drop);
          this.#cursor = Math.max(0, this.#cursor - drop);
        }
        for (const wake of this.#wake) wake();
      }
    } catch { /* the process went away: keep what arrived */ }
    this.#ended = true;
    for (const wake of this.#wake) wake();
  }

  /**
   * Waits for `re` in the console output after the previous match (partial
   * lines count, e.g. a prompt), and moves past it.
   *
   * @param re Pattern (without the `g` flag).
   * @param ms Upper bound in milliseconds.
   * @returns The match, or undefined if the guest ended or time ran out.
   */
  expect(re: RegExp, ms: number): Promise<RegExpMatchArray | undefined> {
    return new Promise((resolve) => {
      const check = (): boolean => {
        const m = this.#text.slice(this.#cursor).match(re);
        if (m) {
          this.#cursor += (m.index ?? 0) + m[0].length;
          finish(m);
          return true;
        }
        if (this.#ended) finish(undefined);
        return this.#ended;
      };
      const finish = (m: RegExpMatchArray | undefined) => {
        clearTimeout(timer);
        this.#wake.delete(wake);
        resolve(m);
      };
      const wake = () => void check();
      const timer = setTimeout(() => finish(undefined), ms);
      if (!check()) this.#wake.add(wake);
    });
  }

  /**
   * Types `text` on the console.
   *
   * @param text Characters to send (`\n` for Enter).
   */
  async send(text: string): Promise<void> {
    await this.#stdin.write(new TextEncoder().encode(text));
  }

  #kill(signal: Deno.Signal): void {
    try {
      this.#child.kill(signal);
    } catch { /* already gone */ }
  }

  /**
   * Ends the guest by PID (SIGTERM) and waits for it and its output.
   *
   * @returns QEMU's exit status.
   */
  async stop(): Promise<Deno.CommandStatus> {
    try {
      await this.#stdin.close();
    } catch { /* already closed */ }
    this.#kill("SIGTERM");
    const status = await this.#status;
    await Promise.all([this.serial.done, this.stderr.done]);
    return status;
  }
}
