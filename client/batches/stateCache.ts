// The multiset hash of a batch's deltas, by their root: the k holders of a source shard build and
// send the same batch, so a worker that sends it and receives it from co-holders hashes it once.
import type { LtHash16 } from "../math/lthash.js";

/**
 * Multiset hashes of batches by deltas root, holding at most `limit` (the oldest go first). Only
 * states computed from the deltas themselves are kept, under the root computed from the same
 * deltas: a root fixes the deltas, so their hash, exactly.
 * @example
 * ```ts
 * const states = new BatchStateCache();
 * buildBatch(ch, deltas, receivers, inputMsh, states);
 * verifyBatch(batch, { math, me, domain, channel, states });
 * ```
 */
export class BatchStateCache {
  private readonly states = new Map<string, LtHash16>();
  constructor(readonly limit = 4_096) {}
  get(root: string): LtHash16 | undefined {
    return this.states.get(root);
  }
  set(root: string, state: LtHash16): void {
    this.states.set(root, state);
    if (this.states.size > this.limit) this.states.delete(this.states.keys().next().value!);
  }
  /** Forgets every state (an epoch that is over builds and checks no more batches). */
  clear(): void {
    this.states.clear();
  }
  get size(): number {
    return this.states.size;
  }
}
