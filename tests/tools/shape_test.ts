/**
 * The code's shape, as the redesign promised it: no source file over 500
 * lines, and no import cycle among the modules under `src/`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { REPO_ROOT } from "../../testing/process.ts";

const MAX_LINES = 500;
/** Generated, not written (checked for freshness by `bundle:worker --check`). */
const GENERATED = new Set(["src/server/workers/bundle.ts"]);

async function* tsFiles(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(`${REPO_ROOT}/${dir}`)) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) yield* tsFiles(path);
    else if (e.isFile && e.name.endsWith(".ts") && !GENERATED.has(path)) {
      yield path;
    }
  }
}

Deno.test("shape: no source file is over 500 lines", async () => {
  const over: string[] = [];
  let seen = 0;
  for (const dir of ["src", "testing", "bench", "tools", "tests", "examples"]) {
    for await (const path of tsFiles(dir)) {
      seen++;
      const text = await Deno.readTextFile(`${REPO_ROOT}/${path}`);
      const lines = text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
      if (lines > MAX_LINES) over.push(`${path}: ${lines} lines`);
    }
  }
  assert.ok(seen > 100, `only ${seen} files found`);
  assert.deepEqual(over, []);
});

/** Static imports that load code (not `import type`, not dynamic). */
function valueImports(text: string, from: string): string[] {
  const out: string[] = [];
  const re =
    /^(?:import|export)\s+(?!type\b)(?:[^;'"]*?\sfrom\s+)?["'](\.[^"']+)["']/gm;
  for (const m of text.matchAll(re)) {
    out.push(new URL(m[1], `file:///${from}`).pathname.slice(1));
  }
  return out;
}

Deno.test("shape: the modules under src/ import each other without a cycle", async () => {
  const graph = new Map<string, string[]>();
  for await (const path of tsFiles("src")) {
    const text = await Deno.readTextFile(`${REPO_ROOT}/${path}`);
    graph.set(path, valueImports(text, path));
  }
  assert.ok(
    graph.get("src/server/server.ts")?.includes("src/server/listeners.ts"),
    "the import scan found nothing",
  );
  const state = new Map<string, "open" | "done">();
  const cycles: string[] = [];
  const visit = (node: string, trail: string[]) => {
    if (state.get(node) === "done") return;
    if (state.get(node) === "open") {
      cycles.push([...trail.slice(trail.indexOf(node)), node].join(" -> "));
      return;
    }
    state.set(node, "open");
    for (const next of graph.get(node) ?? []) visit(next, [...trail, node]);
    state.set(node, "done");
  };
  for (const node of graph.keys()) visit(node, []);
  assert.deepEqual(cycles, []);
});
