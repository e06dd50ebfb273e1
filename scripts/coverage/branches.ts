/**
 * Branch coverage for `hardhat test --coverage`, which measures statements and lines only: as of
 * Hardhat 3.18, EDR reports which statements ran and nothing about branches (hardhat#6733).
 *
 * A branch point is the condition of an `if`, of a `require` or of a `?:` inside a function or
 * modifier body; each has two arms (true, false). Under `--coverage`, `plugin.ts` wraps each
 * condition `c` of a contract in `__maruBranch_<file>(c, tagTrue, tagFalse)`, a pure function that
 * sends the tag of the arm taken through Hardhat's own coverage library and returns `c`: one
 * evaluation, the same value, so the contract behaves as before. EDR reports these tags with
 * Hardhat's statement tags (coverage/data/), and `check.ts` counts the arms whose tag ran.
 *
 * Both sides find the branch points the same way, in source order, so a tag names the k-th branch
 * point of a file: the plugin in Hardhat's instrumented source (which only adds statements and
 * braces), the check in the source on disk, which gives the line.
 */
import { createHash } from "node:crypto";
import solc from "solc";

export type BranchKind = "if" | "require" | "ternary";

export interface BranchPoint {
  kind: BranchKind;
  /** Byte offsets (UTF-8) of the condition in the source. */
  start: number;
  end: number;
}

interface AstNode {
  nodeType?: string;
  src?: string;
  [key: string]: unknown;
}

function isNode(value: unknown): value is AstNode {
  return typeof value === "object" && value !== null && typeof (value as AstNode).nodeType === "string";
}

function children(node: AstNode): AstNode[] {
  const out: AstNode[] = [];
  for (const value of Object.values(node)) {
    if (Array.isArray(value)) out.push(...value.filter(isNode));
    else if (isNode(value)) out.push(value);
  }
  return out;
}

function range(node: AstNode): { start: number; end: number } {
  const [start, length] = String(node.src).split(":").map(Number);
  return { start, end: start + length };
}

/** Parses a source (no imports needed) and returns its branch points in source order. */
export function branchPoints(source: string): BranchPoint[] {
  const input = {
    language: "Solidity",
    sources: { "input.sol": { content: source } },
    settings: { stopAfter: "parsing", outputSelection: { "*": { "": ["ast"] } } },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (output.errors ?? []).filter((e: { severity: string }) => e.severity === "error");
  if (errors.length > 0) {
    throw new Error(`branch coverage: cannot parse: ${errors.map((e: { message: string }) => e.message).join("; ")}`);
  }
  const points: BranchPoint[] = [];
  const visit = (node: AstNode, inBody: boolean): void => {
    if (inBody) {
      if (node.nodeType === "IfStatement" || node.nodeType === "Conditional") {
        const condition = node.condition as AstNode;
        points.push({ kind: node.nodeType === "IfStatement" ? "if" : "ternary", ...range(condition) });
      } else if (node.nodeType === "FunctionCall") {
        const callee = node.expression as AstNode;
        const args = node.arguments as AstNode[];
        if (callee.nodeType === "Identifier" && callee.name === "require" && args.length > 0) {
          points.push({ kind: "require", ...range(args[0]) });
        }
      }
    }
    const bodyStarts = node.nodeType === "FunctionDefinition" || node.nodeType === "ModifierDefinition";
    for (const child of children(node)) {
      visit(child, inBody || (bodyStarts && child === node.body));
    }
  };
  visit(output.sources["input.sol"].ast, false);
  return points.sort((a, b) => a.start - b.start || b.end - a.end);
}

/** The coverage tag of arm `arm` of the `index`-th branch point of `file` (a path under the root). */
export function branchTag(file: string, index: number, arm: boolean): string {
  return createHash("sha256").update(`maru-branch:${file}:${index}:${arm}`).digest("hex");
}

/** The 1-based line of a byte offset. */
export function lineOf(bytes: Buffer, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset; i++) if (bytes[i] === 0x0a) line++;
  return line;
}

/**
 * Wraps every branch condition of `instrumented` (Hardhat's instrumented source of `file`) so that
 * it reports the arm it takes. `coverageLibrary` is the name of Hardhat's coverage library, which
 * the instrumented source already imports.
 */
export function instrumentBranches(instrumented: string, file: string, coverageLibrary: string): string {
  const points = branchPoints(instrumented);
  if (points.length === 0) return instrumented;
  const fn = `__maruBranch_${createHash("sha256").update(file).digest("hex").slice(0, 12)}`;
  // Insertions in left-to-right order; at one offset, closing ones (inner first) before opening
  // ones (outer first), so nested conditions stay nested.
  const inserts: { at: number; order: number; text: string }[] = [];
  points.forEach((p, k) => {
    const t = branchTag(file, k, true);
    const f = branchTag(file, k, false);
    inserts.push({ at: p.start, order: 1 + (p.start - p.end) / 1e9, text: `${fn}(` });
    inserts.push({ at: p.end, order: -1 + (p.end - p.start) / 1e9, text: `, 0x${t}, 0x${f})` });
  });
  inserts.sort((a, b) => a.at - b.at || a.order - b.order);
  const bytes = Buffer.from(instrumented, "utf8");
  const parts: Buffer[] = [];
  let last = 0;
  for (const ins of inserts) {
    parts.push(bytes.subarray(last, ins.at), Buffer.from(ins.text, "utf8"));
    last = ins.at;
  }
  parts.push(bytes.subarray(last));
  const helper =
    `\n\nfunction ${fn}(bool c, uint256 t, uint256 f) pure returns (bool) {\n` +
    `    ${coverageLibrary}.sendHit(c ? t : f);\n    return c;\n}\n`;
  return Buffer.concat(parts).toString("utf8") + helper;
}
