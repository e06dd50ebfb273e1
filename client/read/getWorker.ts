import { ZeroAddress, hexlify, type Provider } from "ethers";
import type { Protocol } from "../contracts.js";
import { ContractRevertError, decodeContractError } from "../errors/contracts.js";
import { MaruError } from "../errors/base.js";
import { InvalidBlockRangeError } from "../errors/read.js";

/** One pending unstake request. */
export type UnstakeRequestInfo = {
  amount: bigint;
  /** It cannot be withdrawn before this time (unix seconds)... */
  unlockTime: bigint;
  /** ...nor before this epoch is current... */
  unlockEpoch: bigint;
  /**
   * ...nor before FRAUD_WINDOW_EPOCHS have passed after the last epoch carried with the
   * assignment of this epoch (the last one whose commitments may hold the stake). The chain
   * works that out at withdrawal; {@link WorkerState.withdrawable} is what it would pay now.
   */
  memberEpoch: bigint;
};

/** One commitment of the worker. */
export type CommitmentInfo = {
  epoch: bigint;
  /** Its index among the epoch's commitments. */
  index: number;
  /** The stake (active + queued) it committed with. */
  stake: bigint;
  blockNumber: number;
};

/** A worker as a node operator's status screen shows it ({@link getWorker}). */
export type WorkerState = {
  address: string;
  /** The epoch current when it was read. */
  currentEpoch: bigint;
  /** Whether it registered a signing key and network address. */
  registered: boolean;
  /** The key that signs its headers in the current epoch (undefined: none). */
  signingKey?: string;
  /** The key it signs with from the next epoch, when a rotation is pending. */
  nextSigningKey?: string;
  /** The address peers dial (a libp2p multiaddr as registered; hex when not UTF-8). */
  networkAddress?: string;
  /** Stake that counts for commitments. */
  activeStake: bigint;
  /** Stake queued to leave (still slashable until withdrawn). */
  queuedStake: bigint;
  /** The pending unstake requests, oldest first. */
  unstakeRequests: UnstakeRequestInfo[];
  /** What `withdraw()` would transfer now (the chain's own answer, simulated). */
  withdrawable: bigint;
  /** The first epoch it may commit to again (0n: never jailed). */
  jailedUntil: bigint;
  /** Whether the jail keeps it from committing to the epoch open for commits (current + 1). */
  jailed: boolean;
  /** The first epoch of its current or last ejection by a fault (undefined: never ejected). */
  ejectedFrom?: bigint;
  /** Its last commitments (newest first, at most two) found in the blocks scanned. */
  lastCommits: CommitmentInfo[];
  /**
   * Rewards it can claim with claimRewards (as a reporter of proven faults: the contracts keep
   * them until claimed). There is no per-epoch pay for work in the contracts.
   */
  claimableRewards: bigint;
};

/** Options of {@link getWorker}. */
export type GetWorkerParameters = {
  /** How far back (blocks from the head, not before the book's startBlock) to look for commitments. Default 200,000. */
  maxBlocks?: number;
  /** The widest eth_getLogs range asked for (providers cap it): a whole number ≥ 1. Default 10,000. */
  blockRange?: number;
};

function decodeNetworkAddress(bytes: string): string | undefined {
  if (bytes === "0x") return undefined;
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(Buffer.from(bytes.slice(2), "hex"));
  } catch {
    return hexlify(bytes);
  }
}

/**
 * Reads what a node operator wants to see about a worker: registration, signing keys, network
 * address, active and queued stake, the unstake requests and what is withdrawable now, jail and
 * ejection, its last commitments, and the rewards it can claim. Amounts are bigints in the stake
 * token's smallest unit ({@link getStakeToken} gives the decimals). About ten calls plus one
 * eth_getLogs per `blockRange` blocks scanned back for commitments (it stops at two).
 * `InvalidBlockRangeError` (before any call) when `blockRange` is not a whole number ≥ 1 or
 * `maxBlocks` not a whole number ≥ 0.
 *
 * @example
 * ```ts
 * const w = await getWorker(maru, "0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
 * if (w.jailed) console.log(`jailed until epoch ${w.jailedUntil}`);
 * console.log(`active ${w.activeStake}, withdrawable now ${w.withdrawable}, last commit epoch ${w.lastCommits[0]?.epoch}`);
 * ```
 */
