// The receiver's replica agreement (docs/protocol.md §12): the k holders of a source shard run
// the same operator on the same source deltas, so each of them sends the same deltas for every
// source time of that shard. A receiver uses a time's deltas as they came only once every live
// holder's copy is final and they all agree. Otherwise (copies differ, or a holder is still
// silent when the epoch closes) no copy is taken on trust: the receiver computes the time itself
// from the chain's source deltas and the registered operator (`recompute`), uses that, and
// reports which holders sent the same. If it cannot compute it, the time is held back.
//
// A copy is the group of deltas one holder sent for (stream, shard, time) on its channel of the
// time's source shard (the header's origin shard). It is final when the holder's lane (holder,
// stream, origin shard, shard) has moved past the time (a lane carries times in increasing order; a
// group too large for one batch continues at the start of the next), or when the lane is closed
// (its signed end notice counted every batch, all received). A holder whose lane passed the
// time without a group for it said "nothing": that is a copy too, and it disagrees with a group.
import { concat, getBytes, keccak256, toBeHex } from "ethers";
import type { Logger } from "pino";
import type { Delta } from "../../client/math/lthash.js";
import { toBytes } from "../../client/math/values.js";
import type { Group } from "../exchange/outbox.js";

/** What two holders' copies of one time were, when they differed (the epoch report keeps the first few). */
export type Disagreement = {
  stream: string;
  shard: number;
  time: string;
  /** The source shard the time belongs to. */
  originShard: number;
  /** Holder → the keccak256 of its copy, or "none" when it sent nothing for the time. */
  copies: Record<string, string>;
  /**
   * The holders whose copy equals what this worker computed itself for the time (a fresh run of
   * the first stage over the source shard's deltas); undefined while that runs, or when it could
   * not run (the time is then held back).
   */
  right?: string[];
};

/**
 * Times where some live holders stayed silent (no copy, or a copy whose channel never closed) until
 * the epoch closed, and the others' copies matched what this worker computed: by source shard and
 * the silent holders.
 */
export type SingleHolder = { originShard: number; missing: string[]; groups: number };

export type AgreementOptions = {
  /**
   * The live holders (lower case) of the shard `time` of `stream` comes from (a source shard, or
   * for a stream of the second exchange the shard whose state produced it); undefined while that
   * source delta is unread.
   */
  holdersOf(time: bigint, stream: string): { originShard: number; holders: readonly string[] } | undefined;
  /** True once a holder's lane (stream, originShard, shard) can bring nothing more (end notice counted, all received). */
  closed(holder: string, stream: string, originShard: number, shard: number): boolean;
  /** Deltas of `shard` agreed on: they go to the operators that consume `stream`. */
  use(stream: string, shard: number, deltas: Delta[]): void;
  /**
   * Whether a time nobody can compute again (a state handoff's, §9) may be taken from the final
   * copies of some holders when they all agree and the other holders stayed silent. Such a time
   * is counted in `unconfirmedGroups`, and the epoch's output says it rests on fewer holders.
   */
  takeUnconfirmed?(slot: { stream: string; shard: number; time: bigint; originShard: number }): boolean;
  /**
   * What this worker computes itself for (`stream`, `shard`, `time`) from `originShard`'s inputs,
   * or undefined when it cannot: asked when copies differ or a holder stayed silent, and used
   * instead of any copy.
   */
  recompute?(slot: { stream: string; shard: number; time: bigint; originShard: number }): Promise<Delta[] | undefined>;
  /**
   * Copies of a time differed and this worker computed it: the holders whose copy was right and
   * those whose copy was wrong (the dispute desk looks for the signed position that proves it).
   */
  conflict?(
    slot: { stream: string; shard: number; time: bigint; originShard: number },
    right: string[],
    wrong: string[],
  ): void;
  log: Logger;
  epoch: bigint;
};

/** Disagreements the report lists one by one; the rest are counted. */
export const LISTED_DISAGREEMENTS = 20;

