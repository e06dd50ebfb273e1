// Shared by the benchmark scripts: merge figures into a results file and print them next to the
// previous run's, so every run compares itself with the figures committed before it.
import { existsSync, readFileSync, writeFileSync } from "node:fs";

export type Figures = Record<string, number>;

/** Reads `bench/results/<name>`, or {} when it does not exist yet. */
export function readResults(name: string): Figures {
  const url = new URL(`./results/${name}`, import.meta.url);
  return existsSync(url) ? (JSON.parse(readFileSync(url, "utf8")) as Figures) : {};
}

/**
 * Merges `figures` into `bench/results/<name>` (keys other benchmarks wrote are kept), prints a
 * table with the previous value and the change, and checks each goal. Returns the goals missed.
 */
export function writeResults(
  name: string,
  figures: Figures,
  goals: Record<string, { max?: number; min?: number; pending?: string }>,
): string[] {
  const previous = readResults(name);
  const merged = { ...previous, ...figures };
  const sorted = Object.fromEntries(Object.entries(merged).sort(([a], [b]) => a.localeCompare(b)));
  writeFileSync(new URL(`./results/${name}`, import.meta.url), JSON.stringify(sorted, null, 2) + "\n");
  const missed = compareFigures(previous, figures, goals);
  console.log(`wrote bench/results/${name}`);
  return missed;
}

/**
 * Prints `figures` beside `previous` (the value and the change) and checks each goal. Returns the
 * goals missed.
 */
export function compareFigures(
  previous: Figures,
  figures: Figures,
  goals: Record<string, { max?: number; min?: number; pending?: string }>,
): string[] {
  const missed: string[] = [];
  const rows = Object.entries(figures).map(([key, value]) => {
    const before = previous[key];
    const change = before ? `${(((value - before) / before) * 100).toFixed(1)}%` : "new";
    const goal = goals[key];
    let verdict = "";
    if (goal?.max !== undefined) verdict = value <= goal.max ? `ok (≤ ${goal.max})` : `MISSED (≤ ${goal.max})`;
    if (goal?.min !== undefined) verdict = value >= goal.min ? `ok (≥ ${goal.min})` : `MISSED (≥ ${goal.min})`;
    // A pending goal belongs to an open issue: shown, compared, but not yet enforced.
    if (verdict.startsWith("MISSED") && goal?.pending) verdict = `over (pending: ${goal.pending})`;
    if (verdict.startsWith("MISSED")) missed.push(key);
    return { figure: key, value, previous: before ?? "-", change, goal: verdict };
  });
  console.table(rows);
  return missed;
}
