// A scratch folder for one test: made under the system's temp folder and removed when the test
// process exits, whether the test passed or failed. A CI machine's disk can be small; a suite that
// leaves its folders behind (the package test alone packs 53 MB) fills it run after run.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const made = new Set<string>();
process.once("exit", () => made.forEach(removeScratch));

/** A new empty folder named `${prefix}XXXXXX`, removed at exit (or earlier by removeScratch). */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.add(dir);
  return dir;
}

/** Removes a scratch folder now (a big one need not wait for the process to end). */
export function removeScratch(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  made.delete(dir);
}