/**
 * Deltas one sender may have waiting for a decision. Past it, its lane counts as unconfirmed (never
 * final): its times are computed by this worker when the epoch closes, never taken as "nothing".
 */
export const UNDECIDED_LIMIT = 262_144;

const NONE = "none";

/**
 * keccak256 over a group's deltas in order, each as its data length (4 bytes), data and diff (8
 * bytes, two's complement): an injective encoding, so equal digests mean equal groups.
 */
export function groupDigest(deltas: Delta[]): string {
  return keccak256(
    concat(
      deltas.flatMap((d) => {
        const data = getBytes(d.data);
        return [toBeHex(data.length, 4), data, toBeHex(BigInt.asUintN(64, BigInt(d.diff)), 8)];
      }),
    ),
  );
}

const bytesOf = (d: Delta["data"]) => (typeof d === "string" ? toBytes(d, "data") : (d as Uint8Array));

/** Whether two copies of a time are the same deltas in the same order (both absent counts as the same). */
export function sameDeltas(a: Delta[] | undefined, b: Delta[] | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; ++i) {
    if (BigInt(a[i].diff) !== BigInt(b[i].diff)) return false;
    const p = a[i].data;
    const q = b[i].data;
    // Two hex strings compare as strings (decoding both showed in the agreement's profile).
    if (typeof p === "string" && typeof q === "string") {
      if (p.toLowerCase() !== q.toLowerCase()) return false;
      continue;
    }
    const x = bytesOf(p);
    const y = bytesOf(q);
    if (x.length !== y.length) return false;
    for (let j = 0; j < x.length; ++j) if (x[j] !== y[j]) return false;
  }
  return true;
}

/** The first index of sorted `times` whose time is not below `time`. */
function lowerBound(times: bigint[], time: bigint): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (times[mid] < time) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

type Slot = {
  stream: string;
  shard: number;
  time: bigint;
  /** By sender: the origin shard of the channel the copy came on, and its deltas. */
  copies: Map<string, { originShard: number; deltas: Delta[] }>;
};

/**
 * @example
 * ```ts
 * const agreement = new Agreement({ holdersOf, closed, use, log, epoch });
 * agreement.offer(sender, stream, originShard, shard, groupByTime(deltas)); // every accepted batch
 * agreement.settle(false);                                     // on every tick
 * agreement.settle(true);                                      // when the epoch closes
 * ```
 */
export class Agreement {
  /** Open times by `stream|shard`, each by time. */
  private readonly slots = new Map<string, Map<bigint, Slot>>();
  /**
   * The open times of each `stream|shard` in increasing order, by the origin shard of the channel
   * their copies came on (decided ones are dropped lazily), so that a batch examines only the times
   * it can have settled: its own origin's (a lane's progress makes final only its own sender's
   * copies, of its own origin's times). A holder far ahead of a slow co-holder leaves many times
   * open, and rescanning all of them on every batch was quadratic; scanning every origin's times
   * did four times the work with four shards. A time that came on a channel not its own is decided
   * by `settle`, on the next tick.
   */
  private readonly order = new Map<string, Map<number, bigint[]>>();
  /** The last time each lane (`sender|stream|originShard|shard`) delivered. */
  private readonly lastTime = new Map<string, bigint>();
  /** Lanes that went past UNDECIDED_LIMIT: their copies are never final. */
  private readonly overflowed = new Set<string>();
  /** Deltas waiting for a decision, by sender. */
  private readonly undecided = new Map<string, number>();
  /** Times already decided, by `stream|shard` (a copy arriving later is ignored). */
  private readonly decided = new Map<string, Set<bigint>>();
  private readonly single = new Map<string, SingleHolder>();
  /** Holder → decided times its copy was missing from (withholding, or a lane stuck on a rejected batch). */
  readonly missingBy = new Map<string, number>();
  readonly disagreements: Disagreement[] = [];
  /** The streams with a time held back, and with a time taken from one holder alone (`unconfirmedGroups`). */
  readonly heldBackStreams = new Set<string>();
  readonly unconfirmedStreams = new Set<string>();
  /** Recomputations under way (the epoch closes after them). */
  private readonly pending = new Set<Promise<void>>();
  readonly stats = {
    /** Times used as they came: every live holder's copy final and equal. */
    agreedGroups: 0,
    /** Times used as this worker computed them: copies differed, or a holder stayed silent. */
    recomputedGroups: 0,
    /** Times not used: no copy to take on trust, and computing them failed. */
    heldBackGroups: 0,
    /** Handoff times taken from one holder's final copy while the other holders stayed silent (`takeUnconfirmed`). */
    unconfirmedGroups: 0,
    /** Times where a holder's copy differed from another's or from what this worker computed. */
    disagreementCount: 0,
    /** A sender repeated a time it had passed (not used). */
    divergent: 0,
    /** Groups from a sender that does not hold the time's source shard, or on another origin's channel (not used). */
    notFromHolder: 0,
    /** Groups whose time is no source delta of the epoch (not used). */
    unknownTime: 0,
    /** Groups not kept because their sender had UNDECIDED_LIMIT deltas waiting. */
    overLimit: 0,
  };

