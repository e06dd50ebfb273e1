import { MaruError } from "../errors/base.js";
import { LtHash16, type Delta } from "../math/lthash.js";
import type { Protocol } from "../contracts.js";

/** Thrown when what the inbox's events say does not add up to its checkpoints. */
export class InboxMismatchError extends MaruError {
  override name = "InboxMismatchError";
}

/** A source delta with its index in the stream and the block it was appended in. */
export type InboxDelta = Delta & { index: bigint; blockNumber: number };

/**
 * Reads stream `stream` of the StreamInbox (docs/protocol.md §9) from its `Appended` events in blocks
 * `fromBlock … toBlock`, and checks them: indices are contiguous from `state.count`, and adding
 * them to `state.hash` gives each event's checkpointed digest. Pass the returned state to the next
 * call (start with `{ count: 0n, hash: new LtHash16() }` and `fromBlock` = the deployment's start).
 * A worker keeps the deltas of its shards; it must read all of them to check the digest.
 *
 * @example
 * ```ts
 * let state = { count: 0n, hash: new LtHash16() };
 * const { deltas, next } = await readInbox(maru, streamId, book.startBlock, head, state);
 * const mine = deltas.filter((d) => myShards.has(assignment.shardOf(getBytes(d.data))));
 * ```
 */
export async function readInbox(
  p: Protocol,
  stream: string,
  fromBlock: number,
  toBlock: number,
  state: { count: bigint; hash: LtHash16 },
): Promise<{ deltas: InboxDelta[]; next: { count: bigint; hash: LtHash16 } }> {
  const events = await p.inbox.queryFilter(p.inbox.filters.Appended(stream), fromBlock, toBlock);
  const hash = state.hash.clone();
  let count = state.count;
  const out: InboxDelta[] = [];
  for (const e of events) {
    const first = e.args.firstIndex as bigint;
    if (first !== count) {
      throw new InboxMismatchError(`Stream ${stream}: events jump from index ${count} to ${first}`, {
        fix: "read from the block after the previous call's last block, or from the deployment's start",
      });
    }
    const deltas = (e.args.deltas as Array<{ data: string; time: bigint; diff: bigint }>).map((d) => ({
      data: d.data,
      time: d.time,
      diff: d.diff,
    }));
    hash.addAll(deltas);
    if (hash.digest() !== e.args.digest) {
      throw new InboxMismatchError(
        `Stream ${stream}: the deltas of block ${e.blockNumber} do not add up to its digest`,
      );
    }
    deltas.forEach((d, i) => out.push({ ...d, index: first + BigInt(i), blockNumber: e.blockNumber }));
    count = first + BigInt(deltas.length);
  }
  return { deltas: out, next: { count, hash } };
}
