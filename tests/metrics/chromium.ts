/**
 * Headless Chromium driven over the DevTools protocol (a WebSocket from
 * Deno): open a page, wait for a condition inside it (a MutationObserver,
 * not polling), evaluate, take a screenshot. Started with a fresh profile
 * directory and stopped by its PID.
 *
 * @example
 * ```ts ignore
 * await using browser = await Chromium.launch("/usr/bin/chromium");
 * const page = await browser.open("http://127.0.0.1:9100/");
 * await page.waitFor("document.querySelectorAll('tr').length > 2");
 * ```
 *
 * @module
 */

import { LineCollector } from "../../testing/process.ts";

/** Bound for starting Chromium, in ms. */
const BOUND_MS = 60_000;

const TIMED_OUT = Symbol("timed out");

/** `promise`, or TIMED_OUT after `ms` (the timer is always cleared). */
async function within<T>(
  promise: Promise<T>,
  ms: number,
): Promise<T | typeof TIMED_OUT> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<typeof TIMED_OUT>((r) => {
    timer = setTimeout(() => r(TIMED_OUT), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

interface Pending {
  resolve: (v: Record<string, unknown>) => void;
  reject: (e: Error) => void;
}

type Listener = (params: Record<string, unknown>, session?: string) => void;

/** A DevTools protocol connection (browser-level, flat sessions). */
class Cdp {
  #ws: WebSocket;
  #next = 1;
  #pending = new Map<number, Pending>();
  #listeners = new Map<string, Set<Listener>>();
  readonly closed: Promise<void>;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (e) => this.#onMessage(String(e.data));
    this.closed = new Promise((resolve) => {
      ws.onclose = () => {
        for (const p of this.#pending.values()) {
          p.reject(new Error("DevTools connection closed"));
        }
        this.#pending.clear();
        resolve();
      };
    });
  }

  static connect(url: string): Promise<Cdp> {
    const ws = new WebSocket(url);
    return new Promise((resolve, reject) => {
      ws.onopen = () => resolve(new Cdp(ws));
      ws.onerror = (e) =>
        reject(new Error(`DevTools: ${(e as ErrorEvent).message}`));
    });
  }

  #onMessage(text: string): void {
    const msg = JSON.parse(text);
    if (typeof msg.id === "number") {
      const p = this.#pending.get(msg.id);
      if (!p) return;
      this.#pending.delete(msg.id);
      if (msg.error) {
        p.reject(new Error(`DevTools: ${JSON.stringify(msg.error)}`));
      } else p.resolve(msg.result ?? {});
      return;
    }
    for (const l of this.#listeners.get(msg.method) ?? []) {
      l(msg.params ?? {}, msg.sessionId);
    }
  }

  send(
    method: string,
    params: Record<string, unknown> = {},
    sessionId?: string,
  ): Promise<Record<string, unknown>> {
    const id = this.#next++;
    this.#ws.send(JSON.stringify({ id, method, params, sessionId }));
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
    });
  }

  on(method: string, listener: Listener): void {
    let set = this.#listeners.get(method);
    if (!set) this.#listeners.set(method, set = new Set());
    set.add(listener);
  }

  close(): void {
    this.#ws.close();
  }
}

/** What the page reported on its console, as errors, or as CSP violations. */
export interface PageReport {
  /** Console messages and log entries (`level: text`). */
  messages: string[];
  /** Uncaught exceptions. */
  exceptions: string[];
}

/** One tab. */
export class Page {
  readonly report: PageReport = { messages: [], exceptions: [] };
  #cdp: Cdp;
  #session: string;

  /** @internal */
  constructor(cdp: Cdp, session: string) {
    this.#cdp = cdp;
    this.#session = session;
    cdp.on("Runtime.consoleAPICalled", (p, s) => {
      if (s !== session) return;
      const args = (p.args as { value?: unknown; description?: string }[]) ??
        [];
      this.report.messages.push(
        `${p.type}: ${args.map((a) => a.value ?? a.description).join(" ")}`,
      );
    });
    cdp.on("Log.entryAdded", (p, s) => {
      if (s !== session) return;
      const e = p.entry as { level: string; text: string; source: string };
      this.report.messages.push(`${e.level} ${e.source}: ${e.text}`);
    });
    cdp.on("Runtime.exceptionThrown", (p, s) => {
      if (s !== session) return;
      this.report.exceptions.push(JSON.stringify(p.exceptionDetails));
    });
  }

