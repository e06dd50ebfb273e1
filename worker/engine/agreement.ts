// The receiver's replica agreement (docs/protocol.md §12): the k holders of a source shard run
// the same operator on the same source deltas, so each of them sends the same deltas for every
// source time of that shard. A receiver uses a time's deltas only once every live holder's copy
// is final and they all agree; copies that differ are held back, never used, and reported (the
// receiver does not pick a side). A holder that stays silent past the grace is "missing": the
// others' agreeing copy is used and the report says so (singleHolder).
//
// A copy is the group of deltas one holder sent for (stream, shard, time) on its channel of the
// time's source shard (the header's origin shard). It is final when the holder's lane (holder,
// stream, origin shard, shard) has moved past the time (a lane carries times in increasing order; a
// group too large for one batch continues at the start of the next), or when the lane is closed
// (its signed end notice counted every batch, all received). A holder whose lane passed the
// time without a group for it said "nothing": that is a copy too, and it disagrees with a group.
import { concat, getBytes, hexlify, keccak256, toUtf8Bytes } from "ethers";
import type { Logger } from "pino";
import type { Delta } from "../../client/math/lthash.js";
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
   * The holders whose copy equals what this worker computed itself for the time (its own copy when
   * it holds the source shard, else the first stage run again from the source); undefined while
   * that runs, or when it could not run (the time is then held back).
   */
  right?: string[];
};

/** Times used from fewer than all live holders, by source shard and the holders that stayed silent. */
export type SingleHolder = { originShard: number; missing: string[]; groups: number };

export type AgreementOptions = {
  /** The live holders (lower case) of the source shard of `time`; undefined while that source delta is unread. */
  holdersOf(time: bigint): { originShard: number; holders: string[] } | undefined;
  /** True once a holder's lane (stream, originShard, shard) can bring nothing more (end notice counted, all received). */
  closed(holder: string, stream: string, originShard: number, shard: number): boolean;
  /** Deltas agreed on: they go to the operators that consume `stream`. */
  use(stream: string, deltas: Delta[]): void;
  /**
   * What this worker computes itself for a time whose copies differ (`stream`, `shard`, `time`
   * from `originShard`'s inputs), or undefined when it cannot: the copy it then uses.
   */
  recompute?(slot: { stream: string; shard: number; time: bigint; originShard: number }): Promise<Delta[] | undefined>;
  log: Logger;
  epoch: bigint;
};

/** Disagreements the report lists one by one; the rest are counted. */
export const LISTED_DISAGREEMENTS = 20;

const NONE = "none";
const dataHex = (d: Delta) => (typeof d.data === "string" ? d.data.toLowerCase() : hexlify(d.data as Uint8Array));

