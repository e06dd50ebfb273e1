// State handoff (docs/protocol.md §9): a stateful operator's consolidated input moves from epoch e's
// holders to epoch e + 1's on the handoff stream of its input stream, signed under e + 1 and routed
// by e + 1's randomness like any batch of the stream. The contracts know the id rule
// (OperatorRegistry.handoffStreamOf) and partition a handoff stream as its stream, so every check
// and fraud proof of a batch applies to a handoff batch unchanged.
import { concat, keccak256, toUtf8Bytes } from "ethers";

const PREFIX = toUtf8Bytes("maru.handoff");

/**
 * The handoff stream id of stream `id`: keccak256(abi.encodePacked("maru.handoff", id)), as
 * OperatorRegistry.handoffStreamOf. Lower case.
 * @example
 * ```ts
 * const h = handoffStreamOf(balancesInput); // the channels the balances' state moves on
 * ```
 */
export function handoffStreamOf(id: string): string {
  return keccak256(concat([PREFIX, id])).toLowerCase();
}

/** Handoff deltas' times: above every source time (a CHAIN time is block << 32 | log index, block < 2^31). */
export const HANDOFF_TIME_BASE = 1n << 63n;
const RANK_BITS = 40n;

/**
 * The time of the `rank`-th delta (in data byte order) of origin shard `originShard`'s handoff:
 * the same at every holder of the origin shard, unique per origin shard, after every source time.
 */
export function handoffTime(originShard: number, rank: number): bigint {
  if (rank < 0 || BigInt(rank) >= 1n << RANK_BITS) throw new RangeError(`handoff rank ${rank} out of range`);
  if (originShard < 0 || originShard >= 1 << 22) throw new RangeError(`origin shard ${originShard} out of range`);
  return HANDOFF_TIME_BASE | (BigInt(originShard) << RANK_BITS) | BigInt(rank);
}

/** The origin shard of a handoff time, or undefined for a time that is not one. */
export function handoffOrigin(time: bigint): number | undefined {
  if (time < HANDOFF_TIME_BASE || time >= 1n << 64n) return undefined;
  return Number((time - HANDOFF_TIME_BASE) >> RANK_BITS);
}
