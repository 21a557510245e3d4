/**
 * Summarises a V8 `.cpuprofile` (as written by `deno run --cpu-prof`): self
 * and inclusive time per function, from the sample timeline.
 *
 * @module
 */

/** A call frame in a profile. */
interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

/** A node of the profile's call tree. */
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

/** The `.cpuprofile` JSON. */
export interface CpuProfile {
  /** Call tree nodes. */
  nodes: ProfileNode[];
  /** Node id of each sample. */
  samples: number[];
  /** Microseconds between samples. */
  timeDeltas: number[];
  /** Start, microseconds. */
  startTime: number;
  /** End, microseconds. */
  endTime: number;
}

/** Time spent in one function. */
export interface FunctionTime {
  /** Function name (`(anonymous)` when none). */
  name: string;
  /** Where it is (`file:line`, shortened). */
  location: string;
  /** Time with this function on top of the stack, ms. */
  selfMs: number;
  /** Time with this function anywhere on the stack, ms. */
  totalMs: number;
}

/** A profile's summary. */
export interface ProfileSummary {
  /** Profiled wall time, ms. */
  durationMs: number;
  /** Time the thread was idle (waiting in the event loop), ms. */
  idleMs: number;
  /** Time in the garbage collector, ms. */
  gcMs: number;
  /** Busy time (everything but idle), ms. */
  busyMs: number;
  /** Functions by self time, highest first. */
  functions: FunctionTime[];
}

function shortUrl(url: string): string {
  if (!url) return "[native code]";
  const i = url.indexOf("/src/");
  if (i >= 0) return url.slice(i + 1);
  return url.replace(/^file:\/\//, "").replace(/^.*\/(ext:)/, "$1");
}

/**
 * Summarises a profile.
 *
 * @param profile The parsed `.cpuprofile`.
 * @returns Self/inclusive time per function.
 */
export function summarise(profile: CpuProfile): ProfileSummary {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const key = (n: ProfileNode) =>
    `${n.callFrame.functionName || "(anonymous)"}\t${
      shortUrl(n.callFrame.url)
    }:${n.callFrame.lineNumber + 1}`;
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let idle = 0;
  let gc = 0;
  const samples = profile.samples;
  for (let i = 0; i < samples.length; i++) {
    // A sample's weight is the time until the next sample.
    const us = profile.timeDeltas[i + 1] ?? 0;
    const node = byId.get(samples[i]);
    if (!node) continue;
    const name = node.callFrame.functionName;
    if (name === "(idle)") {
      idle += us;
      continue;
    }
    if (name === "(garbage collector)") gc += us;
    const k = key(node);
    self.set(k, (self.get(k) ?? 0) + us);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined;) {
      const n = byId.get(id)!;
      const kk = key(n);
      if (!seen.has(kk)) {
        seen.add(kk);
        total.set(kk, (total.get(kk) ?? 0) + us);
      }
      id = parent.get(id);
    }
  }
  const functions: FunctionTime[] = [];
  for (const [k, us] of self) {
    const [name, location] = k.split("\t");
    functions.push({
      name,
      location,
      selfMs: us / 1000,
      totalMs: (total.get(k) ?? us) / 1000,
    });
  }
  // Functions with no self time still matter for inclusive views.
  for (const [k, us] of total) {
    if (self.has(k)) continue;
    const [name, location] = k.split("\t");
    functions.push({ name, location, selfMs: 0, totalMs: us / 1000 });
  }
  functions.sort((a, b) => b.selfMs - a.selfMs);
  const durationMs = (profile.endTime - profile.startTime) / 1000;
  return {
    durationMs,
    idleMs: idle / 1000,
    gcMs: gc / 1000,
    busyMs: durationMs - idle / 1000,
    functions,
  };
}
