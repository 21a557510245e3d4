/**
 * chart.svg: per scenario, each server's throughput relative to the best C
 * peer (1.0 = best peer), the ceiling included, with ours labelled by both
 * ratios.
 *
 * @module
 */

import {
  bestPeer,
  CEILING,
  ceilingRatio,
  find,
  OURS,
  type Report,
} from "./report_core.ts";
import type { Scenario } from "./scenarios.ts";

const COLORS: Record<string, string> = {
  "tftpd-deno": "#2f6fdf",
  "atftpd": "#e08a2c",
  "tftpd-hpa": "#3aa45a",
  "ceiling": "#9a9a9a",
};

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

type Bar = { rel?: number; text: string };

function bars(report: Report, sc: Scenario, names: string[]): Bar[] {
  const best = bestPeer(report, sc.id);
  return names.map((n) => {
    const r = find(report, n, sc.id);
    if (!r) return { text: "-" };
    if (r.status === "n/a") return { text: "n/a" };
    if (r.failures > 0 && r.mbps === 0) return { text: "failed" };
    if (!best || best.mbps === 0) {
      return { text: `${r.mbps.toFixed(1)} MB/s (no C peer ran it)` };
    }
    const rel = r.mbps / best.mbps;
    let text = rel.toFixed(2);
    if (n === OURS) {
      const c = ceilingRatio(report, sc.id);
      if (c !== undefined) text += ` (${c.toFixed(2)} of ceiling)`;
    }
    if (r.failures > 0) text += ` (${r.failures} failed)`;
    return { rel, text };
  });
}

/**
 * Renders chart.svg.
 *
 * @example
 * ```ts
 * import { renderSvg } from "./chart.ts";
 * import type { Report } from "./report_core.ts";
 * const r = {
 *   mode: "quick", date: "2026-01-01T00:00:00Z", servers: [],
 *   scenarios: [], results: [],
 * } as unknown as Report;
 * if (!renderSvg(r).startsWith("<svg")) throw new Error();
 * ```
 *
 * @param report The report.
 * @returns SVG text.
 */
export function renderSvg(report: Report): string {
  // The ceiling's bar goes first, as the reference ours is measured by.
  const names = [
    ...report.servers.filter((s) => s.name === CEILING),
    ...report.servers.filter((s) => s.name !== CEILING),
  ].map((s) => s.name);
  const rowH = 12;
  const gap = 14;
  const left = 170;
  const width = 920;
  const plotW = width - left - 170;
  let maxRel = 1.5;
  const rows = report.scenarios.map((sc) => ({
    sc,
    bars: bars(report, sc, names),
  }));
  for (const row of rows) {
    for (const b of row.bars) {
      if (b.rel !== undefined) maxRel = Math.max(maxRel, b.rel);
    }
  }
  // Keep the axis readable: bars beyond 2.5 are cut and labelled.
  maxRel = Math.min(2.5, Math.ceil(maxRel * 2) / 2);
  const groupH = names.length * rowH + gap;
  const top = 50;
  const height = top + rows.length * groupH + 40;
  const x = (v: number) => left + (Math.min(v, maxRel) / maxRel) * plotW;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
      `font-family="sans-serif" font-size="11">`,
  );
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  out.push(
    `<text x="10" y="18" font-size="14" font-weight="bold">Throughput relative to the best C peer (1.0 = best peer; ${
      esc(report.mode)
    } mode, ${esc(report.date.slice(0, 10))})</text>`,
  );
  names.forEach((n, i) => {
    const lx = 10 + i * 140;
    out.push(
      `<rect x="${lx}" y="28" width="10" height="10" fill="${
        COLORS[n] ?? "#888"
      }"/><text x="${lx + 14}" y="37">${esc(n)}</text>`,
    );
  });
  for (let t = 0; t <= maxRel + 1e-9; t += 0.5) {
    out.push(
      `<line x1="${x(t)}" y1="${top - 5}" x2="${x(t)}" y2="${
        height - 30
      }" stroke="${t === 1 ? "#c00" : "#ddd"}" stroke-width="${
        t === 1 ? 1.5 : 1
      }"/>`,
    );
    out.push(
      `<text x="${x(t)}" y="${height - 15}" text-anchor="middle">${
        t.toFixed(1)
      }</text>`,
    );
  }
  rows.forEach((row, gi) => {
    const y0 = top + gi * groupH;
    out.push(
      `<text x="${left - 8}" y="${
        y0 + (names.length * rowH) / 2 + 4
      }" text-anchor="end">${esc(row.sc.id)}</text>`,
    );
    row.bars.forEach((b, i) => {
      const y = y0 + i * rowH;
      if (b.rel === undefined) {
        out.push(
          `<text x="${left + 4}" y="${y + rowH - 3}" fill="#888">${
            esc(b.text)
          }</text>`,
        );
        return;
      }
      out.push(
        `<rect x="${left}" y="${y + 1}" width="${
          Math.max(1, x(b.rel) - left)
        }" height="${rowH - 2}" fill="${COLORS[names[i]] ?? "#888"}"/>`,
      );
      out.push(
        `<text x="${x(b.rel) + 4}" y="${y + rowH - 3}">${esc(b.text)}${
          b.rel > maxRel ? " (axis cut)" : ""
        }</text>`,
      );
    });
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}
