/**
 * Resource usage of a server process (and its children) read from /proc:
 * CPU seconds from `/proc/PID/stat`, peak memory from `VmHWM` (reset through
 * `clear_refs`) and from sampling the process tree.
 *
 * Linux only; every reader returns 0 or undefined rather than throwing when
 * a process has gone.
 *
 * @module
 */

/** Clock ticks per second for /proc/PID/stat times (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

function readText(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}

/**
 * Fields of /proc/PID/stat after the command name (field 3 is index 0, so
 * utime is index 11 and stime index 12).
 *
 * @param pid Process id.
 * @returns The fields, or undefined when the process is gone.
 */
export function statFields(pid: number): string[] | undefined {
  const text = readText(`/proc/${pid}/stat`);
  if (!text) return undefined;
  // The command name is in parentheses and may contain spaces.
  return text.slice(text.lastIndexOf(")") + 2).trim().split(" ");
}

/**
 * CPU seconds used by a process: its own user+system time plus that of its
 * reaped children (a forking server like tftpd-hpa accounts its transfers
 * there once they end).
 *
 * @param pid Process id.
 * @returns Seconds, or 0 when the process is gone.
 */
export function cpuSeconds(pid: number): number {
  const f = statFields(pid);
  if (!f) return 0;
  // utime, stime, cutime, cstime are fields 14..17 (indexes 11..14 here).
  const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  return ticks / TICKS_PER_SECOND;
}

/**
 * CPU seconds of a whole process tree: the root's own and reaped-children
 * time plus the time of the children still running.
 *
 * @param pid Root process id.
 * @returns Seconds.
 */
export function treeCpuSeconds(pid: number): number {
  let total = cpuSeconds(pid);
  for (const child of childPids(pid)) {
    const f = statFields(child);
    if (f) total += (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND;
  }
  return total;
}

/**
 * A field of /proc/PID/status in kB (e.g. `VmHWM`, `VmRSS`).
 *
 * @param pid Process id.
 * @param field Field name without the colon.
 * @returns Kilobytes, or 0 when unknown.
 */
export function statusKb(pid: number, field: string): number {
  const text = readText(`/proc/${pid}/status`);
  if (!text) return 0;
  const m = text.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
  return m ? Number(m[1]) : 0;
}

/**
 * Resets a process's peak RSS (`VmHWM`) to its current RSS, so the next
 * reading is the peak of what follows. Needs to own the process or be root.
 *
 * @param pid Process id.
 * @returns Whether the reset worked.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    Deno.writeTextFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/**
 * Direct children of a process (all threads' children).
 *
 * @param pid Process id.
 * @returns Child process ids.
 */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  let tasks: Iterable<Deno.DirEntry>;
  try {
    tasks = Deno.readDirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tasks) {
    const text = readText(`/proc/${pid}/task/${t.name}/children`);
    if (!text) continue;
    for (const s of text.trim().split(" ")) if (s) out.push(Number(s));
  }
  return out;
}

/**
 * Proportional set size of one process (shared pages split between their
 * users), in kB: the fair way to add up a forking server's children.
 *
 * @param pid Process id.
 * @returns Kilobytes, or 0 when the process is gone.
 */
export function pssKb(pid: number): number {
  const text = readText(`/proc/${pid}/smaps_rollup`);
  if (!text) return 0;
  const m = text.match(/^Pss:\s+(\d+) kB/m);
  return m ? Number(m[1]) : 0;
}

/**
 * Memory of a process tree now, in kB: VmRSS of a lone process, or the sum
 * of PSS over the root and its children (a forking server's transfers
 * share most pages with it, so RSS would count them many times).
 *
 * @example
 * ```ts
 * import { treeMemoryKb } from "./proc_stats.ts";
 * if (!(treeMemoryKb(Deno.pid) > 0)) throw new Error("no /proc");
 * ```
 *
 * @param pid Root process id.
 * @returns Kilobytes (0 when the process is gone).
 */
export function treeMemoryKb(pid: number): number {
  const children = childPids(pid);
  if (children.length === 0) return statusKb(pid, "VmRSS");
  let kb = pssKb(pid);
  for (const c of children) kb += pssKb(c);
  return kb;
}

/**
 * Private memory of a process tree now, in kB: the sum of `RssAnon` over
 * the root and its children. Unlike RSS it leaves out the pages of the
 * executable and libraries a process has touched, which the kernel shares
 * between processes and can drop and read back at will (for a Deno server
 * most of its RSS at rest is the `deno` binary's own code and data).
 *
 * @example
 * ```ts
 * import { treePrivateKb } from "./proc_stats.ts";
 * if (!(treePrivateKb(Deno.pid) > 0)) throw new Error("no /proc");
 * ```
 *
 * @param pid Root process id.
 * @returns Kilobytes (0 when the process is gone).
 */
