/**
 * The coverage bar: every contract under contracts/ except contracts/mocks/ must have at least 95%
 * of its lines and 90% of its branch arms covered by the last `npm run coverage`.
 *
 *   npx tsx scripts/coverage/check.ts   # reads coverage/lcov.info and coverage/data/
 *
 * Lines are Hardhat's (coverage/lcov.info: a line counts when a statement on it ran). Branch arms
 * are ours (branches.ts): the tags of the arms taken, which EDR recorded in coverage/data/ with
 * Hardhat's statement tags. Prints one row per contract, then one line per contract under the bar,
 * and exits 1 if there is any.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { branchPoints, branchTag, lineOf } from "./branches.js";
import { isMeasured } from "./plugin.js";

export const LINE_BAR = 95;
export const BRANCH_BAR = 90;

/**
 * Contracts under the bar that another change is rewriting, with their tests (the hardening of
 * staking, epochs, fraud proofs and the VRF beacon). Their figures are printed, not enforced, while
 * the file is byte for byte the one measured (its sha256 here): once the rewrite lands the file
 * changes and the bar applies again, and the entry can go.
 */
export const BEING_REWRITTEN: Record<string, string> = {
  "contracts/randomness/VRFBeacon.sol": "69fd33d27f0722d7a7aef7a36600a176cc6699691845f408dcacd6b15ede98a9",
  "contracts/slashing/FraudProofs.sol": "e5324665f2b984c4e947c8b2a2697eec8f604abe3e560ed71f8eb0410cf165ce",
};

const COVERAGE_DIR = "coverage";

export interface FileCoverage {
  file: string;
  /** Under BEING_REWRITTEN and unchanged since: the bar is not enforced. */
  exempt: boolean;
  lines: { found: number; hit: number; uncovered: number[] };
  branches: { found: number; hit: number; uncovered: string[] };
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)],
  );
}

/** lcov records by source path: the lines found and the lines that ran. */
function readLcov(file: string): Map<string, Map<number, number>> {
  const records = new Map<string, Map<number, number>>();
  let current: Map<number, number> | undefined;
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (line.startsWith("SF:")) {
      current = new Map();
      records.set(line.slice(3).split(path.sep).join("/"), current);
    } else if (line.startsWith("DA:") && current !== undefined) {
      const [n, count] = line.slice(3).split(",").map(Number);
      current.set(n, Math.max(current.get(n) ?? 0, count));
    }
  }
  return records;
}

/** Every coverage tag that ran, over all the test runners of the last run. */
function readExecutedTags(dataDir: string): Set<string> {
  const tags = new Set<string>();
  for (const file of walk(dataDir).filter((f) => f.endsWith(".json"))) {
    for (const tag of Object.keys(JSON.parse(readFileSync(file, "utf8")))) tags.add(tag.toLowerCase());
  }
  return tags;
}

export function measure(root = process.cwd()): FileCoverage[] {
  const lcovPath = path.join(root, COVERAGE_DIR, "lcov.info");
  const dataDir = path.join(root, COVERAGE_DIR, "data");
  if (!existsSync(lcovPath) || !existsSync(dataDir)) {
    throw new Error(`no coverage data in ${COVERAGE_DIR}/: run \`npm run coverage\` first`);
  }
  const lcov = readLcov(lcovPath);
  const executed = readExecutedTags(dataDir);
  const files = walk(path.join(root, "contracts"))
    .map((f) => path.relative(root, f).split(path.sep).join("/"))
    .filter(isMeasured)
    .sort();
  const result: FileCoverage[] = [];
  for (const file of files) {
    const source = readFileSync(path.join(root, file));
    const points = branchPoints(source.toString("utf8"));
    const lines = lcov.get(file);
    if (lines === undefined && points.length === 0) continue; // declarations only (interfaces)
    if (lines === undefined) throw new Error(`${file} has code but no line in lcov.info: it was not instrumented`);
    const uncoveredArms: string[] = [];
    let armsHit = 0;
    points.forEach((p, k) => {
      for (const arm of [true, false]) {
        if (executed.has(branchTag(file, k, arm))) armsHit++;
        else uncoveredArms.push(`${lineOf(source, p.start)} ${p.kind} ${arm}`);
      }
    });
    const uncoveredLines = [...lines].filter(([, count]) => count === 0).map(([n]) => n);
    const sha256 = createHash("sha256").update(source).digest("hex");
    result.push({
      file,
      exempt: BEING_REWRITTEN[file] === sha256,
      lines: { found: lines.size, hit: lines.size - uncoveredLines.length, uncovered: uncoveredLines.sort((a, b) => a - b) },
      branches: { found: 2 * points.length, hit: armsHit, uncovered: uncoveredArms },
    });
  }
  if (armsFound(result) > 0 && armsHit(result) === 0) {
    throw new Error("no branch arm ran: the contracts were built without the branch plugin (hardhat.config.ts)");
  }
  return result;
}

