// The worker's cap on how far V8 grows the JS heap past its live data (--heap-growth): a clear
// error for a bad value, and a real effect, measured in a child process that allocates the way a
// busy worker does (short-lived garbage, a part of which lives long enough to be promoted).
import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { WORKER_ENV, capHeapGrowth, missingWorkerEnv, onGlibc } from "../../worker/node/setup.js";
import { MaruError } from "../../client/errors/base.js";

const root = new URL("../../", import.meta.url).pathname;

/** The child's peak heap (MiB) while it churns through garbage with a cap of `percent`. */
function peakHeap(percent: number): number {
  const script = `
    import { capHeapGrowth } from "./worker/node/setup.ts";
    capHeapGrowth(${percent});
    const live = [];
    let peak = 0;
    for (let round = 0; round < 400; ++round) {
      // 20,000 small objects a round, a fifth of them kept for 20 rounds: promoted, then garbage.
      const batch = Array.from({ length: 20000 }, (_, i) => ({ data: new Uint8Array(64), i, t: BigInt(round) }));
      live.push(batch.filter((_, i) => i % 5 === 0));
      if (live.length > 20) live.shift();
      peak = Math.max(peak, process.memoryUsage().heapTotal);
    }
    console.log(Math.round(peak / 2 ** 20));`;
  const out = execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    cwd: root,
    encoding: "utf8",
    timeout: 120_000,
  });
  return Number(out.trim().split("\n").pop());
}

describe("worker: --heap-growth", function () {
  this.timeout(240_000);

  it("refuses anything but a whole percentage from 0 to 1000, saying what to give", function () {
    for (const bad of ["abc", "-1", "12.5", "1001", ""]) {
      const err = (() => {
        try {
          capHeapGrowth(bad);
        } catch (e) {
          return e;
        }
      })();
      expect(err, bad).to.be.instanceOf(MaruError);
      expect((err as MaruError).message).to.match(/is not a percentage from 0 to 1000/);
      expect((err as MaruError).fix).to.match(/40 \(the default\)/);
    }
    expect(capHeapGrowth("0")).to.equal(0);
  });

  it("keeps the heap's peak lower than V8's own policy for the same allocations", function () {
    const own = peakHeap(0);
    const capped = peakHeap(20);
    expect(capped, `capped ${capped} MiB, V8's policy ${own} MiB`).to.be.below(own * 0.85);
  });
});

describe("worker: the environment it is started with", function () {
  it("names each variable of WORKER_ENV that is missing, with the value to give", function () {
    expect(missingWorkerEnv({}, () => true)).to.deep.equal(["MALLOC_ARENA_MAX=2"]);
    expect(missingWorkerEnv({ MALLOC_ARENA_MAX: "4" }, () => true)).to.deep.equal([]);
    expect(missingWorkerEnv({ MALLOC_ARENA_MAX: "" }, () => true)).to.deep.equal(["MALLOC_ARENA_MAX=2"]); // glibc ignores it
  });

  it("asks for nothing without glibc (musl, macOS), where the variables do nothing", function () {
    expect(missingWorkerEnv({}, () => false)).to.deep.equal([]);
    // Linux without musl's loader is glibc (Debian here and in CI); anything else is not.
    const musl = process.platform === "linux" && readdirSync("/lib").some((f) => f.startsWith("ld-musl-"));
    expect(onGlibc()).to.equal(process.platform === "linux" && !musl);
  });

  it("npm run worker starts the worker with every variable of WORKER_ENV (a value the user set wins)", function () {
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { scripts: Record<string, string> };
    for (const [k, v] of Object.entries(WORKER_ENV))
      expect(pkg.scripts.worker).to.include(`${k}=\${${k}:-${v}} exec node`);
  });
});
