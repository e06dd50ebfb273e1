// The input commitment of a batch (docs/protocol.md §12) is the multiset hash of a prefix of its
// origin shard's inputs. Batches ask for prefixes in about the order of their last times, so a
// running hash moves forward and hashes every input once; kept states every `every` inputs answer
// a batch that asks for an earlier prefix (another lane of the same shard sealed later).
import { LtHash16, type Delta } from "../../client/math/lthash.js";

/**
 * The multiset hashes of the prefixes of one append-only list of inputs.
 * @example
 * ```ts
 * const prefixes = new PrefixHashes();
 * prefixes.digest(inputs, 99); // the hash of inputs[0..99]
 * ```
 */
export class PrefixHashes {
  private readonly head = new LtHash16();
  /** How many inputs `head` holds. */
  private next = 0;
  /** The hash of the first k·every inputs, at index k. */
  private readonly kept = [new LtHash16()];

  constructor(private readonly every = 32) {}

  /** The digest of the multiset `inputs[0..i]` (`inputs` only grows between calls). */
  digest(inputs: readonly Delta[], i: number): string {
    const end = i + 1;
    while (this.next < end) {
      const stop = Math.min(end, (Math.floor(this.next / this.every) + 1) * this.every);
      this.head.addAll(inputs.slice(this.next, stop));
      this.next = stop;
      if (stop % this.every === 0) this.kept.push(this.head.clone());
    }
    if (this.next === end) return this.head.digest();
    const k = Math.floor(end / this.every);
    return this.kept[k]
      .clone()
      .addAll(inputs.slice(k * this.every, end))
      .digest();
  }
}
