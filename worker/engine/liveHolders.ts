// The live holders of each shard, as the replica agreement asks for them for every time it decides:
// the same object until a holder's liveness changes (a new array per question was the agreement's
// largest source of garbage in a busy worker).

/** A shard and its live holders (read-only: the same object is handed out again). */
export type LiveOrigin = { readonly originShard: number; readonly holders: readonly string[] };

/**
 * @example
 * ```ts
 * const live = new LiveHolders((shard) => holdersOf(shard), (w) => !isEjected(epoch, w));
 * live.of(3); // { originShard: 3, holders: [...] }, the same object while nobody's liveness changes
 * ```
 */
export class LiveHolders {
  private readonly kept = new Map<number, { live: boolean[]; origin: LiveOrigin }>();

  constructor(
    private readonly holders: (shard: number) => readonly string[],
    private readonly isLive: (worker: string) => boolean,
  ) {}

  of(shard: number): LiveOrigin {
    const all = this.holders(shard);
    const kept = this.kept.get(shard);
    if (kept && kept.live.length === all.length) {
      let same = true;
      for (let i = 0; i < all.length && same; ++i) same = kept.live[i] === this.isLive(all[i]);
      if (same) return kept.origin;
    }
    const live = all.map((w) => this.isLive(w));
    const origin = { originShard: shard, holders: all.filter((_, i) => live[i]) };
    this.kept.set(shard, { live, origin });
    return origin;
  }
}
