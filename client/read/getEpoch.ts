import type { Protocol } from "../contracts.js";
import { EpochNotFoundError } from "../errors/read.js";

/** Where an epoch is in its life, relative to the current one. */
export type EpochPhase =
  /** current + 1 and not frozen: workers commit to it. */
  | "open"
  /** current + 1 and frozen: its set is fixed, it waits for randomness and its start. */
  | "frozen"
  /** The epoch whose assignment is in force. */
  | "current"
  /** Before the current one. */
  | "past";

/** The punishment shares an epoch was frozen with (docs/protocol.md §10), in basis points. */
export type EpochShares = {
  /** The share of a slash paid to the reporter. */
  rewardBps: number;
  /** The slash of each fault id 0..4, as a share of the stake committed for the epoch. */
  slashBps: number[];
};

/** An epoch as {@link getEpoch} reads it. */
export type EpochState = {
  epoch: bigint;
  phase: EpochPhase;
  /** The epoch current when it was read. */
  currentEpoch: bigint;
  /** When it became current (unix seconds; 0n: not yet). */
  start: bigint;
  /** The nominal start of the next epoch (unix seconds). */
  end: bigint;
  /** When commits to the next epoch close (unix seconds; end - FREEZE_LEAD). */
  commitDeadline: bigint;
  /** Commitments to this epoch so far. */
  committed: number;
  frozen: boolean;
  /** Workers in its assignment (0 until frozen). */
  n: number;
  /** Replication: how many workers hold each shard (0 until frozen). */
  k: number;
  /** The epoch whose commitments form its set (itself unless carried; 0n until frozen). */
  assignmentEpoch: bigint;
  /** Whether it kept an earlier epoch's set because fewer than MIN_WORKERS committed. */
  carried: boolean;
  /** The operator-graph version and running hash pinned at freeze. */
  graphVersion: bigint;
  graphHash: string;
  /** Its randomness, once set (verify it with verifyRandomness before acting on it). */
  randomness?: string;
  /** Whether the randomness is the fallback block hash rather than the beacon's. */
  usedFallback: boolean;
  /** The block whose hash is the fallback randomness (0n until frozen). */
  fallbackBlock: bigint;
  /** The punishment shares it was frozen with (undefined until frozen). */
  shares?: EpochShares;
  /** Member addresses by index, when asked for with `members: true` and the epoch is frozen. */
  members?: string[];
};

/** Options of {@link getEpoch}. */
export type GetEpochParameters = {
  /** Also read the n member addresses (n calls, 25 at a time). Default false. */
  members?: boolean;
};

/** The punishment shares are packed in a uint256: REWARD_BPS in bits [0,16), fault i's SLASH_BPS in [16 + 16i, 32 + 16i). */
function unpackShares(packed: bigint): EpochShares {
  const at = (i: number) => Number((packed >> BigInt(16 * i)) & 0xffffn);
  return { rewardBps: at(0), slashBps: [1, 2, 3, 4, 5, 6].map(at) };
}

/**
 * Reads an epoch's state: timing, commitments, the frozen set's n and k, the pinned graph, the
 * randomness and the punishment shares, as plain values. Defaults to the current epoch. Throws
 * {@link EpochNotFoundError} for an epoch after the one open for commits.
 *
 * @example
 * ```ts
 * const e = await getEpoch(maru);
 * console.log(`epoch ${e.epoch} (${e.phase}): ${e.n} workers, k = ${e.k}, ends ${new Date(Number(e.end) * 1000).toISOString()}`);
 * const next = await getEpoch(maru, e.epoch + 1n); // phase "open" or "frozen"; next.committed so far
 * ```
 */
export async function getEpoch(p: Protocol, epoch?: bigint, opts: GetEpochParameters = {}): Promise<EpochState> {
  const currentEpoch = await p.epochs.currentEpoch();
  const e = epoch ?? currentEpoch;
  if (e > currentEpoch + 1n || e < 0n) throw new EpochNotFoundError(e, currentEpoch);
  const [info, packedShares] = await Promise.all([p.epochs.epochInfo(e), p.epochs.sharesOf(e)]);
  const n = Number(info.n);
  const state: EpochState = {
    epoch: e,
    phase: e < currentEpoch ? "past" : e === currentEpoch ? "current" : info.frozen ? "frozen" : "open",
    currentEpoch,
    start: info.start,
    end: info.end,
    commitDeadline: info.commitDeadline,
    committed: Number(info.committed),
    frozen: info.frozen,
    n,
    k: Number(info.k),
    assignmentEpoch: info.assignmentEpoch,
    carried: info.frozen && info.assignmentEpoch !== e,
    graphVersion: info.graphVersion,
    graphHash: info.graphHash,
    randomness: info.randomnessSet ? info.randomness : undefined,
    usedFallback: info.usedFallback,
    fallbackBlock: info.fallbackBlock,
    shares: info.frozen ? unpackShares(packedShares) : undefined,
  };
  if (opts.members && info.frozen) {
    const members: string[] = [];
    // 25 calls in flight: fast on a remote RPC without tripping its rate limits.
    for (let i = 0; i < n; i += 25) {
      const batch = Array.from({ length: Math.min(25, n - i) }, (_, j) => p.epochs.workerAt(e, i + j));
      members.push(...(await Promise.all(batch)));
    }
    state.members = members;
  }
  return state;
}
