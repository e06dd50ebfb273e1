// The receiver's replica agreement (docs/protocol.md §12): the k holders of a source shard run
// the same operator on the same source deltas, so each of them sends the same deltas for every
// source time of that shard. A receiver uses a time's deltas only once every live holder's copy
// is final and they all agree; copies that differ are held back, never used, and reported (the
// receiver does not pick a side). A holder that stays silent past the grace is "missing": the
// others' agreeing copy is used and the report says so (singleHolder).
//
// A copy is the group of deltas one holder sent for (stream, shard, time). It is final when the
// holder's lane (holder, stream, shard) has moved past the time (a lane carries times in increasing
// order; a group too large for one batch continues at the start of the next), or when the lane is
// closed (its signed end notice counted every batch, all received). A holder whose lane passed the
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
};

/** Times used from fewer than all live holders, by source shard and the holders that stayed silent. */
export type SingleHolder = { originShard: number; missing: string[]; groups: number };

export type AgreementOptions = {
  /** The live holders (lower case) of the source shard of `time`; undefined while that source delta is unread. */
  holdersOf(time: bigint): { originShard: number; holders: string[] } | undefined;
  /** True once a holder's lane for (stream, shard) can bring nothing more (end notice counted, all received). */
  closed(holder: string, stream: string, shard: number): boolean;
  /** Deltas agreed on: they go to the operators that consume `stream`. */
  use(stream: string, deltas: Delta[]): void;
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

type Slot = { stream: string; shard: number; time: bigint; copies: Map<string, Delta[]> };

/**
 * @example
 * ```ts
 * const agreement = new Agreement({ holdersOf, closed, use, log, epoch });
 * agreement.offer(sender, stream, shard, groupByTime(deltas)); // every accepted batch
 * agreement.settle(false);                                     // on every tick
 * agreement.settle(true);                                      // when the epoch closes
 * ```
 */
export class Agreement {
  /** Open times by `stream|shard`, each by time. */
  private readonly slots = new Map<string, Map<bigint, Slot>>();
  /** The last time each lane (`sender|stream|shard`) delivered. */
  private readonly lastTime = new Map<string, bigint>();
  /** Times already decided, by `stream|shard|time` (a copy arriving later is ignored). */
  private readonly decided = new Set<string>();
  private readonly single = new Map<string, SingleHolder>();
  /** Holder → decided times its copy was missing from (withholding, or a lane stuck on a rejected batch). */
  readonly missingBy = new Map<string, number>();
  readonly disagreements: Disagreement[] = [];
  readonly stats = {
    /** Times used because every live holder's copy agreed (or the silent ones were missing). */
    agreedGroups: 0,
    /** Times not used: the copies differed, or no holder's copy was final when the epoch closed. */
    heldBackGroups: 0,
    disagreementCount: 0,
    /** A sender repeated a time it had passed (not used). */
    divergent: 0,
    /** Groups from a sender that does not hold the time's source shard (not used). */
    notFromHolder: 0,
    /** Groups whose time is no source delta of the epoch (not used). */
    unknownTime: 0,
  };

  constructor(private readonly o: AgreementOptions) {}

  /** The groups of one accepted batch from `sender` on (stream, shard), in batch order. */
  offer(sender: string, stream: string, shard: number, groups: Group[]): void {
    const lane = `${sender}|${stream}|${shard}`;
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
      if (copy) copy.push(...g.deltas);
      else slot.copies.set(sender, [...g.deltas]);
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

  private isFinal(holder: string, slot: Slot): boolean {
    const last = this.lastTime.get(`${holder}|${slot.stream}|${slot.shard}`);
    return (last !== undefined && last > slot.time) || this.o.closed(holder, slot.stream, slot.shard);
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
    for (const sender of slot.copies.keys()) {
      if (!origin.holders.includes(sender)) {
        slot.copies.delete(sender);
        this.stats.notFromHolder += 1;
        this.o.log.warn(
          { epoch: this.o.epoch.toString(), time: slot.time.toString(), sender, originShard: origin.originShard },
          "deltas from a worker that does not hold the time's source shard (not used)",
        );
      }
    }
    const copies: Record<string, string> = {};
    const missing: string[] = [];
    for (const h of origin.holders) {
      if (!this.isFinal(h, slot)) missing.push(h);
      else {
        const c = slot.copies.get(h);
        copies[h] = c ? groupDigest(c) : NONE;
      }
    }
    if (missing.length > 0 && !final) return false;
    for (const h of missing) this.missingBy.set(h, (this.missingBy.get(h) ?? 0) + 1);
    const digests = new Set(Object.values(copies));
    if (digests.size === 1) {
      const [digest] = digests;
      if (digest !== NONE) {
        const by = Object.keys(copies)[0];
        this.o.use(slot.stream, slot.copies.get(by)!);
        this.stats.agreedGroups += 1;
        if (missing.length > 0) this.recordSingle(origin.originShard, missing);
      }
      return true;
    }
    this.stats.heldBackGroups += 1;
    if (digests.size === 0) {
      // Nobody's copy is final: what arrived may be a part of a group, so none of it is used.
      this.o.log.warn(
        { epoch: this.o.epoch.toString(), time: slot.time.toString(), originShard: origin.originShard, missing },
        "no holder's copy of a time was complete when the epoch closed (not used)",
      );
      return true;
    }
    this.stats.disagreementCount += 1;
    const d: Disagreement = {
      stream: slot.stream,
      shard: slot.shard,
      time: slot.time.toString(),
      originShard: origin.originShard,
      copies,
    };
    if (this.disagreements.length < LISTED_DISAGREEMENTS) this.disagreements.push(d);
    this.o.log.warn({ epoch: this.o.epoch.toString(), ...d }, "replicas disagree: the time is held back, not used");
    return true;
  }

  private recordSingle(originShard: number, missing: string[]): void {
    const key = `${originShard}|${missing.join(",")}`;
    const s = this.single.get(key) ?? { originShard, missing, groups: 0 };
    s.groups += 1;
    this.single.set(key, s);
  }
}
