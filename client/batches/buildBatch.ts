import { ZeroAddress, ZeroHash } from "ethers";
import { contentHash, type BatchHeader } from "../math/eip712.js";
import type { BatchStateCache } from "./stateCache.js";
import { LtHash16, type Delta } from "../math/lthash.js";
import { deltasRoot } from "../math/merkle.js";
import { MaruError } from "../errors/base.js";
import { MAX_BATCH, type SenderChannel } from "./types.js";

/**
 * Thrown when a sender would build a batch the protocol does not allow (0 or more than MAX_BATCH deltas).
 * @example
 * ```ts
 * for (let i = 0; i < deltas.length; i += MAX_BATCH) buildBatch(ch, deltas.slice(i, i + MAX_BATCH), holders);
 * ```
 */
export class BatchTooLargeError extends MaruError {
  override name = "BatchTooLargeError";
}

/**
 * Opens a sender's channel for (epoch, stream, shard, originShard): seq 0, no previous header,
 * empty multiset. `originShard` is the upstream shard whose inputs produce the channel's deltas.
 *
 * @example
 * ```ts
 * const ch = openChannel(epoch, streamId, shard, originShard, myAddress);
 * const headers = buildBatch(ch, deltas, holders, inputMsh); // one header per holder, same content
 * ```
 */
export function openChannel(
  epoch: bigint,
  stream: string,
  shard: number,
  originShard: number,
  sender: string,
): SenderChannel {
  return { epoch, stream, shard, originShard, sender, seq: 0n, prev: ZeroHash, cumulative: new LtHash16() };
}

/**
 * Builds the next batch of a channel for every receiver (docs/protocol.md §6, §12): the same
 * content (seq, prev, deltasRoot, count, batchMsh, cumulativeMsh, inputMsh, firstTime, lastTime) to
 * each, only `receiver` differs. `inputMsh` is the digest of the origin shard's inputs up to the
 * batch's last time (ZeroHash where the caller does not track inputs). Advances the channel.
 * Throws {@link BatchTooLargeError} above MAX_BATCH deltas or for none.
 *
 * @example
 * ```ts
 * const [toA, toB] = buildBatch(ch, deltas, [holderA, holderB], inputMsh);
 * ```
 */
export function buildBatch(
  ch: SenderChannel,
  deltas: Delta[],
  receivers: string[],
  inputMsh: string = ZeroHash,
  /** Batch states already computed (a co-holder's copy of this content may have come first). */
  states?: BatchStateCache,
): BatchHeader[] {
  if (deltas.length === 0 || deltas.length > MAX_BATCH) {
    throw new BatchTooLargeError(`A batch has 1 to ${MAX_BATCH} deltas, not ${deltas.length}`, {
      fix: `split the deltas into batches of at most ${MAX_BATCH}`,
    });
  }
  const root = deltasRoot(deltas);
  const cached = states?.get(root);
  const batch = cached ? cached.clone() : new LtHash16().addAll(deltas);
  if (!cached) states?.set(root, batch.clone());
  const cumulative = ch.cumulative.clone().combine(batch);
  const content = {
    epoch: ch.epoch,
    stream: ch.stream,
    shard: ch.shard,
    originShard: ch.originShard,
    sender: ch.sender,
    seq: ch.seq,
    prev: ch.prev,
    deltasRoot: root,
    count: deltas.length,
    batchMsh: batch.digest(),
    cumulativeMsh: cumulative.digest(),
    inputMsh,
    firstTime: BigInt(deltas[0].time),
    lastTime: BigInt(deltas[deltas.length - 1].time),
  };
  const headers = receivers.map((receiver) => ({ ...content, receiver }));
  ch.prev = contentHash({ ...content, receiver: ZeroAddress }); // the receiver is not part of it
  ch.seq += 1n;
  ch.cumulative = cumulative;
  return headers;
}
