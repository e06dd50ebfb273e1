// End to end on a real chain node in a separate process (anvil): the protocol deployed by the
// Ignition modules, four workers joining through the contracts, an epoch with VRF randomness, and
// the client: a sender builds and signs batches, a receiver verifies them, a cheating sender's
// batch is caught by verifyBatch, turned into evidence, submitted, and the slash is observed.
import { expect } from "chai";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { network } from "hardhat";
import { Wallet, ZeroHash, getBytes, keccak256, toBeHex } from "ethers";
import {
  InboxMismatchError,
  LtHash16,
  readInbox,
  claimRewards,
  rotateSigningKey,
  setNetworkAddress,
  unstake,
  watchEvents,
  withdraw,
  ContractRevertError,
  RandomnessUnverifiedError,
  commit,
  connectProtocol,
  getAssignment,
  getWorker,
  register,
  stake,
  verifyRandomness,
  EpochMath,
  Permutation,
  Sharder,
  buildAccumulatedProof,
  buildBatch,
  buildEvidence,
  openChannel,
  openReceiverChannel,
  protocolDomain,
  signBatch,
  submitEvidence,
  verifyAccumulatedProof,
  verifyBatch,
  type Delta,
  type EpochView,
} from "../../client/index.js";
import { deployProtocol } from "../../scripts/deploy/lib.js";
import { streamSpec } from "../registry/fixture.js";
import { startAnvil, type ChainNode } from "../utils/chainNode.js";
import { until } from "../utils/wait.js";
import { scratchDir } from "../utils/scratch.js";

