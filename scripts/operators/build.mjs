// Builds every sample operator (operators/src/*.ts but the shared abi.ts; lib/ holds shared code) to operators/build/*.wasm
// with a bounded memory: `npm run build:operators` (part of `npm run build`).
import { readdirSync, mkdirSync } from "node:fs";
import { spawnSync } from "node:child_process";

const root = new URL("../../", import.meta.url).pathname;
const MAX_PAGES = 256; // 16 MiB: the most the worker's host accepts by default
mkdirSync(`${root}operators/build`, { recursive: true });
for (const file of readdirSync(`${root}operators/src`)) {
  if (!file.endsWith(".ts") || file === "abi.ts") continue;
  const name = file.slice(0, -3);
  const r = spawnSync(
    `${root}node_modules/.bin/asc`,
    [
      `operators/src/${file}`,
      "-O3",
      "--runtime",
      "incremental",
      "--maximumMemory",
      String(MAX_PAGES),
      "--outFile",
      `operators/build/${name}.wasm`,
    ],
    { cwd: root, stdio: "inherit" },
  );
  if (r.status !== 0) {
    console.error(`building operator ${name} failed`);
    process.exit(1);
  }
}
