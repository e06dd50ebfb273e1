/**
 * `npm run coverage`: the Solidity tests and the TypeScript tests that run contracts on Hardhat's
 * simulated chain, under `hardhat test --coverage`, then the bar (check.ts).
 *
 * Coverage is recorded by EDR, Hardhat's simulated chain, only. A test file that runs no contract
 * there adds nothing and is left out: the ones on anvil (`network: "localhost"`), the devnet and the
 * worker, client and packaging tests, whose processes would only make the run longer.
 *
 *   npm run coverage                  # run, print Hardhat's table and ours, exit 1 under the bar
 *   npm run coverage -- --list        # print the test files it would run
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { BRANCH_BAR, LINE_BAR, measure, report, summary } from "./check.js";

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)],
  );
}

/** Runs contracts on Hardhat's simulated chain: creates a network connection, and not to anvil. */
export function usesSimulatedChain(source: string): boolean {
  return /network\.(create|connect)\(/.test(source) && !/network:\s*"localhost"/.test(source);
}

export function testFiles(): { included: string[]; excluded: string[] } {
  const all = walk("test").sort();
  const solidity = all.filter((f) => f.endsWith(".t.sol"));
  const mocha = all.filter((f) => f.endsWith(".test.ts"));
  const onChain = mocha.filter((f) => usesSimulatedChain(readFileSync(f, "utf8")));
  return { included: [...solidity, ...onChain], excluded: mocha.filter((f) => !onChain.includes(f)) };
}

function main(): void {
  const { included, excluded } = testFiles();
  if (process.argv.includes("--list")) {
    console.log(`run under coverage:\n  ${included.join("\n  ")}\nleft out:\n  ${excluded.join("\n  ")}`);
    process.exit(0);
  }

  const started = Date.now();
  // Hardhat clears the data of the runners it starts; an older run's other runner must not count.
  rmSync(path.join("coverage", "data"), { recursive: true, force: true });
  rmSync(path.join("coverage", "lcov.info"), { force: true });
  console.log(`coverage: ${included.length} test files (left out, no contract on Hardhat's chain: ${excluded.length})`);
  const test = spawnSync("npx", ["hardhat", "test", "--coverage", ...included], { stdio: "inherit" });
  const seconds = Math.round((Date.now() - started) / 1000);
  if (test.status !== 0) {
    console.log(`coverage: the tests failed under coverage (hardhat exited ${test.status ?? test.signal}) after ${seconds} s`);
    process.exit(1);
  }
  try {
    const { table, failures } = report(measure());
    console.log(`\nLines and branch arms per contract (bar: ${LINE_BAR}% lines, ${BRANCH_BAR}% branches)\n`);
    console.log(table);
    console.log(`\ncoverage run: ${seconds} s`);
    if (failures.length > 0) {
      console.log("coverage under the bar:");
      for (const f of failures) console.log(`  ${f}`);
      process.exit(1);
    }
    console.log(summary());
  } catch (e) {
    console.log(`coverage: ${(e as Error).message}`);
    process.exit(1);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) main();