  constructor(private readonly o: AgreementOptions) {}

  /**
   * Forgets the epoch's times once it is closed and reported (the counts, disagreements and
   * holders missing stay): a finished epoch's run stays reachable while its outbox answers resends.
   */
  release(): void {
    for (const m of [this.slots, this.order, this.lastTime, this.undecided, this.decided, this.single, this.laneNames])
      m.clear();
    this.overflowed.clear();
  }

  /** The groups of one accepted batch from `sender` on channel (stream, originShard, shard), in batch order. */
  offer(sender: string, stream: string, originShard: number, shard: number, groups: Group[]): void {
    const lane = `${sender}|${stream}|${originShard}|${shard}`;
    const key = `${stream}|${shard}`;
    let open = this.slots.get(key);
    // The times this batch can have settled: its own, and those its lane moved past (the lane is
    // now final for them); from before the lane's last time, since a group may continue there.
    const from = this.lastTime.get(lane);
    const done = this.decided.get(key);
    groups.forEach((g, i) => {
      const last = this.lastTime.get(lane);
      // A lane's times increase; only its first group may continue the time its last batch ended with.
      if (last !== undefined && (g.time < last || (g.time === last && i > 0))) {
        this.stats.divergent += 1;
        this.o.log.warn(
          { epoch: this.o.epoch.toString(), time: g.time.toString(), sender },
          "a sender repeated a time it already delivered (not used)",
        );
        return;
      }
      this.lastTime.set(lane, g.time);
      if (done?.has(g.time)) return;
      const waiting = this.undecided.get(sender) ?? 0;
      if (waiting + g.deltas.length > UNDECIDED_LIMIT) {
        this.stats.overLimit += 1;
        if (!this.overflowed.has(lane))
          this.o.log.warn(
            { epoch: this.o.epoch.toString(), sender, waiting },
            "a sender has too many deltas waiting for its co-holders: its channel is no longer taken on trust",
          );
        this.overflowed.add(lane);
        return;
      }
      this.undecided.set(sender, waiting + g.deltas.length);
      if (!open) this.slots.set(key, (open = new Map()));
      let slot = open.get(g.time);
      if (!slot) open.set(g.time, (slot = { stream, shard, time: g.time, copies: new Map() }));
      const copy = slot.copies.get(sender);
      // Indexed once per origin its copies came on (the first copy from this origin's channel).
      let indexed = false;
      for (const c of slot.copies.values()) indexed ||= c.originShard === originShard;
      if (!indexed) this.insertTime(key, originShard, g.time);
      if (!copy) slot.copies.set(sender, { originShard, deltas: [...g.deltas] });
      else if (copy.originShard === originShard) copy.deltas.push(...g.deltas);
      else copy.originShard = -1; // one time on two channels: never its source's
    });
    const to = this.lastTime.get(lane);
    if (open && to !== undefined) this.settleRange(key, open, originShard, from, to);
  }

