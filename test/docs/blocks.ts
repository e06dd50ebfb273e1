// The fenced `sh` blocks of the docs and what each is marked as (docs/development.md#docs-that-run):
//   ```sh runnable                  run by test/docs/runnable.test.ts, in order, against the local chain
//   ```sh background ready=<text>   started and left running (a chain, a worker) until <text> is printed
//   ```sh testnet                   needs a testnet (keys, RPC URLs): only its syntax is checked
//   ```sh ci                        run by CI itself (.ci/run) or by the test suite in another form (the devnet matrix)
//   ```sh bench                     a benchmark, run by hand; its figures are in docs/PERFORMANCE.md
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

export const MARKS = ["runnable", "background", "testnet", "ci", "bench"] as const;
export type Mark = (typeof MARKS)[number];
export type Block = { file: string; line: number; mark?: Mark; attrs: Record<string, string>; code: string };

/** README.md, docs/**\/*.md and the other READMEs a user reads. */
export function docFiles(root: string): string[] {
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((f) => {
      const p = join(dir, f);
      return statSync(p).isDirectory() ? walk(p) : p.endsWith(".md") ? [p] : [];
    });
  return [
    join(root, "README.md"),
    ...walk(join(root, "docs")),
    join(root, "client/README.md"),
    join(root, "deploy/README.md"),
  ].map((p) => relative(root, p));
}

/** Every fenced block whose language is `sh`, with its mark and attributes (`key=value` words). */
export function shBlocks(root: string, file: string): Block[] {
  const lines = readFileSync(join(root, file), "utf8").split("\n");
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; ++i) {
    const open = lines[i].match(/^(\s*)(```+)(\S*)\s*(.*)$/);
    if (!open) continue;
    const [, indent, fence, lang, info] = open;
    let j = i + 1;
    while (j < lines.length && !lines[j].trimStart().startsWith(fence)) ++j;
    if (lang === "sh") {
      const words = info.split(/\s+/).filter(Boolean);
      const attrs = Object.fromEntries(
        words.filter((w) => w.includes("=")).map((w) => [w.slice(0, w.indexOf("=")), w.slice(w.indexOf("=") + 1)]),
      );
      const mark = words.find((w) => (MARKS as readonly string[]).includes(w)) as Mark | undefined;
      const code = lines
        .slice(i + 1, j)
        .map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l))
        .join("\n");
      blocks.push({ file, line: i + 1, mark, attrs, code });
    }
    i = j;
  }
  return blocks;
}
