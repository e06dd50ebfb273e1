// `maru-worker status`: the client's read helpers (getWorker, getEpoch) plus what an operator
// needs next to them (balances, MIN_STAKE, when each withdrawal unlocks), in token units.
import { formatEther } from "ethers";
import { getEpoch, getWorker, type EpochState, type Protocol, type WorkerState } from "../../client/index.js";
import { epochStartsAt, when } from "./time.js";
import { formatAmount, type TokenUnits } from "../../client/units.js";

/** Everything `status` shows. */
export type Status = {
  worker: WorkerState;
  /** The current epoch and the one open for commits (or frozen, waiting to start). */
  epoch: EpochState;
  next: EpochState;
  /** The latest block's time: what unlock times are compared with. */
  chainTime: bigint;
  minStake: bigint;
  epochDuration: bigint;
  fraudWindow: bigint;
  /** Stake token held, and native currency for gas. */
  balance: bigint;
  gas: bigint;
  units: TokenUnits;
};

/**
 * Reads a worker's status.
 * @example
 * ```ts
 * printStatus(await readStatus(maru, address, units), console.log);
 * ```
 */
export async function readStatus(p: Protocol, address: string, units: TokenUnits): Promise<Status> {
  const provider = p.epochs.runner!.provider!;
  const worker = await getWorker(p, address);
  const [epoch, next, head, minStake, epochDuration, fraudWindow, balance, gas] = await Promise.all([
    getEpoch(p, worker.currentEpoch),
    getEpoch(p, worker.currentEpoch + 1n),
    provider.getBlock("latest"),
    p.epochs.parameter(0),
    p.epochs.parameter(4),
    p.epochs.parameter(10),
    p.token.balanceOf(address),
    provider.getBalance(address),
  ]);
  return {
    worker,
    epoch,
    next,
    chainTime: BigInt(head!.timestamp),
    minStake,
    epochDuration,
    fraudWindow,
    balance,
    gas,
    units,
  };
}

/** When a request can be withdrawn, as far as time and epochs say (membership may add epochs). */
function unlocks(s: Status, r: WorkerState["unstakeRequests"][number]): string {
  const current = s.worker.currentEpoch;
  const parts = [`from ${when(r.unlockTime, s.chainTime)}`];
  if (r.unlockEpoch > current)
    parts.push(
      `once epoch ${r.unlockEpoch} is current (${r.unlockEpoch - current} to go, about ${when(epochStartsAt(r.unlockEpoch, current, s.epoch.end, s.epochDuration), s.chainTime)})`,
    );
  return parts.join(" and ");
}

/** Whether the worker is committed to the epoch open for commits. */
function committedNext(s: Status): boolean {
  return s.worker.lastCommits.some((c) => c.epoch === s.next.epoch);
}

/**
 * The status as JSON-able values: amounts as token-unit strings ("150 tMARU"), epochs and times
 * as strings.
 */
export function statusJson(s: Status) {
  const w = s.worker;
  const u = (v: bigint) => formatAmount(v, s.units);
  return {
    worker: w.address,
    registered: w.registered,
    signingKey: w.signingKey ?? null,
    nextSigningKey: w.nextSigningKey ?? null,
    networkAddress: w.networkAddress ?? null,
    balance: u(s.balance),
    gas: formatEther(s.gas),
    activeStake: u(w.activeStake),
    minStake: u(s.minStake),
    queuedStake: u(w.queuedStake),
    withdrawableNow: u(w.withdrawable),
    unstakeRequests: w.unstakeRequests.map((r) => ({
      amount: u(r.amount),
      unlockTime: new Date(Number(r.unlockTime) * 1000).toISOString(),
      unlockEpoch: r.unlockEpoch.toString(),
      memberEpoch: r.memberEpoch.toString(),
      unlocks: unlocks(s, r),
    })),
    jailed: w.jailed,
    jailedUntil: w.jailedUntil.toString(),
    ejectedFrom: w.ejectedFrom?.toString() ?? null,
    lastCommits: w.lastCommits.map((c) => c.epoch.toString()),
    currentEpoch: w.currentEpoch.toString(),
    currentEpochEnds: new Date(Number(s.epoch.end) * 1000).toISOString(),
    nextEpoch: s.next.epoch.toString(),
    committedToNext: committedNext(s),
    commitsCloseAt: new Date(Number(s.epoch.commitDeadline) * 1000).toISOString(),
    claimableRewards: u(w.claimableRewards),
  };
}

/** The status as lines for a terminal. */
export function printStatus(s: Status, out: (line: string) => void): void {
  const w = s.worker;
  const u = (v: bigint) => formatAmount(v, s.units);
  const row = (k: string, v: string) => out(`${k.padEnd(14)}${v}`);
  row("worker", w.address);
  row("registered", w.registered ? "yes" : "no (the worker registers when it first starts)");
  if (w.registered) {
    row(
      "signing key",
      `${w.signingKey ?? "none"}${w.nextSigningKey ? `, ${w.nextSigningKey} from epoch ${w.currentEpoch + 1n}` : ""}`,
    );
    row("network", w.networkAddress ?? "none");
  }
  row("balance", `${u(s.balance)}, ${formatEther(s.gas)} native for gas`);
  row(
    "active stake",
    `${u(w.activeStake)} (minimum ${u(s.minStake)}${w.activeStake < s.minStake ? ": below it, the worker cannot commit" : ""})`,
  );
  row(
    "queued",
    w.unstakeRequests.length === 0
      ? "nothing"
      : `${u(w.queuedStake)} in ${w.unstakeRequests.length} request(s), ${u(w.withdrawable)} withdrawable now`,
  );
  for (const r of w.unstakeRequests) out(`  ${u(r.amount)} ${unlocks(s, r)}`);
  row(
    "jailed",
    w.jailed
      ? `until epoch ${w.jailedUntil} (it may commit to that epoch again)`
      : w.jailedUntil > 0n
        ? "no (was)"
        : "no",
  );
  row("ejected", w.ejectedFrom === undefined ? "never" : `from epoch ${w.ejectedFrom} (for a proven fault)`);
  row(
    "last commits",
    w.lastCommits.length === 0 ? "none found" : w.lastCommits.map((c) => `epoch ${c.epoch}`).join(", "),
  );
  row("epoch", `${w.currentEpoch} is current, ends about ${when(s.epoch.end, s.chainTime)}`);
  row(
    "next epoch",
    `${s.next.epoch}: ${committedNext(s) ? "committed" : s.next.frozen ? "not committed (frozen)" : `not committed (commits close ${when(s.epoch.commitDeadline, s.chainTime)})`}`,
  );
  row("rewards", `${u(w.claimableRewards)} claimable${w.claimableRewards > 0n ? " (maru-worker claim)" : ""}`);
}
