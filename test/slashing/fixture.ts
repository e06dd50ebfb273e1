// A frozen, current epoch 1 with a fraud-proof contract, for the fraud-proof tests and benchmarks.
import type { HardhatEthers } from "@nomicfoundation/hardhat-ethers/types";
import type { NetworkHelpers } from "@nomicfoundation/hardhat-network-helpers/types";
import { Wallet, id } from "ethers";
import { EIP712_TYPES, type AccumulatedProof, type BatchHeader } from "../../client/index.js";
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
