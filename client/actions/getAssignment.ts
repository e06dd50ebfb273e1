import { Permutation } from "../math/shuffle.js";
import { Sharder } from "../math/sharding.js";
import type { Protocol } from "../contracts.js";
import type { EpochView } from "../batches/types.js";

/** An epoch's assignment as a worker uses it, computed locally with the shared math. */
export type Assignment = {
  view: EpochView;
  /** This worker's index, and the shards it holds (empty when not a member). */
  index?: number;
  shards: number[];
  /** The k holders (indices) of any shard. */
  holders(shard: number): number[];
  /** The shard of a key. */
  shardOf(key: Uint8Array): number;
  /** Member addresses by index. */
  members: string[];
};

/**
 * Reads epoch `epoch`'s frozen n, k, r, members and their signing keys, and computes locally
 * (client/math, the same functions the contracts run) which shards `me` holds and who holds any
 * shard. Verify the randomness first ({@link verifyRandomness}). Reads n members: O(n) calls.
 *
 * @example
 * ```ts
 * const a = await getAssignment(maru, epoch, myAddress);
 * for (const s of a.shards) subscribe(s, a.holders(s));
 * ```
 */
export async function getAssignment(p: Protocol, epoch: bigint, me?: string): Promise<Assignment> {
  const [n, k, r] = await p.epochs.assignment(epoch);
  const view: EpochView = { epoch, n: Number(n), k: Number(k), r, indexOf: new Map(), signingKeyOf: new Map() };
  const members: string[] = [];
  for (let i = 0; i < view.n; ++i) {
    const w = (await p.epochs.workerAt(epoch, i)).toLowerCase();
    members.push(w);
    view.indexOf.set(w, i);
    view.signingKeyOf.set(w, (await p.epochs.signingKeyAt(w, epoch)).toLowerCase());
  }
  const perm = new Permutation(r, view.n);
  const sharder = new Sharder(r, view.n);
  const index = me === undefined ? undefined : view.indexOf.get(me.toLowerCase());
  return {
    view,
    index,
    shards: index === undefined ? [] : perm.shardsOf(index, view.k),
    holders: (shard) => perm.holders(shard, view.k),
    shardOf: (key) => sharder.shard(key),
    members,
  };
}
