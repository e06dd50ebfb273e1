// Three maru-worker processes against a chain node in a separate process (anvil): they register,
// stake, commit, freeze and advance the protocol themselves, and verify r every epoch. The test
// only plays the clock and Chainlink's VRF mock (the real VRF network is not reachable here).
import { expect } from "chai";
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { network } from "hardhat";
import { Wallet } from "ethers";
import { deployProtocol } from "../../scripts/deploy/lib.js";
import { startAnvil, type ChainNode } from "../utils/chainNode.js";
import { clockFor, clockStep } from "../utils/clock.js";
import { scratchDir } from "../utils/scratch.js";

describe("maru-worker processes follow the epochs (anvil)", function () {
  this.timeout(240_000);
  let node: ChainNode;
  const procs: ChildProcess[] = [];
  const deploymentId = `workers-${process.pid}-${Date.now()}`;
  before(async () => (node = await startAnvil()));
  after(async () => {
    for (const p of procs) if (p.exitCode === null) p.kill("SIGKILL");
    await node?.stop();
    rmSync(new URL(`../../deploy/deployments/${deploymentId}`, import.meta.url), { recursive: true, force: true });
  });

  it("three workers join, commit, freeze, advance and verify r for two epochs", async function () {
    const conn = await network.create({ network: "localhost", override: { url: node.url } });
    const { ethers, provider } = conn;
    const dir = scratchDir("maru-workers-");
    const bookFile = join(dir, "book.json");
    const book = await deployProtocol(conn, { deploymentId, bookFile });
    const token = await ethers.getContractAt("TestToken", book.contracts.stakeToken);
    const epochs = await ethers.getContractAt("EpochManager", book.contracts.epochManager);
    const coordinator = await ethers.getContractAt("VRFCoordinatorV2_5Mock", book.contracts.vrfCoordinator);
    const minStake = await epochs.parameter(0);
    const keys = [0, 1, 2].map(() => Wallet.createRandom());
    for (const k of keys) {
      await provider.request({ method: "anvil_setBalance", params: [k.address, "0x56bc75e2d63100000"] });
      await (await token.mint(k.address, minStake)).wait();
    }
    const outputs: string[] = ["", "", ""];
    const exits: Array<Promise<number | null>> = [];
    keys.forEach((k, i) => {
      const p = spawn(
        join(process.cwd(), "node_modules/.bin/tsx"),
        [
          "worker/main.ts",
          "--rpc",
          node.url,
          "--addresses",
          bookFile,
          "--until-epoch",
          "2",
          "--poll-ms",
          "150",
          "--confirmations",
          "1",
          "--finality",
          "2",
          "--data-dir",
          join(dir, `data-${i}`),
        ],
        { env: { ...process.env, MARU_WORKER_KEY: k.privateKey }, stdio: ["ignore", "pipe", "pipe"] },
      );
      p.stdout!.on("data", (d: Buffer) => (outputs[i] += d.toString()));
      p.stderr!.on("data", (d: Buffer) => (outputs[i] += d.toString()));
      exits.push(new Promise((resolve) => p.once("exit", resolve)));
      procs.push(p);
    });

    // The clock and the VRF: time moves only once every worker has committed to the next epoch.
    const clock = clockFor(book, { epochs, coordinator, provider });
    const done = Promise.all(exits);
    let finished = false;
    void done.then(() => (finished = true));
    const deadline = Date.now() + 150_000;
    while (!finished && Date.now() < deadline) {
      await clockStep(clock, (next) => next.committed >= 3n || next.frozen);
      await new Promise((r) => setTimeout(r, 200));
    }
    if (!finished) for (const p of procs) p.kill("SIGTERM"); // the assertion below shows their logs
    if (!finished) for (const p of procs) p.kill("SIGKILL"); // the assertion below shows their logs
    const codes = await done;
    expect(codes, outputs.join("\n----\n")).to.deep.equal([0, 0, 0]);
    for (const out of outputs) {
      const verified = out
        .split("\n")
        .filter((l) => l.includes('"epoch verified"'))
        .map((l) => JSON.parse(l).epoch);
      expect(verified, out).to.include.members(["1", "2"]);
    }
    expect(await epochs.numWorkers(2)).to.equal(3);

    // What a new operator gets wrong, said plainly (exit 1, one line, no stack trace).
    const run = (env: Record<string, string>, args: string[]) =>
      new Promise<{ code: number | null; err: string }>((resolve) => {
        const p = spawn(
          join(process.cwd(), "node_modules/.bin/tsx"),
          ["worker/main.ts", "--data-dir", join(dir, "errors"), ...args],
          {
            env: { ...process.env, ...env },
            stdio: ["ignore", "ignore", "pipe"],
          },
        );
        let err = "";
        p.stderr!.on("data", (d: Buffer) => (err += d.toString()));
        p.once("exit", (code) => resolve({ code, err }));
      });
    const stranger = Wallet.createRandom();
    const badRpc = await run({ MARU_WORKER_KEY: stranger.privateKey }, [
      "--rpc",
      "http://127.0.0.1:1",
      "--addresses",
      bookFile,
    ]);
    expect(badRpc.code).to.equal(1);
    expect(badRpc.err).to.match(/^maru-worker: Cannot reach the chain node at http:\/\/127\.0\.0\.1:1/);
    // A time that is not one (setTimeout(NaN) would poll the chain in a busy loop).
    const badPoll = await run({ MARU_WORKER_KEY: stranger.privateKey }, [
      "--rpc",
      node.url,
      "--addresses",
      bookFile,
      "--poll-ms",
      "fast",
    ]);
    expect(badPoll.code).to.equal(1);
    expect(badPoll.err).to.match(/^maru-worker: --poll-ms fast is not a time in milliseconds from 1 to 3600000/);
    expect(badPoll.err).to.match(/fix: give a whole number of milliseconds, e\.g\. --poll-ms 1000/);
    // A stale book: another chain's, or one whose contracts are gone (a restarted local node).
    const original = JSON.parse(readFileSync(bookFile, "utf8"));
    const otherChain = join(dir, "other-chain.json");
    writeFileSync(otherChain, JSON.stringify({ ...original, chainId: 1 }));
    const wrongChain = await run({ MARU_WORKER_KEY: stranger.privateKey }, [
      "--rpc",
      node.url,
      "--addresses",
      otherChain,
    ]);
    expect(wrongChain.err).to.match(/other-chain\.json is for chain 1, but --rpc .* is chain 31337/);
    const gone = join(dir, "gone.json");
    const nowhere = Wallet.createRandom().address;
    writeFileSync(gone, JSON.stringify({ ...original, contracts: { ...original.contracts, epochManager: nowhere } }));
    const stale = await run({ MARU_WORKER_KEY: stranger.privateKey }, ["--rpc", node.url, "--addresses", gone]);
    expect(stale.err).to.match(new RegExp(`no code at epochManager ${nowhere}.*deploy again`));
    const unfunded = await run({ MARU_WORKER_KEY: stranger.privateKey }, ["--rpc", node.url, "--addresses", bookFile]);
    expect(unfunded.err).to.match(/has no funds for gas/);
    await provider.request({ method: "anvil_setBalance", params: [stranger.address, "0x56bc75e2d63100000"] });
    const noStake = await run({ MARU_WORKER_KEY: stranger.privateKey }, ["--rpc", node.url, "--addresses", bookFile]);
    expect(noStake.err).to.match(
      /Stake below the minimum: 0 tMARU staked, 100 tMARU needed \(stake token 0x[0-9a-fA-F]{40}: the account holds 0 tMARU, 100 tMARU more is needed\)/,
    );
    const noKey = await run({ MARU_WORKER_KEY: "" }, ["--rpc", node.url, "--addresses", bookFile]);
    expect(noKey.err).to.match(/MARU_WORKER_KEY is not set/);

    // A second process on a worker's data directory is refused while the first runs; Ctrl-C (a
    // SIGINT to the whole process group, twice, as a terminal and npm deliver it) stops the first
    // cleanly, with its last line and its report.
    const report = join(dir, "report.json");
    const signing = Wallet.createRandom().privateKey;
    const first = spawn(
      join(process.cwd(), "node_modules/.bin/tsx"),
      [
        "worker/main.ts",
        "--rpc",
        node.url,
        "--addresses",
        bookFile,
        "--data-dir",
        join(dir, "data-0"),
        "--report",
        report,
      ],
      {
        env: { ...process.env, MARU_WORKER_KEY: keys[0].privateKey, MARU_SIGNING_KEY: signing },
        stdio: ["ignore", "pipe", "pipe"],
        detached: true,
      },
    );
    procs.push(first);
    let out = "";
    first.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    first.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    const firstExit = new Promise<number | null>((resolve) => first.once("exit", resolve));
    const t0 = Date.now();
    while (!out.includes('"waiting"') && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 100));
    const second = await run({ MARU_WORKER_KEY: keys[0].privateKey, MARU_SIGNING_KEY: signing }, [
      "--rpc",
      node.url,
      "--addresses",
      bookFile,
      "--data-dir",
      join(dir, "data-0"),
    ]);
    expect(second.code).to.equal(1);
    expect(second.err).to.match(/The slashing-protection record is held by pid \d+/);
    process.kill(-first.pid!, "SIGINT");
    await new Promise((r) => setTimeout(r, 50));
    // A second signal while stopping (the worker must stop cleanly all the same); the process group
    // may already be gone if the first one sufficed.
    try {
      process.kill(-first.pid!, "SIGINT");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e;
    }
    expect(await firstExit, out).to.equal(0);
    expect(out).to.match(/"msg":"stopped"/);
    expect(JSON.parse(readFileSync(report, "utf8")).worker).to.equal(keys[0].address.toLowerCase());
  });
});