  /** Adds an open time to its key's order for an origin (times mostly come in increasing order: an append). */
  private insertTime(key: string, originShard: number, time: bigint): void {
    let byOrigin = this.order.get(key);
    if (!byOrigin) this.order.set(key, (byOrigin = new Map()));
    let times = byOrigin.get(originShard);
    if (!times) byOrigin.set(originShard, (times = []));
    if (times.length === 0 || times[times.length - 1] < time) {
      times.push(time);
      return;
    }
    const at = lowerBound(times, time);
    if (times[at] !== time) times.splice(at, 0, time);
  }

  /**
   * Decides what can be decided among the open times of `key` that came on `originShard`'s channel,
   * from `from` (undefined: the first) to `to`, both included: a batch's own times and those its
   * lane moved past.
   */
  private settleRange(
    key: string,
    open: Map<bigint, Slot>,
    originShard: number,
    from: bigint | undefined,
    to: bigint,
  ): void {
    const times = this.order.get(key)?.get(originShard);
    if (times) {
      const first = from === undefined ? 0 : lowerBound(times, from);
      const last = lowerBound(times, to + 1n);
      for (let i = first; i < last; ++i) {
        const slot = open.get(times[i]);
        if (slot) this.settleSlot(key, open, slot, false);
      }
    }
    this.tidy(key, open);
  }

  /** Drops decided times from a key's orders once they are the greater part of one. */
  private tidy(key: string, open: Map<bigint, Slot>): void {
    const byOrigin = this.order.get(key);
    if (open.size === 0) {
      this.slots.delete(key);
      this.order.delete(key);
    } else if (byOrigin) {
      for (const [originShard, times] of byOrigin)
        if (times.length > 2 * open.size + 64)
          byOrigin.set(
            originShard,
            times.filter((t) => open.has(t)),
          );
    }
  }

  /**
   * Decides every open time that can be decided. With `final` (the epoch closes: every holder had
   * its grace), a holder whose copy is not final is silent, and the time is computed here. With
   * `only`, just the times of the streams it accepts (the first exchange closes before the second).
   */
  settle(final: boolean, only?: (stream: string) => boolean): void {
    for (const [key, open] of this.slots)
      if (!only || only(key.slice(0, key.lastIndexOf("|")))) this.settleSlots(key, open, final);
  }

  /** Resolves once every recomputation started so far has ended. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  /** How many times wait for a holder's copy. */
  get open(): number {
    let n = 0;
    for (const open of this.slots.values()) n += open.size;
    return n;
  }

  /** The times checked against this worker's own computation because some holders stayed silent. */
  singleHolder(): SingleHolder[] {
    return [...this.single.values()];
  }

  private settleSlots(key: string, open: Map<bigint, Slot>, final: boolean): void {
    for (const slot of open.values()) this.settleSlot(key, open, slot, final);
    this.tidy(key, open);
  }

  private settleSlot(key: string, open: Map<bigint, Slot>, slot: Slot, final: boolean): void {
    if (!this.decide(slot, final)) return;
    open.delete(slot.time);
    let done = this.decided.get(key);
    if (!done) this.decided.set(key, (done = new Set()));
    done.add(slot.time);
    for (const [sender, copy] of slot.copies)
      this.undecided.set(sender, (this.undecided.get(sender) ?? 0) - copy.deltas.length);
  }

