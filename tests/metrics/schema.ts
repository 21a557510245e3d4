/**
 * A strict check of the `/api/status` document: every field present with
 * its type, no field the schema does not name. Returns the list of
 * problems (empty when the document conforms).
 *
 * @module
 */

type Check = (v: unknown, path: string, out: string[]) => void;

const num: Check = (v, p, out) => {
  if (typeof v !== "number" || !Number.isFinite(v)) {
    out.push(`${p}: not a number`);
  }
};
const nonNeg: Check = (v, p, out) => {
  num(v, p, out);
  if (typeof v === "number" && v < 0) out.push(`${p}: negative`);
};
const int: Check = (v, p, out) => {
  if (!Number.isInteger(v)) out.push(`${p}: not an integer`);
};
const str: Check = (v, p, out) => {
  if (typeof v !== "string") out.push(`${p}: not a string`);
};
const nullable = (c: Check): Check => (v, p, out) => {
  if (v !== null) c(v, p, out);
};
const oneOf = (...values: unknown[]): Check => (v, p, out) => {
  if (!values.includes(v)) out.push(`${p}: ${JSON.stringify(v)} not allowed`);
};
const array = (c: Check): Check => (v, p, out) => {
  if (!Array.isArray(v)) {
    out.push(`${p}: not an array`);
    return;
  }
  v.forEach((x, i) => c(x, `${p}[${i}]`, out));
};
const record = (c: Check, keys?: readonly string[]): Check => (v, p, out) => {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    out.push(`${p}: not an object`);
    return;
  }
  const o = v as Record<string, unknown>;
  if (keys) {
    for (const k of keys) if (!(k in o)) out.push(`${p}.${k}: missing`);
    for (const k of Object.keys(o)) {
      if (!keys.includes(k)) out.push(`${p}.${k}: not in the schema`);
    }
  }
  for (const [k, x] of Object.entries(o)) c(x, `${p}.${k}`, out);
};
const object = (shape: Record<string, Check>): Check => (v, p, out) => {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    out.push(`${p}: not an object`);
    return;
  }
  const o = v as Record<string, unknown>;
  for (const [k, c] of Object.entries(shape)) {
    if (!(k in o)) out.push(`${p}.${k}: missing`);
    else c(o[k], `${p}.${k}`, out);
  }
  for (const k of Object.keys(o)) {
    if (!(k in shape)) out.push(`${p}.${k}: not in the schema`);
  }
};
const all = (...cs: Check[]): Check => (v, p, out) => {
  for (const c of cs) c(v, p, out);
};

const OUTCOMES = ["ok", "error", "aborted", "probe", "timeout", "cancelled"];
const REASONS = [
  "malformed",
  "not-a-request",
  "busy",
  "per-client",
  "remap",
  "name",
  "refused",
  "no-port",
  "allow-list",
  "duplicate",
  "other",
];
const CODES = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "other"];
const direction = oneOf("read", "write");
const worker = nullable(all(int, nonNeg));
const percent: Check = (v, p, out) => {
  if (v === null) return;
  num(v, p, out);
  if (typeof v === "number" && (v < 0 || v > 100)) out.push(`${p}: not 0-100`);
};

const active = object({
  id: all(int, nonNeg),
  peer: str,
  file: str,
  direction,
  mode: str,
  options: record(str),
  bytes: nonNeg,
  size: nullable(nonNeg),
  percent,
  rate: nonNeg,
  startedAt: nonNeg,
  elapsedSeconds: nonNeg,
  worker,
});

const finished = object({
  id: all(int, nonNeg),
  peer: str,
  file: str,
  direction,
  mode: str,
  options: record(str),
  bytes: nonNeg,
  durationSeconds: nonNeg,
  rate: nonNeg,
  retransmits: nonNeg,
  outcome: oneOf(...OUTCOMES),
  error: nullable(str),
  endedAt: nonNeg,
  worker,
});

const counts = (keys: readonly string[]) => record(all(int, nonNeg), keys);

const document = object({
  schema: oneOf(1),
  now: nonNeg,
  uptimeSeconds: nonNeg,
  build: object({ version: str, deno: str }),
  activeCount: all(int, nonNeg),
  active: array(active),
  threads: record(all(int, nonNeg)),
  recent: array(finished),
  totals: object({
    outcomes: counts(OUTCOMES),
    transfers: object({ read: counts(OUTCOMES), write: counts(OUTCOMES) }),
    bytes: object({ read: nonNeg, write: nonNeg }),
    retransmits: nonNeg,
    refusals: counts(REASONS),
    errors: counts(CODES),
  }),
  throughput: object({
    intervalSeconds: nonNeg,
    points: array((v, p, out) => {
      if (!Array.isArray(v) || v.length !== 3) {
        out.push(`${p}: not a [time, read, write] triple`);
        return;
      }
      v.forEach((x, i) => nonNeg(x, `${p}[${i}]`, out));
    }),
  }),
});

/**
 * Checks a parsed `/api/status` document against the schema.
 *
 * @param doc The parsed JSON.
 * @returns Problems found, one per line; empty when it conforms.
 */
export function schemaProblems(doc: unknown): string[] {
  const out: string[] = [];
  document(doc, "$", out);
  const d = doc as { active?: unknown[]; activeCount?: number };
  if (
    Array.isArray(d?.active) && typeof d.activeCount === "number" &&
    d.active.length > d.activeCount
  ) {
    out.push("$.active: longer than activeCount");
  }
  return out;
}
