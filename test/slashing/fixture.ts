// A frozen, current epoch 1 with a fraud-proof contract, for the fraud-proof tests and benchmarks.
import type { HardhatEthers } from "@nomicfoundation/hardhat-ethers/types";
import type { NetworkHelpers } from "@nomicfoundation/hardhat-network-helpers/types";
import { Wallet, id } from "ethers";
import { ZeroHash } from "ethers";
import {
  deltasRoot,
  EIP712_TYPES,
  LtHash16,
  type AccumulatedProof,
  type BatchHeader,
  type Delta,
} from "../../client/index.js";
import { deployEpochs, joinWorker, PARAMS, requestIdOf } from "../epochs/fixture.js";
import { streamSpec } from "../registry/fixture.js";

type Fx = Awaited<ReturnType<typeof deployEpochs>>;

/** The execution-dispute rules of the tests: one epoch per window, `arbitrator` decides. */
export const DISPUTE_RULES = (arbitrator: string) => ({
  jurySize: 41,
  commitEpochs: 1,
  revealEpochs: 1,
  appealEpochs: 1,
  arbitrationEpochs: 2,
  openerShareBps: 5_000,
  jurorDeposit: 10n ** 18n,
  appealBond: 10n * 10n ** 18n,
  arbitrator,
});

/** Epoch 1 with `n` workers; the first four are EOAs whose signing keys we hold. */
export async function deployFraudEpoch(ethers: HardhatEthers, helpers: NetworkHelpers, n: number) {
  const fx: Fx = await deployEpochs(ethers);
  const registry = await ethers.deployContract("OperatorRegistry", [fx.admin.address]);
  await registry.registerStream(streamSpec("transfers", 0, { kind: 0, offset: 0, length: 0 }));
  const oracle = await ethers.deployContract("BlockHashOracle", [fx.admin.address]);
  const fraud = await ethers.deployContract("FraudProofs", [
    await fx.epochs.getAddress(),
    await registry.getAddress(),
    await oracle.getAddress(),
    DISPUTE_RULES(fx.admin.address),
  ]);
  await fx.epochs.setSlasher(await fraud.getAddress());
  const keys: Array<Pick<Wallet, "address" | "signTypedData">> = [];
  for (const w of fx.others.slice(0, 4)) {
    // Fixed keys: random ones change the signatures' zero bytes, and so the calldata gas, every run.
    const key = new Wallet(id(`maru-bench-signing-key-${keys.length}`));
    keys.push(key);
    await joinWorker(fx, w, { signingKey: key.address });
    await fx.epochs.connect(w).commit(1);
  }
  const bulk = await ethers.deployContract("BulkWorkers");
  for (let done = 4; done < n; done += 40) {
    await (
      await bulk.spawn(
        await fx.epochs.getAddress(),
        await fx.token.getAddress(),
        PARAMS.minStake,
        1,
        Math.min(40, n - done),
        { gasLimit: 16_000_000 },
      )
    ).wait();
  }
  await helpers.time.increaseTo((await fx.epochs.epochInfo(0)).commitDeadline);
  await fx.epochs.freeze(1);
  await fx.coordinator.fulfillRandomWords(await requestIdOf(fx.epochs, 1), await fx.beacon.getAddress());
  await helpers.time.increaseTo((await fx.epochs.epochInfo(0)).end);
  await fx.epochs.advance();
  const r = await fx.epochs.randomness(1);
  const domain = {
    name: "Maru",
    version: "1",
    chainId: (await ethers.provider.getNetwork()).chainId,
    verifyingContract: await fraud.getAddress(),
  };
  const sign = async (h: BatchHeader, i: number) => ({
    header: h,
    signature: await keys[i].signTypedData(domain, { BatchHeader: [...EIP712_TYPES.BatchHeader] }, h),
    senderIndex: i,
  });
  const signProof = async (p: AccumulatedProof, i: number) => ({
    proof: p,
    signature: await keys[i].signTypedData(domain, { AccumulatedProof: [...EIP712_TYPES.AccumulatedProof] }, p),
    senderIndex: i,
  });
  const workers = fx.others.slice(0, 4);
  // Evidence is submitted by a worker (receivers are the ones who see faults): worker 3, except
  // about itself, where worker 2 reports. Its reward goes to a slot it already has.
  const byWorker = (accused: number) => fraud.connect(workers[accused === 3 ? 2 : 3]);
  return { fx, fraud, oracle, registry, byWorker, r, n, sign, signProof, workers, stream: streamSpec("transfers").id };
}

export type FraudEpoch = Awaited<ReturnType<typeof deployFraudEpoch>>;

/**
 * A first batch (seq 0, times 1..1) of epoch 1 on shard 0 of the fixture's stream, from origin
 * shard `origin`, signed-to-be by worker `sender` for `receiver`: two of these with different
 * deltas are a conflict the execution-dispute court takes.
 */
export function conflictHeader(
  s: FraudEpoch,
  sender: number,
  origin: number,
  receiver: string,
  deltas: Delta[],
): BatchHeader {
  const msh = new LtHash16().addAll(deltas).digest();
  return {
    epoch: 1n,
    stream: s.stream,
    shard: 0,
    originShard: origin,
    sender: s.workers[sender].address,
    receiver,
    seq: 0n,
    prev: ZeroHash,
    deltasRoot: deltasRoot(deltas),
    count: deltas.length,
    batchMsh: msh,
    cumulativeMsh: msh,
    inputMsh: id("inputs"),
    firstTime: 1n,
    lastTime: 1n,
  };
}

/** One epoch on: the four signing workers commit to the next epoch, it freezes, the VRF mock answers, it begins. */
export async function nextFraudEpoch(s: FraudEpoch, helpers: NetworkHelpers): Promise<void> {
  const e = await s.fx.epochs.currentEpoch();
  for (const w of s.workers) await (await s.fx.epochs.connect(w).commit(e + 1n)).wait();
  await helpers.time.increaseTo((await s.fx.epochs.epochInfo(e)).commitDeadline);
  await (await s.fx.epochs.freeze(e + 1n)).wait();
  await (
    await s.fx.coordinator.fulfillRandomWords(await requestIdOf(s.fx.epochs, e + 1n), await s.fx.beacon.getAddress())
  ).wait();
  await helpers.time.increaseTo((await s.fx.epochs.epochInfo(e)).end);
  await (await s.fx.epochs.advance()).wait();
}
