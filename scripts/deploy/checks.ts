// The post-deploy check: reads every contract of a deployment back and compares parameters, roles
// and wiring with the addresses book and the parameter file, and lists every power an account other
// than the timelock still holds (a role, the VRF beacon, the VRF subscription). Used by
// scripts/deploy/check.ts and deploy.ts (report and exit code) and by the deploy tests.
import { getAddress, id, ZeroAddress, ZeroHash, type Provider } from "ethers";
import type { NetworkConnection } from "hardhat/types/network";
import type { AddressesBook, Parameters } from "./lib.js";
import { acceptances, readHandover, same, type Acceptance, type Ownership } from "../governance/handover.js";

/**
 * One check. `power`: it is about an account other than the timelock holding power (a failing one
 * means the deployment is not done); `handover`: the timelock only has to accept it (npm run gov --
 * accept-ownership); `fix`: what to do when it fails.
 */
export type Check = { what: string; ok: boolean; detail: string; fix?: string; power?: boolean; handover?: boolean };

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

const ADMIN = ZeroHash;
const GOVERNANCE = id("GOVERNANCE_ROLE");
const REGISTRAR = id("REGISTRAR_ROLE");
const PROPOSER = id("PROPOSER_ROLE");
const EXECUTOR = id("EXECUTOR_ROLE");
const CANCELLER = id("CANCELLER_ROLE");
const ROLE_NAMES: Record<string, string> = {
  [ADMIN]: "DEFAULT_ADMIN_ROLE",
  [GOVERNANCE]: "GOVERNANCE_ROLE",
  [REGISTRAR]: "REGISTRAR_ROLE",
  [PROPOSER]: "PROPOSER_ROLE",
  [EXECUTOR]: "EXECUTOR_ROLE",
  [CANCELLER]: "CANCELLER_ROLE",
};
const ROLE_GRANTED = id("RoleGranted(bytes32,address,address)");

type AccessControlled = { hasRole(role: string, account: string): Promise<boolean> };

/** The first of each value, compared without case. */
const unique = (xs: string[]) => xs.filter((x, i) => xs.findIndex((y) => same(x, y)) === i);

/**
 * Every (contract, role) and account a RoleGranted event names since `fromBlock`: the accounts that
 * may hold a role (hasRole decides), including any nobody expected. In windows a public RPC serves.
 */
async function rolesGranted(provider: Provider, addresses: string[], fromBlock: number) {
  const latest = await provider.getBlockNumber();
  const roles = new Map<string, string[]>(); // contract (lower case) → role ids
  const accounts: string[] = [];
  let window = 50_000;
  for (let start = fromBlock; start <= latest;) {
    const end = Math.min(latest, start + window - 1);
    let logs;
    try {
      logs = await provider.getLogs({ address: addresses, topics: [ROLE_GRANTED], fromBlock: start, toBlock: end });
    } catch (e) {
      if (window <= 500) throw e;
      window = Math.floor(window / 4);
      continue;
    }
    for (const l of logs) {
      const at = l.address.toLowerCase();
      roles.set(at, unique([...(roles.get(at) ?? []), l.topics[1]]));
      accounts.push(getAddress("0x" + l.topics[2].slice(26)));
    }
    start = end + 1;
  }
  return { roles, accounts: unique(accounts) };
}

/** The governance command that has the timelock accept the beacon and the subscription. */
export function govCommand(networkName: string, book: AddressesBook): string {
  return `npm run gov -- accept-ownership --network ${networkName} --addresses deployments/${book.chainId}.json`;
}

/**
 * Every check, passed or not. Nobody but the timelock may hold power, except the timelock's own
 * proposers, cancellers and executors, which must be exactly the parameter file's. `deployer` only
 * names that account in the report.
 */
