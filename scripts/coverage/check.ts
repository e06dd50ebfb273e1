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
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { branchPoints, branchTag, lineOf } from "./branches.js";
import { isMeasured } from "./plugin.js";

export const LINE_BAR = 95;
export const BRANCH_BAR = 90;


const COVERAGE_DIR = "coverage";

export interface FileCoverage {
  file: string;
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
    result.push({
      file,
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

export function report(result: FileCoverage[]): { table: string; failures: string[] } {
  const rows = [
    "| contract | lines | branches | uncovered lines | uncovered branch arms (line kind arm) |",
    "| --- | --- | --- | --- | --- |",
  ];
  const failures: string[] = [];
  for (const { file, lines, branches } of result) {
    rows.push(
      `| ${file} | ${show(lines.hit, lines.found)} | ${show(branches.hit, branches.found)} | ` +
        `${ranges(lines.uncovered)} | ${branches.uncovered.join(", ") || "-"} |`,
    );
    const under: string[] = [];
    if (pct(lines.hit, lines.found) < LINE_BAR) under.push(`lines ${show(lines.hit, lines.found)} < ${LINE_BAR}%`);
    if (pct(branches.hit, branches.found) < BRANCH_BAR) {
      under.push(`branches ${show(branches.hit, branches.found)} < ${BRANCH_BAR}%`);
    }
    failures.push(...under.map((u) => `${file}: ${u}`));
  }
  return { table: rows.join("\n"), failures };
}

/** The last line when nothing fails. */
export function summary(): string {
  return `coverage: every contract at or above ${LINE_BAR}% lines and ${BRANCH_BAR}% branches`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  try {
    const { table, failures } = report(measure());
    console.log(table);
    if (failures.length > 0) {
      console.log(`\ncoverage under the bar (${LINE_BAR}% lines, ${BRANCH_BAR}% branches):`);
      for (const f of failures) console.log(`  ${f}`);
      process.exit(1);
    }
    console.log(`\n${summary()}`);
  } catch (e) {
    console.error(`coverage: ${(e as Error).message}`);
    process.exit(1);
  }
}
