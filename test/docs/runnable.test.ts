// The docs run as written. Every fenced `sh` block of README.md and docs/ is marked (test/docs/blocks.ts):
// unmarked ones fail here. The `runnable` and `background` blocks are the path a new user takes
// outside the devnet, executed in order as real processes: docs/local.md first (npm run chain,
// npm run deploy:local, gov register-stream and register-operator for the repository's manifests,
// the faucet, three `npm run worker`), then the runnable blocks of the other pages against that
// chain. The workers must take part in an epoch (verify it and finish it), serve /metrics, and stop
// cleanly on Ctrl-C (SIGINT to their process group, as a terminal sends it).
import { expect } from "chai";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { portFree } from "../../scripts/lib/processes.js";
import { join } from "node:path";
import { Wallet } from "ethers";
import { connectProtocol, getEpoch, openRpc, type AddressesBook } from "../../client/index.js";
import { docFiles, shBlocks, type Block } from "./blocks.js";

const ROOT = new URL("../../", import.meta.url).pathname;
const BOOK = join(ROOT, "deployments/31337.json");
const scripts = Object.keys(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).scripts);
const where = (b: Block) => `${b.file}:${b.line}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Background = {
  block: Block;
  proc: ChildProcess;
  readonly out: string;
  code?: number | null;
  signal?: string | null;
};

describe("docs: every sh block is marked, and the runnable ones run as written", function () {
  const all = docFiles(ROOT).flatMap((f) => shBlocks(ROOT, f));

  it("marks every sh block (runnable, background, testnet, ci or bench) and names only existing npm scripts", function () {
    expect(all.length).to.be.greaterThan(10);
    expect(all.filter((b) => !b.mark).map(where), "unmarked sh blocks").to.deep.equal([]);
    const missing = all.flatMap((b) =>
      [...b.code.matchAll(/npm run ([\w:-]+)/g)]
        .filter((m) => !scripts.includes(m[1]))
        .map((m) => `${where(b)}: ${m[1]}`),
    );
    expect(missing, "npm scripts that do not exist").to.deep.equal([]);
    for (const b of all.filter((x) => x.mark === "background"))
      expect(b.attrs.ready, `${where(b)}: a background block says what it prints when ready`).to.be.a("string");
  });

  it("testnet and ci blocks are valid shell", function () {
    for (const b of all.filter((x) => x.mark === "testnet" || x.mark === "ci")) {
      try {
        execFileSync("bash", ["-n"], { input: b.code, stdio: ["pipe", "pipe", "pipe"] });
      } catch (e) {
        expect.fail(`${where(b)} is not valid shell: ${(e as { stderr: Buffer }).stderr}`);
      }
    }
  });

  describe("the new user's path (docs/local.md, then every runnable block)", function () {
    this.timeout(900_000);
    const background: Background[] = [];
    const logs = mkdtempSync(join(tmpdir(), "maru-docs-"));
    let saved: string | undefined;

    before(async function () {
      for (const [port, what] of [
        [8545, "a chain node"],
        [1984, "a gateway"],
      ] as const)
        if (!(await portFree(port))) throw new Error(`port ${port} is in use (${what}?): stop it, then run this test`);
      if (existsSync(BOOK)) renameSync(BOOK, (saved = `${BOOK}.before-docs-test`));
    });
    after(async function () {
      // Whatever is still running (a failed run) is stopped the hard way.
      for (const b of background) if (b.code === undefined) process.kill(-b.proc.pid!, "SIGKILL");
      await sleep(500);
      rmSync(BOOK, { force: true });
      if (saved) renameSync(saved, BOOK);
      rmSync(join(ROOT, ".maru/local"), { recursive: true, force: true });
      rmSync(logs, { recursive: true, force: true });
    });

    const start = async (b: Block): Promise<Background> => {
      // Output to a file, not a pipe: a pipe nobody drains while a runnable block runs would block
      // a worker's synchronous log writes.
      const log = join(logs, `${b.file.replace(/\W/g, "_")}-${b.line}.log`);
      const fd = openSync(log, "w");
      const proc = spawn("bash", ["-euo", "pipefail", "-c", b.code], {
        cwd: ROOT,
        detached: true, // its own process group, like a terminal's job
        stdio: ["ignore", fd, fd],
      });
      closeSync(fd);
      const bg: Background = {
        block: b,
        proc,
        get out() {
          return readFileSync(log, "utf8");
        },
      };
      proc.on("exit", (code, signal) => ([bg.code, bg.signal] = [code, signal]));
      background.push(bg);
      const deadline = Date.now() + 240_000;
      while (!bg.out.includes(b.attrs.ready)) {
        if (bg.code !== undefined)
          expect.fail(`${where(b)} exited (${bg.code}) before it was ready:\n${bg.out.slice(-3000)}`);
        if (Date.now() > deadline)
          expect.fail(`${where(b)} printed no "${b.attrs.ready}" in 240 s:\n${bg.out.slice(-3000)}`);
        await sleep(250);
      }
      return bg;
    };
    const run = (b: Block) => {
      try {
        return execFileSync("bash", ["-euo", "pipefail", "-c", b.code], {
          cwd: ROOT,
          encoding: "utf8",
          stdio: ["ignore", "pipe", "pipe"],
          timeout: 300_000,
        });
      } catch (e) {
        const x = e as { status: number; stdout: string; stderr: string };
        return expect.fail(
          `${where(b)} failed (exit ${x.status}):\n${x.stdout.slice(-2000)}\n${x.stderr.slice(-3000)}`,
        );
      }
    };

    it("runs docs/local.md: chain, deploy, governance, faucet, three workers that take part in an epoch", async function () {
      const local = all.filter((b) => b.file === "docs/local.md");
      expect(local.map((b) => b.mark)).to.include.members(["runnable", "background"]);
      for (const b of local) {
        if (b.mark === "background") await start(b);
        else if (b.mark === "runnable") run(b);
      }
      const workers = background.filter((b) => b.block.code.includes("npm run worker"));
      expect(workers).to.have.length(3);
      // Each takes part from the first epoch it can: the first whose frozen set holds it and whose
      // randomness is set. It verifies that epoch as a member (with its index) and finishes its
      // dataflow; none is skipped.
      const book = JSON.parse(readFileSync(BOOK, "utf8")) as AddressesBook;
      const { provider } = await openRpc("http://127.0.0.1:8545");
      const me = (w: Background) => new Wallet(w.block.code.match(/MARU_WORKER_KEY=(0x[0-9a-fA-F]{64})/)![1]).address;
      const firstEpoch = new Map<Background, bigint>();
      try {
        const p = connectProtocol(book, provider);
        const deadline = Date.now() + 300_000;
        let seen = 0n; // epochs read so far (frozen with randomness: they do not change)
        const sets: string[] = [];
        for (;;) {
          for (const w of workers)
            if (w.code !== undefined) expect.fail(`${where(w.block)} exited (${w.code}):\n${w.out.slice(-3000)}`);
          const current = await p.epochs.currentEpoch();
          for (let e = seen + 1n; e <= current; ++e) {
            const epoch = await getEpoch(p, e, { members: true });
            if (!epoch.randomness) break;
            seen = e;
            sets.push(`epoch ${e}: ${epoch.members!.join(", ")}`);
            for (const w of workers)
              if (!firstEpoch.has(w) && epoch.members!.some((m) => m.toLowerCase() === me(w).toLowerCase()))
                firstEpoch.set(w, e);
          }
          const done = workers.every((w) => {
            const f = firstEpoch.get(w);
            return (
              f !== undefined &&
              new RegExp(
                `"epoch":"${f}","r":"0x[0-9a-f]+","source":"\\w+","index":\\d+[^\\n]*"msg":"epoch verified"`,
              ).test(w.out) &&
              new RegExp(`"epoch":"${f}","index":\\d+[^\\n]*"sourceDeltas":\\d+`).test(w.out)
            );
          });
          if (done) break;
          if (Date.now() > deadline)
            expect.fail(
              `not every worker verified and finished the first epoch it could in 300 s:\n` +
                workers
                  .map(
                    (w) =>
                      `${me(w)}: first set ${firstEpoch.get(w) ?? "none yet"}\n${w.out
                        .split("\n")
                        .filter((l) => /epoch verified|sourceDeltas|skipping/.test(l))
                        .slice(-6)
                        .join("\n")}`,
                  )
                  .join("\n---\n") +
                `\n${sets.join("\n")}`,
            );
          await sleep(2_000);
        }
      } finally {
        provider.destroy();
      }
    });

    it("stops the workers cleanly on Ctrl-C", async function () {
      await interrupt(background.filter((b) => b.block.code.includes("npm run worker")));
    });

    it("runs every other page's runnable blocks against that chain (the workers stopped: their data directories are free)", function () {
      for (const b of all.filter((x) => x.mark === "runnable" && x.file !== "docs/local.md")) run(b);
    });

    it("stops the chain and the gateway cleanly on Ctrl-C", async function () {
      await interrupt(background.filter((b) => !b.block.code.includes("npm run worker")));
      expect(await portFree(8545), "the chain node is gone").to.equal(true);
      expect(await portFree(1984), "the gateway is gone").to.equal(true);
    });

    /**
     * Ctrl-C, as a terminal sends it: SIGINT to the process group. Each program says it stopped and
     * exits; npm itself then ends by the SIGINT it was sent (npm 11 re-raises it, as a shell expects),
     * so the group ends with exit 0 or by SIGINT, never another code. Nothing is left listening.
     */
    async function interrupt(group: Background[]) {
      expect(group.length).to.be.greaterThan(0);
      for (const b of group) process.kill(-b.proc.pid!, "SIGINT");
      for (const b of group) {
        for (let i = 0; i < 300 && b.code === undefined; ++i) await sleep(100);
        const how = b.code === null ? b.signal : b.code;
        expect(how, `${where(b.block)} ends cleanly on Ctrl-C:\n${b.out.slice(-2000)}`).to.be.oneOf([0, "SIGINT"]);
        expect(b.out).to.match(/"msg":"stopped"|stopping the chain node and the gateway/);
        expect(b.out).to.not.match(/\n\s+at .*:\d+:\d+\)?\n/, "no stack trace");
      }
    }
  });
});
