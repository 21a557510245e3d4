/**
 * Checks that every function and class the public entry points export has
 * JSDoc with a runnable `@example` (one that `deno test --doc` executes:
 * not marked `ignore` or `no-eval`). Part of `deno task ok`.
 *
 * Usage: `deno run --allow-run --allow-read tools/check_examples.ts`
 *
 * @module
 */

/** The entry points of `deno.json`'s exports. */
const ENTRIES = [
  "mod.ts",
  "src/client/mod.ts",
  "src/protocol/mod.ts",
  "src/storage/mod.ts",
  "src/metrics/mod.ts",
];

interface DocTag {
  kind: string;
  doc?: string;
}

interface DocDeclaration {
  kind: string;
  jsDoc?: { doc?: string; tags?: DocTag[] };
  location: { filename: string; line: number };
}

interface DocNode {
  symbols: { name: string; declarations: DocDeclaration[] }[];
}

/**
 * The exported functions and classes without a runnable example.
 *
 * @example
 * ```ts ignore
 * const missing = await missingExamples(["mod.ts"]);
 * ```
 *
 * @param entries Module files.
 * @returns `name (file:line)` of each.
 */
export async function missingExamples(entries: string[]): Promise<string[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", ...entries],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error("deno doc failed");
  const doc = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    nodes: Record<string, DocNode>;
  };
  const missing = new Set<string>();
  for (const node of Object.values(doc.nodes)) {
    for (const sym of node.symbols) {
      for (const d of sym.declarations) {
        if (d.kind !== "function" && d.kind !== "class") continue;
        const runnable = (d.jsDoc?.tags ?? []).some((t) =>
          t.kind === "example" && !/```ts (ignore|no-eval)/.test(t.doc ?? "")
        );
        if (runnable) continue;
        const file = d.location.filename.replace(/^file:\/\/\/?/, "/")
          .replace(Deno.cwd() + "/", "");
        missing.add(`${sym.name} (${file}:${d.location.line})`);
      }
    }
  }
  return [...missing].sort();
}

if (import.meta.main) {
  const missing = await missingExamples(ENTRIES);
  if (missing.length > 0) {
    console.error(
      `exported without a runnable @example:\n  ${missing.join("\n  ")}`,
    );
    Deno.exit(1);
  }
  console.log("every exported function and class has a runnable example");
}
