// Shared set-up for the epoch/staking tests: the stake token, Chainlink's VRF v2.5 mock coordinator
// with a funded subscription, the VRF beacon and the epoch manager, wired as a deployment would be.
import type { HardhatEthers } from "@nomicfoundation/hardhat-ethers/types";
import type { EpochManager, TestToken, VRFBeacon, VRFCoordinatorV2_5Mock } from "../../typechain-types/index.js";

export const DAY = 86_400;
export const PARAMS = {
  minStake: 100n * 10n ** 18n,
  unbondingPeriod: 14 * DAY,
  rewardBps: 1_000,
  jailEpochs: 3,
  epochDuration: 3_600,
  freezeLead: 600,
  randomnessTimeout: 1_800,
  replication: 2,
  minWorkers: 3,
  maxWorkers: 10_000,
  fraudWindowEpochs: 24,
  slashBps: [5_000, 5_000, 5_000, 5_000, 5_000, 5_000],
};
export const KEY_HASH = "0x" + "11".repeat(32);

/**
 * Deploys the suite. `coordinator: "mock"` (default) is Chainlink's VRFCoordinatorV2_5Mock, which
 * can fulfil locally; `"real"` is Chainlink's production VRFCoordinatorV2_5, which accepts requests
 * (no oracle answers them here): the gas benchmark uses it to measure what freeze costs in production.
 */
export async function deployEpochs(ethers: HardhatEthers, params = PARAMS, kind: "mock" | "real" = "mock") {
  const [admin, ...others] = await ethers.getSigners();
  const token = (await ethers.deployContract("TestToken")) as unknown as TestToken;
  let coordinator: VRFCoordinatorV2_5Mock;
  if (kind === "mock") {
    coordinator = (await ethers.deployContract("VRFCoordinatorV2_5Mock", [
      10n ** 17n,
      10n ** 9n,
      4n * 10n ** 15n,
    ])) as unknown as VRFCoordinatorV2_5Mock;
  } else {
    const real = await ethers.deployContract("VRFCoordinatorV2_5", [admin.address]);
    await real.setConfig(3, 2_500_000, 86_400, 50_000, 5n * 10n ** 15n, 0, 0, 0, 0);
    coordinator = real as unknown as VRFCoordinatorV2_5Mock; // same subscription API for what we call
  }
  const subTx = await coordinator.createSubscription();
  const receipt = await subTx.wait();
  const subId = coordinator.interface.parseLog(receipt!.logs[0])!.args[0] as bigint;
  if (kind === "mock") await coordinator.fundSubscription(subId, 1_000n * 10n ** 18n);
  const beacon = (await ethers.deployContract("VRFBeacon", [
    await coordinator.getAddress(),
    KEY_HASH,
    subId,
    3,
    200_000,
    false,
  ])) as unknown as VRFBeacon;
  await coordinator.addConsumer(subId, await beacon.getAddress());
  const epochs = (await ethers.deployContract("EpochManager", [
    await token.getAddress(),
    await beacon.getAddress(),
    admin.address,
    params,
  ])) as unknown as EpochManager;
  await beacon.setRequester(await epochs.getAddress());
  return { admin, others, token, coordinator, beacon, epochs, subId };
}

/** The VRF request id of `epoch`, from its EpochFrozen event. */
export async function requestIdOf(epochs: EpochManager, epoch: bigint | number): Promise<bigint> {
  const logs = await epochs.queryFilter(epochs.filters.EpochFrozen(epoch));
  if (logs.length !== 1) throw new Error(`epoch ${epoch} was frozen ${logs.length} times`);
  return logs[0].args.requestId;
}

type Signer = Awaited<ReturnType<HardhatEthers["getSigners"]>>[number];

/**
 * Mints `funds` (default MIN_STAKE) to `w`, approves, registers (`signingKey` defaults to `w`) and
 * stakes `stake` (default MIN_STAKE). Returns the stake transaction, so benchmarks can measure it.
 */
export async function joinWorker(
  fx: { token: TestToken; epochs: EpochManager },
  w: Signer,
  options: { funds?: bigint; stake?: bigint; signingKey?: string; networkAddress?: string | Uint8Array } = {},
) {
  const funds = options.funds ?? PARAMS.minStake;
  await fx.token.mint(w.address, funds);
  await fx.token.connect(w).approve(await fx.epochs.getAddress(), funds);
  await fx.epochs.connect(w).register(options.signingKey ?? w.address, options.networkAddress ?? "0x01");
  return fx.epochs.connect(w).stake(options.stake ?? PARAMS.minStake);
}
