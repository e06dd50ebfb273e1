// The client as worker nodes and tools install it: `npm pack ./client`, installed into empty
// projects (no Hardhat), one ES module and one CommonJS, each importing the root and sub-path
// exports from JavaScript, computing with the wasm core, and type-checking against the package's
// declarations with its own copy of ethers' types.
import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { removeScratch, scratchDir } from "../utils/scratch.js";

const root = new URL("../../", import.meta.url).pathname;
const tsc = join(root, "node_modules/typescript/bin/tsc");
/** Runs a command; a failure's message carries what it printed (tsc prints its errors on stdout). */
function run(cmd: string, args: string[], cwd: string): string {
  try {
    return execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 240_000 });
  } catch (e) {
    const { stdout, stderr } = e as { stdout?: string; stderr?: string };
    throw new Error(`${cmd} ${args.join(" ")} failed in ${cwd}:\n${stdout ?? ""}${stderr ?? ""}`, { cause: e });
  }
}

/** An empty project with the packed client installed (from the local npm cache when it can). */
function project(dir: string, name: string, pkg: Record<string, unknown>, tgz: string): string {
  const app = join(dir, name);
  mkdirSync(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name, private: true, ...pkg }));
  run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--silent", tgz], app);
  expect(readdirSync(join(app, "node_modules"))).to.not.include("hardhat");
  return app;
}

/** Type-checks `files` in `app` as a strict consumer would, with the given module setting. */
function typecheck(app: string, files: string[], module: string) {
  const args = ["--noEmit", "--strict", "--module", module, "--target", "es2023", "--types", "node"];
  run(process.execPath, [tsc, ...args, "--typeRoots", join(root, "node_modules/@types"), ...files], app);
}

/** The ```ts blocks of docs/client.md. */
const docBlocks = () =>
  [...readFileSync(join(root, "docs/client.md"), "utf8").matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]);

// What both projects compute and print, to compare with each other.
const r = "0x" + "42".repeat(32);
const compute = `const r = "${r}";
  const out = [new Sharder(r, 10).shard(new Uint8Array([1, 2, 3])), new Permutation(r, 10).holders(3, 2),
    typeof verifyBatch, typeof connectProtocol, typeof buildEvidence, typeof watchEvents, typeof getWorker,
    typeof listOperators, Object.keys(booksByChainId).length];
  try { getBook(11155111); } catch (e) { out.push(e instanceof UnknownDeploymentError && e.message.split("\\n")[0]); }
  console.log(JSON.stringify(out));`;

// What both type-check: the consumer's own ethers provider goes into the client's functions (with
// one package's types seen from both module systems, this is where dual-package errors surface).
const typed = (imports: string) => `${imports}
  import { JsonRpcProvider } from "ethers";
  import { connectProtocol, type AddressesBook } from "@maru/client";
  import { getWorker, listStreams, type WorkerState, type Page, type StreamInfo } from "@maru/client/read";
  import { Sharder } from "@maru/client/math";
  import { getBook } from "@maru/client/books";
  export async function status(book: AddressesBook, me: string): Promise<[WorkerState, Page<StreamInfo>, number]> {
    const maru = connectProtocol(book ?? getBook(1), new JsonRpcProvider("http://127.0.0.1:8545"));
    const shard: number = new Sharder("0x" + "00".repeat(32), 4).shard(new Uint8Array([1]));
    return [await getWorker(maru, me), await listStreams(maru, { limit: 10 }), shard];
  }`;

describe("the client package (npm pack)", function () {
  this.timeout(300_000);

  it("installs without Hardhat into ESM and CommonJS projects, which import it, compute with it and type-check (docs/client.md's examples too)", function () {
    run(process.execPath, ["scripts/client/build.mjs"], root);
    const dir = scratchDir("maru-pack-");
    const [packed] = JSON.parse(run("npm", ["pack", "--json", "--pack-destination", dir], join(root, "client"))) as {
      filename: string;
      files: { path: string }[];
    }[];
    // Only the contracts the client calls: no test contracts' types or factories, no typechain barrel.
    const files = packed.files.map((f) => f.path);
    expect(files).to.include("dist/cjs/client/read/index.d.ts");
    expect(files).to.include("dist/esm/client/books/index.js");
    expect(files.filter((f) => /mock|harness|testtoken|bulkworkers|vrfcoordinator/i.test(f))).to.deep.equal([]);
    expect(files.filter((f) => /typechain-types\/(index|hardhat)\./.test(f))).to.deep.equal([]);
    expect(files.filter((f) => f.endsWith(".wasm"))).to.deep.equal([]); // embedded in both builds
    const tgz = join(dir, packed.filename);

    const esm = project(dir, "esm-app", { type: "module" }, tgz);
    writeFileSync(
      join(esm, "use.mjs"),
      `import { Sharder, verifyBatch, connectProtocol, UnknownDeploymentError } from "@maru/client";
       import { Permutation } from "@maru/client/math";
       import { buildEvidence } from "@maru/client/evidence";
       import { watchEvents } from "@maru/client/events";
       import { getWorker, listOperators } from "@maru/client/read";
       import { booksByChainId, getBook } from "@maru/client/books";
       ${compute}`,
    );
    const fromEsm = JSON.parse(run(process.execPath, ["use.mjs"], esm));

    const cjs = project(dir, "cjs-app", {}, tgz);
    writeFileSync(
      join(cjs, "use.cjs"),
      `const { Sharder, verifyBatch, connectProtocol, UnknownDeploymentError } = require("@maru/client");
       const { Permutation } = require("@maru/client/math");
       const { buildEvidence } = require("@maru/client/evidence");
       const { watchEvents } = require("@maru/client/events");
       const { getWorker, listOperators } = require("@maru/client/read");
       const { booksByChainId, getBook } = require("@maru/client/books");
       ${compute}`,
    );
    const fromCjs = JSON.parse(run(process.execPath, ["use.cjs"], cjs));

    expect(fromEsm).to.deep.equal(fromCjs);
    expect(fromEsm[1]).to.have.length(2);
    expect(fromEsm.slice(2, 9)).to.deep.equal([...Array(6).fill("function"), 0]);
    expect(fromEsm[9]).to.equal("No deployment known for chain 11155111; pass your own addresses book.");

    // Types: each project's TypeScript compiles against the declarations of its own module system.
    writeFileSync(join(esm, "use.ts"), typed(`import { verifyBatch, type Verdict } from "@maru/client/batches";`));
    // Every example of docs/client.md compiles as it stands, against the package (ESM: they await at top level).
    const examples = docBlocks();
    expect(examples.length).to.be.greaterThan(5);
    examples.forEach((code, i) => writeFileSync(join(esm, `doc${i}.ts`), code));
    typecheck(esm, ["use.ts", ...examples.map((_, i) => `doc${i}.ts`)], "node20");
    writeFileSync(join(cjs, "use.ts"), typed(`import { verifyBatch, type Verdict } from "@maru/client/batches";`));
    const cjsExample = examples.findIndex((code) => code.includes("in CommonJS"));
    writeFileSync(join(cjs, "doc.ts"), examples[cjsExample]);
    typecheck(cjs, ["use.ts", "doc.ts"], "node16");
    removeScratch(dir);
  });
});