const armsFound = (r: FileCoverage[]) => r.reduce((s, f) => s + f.branches.found, 0);
const armsHit = (r: FileCoverage[]) => r.reduce((s, f) => s + f.branches.hit, 0);

const pct = (hit: number, found: number) => (found === 0 ? 100 : (100 * hit) / found);
const show = (hit: number, found: number) =>
  found === 0 ? "-" : `${(Math.floor(pct(hit, found) * 100) / 100).toFixed(2)}% (${hit}/${found})`;

/** Ranges of line numbers: 3, 7-9. */
function ranges(lines: number[]): string {
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    let j = i;
    while (j + 1 < lines.length && lines[j + 1] === lines[j] + 1) j++;
    out.push(i === j ? `${lines[i]}` : `${lines[i]}-${lines[j]}`);
    i = j;
  }
  return out.join(", ") || "-";
}

export function report(result: FileCoverage[]): { table: string; failures: string[]; notes: string[] } {
  const rows = [
    "| contract | lines | branches | uncovered lines | uncovered branch arms (line kind arm) |",
    "| --- | --- | --- | --- | --- |",
  ];
  const failures: string[] = [];
  const notes: string[] = [];
  for (const { file, exempt, lines, branches } of result) {
    rows.push(
      `| ${file}${exempt ? " (being rewritten)" : ""} | ${show(lines.hit, lines.found)} | ${show(branches.hit, branches.found)} | ` +
        `${ranges(lines.uncovered)} | ${branches.uncovered.join(", ") || "-"} |`,
    );
    const under: string[] = [];
    if (pct(lines.hit, lines.found) < LINE_BAR) under.push(`lines ${show(lines.hit, lines.found)} < ${LINE_BAR}%`);
    if (pct(branches.hit, branches.found) < BRANCH_BAR) {
      under.push(`branches ${show(branches.hit, branches.found)} < ${BRANCH_BAR}%`);
    }
    if (exempt) {
      if (under.length > 0) notes.push(`${file}: ${under.join(", ")}: not enforced, being rewritten (BEING_REWRITTEN)`);
    } else {
      failures.push(...under.map((u) => `${file}: ${u}`));
      if (file in BEING_REWRITTEN) notes.push(`${file} changed since it was exempted: the bar applies`);
    }
  }
  return { table: rows.join("\n"), failures, notes };
}

/** The last line when nothing fails. */
export function summary(notes: string[]): string {
  const exempt = notes.filter((n) => n.includes("not enforced")).length;
  return (
    `coverage: every contract at or above ${LINE_BAR}% lines and ${BRANCH_BAR}% branches` +
    (exempt > 0 ? `, but ${exempt} being rewritten and not enforced (notes above)` : "")
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  try {
    const { table, failures, notes } = report(measure());
    console.log(table);
    for (const n of notes) console.log(`note: ${n}`);
    if (failures.length > 0) {
      console.log(`\ncoverage under the bar (${LINE_BAR}% lines, ${BRANCH_BAR}% branches):`);
      for (const f of failures) console.log(`  ${f}`);
      process.exit(1);
    }
    console.log(`\n${summary(notes)}`);
  } catch (e) {
    console.error(`coverage: ${(e as Error).message}`);
    process.exit(1);
  }
}
