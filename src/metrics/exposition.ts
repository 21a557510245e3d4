/**
 * The Prometheus text exposition format (version 0.0.4): `# HELP` and
 * `# TYPE` lines, escaped label values, histogram buckets with `le`.
 *
 * @module
 */

import type { Histogram } from "./histogram.ts";

/** The `Content-Type` of the text format. */
export const EXPOSITION_CONTENT_TYPE =
  "text/plain; version=0.0.4; charset=utf-8";

/** Kinds of metric this writer emits. */
export type MetricType = "counter" | "gauge" | "histogram";

/** One line of a family: a value with its labels. */
export interface Sample {
  /** Appended to the family name (`_bucket`, `_sum`, `_count`). */
  suffix?: string;
  /** Label names and values (values are escaped when written). */
  labels?: Readonly<Record<string, string>>;
  /** The value. */
  value: number;
}

/** A metric family: its name, help text, type and samples. */
export interface MetricFamily {
  /** Metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`). */
  name: string;
  /** One-line description. */
  help: string;
  /** Counter, gauge or histogram. */
  type: MetricType;
  /** The samples. */
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * Escapes a label value: backslash, double quote and line feed.
 *
 * @example
 * ```ts
 * import { escapeLabelValue } from "./exposition.ts";
 * if (escapeLabelValue('a"b\\c\nd') !== 'a\\"b\\\\c\\nd') throw new Error();
 * ```
 *
 * @param value Any text.
 * @returns Text safe between double quotes on one line.
 */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => c === "\n" ? "\\n" : "\\" + c);
}

/**
 * Escapes `# HELP` text: backslash and line feed.
 *
 * @example
 * ```ts
 * import { escapeHelp } from "./exposition.ts";
 * if (escapeHelp("a\\b\nc") !== "a\\\\b\\nc") throw new Error();
 * ```
 *
 * @param text Any text.
 * @returns Text safe on one HELP line.
 */
export function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => c === "\n" ? "\\n" : "\\\\");
}

/**
 * Formats a sample value (`+Inf`, `-Inf`, `NaN` spelled as Prometheus
 * expects).
 *
 * @example
 * ```ts
 * import { formatValue } from "./exposition.ts";
 * if (formatValue(Infinity) !== "+Inf" || formatValue(1.5) !== "1.5") {
 *   throw new Error();
 * }
 * ```
 *
 * @param value The number.
 * @returns Its text.
 */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

/**
 * The samples of a histogram: cumulative `_bucket` lines with `le`, then
 * `_sum` and `_count`.
 *
 * @example
 * ```ts
 * import { Histogram } from "./histogram.ts";
 * import { histogramSamples } from "./exposition.ts";
 * const h = new Histogram([1]);
 * h.observe(2);
 * const s = histogramSamples(h);
 * if (s.length !== 4 || s[1].labels?.le !== "+Inf" || s[1].value !== 1) {
 *   throw new Error();
 * }
 * ```
 *
 * @param histogram The histogram.
 * @param labels Labels every line carries (besides `le`).
 * @returns The samples, in exposition order.
 */
export function histogramSamples(
  histogram: Histogram,
  labels: Readonly<Record<string, string>> = {},
): Sample[] {
  const counts = histogram.cumulative();
  const out: Sample[] = histogram.bounds.map((le, i) => ({
    suffix: "_bucket",
    labels: { ...labels, le: formatValue(le) },
    value: counts[i],
  }));
  out.push({
    suffix: "_bucket",
    labels: { ...labels, le: "+Inf" },
    value: counts[counts.length - 1],
  });
  out.push({ suffix: "_sum", labels, value: histogram.sum });
  out.push({ suffix: "_count", labels, value: histogram.count });
  return out;
}

/**
 * Writes families in the text format.
 *
 * @example
 * ```ts
 * import { formatExposition } from "./exposition.ts";
 * const text = formatExposition([{
 *   name: "tftp_refusals_total",
 *   help: "Requests refused.",
 *   type: "counter",
 *   samples: [{ labels: { reason: "busy" }, value: 2 }],
 * }]);
 * if (!text.includes('tftp_refusals_total{reason="busy"} 2\n')) {
 *   throw new Error(text);
 * }
 * ```
 *
 * @param families The families (names must be unique and valid).
 * @returns The exposition text, ending with a line feed.
 * @throws {TypeError} On an invalid metric or label name (a bug, never
 * data: label values are escaped, names are fixed by the code).
 */
export function formatExposition(families: readonly MetricFamily[]): string {
  const lines: string[] = [];
  for (const f of families) {
    if (!NAME.test(f.name)) throw new TypeError(`bad metric name ${f.name}`);
    lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`);
    lines.push(`# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const name = f.name + (s.suffix ?? "");
      if (!NAME.test(name)) throw new TypeError(`bad metric name ${name}`);
      const labels = Object.entries(s.labels ?? {});
      let text = name;
      if (labels.length > 0) {
        text += "{" + labels.map(([k, v]) => {
          if (!LABEL.test(k)) throw new TypeError(`bad label name ${k}`);
          return `${k}="${escapeLabelValue(v)}"`;
        }).join(",") + "}";
      }
      lines.push(`${text} ${formatValue(s.value)}`);
    }
  }
  return lines.join("\n") + "\n";
}
