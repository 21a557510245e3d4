/** The Prometheus text format writer and the histogram, by tables. */

import assert from "node:assert/strict";
import {
  escapeHelp,
  escapeLabelValue,
  formatExposition,
  formatValue,
  histogramSamples,
} from "../../src/metrics/exposition.ts";
import { Histogram } from "../../src/metrics/histogram.ts";
import { Ring } from "../../src/metrics/ring.ts";

Deno.test("escapeLabelValue() escapes backslash, quote and line feed, and nothing else", () => {
  const cases: [string, string][] = [
    ["plain", "plain"],
    ['a"b', 'a\\"b'],
    ["a\\b", "a\\\\b"],
    ["a\nb", "a\\nb"],
    ['\\"\n', '\\\\\\"\\n'],
    ["tab\there {x} #", "tab\there {x} #"],
    ["ünïcode ☃", "ünïcode ☃"],
  ];
  for (const [input, want] of cases) {
    assert.equal(escapeLabelValue(input), want, JSON.stringify(input));
  }
});

Deno.test("escapeHelp() escapes backslash and line feed but keeps quotes", () => {
  assert.equal(escapeHelp('say "hi"\\now\nnext'), 'say "hi"\\\\now\\nnext');
});

Deno.test("formatValue() spells infinities and NaN as Prometheus does", () => {
  const cases: [number, string][] = [
    [0, "0"],
    [42, "42"],
    [0.25, "0.25"],
    [-3, "-3"],
    [Infinity, "+Inf"],
    [-Infinity, "-Inf"],
    [NaN, "NaN"],
    [1e21, "1e+21"],
  ];
  for (const [n, want] of cases) assert.equal(formatValue(n), want);
});

Deno.test("formatExposition() writes HELP, TYPE and one line per sample", () => {
  const text = formatExposition([
    {
      name: "x_total",
      help: "Line one\nline two",
      type: "counter",
      samples: [
        { labels: { a: "1", b: 'q"uote' }, value: 3 },
        { value: 4 },
      ],
    },
  ]);
  assert.equal(
    text,
    "# HELP x_total Line one\\nline two\n" +
      "# TYPE x_total counter\n" +
      'x_total{a="1",b="q\\"uote"} 3\n' +
      "x_total 4\n",
  );
});

Deno.test("formatExposition() refuses invalid metric and label names", () => {
  assert.throws(
    () =>
      formatExposition([{
        name: "bad-name",
        help: "",
        type: "gauge",
        samples: [],
      }]),
    TypeError,
  );
  assert.throws(
    () =>
      formatExposition([{
        name: "ok",
        help: "",
        type: "gauge",
        samples: [{ labels: { "bad label": "x" }, value: 1 }],
      }]),
    TypeError,
  );
});

Deno.test("Histogram counts each value in the first bucket at or above it; le buckets are cumulative", () => {
  const h = new Histogram([0.1, 1, 10]);
  for (const v of [0, 0.1, 0.5, 1, 1.0001, 10, 11, -5, NaN]) h.observe(v);
  // 0, 0.1, -5 and NaN (as 0) <= 0.1; 0.5, 1 <= 1; 1.0001, 10 <= 10; 11.
  assert.deepEqual(h.cumulative(), [4, 6, 8, 9]);
  assert.equal(h.count, 9);
  assert.ok(Math.abs(h.sum - (0.1 + 0.5 + 1 + 1.0001 + 10 + 11)) < 1e-9);
  const s = histogramSamples(h, { direction: "read" });
  assert.deepEqual(
    s.map((x) => [x.suffix, x.labels?.le, x.value]),
    [
      ["_bucket", "0.1", 4],
      ["_bucket", "1", 6],
      ["_bucket", "10", 8],
      ["_bucket", "+Inf", 9],
      ["_sum", undefined, h.sum],
      ["_count", undefined, 9],
    ],
  );
  assert.ok(s.every((x) => x.labels?.direction === "read"));
  assert.throws(() => new Histogram([1, 1]), RangeError);
  assert.throws(() => new Histogram([Infinity]), RangeError);
});

Deno.test("Ring keeps the newest items only, in either order", () => {
  const r = new Ring<number>(3);
  assert.deepEqual(r.newestFirst(), []);
  assert.equal(r.newest(), undefined);
  for (let i = 1; i <= 7; i++) r.push(i);
  assert.equal(r.size, 3);
  assert.deepEqual(r.newestFirst(), [7, 6, 5]);
  assert.deepEqual(r.newestFirst(2), [7, 6]);
  assert.deepEqual(r.oldestFirst(), [5, 6, 7]);
  assert.equal(r.newest(), 7);
  assert.throws(() => new Ring(0), RangeError);
});