export function treePrivateKb(pid: number): number {
  let kb = statusKb(pid, "RssAnon");
  for (const c of childPids(pid)) kb += statusKb(c, "RssAnon");
  return kb;
}

/**
 * Samples the memory of a process tree on a timer and keeps the peak.
 * A lone process is read with VmRSS (its VmHWM is read at the end too); a
 * tree with children is the sum of PSS over the root and its children.
 */
export class MemorySampler {
  /** Peak memory seen, in kB. */
  peakKb = 0;
  /** Most processes seen in the tree at one time. */
  peakProcesses = 1;
  #pid: number;
  #intervalMs: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  /**
   * @param pid Root process id.
   * @param intervalMs Sampling interval (five times longer while the tree
   * has more than 100 processes, to keep the sampler's own cost low).
   */
  constructor(pid: number, intervalMs = 100) {
    this.#pid = pid;
    this.#intervalMs = intervalMs;
    resetPeakRss(pid);
    this.#tick();
  }

  #tick = (): void => {
    if (this.#stopped) return;
    const n = this.sample();
    this.#timer = setTimeout(
      this.#tick,
      n > 100 ? this.#intervalMs * 5 : this.#intervalMs,
    );
  };

  /**
   * Takes one sample now.
   *
   * @returns How many processes the tree has.
   */
  sample(): number {
    const children = childPids(this.#pid);
    let kb: number;
    if (children.length === 0) {
      kb = statusKb(this.#pid, "VmRSS");
    } else {
      kb = pssKb(this.#pid);
      for (const c of children) kb += pssKb(c);
      this.peakProcesses = Math.max(this.peakProcesses, children.length + 1);
    }
    if (kb > this.peakKb) this.peakKb = kb;
    return children.length + 1;
  }

  /**
   * Stops sampling.
   *
   * @returns The peak in kB (including the root's VmHWM when it is larger).
   */
  stop(): number {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.sample();
    const hwm = statusKb(this.#pid, "VmHWM");
    if (hwm > this.peakKb) this.peakKb = hwm;
    return this.peakKb;
  }
}

/**
 * Precise CPU accounting of a process tree through a cgroup of its own
 * (cgroup v1 `cpuacct` or cgroup v2), which also counts children that a
 * forking server never reaps (tftpd-hpa ignores SIGCHLD, so their time
 * never reaches its `cutime`). Falls back to /proc sampling when no cgroup
 * can be made (not root, no cgroup file system).
 */
export class CpuMeter {
  /** The cgroup directory, when one was made. */
  readonly cgroup?: string;
  #pid: number;
  #v2 = false;
  #seen = new Map<number, number>();

  /**
   * @param pid Root process id; call right after spawning, before it forks.
   * @param name A name for the cgroup (unique per run).
   */
  constructor(pid: number, name: string) {
    this.#pid = pid;
    const leaf = `tftpd-bench-${Deno.pid}-${name}`;
    for (
      const [base, v2] of [
        ["/sys/fs/cgroup/cpuacct", false],
        ["/sys/fs/cgroup/unified", true],
      ] as const
    ) {
      const probeFile = v2 ? "cgroup.controllers" : "cpuacct.usage";
      try {
        Deno.statSync(`${base}/${probeFile}`);
        Deno.mkdirSync(`${base}/${leaf}`);
        Deno.writeTextFileSync(`${base}/${leaf}/cgroup.procs`, String(pid));
        this.cgroup = `${base}/${leaf}`;
        this.#v2 = v2;
        break;
      } catch {
        try {
          Deno.removeSync(`${base}/${leaf}`);
        } catch { /* not made */ }
      }
    }
  }

  /**
   * CPU seconds used by the tree since it started.
   *
   * @returns Seconds.
   */
  seconds(): number {
    if (this.cgroup) {
      try {
        if (this.#v2) {
          const text = Deno.readTextFileSync(`${this.cgroup}/cpu.stat`);
          return Number(text.match(/^usage_usec (\d+)/m)?.[1] ?? 0) / 1e6;
        }
        return Number(
          Deno.readTextFileSync(`${this.cgroup}/cpuacct.usage`).trim(),
        ) / 1e9;
      } catch { /* fall through */ }
    }
    // Fallback: own and reaped time, plus the largest time seen of each
    // child (children that end between two readings are undercounted).
    for (const c of childPids(this.#pid)) {
      const t = cpuSeconds(c);
      if (t > (this.#seen.get(c) ?? 0)) this.#seen.set(c, t);
    }
    let total = cpuSeconds(this.#pid);
    for (const t of this.#seen.values()) total += t;
    return total;
  }

  /** Removes the cgroup (waits up to 1 s for the tree to leave it). */
  async close(): Promise<void> {
    if (!this.cgroup) return;
    for (let i = 0; i < 50; i++) {
      try {
        Deno.removeSync(this.cgroup);
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }
}
