// watchEvents on a real node in a separate process (anvil): confirmations, a reorg deeper than
// them (evm_revert replaces delivered blocks), a restart from the saved cursor, RPC errors retried.
import { expect } from "chai";
import { network } from "hardhat";
import type { Log } from "ethers";
import { watchEvents, type WatchCursor } from "../../client/index.js";
import { startAnvil, type ChainNode } from "../utils/chainNode.js";
import { until } from "../utils/wait.js";

describe("watchEvents (anvil)", function () {
  this.timeout(120_000);
  let node: ChainNode;
  let conn: Awaited<ReturnType<typeof network.create>>;
  before(async () => {
    node = await startAnvil();
    conn = await network.create({ network: "localhost", override: { url: node.url } });
  });
  after(async () => node?.stop());

  it("delivers only confirmed logs, in order; resumes from the cursor", async function () {
    const { ethers, provider } = conn;
    const token = await ethers.deployContract("TestToken");
    const filter = { address: await token.getAddress() };
    const from = await ethers.provider.getBlockNumber();
    const got: Log[] = [];
    let cursor: WatchCursor = { nextBlock: from };
    const w = watchEvents(ethers.provider, filter, (logs) => void got.push(...logs), {
      fromBlock: from,
      confirmations: 2,
      pollMs: 30,
      onProgress: (c) => void (cursor = c),
    });
    for (let i = 1; i <= 3; ++i) await (await token.mint(ethers.Wallet.createRandom().address, i)).wait();
    await new Promise((r) => setTimeout(r, 200));
    expect(got.length, "the last two mints are not 2 deep yet").to.equal(1);
    await provider.request({ method: "anvil_mine", params: ["0x2"] });
    await until(() => got.length === 3);
    expect(got.map((l) => l.blockNumber)).to.deep.equal([...got.map((l) => l.blockNumber)].sort((a, b) => a - b));
    await w.stop();

    // A restart from the saved cursor sees only what is new.
    await (await token.mint(ethers.Wallet.createRandom().address, 9)).wait();
    await provider.request({ method: "anvil_mine", params: ["0x2"] });
    const later: Log[] = [];
    const w2 = watchEvents(ethers.provider, filter, (logs) => void later.push(...logs), {
      fromBlock: cursor.nextBlock,
      confirmations: 2,
      pollMs: 30,
    });
    await until(() => later.length === 1);
    await w2.stop();
  });

  it("detects a reorg of delivered blocks and re-reads from the fork point", async function () {
    const { ethers, provider } = conn;
    const token = await ethers.deployContract("TestToken");
    const filter = { address: await token.getAddress() };
    const from = await ethers.provider.getBlockNumber();
    const snapshot = (await provider.request({ method: "evm_snapshot", params: [] })) as string;
    const got: Log[] = [];
    const reorgs: number[] = [];
    const w = watchEvents(ethers.provider, filter, (logs) => void got.push(...logs), {
      fromBlock: from,
      confirmations: 0,
      pollMs: 30,
      onReorg: (b) => void reorgs.push(b),
    });
    await (await token.mint("0x" + "11".repeat(20), 1)).wait();
    await until(() => got.length === 1);
    const orphan = got[0].blockHash;
    await provider.request({ method: "evm_revert", params: [snapshot] });
    await (await token.mint("0x" + "22".repeat(20), 2)).wait(); // the same height, another block
    await until(() => reorgs.length === 1 && got.length === 2);
    expect(reorgs[0]).to.be.at.most(got[1].blockNumber);
    expect(got[1].blockHash).to.not.equal(orphan);
    expect(got[1].topics[2]).to.match(/2222$/);
    await w.stop();
  });

  it("retries RPC errors and reports them", async function () {
    const { ethers } = conn;
    const token = await ethers.deployContract("TestToken");
    await (await token.mint("0x" + "33".repeat(20), 1)).wait();
    let failures = 1;
    const flaky = {
      getBlockNumber: () => ethers.provider.getBlockNumber(),
      getBlock: (b: number) => ethers.provider.getBlock(b),
      getLogs: (f: Parameters<typeof ethers.provider.getLogs>[0]) => {
        if (failures-- > 0) return Promise.reject(new Error("connection reset"));
        return ethers.provider.getLogs(f);
      },
    };
    const errors: unknown[] = [];
    const got: Log[] = [];
    const w = watchEvents(flaky, { address: await token.getAddress() }, (l) => void got.push(...l), {
      fromBlock: 0,
      confirmations: 0,
      pollMs: 20,
      onError: (e) => errors.push(e),
    });
    await until(() => got.length === 1);
    expect(errors).to.have.length(1);
    await w.stop();
  });
});