  /** A lane's name (`sender|stream|originShard|shard`), built once: deciding asks for it per holder and time. */
  private laneName(holder: string, stream: string, originShard: number, shard: number): string {
    let byStream = this.laneNames.get(holder);
    if (!byStream) this.laneNames.set(holder, (byStream = new Map()));
    let byOrigin = byStream.get(stream);
    if (!byOrigin) byStream.set(stream, (byOrigin = new Map()));
    let byShard = byOrigin.get(originShard);
    if (!byShard) byOrigin.set(originShard, (byShard = new Map()));
    let name = byShard.get(shard);
    if (name === undefined) byShard.set(shard, (name = `${holder}|${stream}|${originShard}|${shard}`));
    return name;
  }
  private readonly laneNames = new Map<string, Map<string, Map<number, Map<number, string>>>>();

  private isFinal(holder: string, slot: Slot, originShard: number): boolean {
    const lane = this.laneName(holder, slot.stream, originShard, slot.shard);
    if (this.overflowed.has(lane)) return false;
    const last = this.lastTime.get(lane);
    return (last !== undefined && last > slot.time) || this.o.closed(holder, slot.stream, originShard, slot.shard);
  }

  /** Returns true when the time is decided (used, being computed, or held back for good). */
  private decide(slot: Slot, final: boolean): boolean {
    const origin = this.o.holdersOf(slot.time, slot.stream);
    if (!origin) {
      if (!final) return false; // its source delta is not read yet
      this.stats.unknownTime += 1;
      this.o.log.warn(
        { epoch: this.o.epoch.toString(), time: slot.time.toString(), senders: [...slot.copies.keys()] },
        "deltas for a time that is no source delta of the epoch (not used)",
      );
      return true;
    }
    // Finality first: nothing is hashed while a holder's copy may still grow (and, while one may,
    // nothing is allocated: most questions are answered "not yet").
    if (!final) for (const h of origin.holders) if (!this.isFinal(h, slot, origin.originShard)) return false;
    const finalHolders: string[] = [];
    /** No copy at all (withholding, or a channel stuck before the time). */
    const missing: string[] = [];
    /** A copy whose channel had not closed: it may be a part of a group. */
    const unconfirmed: string[] = [];
    for (const h of origin.holders) {
      if (this.isFinal(h, slot, origin.originShard)) finalHolders.push(h);
      else if (slot.copies.get(h)?.originShard === origin.originShard) unconfirmed.push(h);
      else missing.push(h);
    }
    if (missing.length + unconfirmed.length > 0 && !final) return false;
    for (const [sender, copy] of slot.copies) {
      if (!origin.holders.includes(sender) || copy.originShard !== origin.originShard) {
        this.stats.notFromHolder += 1;
        this.o.log.warn(
          { epoch: this.o.epoch.toString(), time: slot.time.toString(), sender, originShard: origin.originShard },
          "deltas from a worker that does not hold the time's source shard, or on another origin's channel (not used)",
        );
      }
    }
    for (const h of missing) this.missingBy.set(h, (this.missingBy.get(h) ?? 0) + 1);
    const silent = [...missing, ...unconfirmed];
    // The usual case, without hashing: every live holder's final copy is the same, byte for byte.
    const own = finalHolders.map((h) => {
      const c = slot.copies.get(h);
      return c && c.originShard === origin.originShard ? c.deltas : undefined;
    });
    // (With no live holder at all, nothing here is a copy: the time is computed below, as before.)
    if (finalHolders.length > 0 && silent.length === 0 && own.every((c) => sameDeltas(c, own[0]))) {
      if (own[0] !== undefined) {
        this.o.use(slot.stream, slot.shard, own[0]);
        this.stats.agreedGroups += 1;
      }
      return true;
    }
    const copies: Record<string, string> = {};
    for (const h of finalHolders) {
      const c = slot.copies.get(h);
      copies[h] = c && c.originShard === origin.originShard ? groupDigest(c.deltas) : NONE;
    }
    const digests = new Set(Object.values(copies));
    if (digests.size === 1 && silent.length === 0) {
      const [only] = digests;
      if (only !== NONE) {
        this.o.use(slot.stream, slot.shard, slot.copies.get(finalHolders[0])!.deltas);
        this.stats.agreedGroups += 1;
      }
      return true;
    }
    const at = { stream: slot.stream, shard: slot.shard, time: slot.time, originShard: origin.originShard };
    if (digests.size === 1 && finalHolders.length > 0 && this.o.takeUnconfirmed?.(at)) {
      // Nobody can compute it again: the silent holders' absence is said, not papered over. Two
      // agreeing holders confirm it; one alone does not.
      const [only] = digests;
      if (only !== NONE) this.o.use(slot.stream, slot.shard, slot.copies.get(finalHolders[0])!.deltas);
      if (finalHolders.length >= 2) this.stats.agreedGroups += 1;
      else {
        this.stats.unconfirmedGroups += 1;
        this.unconfirmedStreams.add(slot.stream);
      }
      this.recordSingle(origin.originShard, silent);
      return true;
    }
    // Copies differ, or a holder stayed silent: no copy is taken on trust.
    this.settleByRecomputing(
      { stream: slot.stream, shard: slot.shard, time: slot.time, originShard: origin.originShard },
      copies,
      digests.size > 1,
      silent,
    );
    return true;
  }