export async function checkDeployment<ChainTypeT extends string>(
  conn: NetworkConnection<ChainTypeT>,
  book: AddressesBook,
  params: Parameters,
  deployer: string,
): Promise<Check[]> {
  const { ethers } = conn;
  const out: Check[] = [];
  const expect = (what: string, ok: boolean, detail: string, fix?: string) => out.push({ what, ok, detail, fix });
  const power = (what: string, detail: string, fix: string, handover = false) =>
    out.push({ what, ok: false, detail, fix, power: true, handover });
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
  // The execution-dispute court the fraud proofs created, with the arbitrator and rules given.
  const court = await ethers.getContractAt("ExecutionDisputes", await fraud.disputes());
  const courtRules = await court.disputeRules();
  eq("ExecutionDisputes.arbitrator", courtRules.arbitrator, params.Slashing.arbitrator);
  const sl = params.Slashing as Record<string, unknown>;
  for (const r of [
    "jurySize",
    "commitEpochs",
    "revealEpochs",
    "appealEpochs",
    "arbitrationEpochs",
    "openerShareBps",
    "jurorDeposit",
    "appealBond",
  ] as const) {
    if (sl[r] !== undefined) eq(`ExecutionDisputes.${r}`, courtRules[r], sl[r]);
  }
  // The coordinator and subscription the beacon uses, and who owns what (read once for all checks below).
  const state = await readHandover(ethers.provider, k.timelock, k.beacon);
  expect(
    "VRF subscription has the beacon as consumer",
    state.subscription.consumers.some((c) => same(c, k.beacon)),
    `consumers: ${state.subscription.consumers.join(", ") || "none"}`,
    `its owner ${state.subscription.owner} adds ${k.beacon} (addConsumer on ${state.subscription.coordinator})`,
  );

  // Parameters.
  const ep = params.Epochs as Record<string, unknown>;
  for (const p of EPOCH_PARAMS) {
    if (ep[p] !== undefined) eq(`EpochManager.${p}`, await epochs.parameter(PARAM_INDEX[p]), ep[p]);
  }
  // The punishment shares (packed: REWARD_BPS, then the SLASH_BPS of each fault) and no scheduled
  // change to how workers are punished (slasher, graph source, shares).
  const rules = await epochs.ruleChanges();
  const shares = BigInt(rules.current);
  const slashBps = params.Epochs.slashBps ?? [5_000, 5_000, 5_000, 5_000, 5_000, 5_000];
  for (let f = 0; f < 5; ++f)
    eq(`EpochManager SLASH_BPS of fault ${f}`, (shares >> BigInt(16 + 16 * f)) & 0xffffn, slashBps[f]);
  expect(
    "EpochManager: no scheduled change to how workers are punished",
    rules.slasherAt === 0n && rules.graphSourceAt === 0n && rules.sharesAt === 0n,
    `slasher ${rules.slasher_} at ${rules.slasherAt}, graph source ${rules.graphSource_} at ${rules.graphSourceAt}, shares at ${rules.sharesAt}`,
    "review it: governance cancels with cancelSlasherChange() / cancelRuleChanges() through the timelock",
  );
  eq("Timelock.minDelay", await timelock.getMinDelay(), params.Governance.minDelay);

  // Power: nobody but the timelock holds a role, owns the beacon or owns the subscription; the
  // timelock's own proposers, cancellers and executors are exactly the parameter file's.
  const proposers = params.Governance.proposers;
  const executors = params.Governance.executors ?? [ZeroAddress];
  const name = (a: string) =>
    same(a, k.timelock)
      ? "the timelock"
      : same(a, deployer)
        ? `${a} (the deployer)`
        : same(a, ZeroAddress)
          ? "anyone (address 0)"
          : proposers.some((p) => same(p, a))
            ? `${a} (a proposer)`
            : a;
  const governed: Array<[string, string, AccessControlled, string[]]> = [
    ["EpochManager", k.epochManager, epochs, [ADMIN, GOVERNANCE]],
    ["OperatorRegistry", k.registry, registry, [ADMIN, REGISTRAR]],
    ["BlockHashOracle", k.blockHashOracle, oracle, [ADMIN, GOVERNANCE]],
    ["StreamInbox", k.streamInbox, inbox, [ADMIN, GOVERNANCE]],
  ];
  const granted = await rolesGranted(ethers.provider, [...governed.map((g) => g[1]), k.timelock], book.startBlock);
  const candidates = unique([deployer, k.timelock, ZeroAddress, ...proposers, ...executors, ...granted.accounts]);
  const roles = async (contract: string, at: string, c: AccessControlled, wanted: Record<string, string[]>) => {
    for (const role of unique([...Object.keys(wanted), ...(granted.roles.get(at.toLowerCase()) ?? [])])) {
      const roleName = ROLE_NAMES[role] ?? role;
      const should = wanted[role] ?? [];
      const holders: string[] = [];
      for (const a of candidates) if (await c.hasRole(role, a)) holders.push(a);
      for (const w of should)
        expect(
          `${contract}: ${name(w)} holds ${roleName}`,
          holders.some((h) => same(h, w)),
          "",
        );
      const others = holders.filter((h) => !should.some((w) => same(w, h)));
      for (const h of others) {
        power(
          `${contract}: ${name(h)} holds ${roleName}`,
          contract === "Timelock"
            ? `the parameter file gives it to ${should.map(name).join(", ") || "nobody"}`
            : "only the timelock may hold it",
          `${h} renounces it (renounceRole(${roleName}, ${h}) on ${at}), or governance revokes it through the timelock ` +
            "(revokeRole); if a deploy was interrupted before it renounced its roles, run the deploy again",
        );
      }
      if (others.length === 0) {
        expect(`${contract}: nobody else holds ${roleName}`, true, holders.map(name).join(", ") || "nobody");
      }
    }
  };
  for (const [contract, at, c, ids] of governed) {
    await roles(contract, at, c, Object.fromEntries(ids.map((r) => [r, [k.timelock]])));
  }
  await roles("Timelock", k.timelock, timelock, {
    [ADMIN]: [k.timelock],
    [PROPOSER]: proposers,
    [CANCELLER]: proposers, // OpenZeppelin's TimelockController makes every proposer a canceller
    [EXECUTOR]: executors,
  });

  // The beacon and the subscription: two-step transfers the timelock accepts (npm run gov -- accept-ownership).
  const accept = `governance has the timelock accept it: ${govCommand(conn.networkName, book)} --schedule, then --execute after the delay`;
  const owned = (what: string, o: Ownership, a: Acceptance, power_: string, withdraw: string) => {
    if (same(o.owner, k.timelock)) {
      expect(`${what}: owned by the timelock`, true, o.owner);
      if (same(o.pending, ZeroAddress)) expect(`${what}: no transfer pending`, true, "");
      else
        power(
          `${what}: ${name(o.pending)} may take it over`,
          `the timelock owns it, but a transfer to ${o.pending} is pending`,
          `governance withdraws the offer with a timelock operation: ${withdraw}`,
        );
    } else if (a.status === "acceptable") {
      power(
        `${what}: ${name(o.owner)} owns it`,
        `${power_}; the timelock is its pending owner, not yet accepted`,
        "governance has the timelock accept it (npm run gov -- accept-ownership, below)",
        true,
      );
    } else {
      power(`${what}: ${name(o.owner)} owns it`, `${power_}; ${a.reason}`, `${a.fix}; then ${accept}`);
    }
  };
  const [beaconAccept, subscriptionAccept] = acceptances(state);
  owned(
    `VRFBeacon ${k.beacon}`,
    state.beacon,
    beaconAccept,
    "its owner can setCoordinator to a contract that picks r",
    `transferOwnership(${ZeroAddress}) on ${k.beacon}`,
  );
  owned(
    `VRF subscription ${state.subscription.id}`,
    state.subscription,
    subscriptionAccept,
    "its owner can remove the beacon, cancel the subscription and take its funds",
    `requestSubscriptionOwnerTransfer(${state.subscription.id}, ${ZeroAddress}) on ${state.subscription.coordinator}`,
  );
  return out;
}