/** keccak256 over a group's deltas in order (data ‖ "|diff;"): equal groups, equal digests. */
export function groupDigest(deltas: Delta[]): string {
  return keccak256(concat(deltas.flatMap((d) => [getBytes(dataHex(d)), toUtf8Bytes(`|${BigInt(d.diff)};`)])));
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
  /** The last time each lane (`sender|stream|originShard|shard`) delivered. */
  private readonly lastTime = new Map<string, bigint>();
  /** Times already decided, by `stream|shard|time` (a copy arriving later is ignored). */
  private readonly decided = new Set<string>();
  private readonly single = new Map<string, SingleHolder>();
  /** Holder → decided times its copy was missing from (withholding, or a lane stuck on a rejected batch). */
  readonly missingBy = new Map<string, number>();
  readonly disagreements: Disagreement[] = [];
  /** Recomputations under way (the epoch closes after them). */
  private readonly pending = new Set<Promise<void>>();
  readonly stats = {
    /** Times used because every live holder's copy agreed (or the silent ones were missing). */
    agreedGroups: 0,
    /** Times not used: no complete agreeing copy, and computing them again failed. */
    heldBackGroups: 0,
    disagreementCount: 0,
    /** Times whose copies differed (or none was complete when the epoch closed), used as this worker computed them. */
    recomputedGroups: 0,
    /** A sender repeated a time it had passed (not used). */
    divergent: 0,
    /** Groups from a sender that does not hold the time's source shard, or on another origin's channel (not used). */
    notFromHolder: 0,
    /** Groups whose time is no source delta of the epoch (not used). */
    unknownTime: 0,
  };

  constructor(private readonly o: AgreementOptions) {}

  /** The groups of one accepted batch from `sender` on channel (stream, originShard, shard), in batch order. */
  offer(sender: string, stream: string, originShard: number, shard: number, groups: Group[]): void {
    const lane = `${sender}|${stream}|${originShard}|${shard}`;
    const key = `${stream}|${shard}`;
    let open = this.slots.get(key);
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
      if (this.decided.has(`${key}|${g.time}`)) return;
      if (!open) this.slots.set(key, (open = new Map()));
      let slot = open.get(g.time);
      if (!slot) open.set(g.time, (slot = { stream, shard, time: g.time, copies: new Map() }));
      const copy = slot.copies.get(sender);
      if (!copy) slot.copies.set(sender, { originShard, deltas: [...g.deltas] });
      else if (copy.originShard === originShard) copy.deltas.push(...g.deltas);
      else slot.copies.set(sender, { originShard: -1, deltas: [] }); // one time on two channels: never its source's
    });
    if (open) this.settleSlots(key, open, false);
  }

  /**
   * Decides every open time that can be decided. With `final` (the epoch closes: every holder had
   * its grace), a holder whose copy is not final is missing, and the others' copies decide alone.
   */
  settle(final: boolean): void {
    for (const [key, open] of this.slots) this.settleSlots(key, open, final);
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

  /** The times used from fewer than every live holder, grouped by source shard and missing holders. */
  singleHolder(): SingleHolder[] {
    return [...this.single.values()];
  }

  private settleSlots(key: string, open: Map<bigint, Slot>, final: boolean): void {
    for (const [time, slot] of open) {
      if (this.decide(slot, final)) {
        open.delete(time);
        this.decided.add(`${key}|${time}`);
      }
    }
    if (open.size === 0) this.slots.delete(key);
  }

  private isFinal(holder: string, slot: Slot, originShard: number): boolean {
    const last = this.lastTime.get(`${holder}|${slot.stream}|${originShard}|${slot.shard}`);
    return (last !== undefined && last > slot.time) || this.o.closed(holder, slot.stream, originShard, slot.shard);
  }

  /** Returns true when the time is decided (used, or held back for good). */
  private decide(slot: Slot, final: boolean): boolean {
    const origin = this.o.holdersOf(slot.time);
    if (!origin) {
      if (!final) return false; // its source delta is not read yet
      this.stats.unknownTime += 1;
      this.o.log.warn(
        { epoch: this.o.epoch.toString(), time: slot.time.toString(), senders: [...slot.copies.keys()] },
        "deltas for a time that is no source delta of the epoch (not used)",
      );
      return true;
    }
    for (const [sender, copy] of slot.copies) {
      if (!origin.holders.includes(sender) || copy.originShard !== origin.originShard) {
        slot.copies.delete(sender);
        this.stats.notFromHolder += 1;
        this.o.log.warn(
          { epoch: this.o.epoch.toString(), time: slot.time.toString(), sender, originShard: origin.originShard },
          "deltas from a worker that does not hold the time's source shard, or on another origin's channel (not used)",
        );
      }
    }
    const copies: Record<string, string> = {};
    /** No copy at all (withholding, or a channel stuck before the time). */
    const missing: string[] = [];
    /** A copy whose channel was not closed when the epoch closed: it may be a part of a group. */
    const unconfirmed: string[] = [];
    for (const h of origin.holders) {
      const c = slot.copies.get(h);
      if (this.isFinal(h, slot, origin.originShard)) copies[h] = c ? groupDigest(c.deltas) : NONE;
      else if (c) unconfirmed.push(h);
      else missing.push(h);
    }
    if (missing.length + unconfirmed.length > 0 && !final) return false;
    for (const h of missing) this.missingBy.set(h, (this.missingBy.get(h) ?? 0) + 1);
    const digests = new Set(Object.values(copies));
    const [only] = digests;
    // Every final copy agrees, and no unconfirmed copy could contradict "nothing".
    if (digests.size === 1 && (only !== NONE || unconfirmed.length === 0)) {
      if (only !== NONE) {
        this.o.use(slot.stream, slot.copies.get(Object.keys(copies)[0])!.deltas);
        this.stats.agreedGroups += 1;
        const silent = [...missing, ...unconfirmed];
        if (silent.length > 0) this.recordSingle(origin.originShard, silent);
      }
      return true;
    }
    const at = { stream: slot.stream, shard: slot.shard, time: slot.time, originShard: origin.originShard };
    if (digests.size > 1) {
      this.stats.disagreementCount += 1;
      const d: Disagreement = { ...at, time: slot.time.toString(), copies };
      if (this.disagreements.length < LISTED_DISAGREEMENTS) this.disagreements.push(d);
      this.settleByRecomputing(at, d);
    } else {
      // No complete copy to go by when the epoch closed (none final, or "nothing" against an
      // unconfirmed copy): what arrived may be a part of a group, so this worker computes it.
      this.settleByRecomputing(at, undefined, { missing, unconfirmed });
    }
    return true;
  }

  /**
   * Neither copy is used as it came (they differ, or none is complete). This worker computes the
   * time itself (from the chain's source deltas and the registered operator) and uses that; for a
   * disagreement it records which holders sent the same. When it cannot, the time is held back.
   */
  private settleByRecomputing(
    slot: { stream: string; shard: number; time: bigint; originShard: number },
    d: Disagreement | undefined,
    incomplete?: { missing: string[]; unconfirmed: string[] },
  ): void {
    const at = { epoch: this.o.epoch.toString(), ...(d ?? { ...slot, time: slot.time.toString(), ...incomplete }) };
    const what = d ? "replicas disagree" : "no complete copy of a time when the epoch closed";
    const heldBack = (why: string) => {
      this.stats.heldBackGroups += 1;
      this.o.log.warn({ ...at, why }, `${what}: the time is held back, not used`);
    };
    if (!this.o.recompute) return heldBack("this worker cannot compute it again");
    const p = this.o
      .recompute(slot)
      .then((truth) => {
        if (!truth) return heldBack("computing it again failed");
        if (d) {
          const digest = truth.length > 0 ? groupDigest(truth) : NONE;
          d.right = Object.keys(d.copies).filter((h) => d.copies[h] === digest);
        }
        if (truth.length > 0) this.o.use(slot.stream, truth);
        this.stats.recomputedGroups += 1;
        this.o.log.warn({ ...at, right: d?.right }, `${what}: used the time as this worker computed it itself`);
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
