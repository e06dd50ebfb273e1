// The post-deploy check: reads every contract of a deployment back and compares parameters, roles
// and wiring with the addresses book and the parameter file. Used by scripts/deploy/check.ts (exit
// code) and by the deploy tests.
import type { NetworkConnection } from "hardhat/types/network";
import type { AddressesBook, Parameters } from "./lib.js";

export type Check = { what: string; ok: boolean; detail: string };

const EPOCH_PARAMS = [
  "minStake",
  "unbondingPeriod",
  "rewardBps",
  "jailEpochs",
  "epochDuration",
  "freezeLead",
  "randomnessTimeout",
  "replication",
  "minWorkers",
  "maxWorkers",
  "fraudWindowEpochs",
] as const;
// IEpochManager.Param order.
const PARAM_INDEX: Record<(typeof EPOCH_PARAMS)[number], number> = {
  minStake: 0,
  unbondingPeriod: 1,
  rewardBps: 2,
  jailEpochs: 3,
  epochDuration: 4,
  freezeLead: 5,
  randomnessTimeout: 6,
  replication: 7,
  minWorkers: 8,
  maxWorkers: 9,
  fraudWindowEpochs: 10,
};

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/** Every check, passed or not; `deployer` must hold no role anywhere. */
export async function checkDeployment<ChainTypeT extends string>(
  conn: NetworkConnection<ChainTypeT>,
  book: AddressesBook,
  params: Parameters,
  deployer: string,
): Promise<Check[]> {
  const { ethers } = conn;
  const out: Check[] = [];
  const expect = (what: string, ok: boolean, detail: string) => out.push({ what, ok, detail });
  const eq = (what: string, actual: unknown, expected: unknown) =>
    expect(what, String(actual).toLowerCase() === String(expected).toLowerCase(), `${actual} (expected ${expected})`);

  const k = book.contracts;
  for (const [name, address] of Object.entries(k)) {
    const code = await ethers.provider.getCode(address);
    expect(`${name} has code`, code !== "0x", address);
  }
  if (out.some((c) => !c.ok)) return out; // nothing else can be read

  const epochs = await ethers.getContractAt("EpochManager", k.epochManager);
  const beacon = await ethers.getContractAt("VRFBeacon", k.beacon);
  const registry = await ethers.getContractAt("OperatorRegistry", k.registry);
  const timelock = await ethers.getContractAt("TimelockController", k.timelock);
  const fraud = await ethers.getContractAt("FraudProofs", k.fraudProofs);
  const oracle = await ethers.getContractAt("BlockHashOracle", k.blockHashOracle);
  const inbox = await ethers.getContractAt("StreamInbox", k.streamInbox);

  // Wiring.
  eq("EpochManager.beacon", await epochs.beacon(), k.beacon);
  eq("EpochManager.slasher", await epochs.slasher(), k.fraudProofs);
  eq("EpochManager.graphSource", await epochs.graphSource(), k.registry);
  eq("EpochManager.stakeToken", await epochs.stakeToken(), k.stakeToken);
  eq("VRFBeacon.requester", await beacon.requester(), k.epochManager);
  eq("VRFBeacon.coordinator", await beacon.s_vrfCoordinator(), k.vrfCoordinator);
  const [keyHash, subscriptionId] = await beacon.config();
  eq("VRFBeacon.keyHash", keyHash, book.vrf.keyHash);
  eq("VRFBeacon.subscriptionId", subscriptionId, book.vrf.subscriptionId);
  eq("FraudProofs.oracle", await fraud.oracle(), k.blockHashOracle);
  const coordinator = new ethers.Contract(
    k.vrfCoordinator,
    [
      "function getSubscription(uint256) view returns (uint96 balance, uint96 nativeBalance, uint64 reqCount, address owner, address[] consumers)",
    ],
    ethers.provider,
  );
  const sub = await coordinator.getSubscription(BigInt(book.vrf.subscriptionId));
  expect(
    "VRF subscription has the beacon as consumer",
    (sub.consumers as string[]).some((c) => same(c, k.beacon)),
    `consumers: ${(sub.consumers as string[]).join(", ") || "none"}`,
  );

  // Parameters.
  const ep = params.Epochs as Record<string, unknown>;
  for (const p of EPOCH_PARAMS) {
    if (ep[p] !== undefined) eq(`EpochManager.${p}`, await epochs.parameter(PARAM_INDEX[p]), ep[p]);
  }
  for (let f = 0; f < 5; ++f) eq(`FraudProofs.slashBps(${f})`, await fraud.slashBps(f), params.Slashing.slashBps[f]);
  eq("Timelock.minDelay", await timelock.getMinDelay(), params.Governance.minDelay);
  for (const p of params.Governance.proposers) {
    expect(`Timelock proposer ${p}`, await timelock.hasRole(await timelock.PROPOSER_ROLE(), p), "PROPOSER_ROLE");
  }

  // Roles: the timelock holds them, the deployer none.
  const roles: Array<[string, { hasRole(r: string, a: string): Promise<boolean> }, string[]]> = [
    ["EpochManager", epochs, [await epochs.DEFAULT_ADMIN_ROLE(), await epochs.GOVERNANCE_ROLE()]],
    ["OperatorRegistry", registry, [await registry.DEFAULT_ADMIN_ROLE(), await registry.REGISTRAR_ROLE()]],
    ["FraudProofs", fraud, [await fraud.DEFAULT_ADMIN_ROLE(), await fraud.GOVERNANCE_ROLE()]],
    ["BlockHashOracle", oracle, [await oracle.DEFAULT_ADMIN_ROLE(), await oracle.GOVERNANCE_ROLE()]],
    ["StreamInbox", inbox, [await inbox.DEFAULT_ADMIN_ROLE(), await inbox.GOVERNANCE_ROLE()]],
  ];
  for (const [name, contract, rs] of roles) {
    for (const r of rs) {
      expect(`${name}: timelock holds ${r.slice(0, 10)}…`, await contract.hasRole(r, k.timelock), "");
      expect(`${name}: deployer does not hold ${r.slice(0, 10)}…`, !(await contract.hasRole(r, deployer)), "");
    }
  }
  expect(
    "Timelock: deployer is not its admin",
    !(await timelock.hasRole(await timelock.DEFAULT_ADMIN_ROLE(), deployer)),
    "",
  );
  eq("VRFBeacon.owner", await beacon.owner(), k.timelock);
  return out;
}
