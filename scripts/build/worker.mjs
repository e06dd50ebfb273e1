// Builds the worker to plain JavaScript in build/node/ (npm run build:worker, part of npm run build;
// npm run worker and the devnet run it first): every TypeScript module of worker/, client/ and
// typechain-types/ transpiled by esbuild, one file for one file, in the same tree, so that
// `node build/node/worker/main.js` runs without a TypeScript loader. tsx's loader costs a worker
// 25-35 MiB of resident memory before it runs anything (docs/PERFORMANCE.md), and what it does at
// start is work a node repeats on every restart. Only transpiled, not type-checked (npm run lint
// runs tsc); each run starts from an empty build/node, so nothing of an older build is left. The
// files the worker reads beside its modules are copied: the operator thread, the math core's
// WebAssembly and the addresses books.
import { build } from "esbuild";
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join, relative } from "node:path";

const root = new URL("../../", import.meta.url).pathname;
const out = join(root, "build/node");
const quiet = process.argv.includes("--quiet");

/** The .ts files under `dir` (declarations and the client's package build left out). */
function sources(dir) {
  const found = [];
  if (!existsSync(dir)) return found;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (path !== join(root, "client/dist") && path !== join(root, "client/wasm")) found.push(...sources(path));
    } else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) found.push(path);
  }
  return found;
}

const needed = [
  ["typechain-types", "npx hardhat build"],
  ["client/wasm/build/maru_math.wasm", "npm run build:wasm"],
];
for (const [path, command] of needed)
  if (!existsSync(join(root, path))) {
    console.error(`build:worker: ${path} is missing: run \`${command}\` (or \`npm run build\`) first`);
    process.exit(1);
  }

rmSync(out, { recursive: true, force: true });
const entryPoints = ["worker", "client", "typechain-types"].flatMap((d) => sources(join(root, d)));
await build({
  entryPoints,
  outdir: out,
  outbase: root,
  format: "esm",
  platform: "node",
  target: "node22",
  logLevel: "warning",
});
const copies = [
  "worker/operators/thread.mjs",
  "client/wasm/build/maru_math.wasm",
  ...readdirSync(join(root, "client/books"))
    .filter((f) => f.endsWith(".json"))
    .map((f) => `client/books/${f}`),
];
for (const path of copies) {
  mkdirSync(dirname(join(out, path)), { recursive: true });
  copyFileSync(join(root, path), join(out, path));
}
if (!quiet)
  console.log(
    `build:worker: ${entryPoints.length} modules to ${relative(root, out)}/ (node ${relative(root, out)}/worker/main.js)`,
  );