export async function getWorker(p: Protocol, address: string, opts: GetWorkerParameters = {}): Promise<WorkerState> {
  // A range of 0 or less never steps back from the head: the scan below would not end.
  if (opts.blockRange !== undefined && !(Number.isSafeInteger(opts.blockRange) && opts.blockRange >= 1))
    throw new InvalidBlockRangeError("blockRange", opts.blockRange);
  if (opts.maxBlocks !== undefined && !(Number.isSafeInteger(opts.maxBlocks) && opts.maxBlocks >= 0))
    throw new InvalidBlockRangeError("maxBlocks", opts.maxBlocks);
  const provider = p.epochs.runner?.provider;
  if (!provider) throw new MaruError("getWorker needs contracts connected to a provider (or a signer with one).");
  const reader = p.epochs.connect(provider);
  const currentEpoch = await reader.currentEpoch();
  const [info, requests, key, nextKey, net, claimable, withdrawable, lastCommits] = await Promise.all([
    reader.stakeOf(address),
    reader.unstakeRequestsOf(address),
    reader.signingKeyAt(address, currentEpoch),
    reader.signingKeyAt(address, currentEpoch + 1n),
    reader.networkAddressOf(address),
    reader.claimableOf(address),
    withdrawableNow(p, provider, address),
    lastCommitsOf(p, provider, address, opts),
  ]);
  return {
    address,
    currentEpoch,
    registered: info.registered,
    signingKey: key === ZeroAddress ? undefined : key,
    nextSigningKey: nextKey === ZeroAddress || nextKey === key ? undefined : nextKey,
    networkAddress: decodeNetworkAddress(net),
    activeStake: info.active,
    queuedStake: info.queued,
    unstakeRequests: requests.map((r) => ({
      amount: r.amount,
      unlockTime: r.unlockTime,
      unlockEpoch: r.unlockEpoch,
      memberEpoch: r.memberEpoch,
    })),
    withdrawable,
    jailedUntil: info.jailedUntil,
    jailed: info.jailedUntil > currentEpoch + 1n,
    ejectedFrom: info.ejectedFrom === 0n ? undefined : info.ejectedFrom,
    lastCommits,
    claimableRewards: claimable,
  };
}

/** withdraw() simulated as the worker: the only exact answer (it folds in carried epochs and departures). */
async function withdrawableNow(p: Protocol, provider: Provider, worker: string): Promise<bigint> {
  try {
    return await p.epochs.connect(provider).withdraw.staticCall({ from: worker });
  } catch (e) {
    const err = decodeContractError(e, p.errorInterfaces);
    if (
      err instanceof ContractRevertError &&
      ["StakingNothingToWithdraw", "StakingNotRegistered"].includes(err.errorName)
    )
      return 0n;
    throw err;
  }
}

/** The worker's last two Committed events, scanning back from the head in bounded ranges. */
async function lastCommitsOf(
  p: Protocol,
  provider: Provider,
  worker: string,
  opts: GetWorkerParameters,
): Promise<CommitmentInfo[]> {
  const range = opts.blockRange ?? 10_000;
  const head = await provider.getBlockNumber();
  const floor = Math.max(p.book.startBlock, head - (opts.maxBlocks ?? 200_000));
  const found: CommitmentInfo[] = [];
  const filter = p.epochs.filters.Committed(undefined, worker);
  for (let to = head; to >= floor && found.length < 2; to -= range) {
    const from = Math.max(floor, to - range + 1);
    const logs = await p.epochs.queryFilter(filter, from, to);
    for (const log of logs.reverse()) {
      if (found.length === 2) break;
      found.push({
        epoch: log.args.epoch,
        index: Number(log.args.index),
        stake: log.args.stake,
        blockNumber: log.blockNumber,
      });
    }
  }
  return found;
}
