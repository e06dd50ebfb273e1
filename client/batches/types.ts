import type { BatchHeader } from "../math/eip712.js";
import type { Delta } from "../math/lthash.js";
import type { LtHash16 } from "../math/lthash.js";
import type { PartitionSpec } from "../math/sharding.js";

/** The largest batch the fraud proofs handle (FraudProofs.MAX_BATCH); honest senders never exceed it. */
export const MAX_BATCH = 256;

/** A batch as it travels: the signed header and its deltas in batch order. */
export type SignedBatch = { header: BatchHeader; signature: string; deltas: Delta[] };

/** What a channel's sender keeps between batches (one per (epoch, stream, shard, originShard)). */
export type SenderChannel = {
  epoch: bigint;
  stream: string;
  shard: number;
  originShard: number;
  sender: string;
  /** The next seq, and the content hash of the previous header (zero before seq 0). */
  seq: bigint;
  prev: string;
  /** The multiset hash of everything sent so far. */
  cumulative: LtHash16;
};

/** The epoch as a receiver judges it: frozen n, k, r and the members' signing keys. */
export type EpochView = {
  epoch: bigint;
  n: number;
  k: number;
  r: string;
  /** Worker address (lower case) → index in the frozen set. */
  indexOf: Map<string, number>;
  /** Worker address (lower case) → its signing key for this epoch. */
  signingKeyOf: Map<string, string>;
};

/** What a receiver knows about one incoming channel (one per (sender, stream, shard, originShard)). */
export type ReceiverChannel = {
  /** The last accepted header and the cumulative state after it; undefined before seq 0. */
  last?: { header: BatchHeader; signature: string; cumulative: LtHash16 };
  /** Content hash of every accepted header by seq: a second content for a seq is equivocation. */
  seen: Map<bigint, { contentHash: string; header: BatchHeader; signature: string }>;
};

/** The kinds of violation `verifyBatch` reports. `fault` names the provable ones (IFraudProofs.Fault). */
export type ViolationKind =
  | "bad-signature" // not signed by the sender's key for the epoch: drop, unprovable
  | "not-for-me" // another receiver, epoch or an unknown sender: drop
  | "too-large" // more than MAX_BATCH deltas: drop
  | "not-the-batch" // deltas do not hash to deltasRoot, or not to firstTime..lastTime: drop, unprovable
  | "not-from-a-holder" // the sender does not hold the header's origin shard: drop, unprovable
  | "misrouted-delta" // a delta of another shard (fault MISROUTED_DELTA)
  | "not-a-holder" // this receiver does not hold the shard (fault MISROUTED_DELTA)
  | "count-mismatch" // fault BATCH_MISMATCH
  | "batch-msh-mismatch" // fault BATCH_MISMATCH
  | "broken-chain" // prev or cumulative wrong (fault BROKEN_CHAIN)
  | "out-of-order" // a seq gap: keep waiting, unprovable
  | "equivocation" // a second content for a seen seq (fault EQUIVOCATION)
  | "invalid-accumulated-proof"; // a false block hash or a contradicted cumulative (fault INVALID_ACCUMULATED_PROOF)

/** One failed check, with what to prove it with. */
export type Violation = {
  kind: ViolationKind;
  /** Human-readable: what was expected and what came. */
  message: string;
  /** IFraudProofs.Fault id when provable on-chain, else undefined. */
  fault?: number;
  /** The delta it concerns (misrouting). */
  deltaIndex?: number;
};

/** The result of {@link verifyBatch}. */
export type Verdict = {
  /** True when the batch may be used: no violation at all. */
  ok: boolean;
  violations: Violation[];
  /** The batch's multiset hash (when the deltas are the signed batch). */
  batchState?: LtHash16;
};

/** Partition spec by stream id (lower case), from the registry. */
export type StreamPartitions = Map<string, PartitionSpec>;
