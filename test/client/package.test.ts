// The client as worker nodes install it: `npm pack ./client`, installed into an empty project
// (no Hardhat), imported by its root and sub-path exports from JavaScript and type-checked from
// TypeScript.
import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = new URL("../../", import.meta.url).pathname;
const run = (cmd: string, args: string[], cwd: string) =>
  execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 240_000 });

describe("the client package (npm pack)", function () {
  this.timeout(300_000);

  it("installs without Hardhat, exposes its sub-paths, and carries its types", function () {
    run(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", "client/tsconfig.build.json"], root);
    run(process.execPath, ["scripts/client/copy-wasm.mjs"], root);
    const dir = mkdtempSync(join(tmpdir(), "maru-pack-"));
    run("npm", ["pack", "--pack-destination", dir, "--silent"], join(root, "client"));
    const tgz = readdirSync(dir).find((f) => f.endsWith(".tgz"))!;
    const app = join(dir, "app");
    run("mkdir", ["-p", app], dir);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", type: "module", private: true }));
    run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--silent", join(dir, tgz)], app);
    expect(readdirSync(join(app, "node_modules"))).to.not.include("hardhat");
    writeFileSync(
      join(app, "use.mjs"),
      `import { Sharder, verifyBatch, connectProtocol } from "@maru/client";
       import { Permutation } from "@maru/client/math";
       import { buildEvidence } from "@maru/client/evidence";
       import { watchEvents } from "@maru/client/events";
       const r = "0x" + "42".repeat(32);
       console.log(JSON.stringify([new Sharder(r, 10).shard(new Uint8Array([1, 2, 3])), new Permutation(r, 10).holders(3, 2),
         typeof verifyBatch, typeof connectProtocol, typeof buildEvidence, typeof watchEvents]));`,
    );
    const out = JSON.parse(run(process.execPath, ["use.mjs"], app));
    expect(out.slice(2)).to.deep.equal(["function", "function", "function", "function"]);
    expect(out[1]).to.have.length(2);
    // Types: a TypeScript consumer compiles against the package's declarations.
    writeFileSync(
      join(app, "use.ts"),
      `import { verifyBatch, type Verdict } from "@maru/client/batches";
       import { LtHash16 } from "@maru/client";
       const digest: string = new LtHash16().digest();
       const v: Verdict | undefined = undefined;
       export { digest, v, verifyBatch };`,
    );
    run(
      process.execPath,
      [
        join(root, "node_modules/typescript/bin/tsc"),
        "--noEmit",
        "--strict",
        "--module",
        "node20",
        "--target",
        "es2023",
        "--types",
        "node",
        "--typeRoots",
        join(root, "node_modules/@types"),
        "use.ts",
      ],
      app,
    );
  });
});
