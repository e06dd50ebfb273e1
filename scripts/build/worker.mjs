// Builds the worker to plain JavaScript in build/node/ (npm run build:worker, part of npm run build;
// npm run worker and the devnet run it first): every TypeScript module of worker/, client/ and
// typechain-types/ transpiled by esbuild, one file for one file, in the same tree, so that
// `node build/node/worker/main.js` runs without a TypeScript loader. tsx's loader costs a worker
// 25-35 MiB of resident memory before it runs anything (docs/PERFORMANCE.md), and what it does at
// start is work a node repeats on every restart. Only transpiled, not type-checked (npm run lint
// runs tsc). The files the worker reads beside its modules are copied: the operator thread, the
// math core's WebAssembly and the addresses books.
//
// Several workers may start at once (docs/local.md starts three): a build holds a lock, does
// nothing when build/node already matches the sources (their sizes and times, in .stamp), and
// otherwise builds into a new folder and swaps it in (two renames), so a worker never loads from a
// half-written tree.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

const root = new URL("../../", import.meta.url).pathname;
const out = join(root, "build/node");
const lock = join(root, "build/.node.lock");
const quiet = process.argv.includes("--quiet");
const say = (line) => quiet || console.log(`build:worker: ${line}`);

/** The .ts files under `dir` (declarations, the client's package build and its wasm sources left out). */
function sources(dir) {
  const found = [];
  if (!existsSync(dir)) return found;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (path !== join(root, "client/dist") && path !== join(root, "client/wasm")) found.push(...sources(path));
    } else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) found.push(path);
  }
  return found.sort();
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

const entryPoints = ["worker", "client", "typechain-types"].flatMap((d) => sources(join(root, d)));
const copies = [
  "worker/operators/thread.mjs",
  "client/wasm/build/maru_math.wasm",
  ...readdirSync(join(root, "client/books"))
    .filter((f) => f.endsWith(".json"))
    .map((f) => `client/books/${f}`),
];
const stamp = createHash("sha256");
for (const path of [...entryPoints, ...copies.map((c) => join(root, c)), new URL(import.meta.url).pathname]) {
  const s = statSync(path);
  stamp.update(`${relative(root, path)}|${s.size}|${s.mtimeMs}\n`);
}
const want = stamp.digest("hex");

mkdirSync(join(root, "build"), { recursive: true });
for (let waited = 0; ; waited += 100) {
  try {
    mkdirSync(lock);
    break;
  } catch (e) {
    if (e.code !== "EEXIST") throw e;
    // A build that died holding the lock leaves it behind: after a minute it is taken over.
    if (waited > 60_000 || Date.now() - statSync(lock).mtimeMs > 60_000) rmSync(lock, { recursive: true, force: true });
    await sleep(100);
  }
}
try {
  const have = existsSync(join(out, ".stamp")) ? readFileSync(join(out, ".stamp"), "utf8") : "";
  if (have === want) {
    say("up to date");
  } else {
    const fresh = `${out}.new-${process.pid}`;
    rmSync(fresh, { recursive: true, force: true });
    await build({
      entryPoints,
      outdir: fresh,
      outbase: root,
      format: "esm",
      platform: "node",
      target: "node22",
      logLevel: "warning",
    });
    for (const path of copies) {
      mkdirSync(dirname(join(fresh, path)), { recursive: true });
      copyFileSync(join(root, path), join(fresh, path));
    }
    writeFileSync(join(fresh, ".stamp"), want);
    const old = `${out}.old-${process.pid}`;
    if (existsSync(out)) renameSync(out, old);
    renameSync(fresh, out);
    rmSync(old, { recursive: true, force: true });
    say(`${entryPoints.length} modules to ${relative(root, out)}/ (run: node ${relative(root, out)}/worker/main.js)`);
  }
} finally {
  rmSync(lock, { recursive: true, force: true });
}
