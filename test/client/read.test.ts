// The read helpers (client/read) against a real chain node in its own process (anvil), with the
// protocol deployed by the Ignition modules: a stream pair and an operator registered through the
// timelock, three workers (MIN_WORKERS on localhost) registered, staked and committed, one asking to unstake; every helper's
// plain object checked against what the test did.
import { expect } from "chai";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { network } from "hardhat";
import { Wallet, ZeroHash, id, keccak256, toUtf8Bytes } from "ethers";
import {
  EpochNotFoundError,
  InvalidPageError,
  commit,
  connectProtocol,
  getEpoch,
  getStakeToken,
  getWorker,
  listOperators,
  listStreams,
  register,
  stake,
  unstake,
  arweaveIdToBytes32,
} from "../../client/index.js";
import { deployProtocol } from "../../scripts/deploy/lib.js";
import { streamSpec } from "../registry/fixture.js";
import { startAnvil, type ChainNode } from "../utils/chainNode.js";
import { scratchDir } from "../utils/scratch.js";

describe("client read helpers on anvil: epochs, workers, operators and streams as plain objects", function () {
  this.timeout(300_000);
  let node: ChainNode;
  const deploymentId = `read-${process.pid}-${Date.now()}`;

  before(async () => (node = await startAnvil()));
  after(async () => {
    await node?.stop();
    rmSync(new URL(`../../deploy/deployments/${deploymentId}`, import.meta.url), { recursive: true, force: true });
  });

  it("reads what the chain holds after an epoch with three workers", async function () {
    const conn = await network.create({ network: "localhost", override: { url: node.url } });
    const { ethers, provider } = conn;
    const bookFile = join(scratchDir("maru-read-"), "book.json");
    const book = await deployProtocol(conn, { deploymentId, bookFile });
    const [, ...accounts] = await ethers.getSigners();
    const k = book.contracts;
    const epochs = await ethers.getContractAt("EpochManager", k.epochManager);
    const token = await ethers.getContractAt("TestToken", k.stakeToken);
    const timelock = await ethers.getContractAt("TimelockController", k.timelock);
    const registry = await ethers.getContractAt("OperatorRegistry", k.registry);
    const coordinator = await ethers.getContractAt("VRFCoordinatorV2_5Mock", k.vrfCoordinator);
    const governed = async (data: string) => {
      await (await timelock.schedule(k.registry, 0, data, ZeroHash, ZeroHash, 0)).wait();
      await (await timelock.execute(k.registry, 0, data, ZeroHash, ZeroHash)).wait();
    };

    // The graph: an inbox stream, a derived stream and the operator between them.
    const input = streamSpec("transfers", 0, { kind: 0, offset: 0, length: 0 });
    const output = streamSpec("balances", 2, { kind: 1, offset: 0, length: 20 });
    for (const s of [input, output]) await governed(registry.interface.encodeFunctionData("registerStream", [s]));
    const txId = (tag: string) => keccak256(toUtf8Bytes(tag));
    await governed(
      registry.interface.encodeFunctionData("registerOperator", [
        {
          name: "sum",
          version: 3,
          inputs: [input.id],
          outputs: [output.id],
          definitionHash: id("def"),
          bytecodeHash: id("code"),
          definitionTxId: txId("def-tx"),
          bytecodeTxId: txId("code-tx"),
        },
      ]),
    );

    // Three workers join through the client's actions; the second asks to unstake part of its stake.
    const workers = accounts.slice(0, 3);
    const keys = workers.map(() => Wallet.createRandom());
    const minStake = await epochs.parameter(0);
    for (const [i, w] of workers.entries()) {
      await (await token.mint(w.address, minStake * 2n)).wait();
      const maru = connectProtocol(book, w);
      await register(maru, keys[i].address, `/ip4/127.0.0.1/tcp/${9100 + i}`);
      await stake(maru, minStake * 2n);
      await commit(maru);
    }
    await unstake(connectProtocol(book, workers[1]), minStake / 2n);

    // The readers take a bare provider: a status screen needs no key.
    const reader = connectProtocol(book, ethers.provider);
    const open = await getEpoch(reader, 1n);
    expect(open).to.include({ epoch: 1n, phase: "open", committed: 3, frozen: false, n: 0 });
    expect(open.randomness).to.equal(undefined);
    expect(open.shares).to.equal(undefined);
    const err = await getEpoch(reader, 5n).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(EpochNotFoundError);
    expect((err as Error).message).to.match(/^Epoch 5 has no data yet: epoch 0 is current/);

    // Freeze, fulfil the VRF request, advance: epoch 1 becomes current with its randomness.
    const info0 = await epochs.epochInfo(0);
    await provider.request({ method: "evm_setNextBlockTimestamp", params: [Number(info0.commitDeadline)] });
    const frozen = await (await epochs.freeze(1)).wait();
    const frozenEvent = frozen!.logs
      .filter((l) => l.address === k.epochManager)
      .map((l) => epochs.interface.parseLog(l))
      .find((l) => l?.name === "EpochFrozen");
    const requestId = frozenEvent!.args.requestId as bigint;
    await (await coordinator.fulfillRandomWords(requestId, k.beacon)).wait();
    await provider.request({ method: "evm_setNextBlockTimestamp", params: [Number(info0.end)] });
    await (await epochs.advance()).wait();

    const e1 = await getEpoch(reader, undefined, { members: true });
    const onChain = await epochs.epochInfo(1);
    expect(e1).to.deep.include({
      epoch: 1n,
      phase: "current",
      currentEpoch: 1n,
      frozen: true,
      n: 3,
      k: Number(onChain.k),
      committed: 3,
      assignmentEpoch: 1n,
      carried: false,
      randomness: onChain.randomness,
      graphVersion: 3n,
      start: onChain.start,
      end: onChain.end,
    });
    expect(e1.members!.map((a) => a.toLowerCase()).sort()).to.deep.equal(
      workers.map((w) => w.address.toLowerCase()).sort(),
    );
    const packed = await epochs.sharesOf(1);
    expect(e1.shares!.rewardBps).to.equal(Number(packed & 0xffffn));
    expect(e1.shares!.slashBps).to.have.length(6);
    expect(e1.shares!.slashBps[0]).to.equal(Number((packed >> 16n) & 0xffffn));
    expect((await getEpoch(reader, 0n)).phase).to.equal("past");

    // Workers: what a status screen shows.
    const w0 = await getWorker(reader, workers[0].address);
    expect(w0).to.deep.include({
      registered: true,
      currentEpoch: 1n,
      signingKey: keys[0].address,
      nextSigningKey: undefined,
      networkAddress: "/ip4/127.0.0.1/tcp/9100",
      activeStake: minStake * 2n,
      queuedStake: 0n,
      withdrawable: 0n,
      jailedUntil: 0n,
      jailed: false,
      ejectedFrom: undefined,
      claimableRewards: 0n,
    });
    expect(w0.unstakeRequests).to.deep.equal([]);
    expect(w0.lastCommits).to.have.length(1);
    expect(w0.lastCommits[0]).to.include({ epoch: 1n, stake: minStake * 2n });
    const w1 = await getWorker(connectProtocol(book, workers[0]), workers[1].address, { blockRange: 3 });
    expect(w1.activeStake).to.equal(minStake * 2n - minStake / 2n);
    expect(w1.queuedStake).to.equal(minStake / 2n);
    expect(w1.unstakeRequests).to.have.length(1);
    expect(w1.unstakeRequests[0].amount).to.equal(minStake / 2n);
    expect(w1.unstakeRequests[0].unlockEpoch > 1n).to.equal(true);
    expect(w1.withdrawable).to.equal(0n); // still unbonding
    expect(w1.lastCommits.map((c) => c.epoch)).to.deep.equal([1n]); // found across many small log ranges
    const stranger = await getWorker(reader, Wallet.createRandom().address);
    expect(stranger).to.deep.include({ registered: false, signingKey: undefined, networkAddress: undefined });
    expect(stranger.lastCommits).to.deep.equal([]);
    expect(await getStakeToken(reader)).to.deep.include({ address: k.stakeToken, decimals: 18 });

    // The registry, page by page.
    const ops = await listOperators(reader);
    expect(ops.total).to.equal(1);
    expect(ops.next).to.equal(undefined);
    expect(ops.items[0]).to.deep.include({
      id: 0,
      name: "sum",
      version: 3,
      deprecated: false,
      inputs: [input.id],
      outputs: [output.id],
    });
    expect(arweaveIdToBytes32(ops.items[0].bytecodeTxId)).to.equal(txId("code-tx"));
    const first = await listStreams(reader, { limit: 1, names: ["transfers", "balances"] });
    expect(first).to.deep.include({ total: 2, next: 1 });
    expect(first.items[0]).to.deep.include({ index: 0, id: input.id, name: "transfers", sourceKind: "INBOX" });
    const second = await listStreams(reader, { from: first.next, names: ["balances"] });
    expect(second.next).to.equal(undefined);
    expect(second.items[0]).to.deep.include({
      index: 1,
      name: "balances",
      sourceKind: "DERIVED",
      producer: 0,
      partition: { kind: 1, offset: 0, length: 20 },
    });
    expect((await listStreams(reader, { from: 5 })).items).to.deep.equal([]);
    for (const bad of [{ limit: 0 }, { limit: 501 }, { from: -1 }, { from: 1.5 }]) {
      expect(await listOperators(reader, bad).catch((e: unknown) => e)).to.be.instanceOf(InvalidPageError);
    }
  });
});