  /**
   * This worker computes the time itself (from the chain's source deltas and the registered
   * operator) and uses that. A final copy that differs from it is a disagreement, reported with
   * the holders that sent the same; agreeing copies with silent holders beside them are reported
   * as `singleHolder`. When it cannot compute the time, the time is held back.
   */
  private settleByRecomputing(
    slot: { stream: string; shard: number; time: bigint; originShard: number },
    copies: Record<string, string>,
    /** Whether the final copies differ among themselves. */
    differ: boolean,
    silent: string[],
  ): void {
    const at = { epoch: this.o.epoch.toString(), ...slot, time: slot.time.toString(), copies, silent };
    const disagree = (right?: string[]) => {
      this.stats.disagreementCount += 1;
      const d: Disagreement = { ...slot, time: slot.time.toString(), copies, ...(right ? { right } : {}) };
      if (this.disagreements.length < LISTED_DISAGREEMENTS) this.disagreements.push(d);
    };
    const heldBack = (why: string) => {
      this.stats.heldBackGroups += 1;
      this.heldBackStreams.add(slot.stream);
      if (differ) disagree();
      this.o.log.warn({ ...at, why }, "no copy of a time to take on trust: held back, not used");
    };
    if (!this.o.recompute) return heldBack("this worker cannot compute it itself");
    const p = this.o
      .recompute(slot)
      .then((truth) => {
        if (!truth) return heldBack("computing it failed");
        const digest = truth.length > 0 ? groupDigest(truth) : NONE;
        const right = Object.keys(copies).filter((h) => copies[h] === digest);
        if (truth.length > 0) this.o.use(slot.stream, slot.shard, truth);
        this.stats.recomputedGroups += 1;
        if (right.length < Object.keys(copies).length) {
          disagree(right);
          this.o.log.warn({ ...at, right }, "replicas disagree: used the time as this worker computed it");
          try {
            this.o.conflict?.(
              slot,
              right,
              Object.keys(copies).filter((h) => !right.includes(h)),
            );
          } catch (e) {
            // The time is decided and used; only the dispute about it failed (said, not held back).
            this.o.log.error({ ...at, error: (e as Error).message }, "could not hand the conflict to the dispute desk");
          }
        } else if (truth.length > 0) this.recordSingle(slot.originShard, silent);
      })
      .catch((e: Error) => heldBack(e.message))
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  private recordSingle(originShard: number, missing: string[]): void {
    const key = `${originShard}|${missing.join(",")}`;
    const s = this.single.get(key) ?? { originShard, missing, groups: 0 };
    s.groups += 1;
    this.single.set(key, s);
  }
}