  #send(method: string, params: Record<string, unknown> = {}) {
    return this.#cdp.send(method, params, this.#session);
  }

  /**
   * Evaluates an expression in the page (promises awaited).
   *
   * @param expression JavaScript.
   * @returns Its value (JSON-cloned).
   */
  async evaluate<T>(expression: string): Promise<T> {
    const r = await this.#send("Runtime.evaluate", {
      expression,
      awaitPromise: true,
      returnByValue: true,
    });
    if (r.exceptionDetails) {
      throw new Error(`in page: ${JSON.stringify(r.exceptionDetails)}`);
    }
    return (r.result as { value: T }).value;
  }

  /**
   * Waits until `condition` (an expression) is true in the page: checked at
   * once and on every DOM change, bounded by `timeoutMs`.
   *
   * @param condition JavaScript expression.
   * @param timeoutMs Bound.
   */
  async waitFor(condition: string, timeoutMs = 20_000): Promise<void> {
    await this.evaluate(`new Promise((resolve, reject) => {
      const test = () => { try { return Boolean(${condition}); } catch { return false; } };
      if (test()) { resolve(true); return; }
      const timer = setTimeout(() => {
        obs.disconnect();
        reject(new Error("timed out waiting for: " + ${
      JSON.stringify(condition)
    }));
      }, ${timeoutMs});
      const obs = new MutationObserver(() => {
        if (test()) { clearTimeout(timer); obs.disconnect(); resolve(true); }
      });
      obs.observe(document.documentElement, {
        subtree: true, childList: true, attributes: true, characterData: true,
      });
    })`);
  }

  /**
   * Takes a PNG screenshot of the whole page.
   *
   * @returns PNG bytes.
   */
  async screenshot(): Promise<Uint8Array> {
    const r = await this.#send("Page.captureScreenshot", {
      format: "png",
      captureBeyondViewport: true,
    });
    const bin = atob(r.data as string);
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  }
}

/** A headless Chromium process with its own temporary profile. */
export class Chromium implements AsyncDisposable {
  #child: Deno.ChildProcess;
  #cdp: Cdp;
  #profile: string;
  #stderr: LineCollector;

  private constructor(
    child: Deno.ChildProcess,
    cdp: Cdp,
    profile: string,
    stderr: LineCollector,
  ) {
    this.#child = child;
    this.#cdp = cdp;
    this.#profile = profile;
    this.#stderr = stderr;
  }

  /**
   * Starts Chromium headless and connects to it.
   *
   * @param binary Path of `chromium`.
   * @param size Window size in CSS pixels.
   * @returns The running browser.
   */
  static async launch(
    binary: string,
    size: { width: number; height: number } = { width: 1280, height: 900 },
  ): Promise<Chromium> {
    const profile = await Deno.makeTempDir({ prefix: "tftpd-chromium-" });
    const child = new Deno.Command(binary, {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--no-default-browser-check",
        "--hide-scrollbars",
        "--force-color-profile=srgb",
        `--window-size=${size.width},${size.height}`,
        `--user-data-dir=${profile}`,
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        "about:blank",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const stderr = new LineCollector(child.stderr, "chromium stderr");
    try {
      const line = await stderr.waitFor(/DevTools listening on ws:\/\//, {
        timeoutMs: BOUND_MS,
      });
      const url = line.slice(line.indexOf("ws://")).trim();
      const cdp = await Cdp.connect(url);
      return new Chromium(child, cdp, profile, stderr);
    } catch (err) {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await child.status;
      await stderr.done;
      await Deno.remove(profile, { recursive: true }).catch(() => {});
      throw err;
    }
  }

  /** The process id. */
  get pid(): number {
    return this.#child.pid;
  }

  /**
   * Opens a new tab at `url` and waits for its load event.
   *
   * @param url Address.
   * @returns The page.
   */
  async open(url: string): Promise<Page> {
    const { targetId } = await this.#cdp.send("Target.createTarget", {
      url: "about:blank",
    });
    const { sessionId } = await this.#cdp.send("Target.attachToTarget", {
      targetId,
      flatten: true,
    });
    const session = sessionId as string;
    const page = new Page(this.#cdp, session);
    await this.#cdp.send("Page.enable", {}, session);
    await this.#cdp.send("Runtime.enable", {}, session);
    await this.#cdp.send("Log.enable", {}, session);
    const loaded = new Promise<void>((resolve) => {
      this.#cdp.on("Page.loadEventFired", (_p, s) => {
        if (s === session) resolve();
      });
    });
    await this.#cdp.send("Page.navigate", { url }, session);
    await loaded;
    return page;
  }

  /** Closes the browser (politely, then by PID) and removes its profile. */
  async close(): Promise<void> {
    const exited = this.#child.status;
    await within(this.#cdp.send("Browser.close").catch(() => {}), 5000);
    this.#cdp.close();
    if (await within(exited, 10_000) === TIMED_OUT) {
      try {
        this.#child.kill("SIGKILL");
      } catch { /* already gone */ }
    }
    await exited;
    await this.#cdp.closed;
    await this.#stderr.done;
    await Deno.remove(this.#profile, { recursive: true }).catch(() => {});
  }

  /** Same as {@linkcode Chromium.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