describe("client end to end on anvil: a batch verified, a violation proven, the slash observed", function () {
  this.timeout(300_000);
  let node: ChainNode;
  const deploymentId = `e2e-${process.pid}-${Date.now()}`;

  before(async () => (node = await startAnvil()));
  after(async () => {
    await node?.stop();
    rmSync(new URL(`../../deploy/deployments/${deploymentId}`, import.meta.url), { recursive: true, force: true });
  });

  it("runs an epoch with four workers and slashes a misrouting sender", async function () {
    const conn = await network.create({ network: "localhost", override: { url: node.url } });
    const { ethers, provider } = conn;
    const bookFile = join(scratchDir("maru-e2e-"), "book.json");
    const book = await deployProtocol(conn, { deploymentId, bookFile });
    const [, ...accounts] = await ethers.getSigners();
    const k = book.contracts;
    const epochs = await ethers.getContractAt("EpochManager", k.epochManager);
    const token = await ethers.getContractAt("TestToken", k.stakeToken);
    const fraud = await ethers.getContractAt("FraudProofs", k.fraudProofs);
    const timelock = await ethers.getContractAt("TimelockController", k.timelock);
    const registry = await ethers.getContractAt("OperatorRegistry", k.registry);
    const coordinator = await ethers.getContractAt("VRFCoordinatorV2_5Mock", k.vrfCoordinator);

    // Governance registers the stream through the timelock (no delay on a local chain).
    const spec = streamSpec("transfers", 0, { kind: 0, offset: 0, length: 0 });
    const data = registry.interface.encodeFunctionData("registerStream", [spec]);
    await (await timelock.schedule(k.registry, 0, data, ZeroHash, ZeroHash, 0)).wait();
    await (await timelock.execute(k.registry, 0, data, ZeroHash, ZeroHash)).wait();

    // Four workers, through the client's actions: register a separate signing key, stake, commit.
    const workers = accounts.slice(0, 4);
    const keys = workers.map(() => Wallet.createRandom());
    const minStake = await epochs.parameter(0);
    for (const [i, w] of workers.entries()) {
      await (await token.mint(w.address, minStake)).wait();
      const maru = connectProtocol(book, w);
      await register(maru, keys[i].address, `/ip4/127.0.0.1/tcp/${9000 + i}`);
      await stake(maru, minStake);
      expect((await commit(maru)).epoch).to.equal(1n);
    }
    // A refused action is a readable error, not a provider dump.
    const refused = await commit(connectProtocol(book, workers[0])).catch((e: unknown) => e);
    expect(refused).to.be.instanceOf(ContractRevertError);
    expect((refused as ContractRevertError).message).to.match(
      /^Already committed to epoch 1 \(EpochAlreadyCommitted\)/,
    );
    // Freeze, fulfil the VRF request through Chainlink's mock coordinator, advance.
    const info0 = await epochs.epochInfo(0);
    await provider.request({ method: "evm_setNextBlockTimestamp", params: [Number(info0.commitDeadline)] });
    const frozen = await (await epochs.freeze(1)).wait();
    const requestId = epochs.interface.parseLog(frozen!.logs.find((l) => l.address === k.epochManager)!)!.args
      .requestId as bigint;
    await (await coordinator.fulfillRandomWords(requestId, k.beacon)).wait();
    await provider.request({ method: "evm_setNextBlockTimestamp", params: [Number(info0.end)] });
    await (await epochs.advance()).wait();
    expect(await epochs.currentEpoch()).to.equal(1n);

    // Every worker verifies r (docs/protocol.md 3) before acting: the request, the fulfilment, its depth.
    const reader = connectProtocol(book, workers[0]);
    const early = await verifyRandomness(reader, 1n, { confirmations: 3 }).catch((e: unknown) => e);
    expect(early).to.be.instanceOf(RandomnessUnverifiedError);
    expect((early as Error).message).to.match(/blocks deep, fewer than 3/);
    await provider.request({ method: "anvil_mine", params: ["0x3"] });
    const verified = await verifyRandomness(reader, 1n, { confirmations: 3 });
    expect(verified.source).to.equal("vrf");
    expect(verified.requestId).to.equal(requestId);

    // The receivers' view of epoch 1, read from the chain and computed locally.
    const assignment = await getAssignment(reader, 1n, workers[0].address);
    const view: EpochView = assignment.view;
    const r = verified.r;
    for (const s of assignment.shards) expect(assignment.holders(s)).to.include(assignment.index);
    // Cross-checked on-chain: the contracts' own Shuffle gives the same holders of every shard.
    const harness = await ethers.deployContract("MathHarness");
    await harness.waitForDeployment(); // the call below must not race the deployment
    for (let shardId = 0; shardId < assignment.view.n; ++shardId) {
      const onChain = await harness.holders(shardId, assignment.view.n, assignment.view.k, assignment.view.r, 90);
      expect(onChain.map(Number), `holders of shard ${shardId}`).to.deep.equal(assignment.holders(shardId));
    }
    const math = new EpochMath(view);
    const domain = protocolDomain(book.chainId, k.fraudProofs);
    const senderIdx = 0;
    const sender = workers.find((w) => view.indexOf.get(w.address.toLowerCase()) === senderIdx)!;
    const senderKey = keys[workers.indexOf(sender)];
    const sharder = new Sharder(r, view.n);
    const perm = new Permutation(r, view.n);
    const shard = 1;
    const holders = perm.holders(shard, view.k);
    const receiverIdx = holders.find((h) => h !== senderIdx)!;
    const receiver = (await epochs.workerAt(1, receiverIdx)).toLowerCase();
    const deltasOf = (target: number, count: number, salt: number): Delta[] => {
      const out: Delta[] = [];
      for (let i = salt; out.length < count; ++i) {
        const d = keccak256(toBeHex(i, 32));
        if (sharder.shard(getBytes(d)) === target) out.push({ data: d, time: BigInt(i), diff: 1n });
      }
      return out;
    };

    // An honest batch passes every check.
    const ch = openChannel(1n, spec.id, shard, perm.shardsOf(senderIdx, view.k)[0], sender.address);
    const rch = openReceiverChannel();
    const [h0] = buildBatch(ch, deltasOf(shard, 5, 0), [receiver]);
    const b0 = { header: h0, signature: await signBatch(senderKey, domain, h0), deltas: deltasOf(shard, 5, 0) };
    const v0 = verifyBatch(b0, { math, me: receiver, domain, channel: rch });
    expect(v0.violations).to.deep.equal([]);

    // The sender slips a delta of another shard into its next batch: caught, proven, slashed.
    const bad = [...deltasOf(shard, 3, 1000), ...deltasOf((shard + 1) % view.n, 1, 5000)];
    const [h1] = buildBatch(ch, bad, [receiver]);
    const b1 = { header: h1, signature: await signBatch(senderKey, domain, h1), deltas: bad };
    const v1 = verifyBatch(b1, { math, me: receiver, domain, channel: rch });
    expect(v1.ok).to.equal(false);
    const violation = v1.violations.find((v) => v.kind === "misrouted-delta")!;
    expect(violation.deltaIndex).to.equal(3);
    const reporter = workers.find((w) => w.address.toLowerCase() === receiver)!;
    const evidence = buildEvidence(violation, b1, { view, me: receiver, channel: rch, batchState: v1.batchState! });
    const before = (await epochs.stakeOf(sender.address)).active;
    const result = await submitEvidence(fraud.connect(reporter) as never, evidence, [epochs.interface]);
    expect(result.status).to.equal("slashed");
    if (result.status !== "slashed") return;
    expect(result.amount).to.equal(before / 2n); // SLASH_BPS 5,000 in the localhost parameters
    expect((await epochs.stakeOf(sender.address)).active).to.equal(before - result.amount);
    expect(await epochs.claimableOf(reporter.address)).to.equal(result.reward);
    expect(await epochs.isEjected(1, sender.address)).to.equal(true);
    // A status screen (client/read) shows it: jailed, ejected from epoch 1, the reward claimable.
    const slashed = await getWorker(reader, sender.address);
    expect(slashed).to.deep.include({ jailed: true, ejectedFrom: 1n, activeStake: before - result.amount });
    expect(slashed.jailedUntil > 2n).to.equal(true);
    expect((await getWorker(reader, reporter.address)).claimableRewards).to.equal(result.reward);

    // Another member signs an accumulated proof naming another chain than the source: a lie the
    // chain proves by itself. Its reward goes to the reporter that commits to it a block before
    // revealing it (§13): submitEvidence does both; the commitment is on-chain before the reveal.
    const liar = workers.find((w) => w !== sender && w !== reporter)!;
    const chainId = (await ethers.provider.getNetwork()).chainId;
    const liarHeader = { ...h0, sender: liar.address };
    const lie = await buildAccumulatedProof(
      keys[workers.indexOf(liar)],
      domain,
      liarHeader,
      chainId + 1n,
      7n,
      ZeroHash,
    );
    const proofVerdict = await verifyAccumulatedProof(lie, { view, domain, sourceChainId: chainId });
    const proofEvidence = proofVerdict.violations.find((v) => v.evidence)!.evidence!;
    expect(proofEvidence.method).to.equal("proveFalseBlockHash");
    const rewardBefore = await epochs.claimableOf(reporter.address);
    const proven = await submitEvidence(fraud.connect(reporter) as never, proofEvidence, [epochs.interface]);
    expect(proven.status, proven.status === "slashed" ? "" : proven.reason).to.equal("slashed");
    const digest = await fraud.proofDigest(proofEvidence.args[0] as never);
    expect(await fraud.reportCommittedAt(await fraud.reportCommitment(reporter.address, digest))).to.be.greaterThan(0n);
    if (proven.status === "slashed") {
      expect(await epochs.claimableOf(reporter.address)).to.equal(rewardBefore + proven.reward);
      expect(proven.reward).to.be.greaterThan(0n);
    }
    // Observed the way a worker watches the chain: confirmed Slashed events from the deployment on.
    const seen: string[] = [];
    const watch = watchEvents(
      ethers.provider,
      { address: k.epochManager, topics: [epochs.interface.getEvent("Slashed").topicHash] },
      (logs) => void seen.push(...logs.map((l) => epochs.interface.parseLog(l)!.args.worker as string)),
      { fromBlock: book.startBlock, confirmations: 1, pollMs: 50 },
    );
    await provider.request({ method: "anvil_mine", params: ["0x1"] });
    await until(() => seen.length > 0, 5_000).catch(() => undefined); // the assertion below says what came
    await watch.stop();
    expect(seen).to.deep.equal([sender.address]);

    // The reporter claims its reward; the slashed sender's way out is the unbonding queue.
    const reporterMaru = connectProtocol(book, reporter);
    const owed = await epochs.claimableOf(reporter.address); // both rewards
    await claimRewards(reporterMaru);
    expect(await token.balanceOf(reporter.address)).to.equal(owed);
    const senderMaru = connectProtocol(book, sender);
    const refusedPart = await unstake(senderMaru, 1n).catch((e: unknown) => e); // a committed worker leaves whole
    expect((refusedPart as Error).message).to.match(/below the minimum stake .* \(StakingBelowMinimum\)/);
    await unstake(senderMaru, (await epochs.stakeOf(sender.address)).active);
    const locked = await withdraw(senderMaru).catch((e: unknown) => e);
    expect((locked as Error).message).to.match(/^Nothing has unlocked yet/);
    const rotated = Wallet.createRandom().address;
    await rotateSigningKey(senderMaru, rotated);
    expect(await getWorker(reader, sender.address)).to.deep.include({
      signingKey: senderKey.address,
      nextSigningKey: rotated,
    });
    await setNetworkAddress(senderMaru, "/ip4/127.0.0.1/tcp/9100");
    expect(await epochs.signingKeyAt(sender.address, 1)).to.equal(senderKey.address); // the old key keeps epoch 1

    // Sources: governance allows a feeder on the inbox stream; workers read it back and check it.
    const inbox = await ethers.getContractAt("StreamInbox", k.streamInbox);
    const [admin] = await ethers.getSigners();
    const allow = inbox.interface.encodeFunctionData("setAppender", [spec.id, admin.address, true]);
    const salt = keccak256("0x0a11");
    await (await timelock.schedule(k.streamInbox, 0, allow, ZeroHash, salt, 0)).wait();
    await (await timelock.execute(k.streamInbox, 0, allow, ZeroHash, salt)).wait();
    const firstBlock = await ethers.provider.getBlockNumber();
    const fed = deltasOf(0, 6, 9000);
    await (await inbox.append(spec.id, fed.slice(0, 4))).wait();
    const middle = await ethers.provider.getBlockNumber();
    await (await inbox.append(spec.id, fed.slice(4))).wait();
    const reader2 = connectProtocol(book, workers[1]);
    const part1 = await readInbox(reader2, spec.id, firstBlock, middle, { count: 0n, hash: new LtHash16() });
    const part2 = await readInbox(reader2, spec.id, middle + 1, await ethers.provider.getBlockNumber(), part1.next);
    expect([...part1.deltas, ...part2.deltas].map((d) => d.index)).to.deep.equal([0n, 1n, 2n, 3n, 4n, 5n]);
    expect(part2.next.hash.digest()).to.equal((await inbox.head(spec.id))[2]);
    const skipped = await readInbox(reader2, spec.id, middle + 1, middle + 1, {
      count: 0n,
      hash: new LtHash16(),
    }).catch((e: unknown) => e);
    expect(skipped).to.be.instanceOf(InboxMismatchError);

    // The same evidence again: a clear refusal, not a throw.
    const again = await submitEvidence(fraud.connect(reporter) as never, evidence, [epochs.interface]);
    expect(again.status).to.equal("already-punished");
    expect(again.status !== "slashed" && again.reason).to.match(/already punished/);
  });
});
