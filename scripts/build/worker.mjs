// Builds the worker to plain JavaScript (npm run build:worker, part of npm run build; npm run
// worker and the devnet run it first): every TypeScript module of worker/, client/ and
// typechain-types/ transpiled by esbuild, one file for one file, in the same tree, so that
// `node build/node/worker/main.js` runs without a TypeScript loader. tsx's loader costs a worker
// 25-35 MiB of resident memory before it runs anything (docs/PERFORMANCE.md), and what it does at
// start is work a node repeats on every restart. Only transpiled, not type-checked (npm run lint
// runs tsc). The files the worker reads beside its modules are copied: the operator thread, the
// math core's WebAssembly and the addresses books.
//
// Several workers may start at once (docs/local.md starts three), and workers may run while the
// sources change. So each build goes to its own folder, build/node-<stamp>, named by what it was
// built from (the sources' sizes and times, tsconfig.json, esbuild's version, this script), and
// build/node is a symbolic link to the newest, replaced in one rename. Node follows the link to the
// real folder when a worker starts, so a running worker loads every later file (its operator
// thread) from the tree it started with. A build that finds its folder already there does nothing;
// the three newest folders are kept. A lock (a folder holding the builder's pid) keeps two builds
// apart; the lock of a builder that died is taken over.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";

const root = fileURLToPath(new URL("../../", import.meta.url));
const builds = join(root, "build");
const link = join(builds, "node");
const lock = join(builds, ".node.lock");
const quiet = process.argv.includes("--quiet");
const say = (line) => quiet || console.log(`build:worker: ${line}`);
const KEEP = 3;

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
const inputs = [
  ...entryPoints,
  ...copies.map((c) => join(root, c)),
  join(root, "tsconfig.json"),
  join(root, "node_modules/esbuild/package.json"),
  fileURLToPath(import.meta.url),
];
for (const path of inputs) {
  const s = statSync(path);
  stamp.update(`${relative(root, path)}|${s.size}|${s.mtimeMs}\n`);
}
const name = `node-${stamp.digest("hex").slice(0, 16)}`;
const tree = join(builds, name);

/** Whether process `pid` is running. */
function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === "EPERM";
  }
}

mkdirSync(builds, { recursive: true });
for (let waited = 0; ; waited += 100) {
  try {
    mkdirSync(lock);
    writeFileSync(join(lock, "pid"), String(process.pid));
    break;
  } catch (e) {
    if (e.code !== "EEXIST") throw e;
    let holder;
    try {
      holder = Number(readFileSync(join(lock, "pid"), "utf8"));
    } catch {
      holder = undefined; // just taken (no pid yet) or just released: look again
    }
    if (holder && !alive(holder)) rmSync(lock, { recursive: true, force: true }); // its builder died
    if (waited === 2_000) say("waiting for another build of the worker to finish");
    await sleep(100);
  }
}
try {
  if (existsSync(join(tree, ".built"))) {
    say("up to date");
  } else {
    rmSync(tree, { recursive: true, force: true });
    await build({
      entryPoints,
      outdir: tree,
      outbase: root,
      format: "esm",
      platform: "node",
      target: "node22",
      logLevel: "warning",
    });
    for (const path of copies) {
      mkdirSync(dirname(join(tree, path)), { recursive: true });
      copyFileSync(join(root, path), join(tree, path));
    }
    writeFileSync(join(tree, ".built"), "");
    say(`${entryPoints.length} modules to ${relative(root, tree)}/ (run: node build/node/worker/main.js)`);
  }
  // build/node points at this tree, switched in one rename (a plain folder from an older build goes).
  const next = join(builds, `.node.link-${process.pid}`);
  rmSync(next, { force: true });
  symlinkSync(name, next);
  if (lstatSync(link, { throwIfNoEntry: false })?.isDirectory()) rmSync(link, { recursive: true, force: true });
  renameSync(next, link);
  // The newest KEEP trees stay (a worker started on an older one may still load its thread from it).
  const trees = readdirSync(builds)
    .filter((f) => /^node-[0-9a-f]{16}$/.test(f) && f !== name)
    .map((f) => ({ f, at: statSync(join(builds, f)).mtimeMs }))
    .sort((x, y) => y.at - x.at);
  for (const { f } of trees.slice(KEEP - 1)) rmSync(join(builds, f), { recursive: true, force: true });
  for (const f of readdirSync(builds))
    if (/^node\.(new|old)-\d+$/.test(f)) rmSync(join(builds, f), { recursive: true, force: true });
} finally {
  rmSync(lock, { recursive: true, force: true });
}