/**
 * The check's report: one line per check (or per failed one) with the fix under a failing one, the
 * totals, and when an account other than the timelock still holds power, a NOT DONE block listing
 * what is left and what to run.
 */
export function formatReport(
  checks: Check[],
  o: { networkName: string; book: AddressesBook; minDelay?: bigint; failuresOnly?: boolean },
): string[] {
  const lines: string[] = [];
  for (const c of o.failuresOnly ? checks.filter((x) => !x.ok) : checks) {
    lines.push(`${c.ok ? "✓" : "✗"} ${c.what}${c.detail ? `: ${c.detail}` : ""}`);
    if (!c.ok && c.fix) lines.push(`    fix: ${c.fix}`);
  }
  const failed = checks.filter((c) => !c.ok);
  lines.push(`${lines.length ? "\n" : ""}${checks.length - failed.length} passed, ${failed.length} failed`);
  const powers = failed.filter((c) => c.power);
  if (powers.length) {
    lines.push(
      "",
      `NOT DONE: ${powers.length} power${powers.length === 1 ? " is" : "s are"} still held by an account other than the timelock:`,
      ...powers.map((c) => `  - ${c.what} (${c.detail})`),
    );
    const cmd = govCommand(o.networkName, o.book);
    if (powers.some((c) => c.handover)) {
      lines.push(
        "The timelock accepts the beacon and the subscription with two timelock operations" +
          (o.minDelay !== undefined ? ` (delay ${o.minDelay} s):` : ":"),
        `  ${cmd} --dry-run     # the calldata, for a multisig or governor proposer`,
        `  ${cmd} --schedule    # or: from a proposer account`,
        `  ${cmd} --execute     # after the delay; any account`,
      );
    }
    for (const c of powers.filter((p) => !p.handover)) lines.push(`  ${c.what}: ${c.fix}`);
    lines.push("Then run the check again; the deployment is done when it passes.");
  }
  return lines;
}
