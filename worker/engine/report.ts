// What a worker reports about each epoch (maru-worker --report; the devnet reads it).
import type { ByzantineMode } from "../adversary/modes.js";
import type { InboxCounters } from "../exchange/inbox.js";
import type { Disagreement, SingleHolder } from "./agreement.js";

/** A lie this worker told on purpose (byzantine modes only). */
export type CheatRecord = {
  mode: ByzantineMode;
  epoch: string;
  stream: string;
  shard: number;
  seq: string;
  at: number;
};

/** What one epoch of the dataflow did at this worker (the inbox's counters, and more). */
export type EpochReport = Omit<InboxCounters, "verifyMs"> & {
  epoch: string;
  index: number;
  shards: number[];
  graphHash: string;
  /** True when this process took the epoch over from an earlier one (a restart): it replayed the epoch's window. */
  resumed: boolean;
  sourceDeltas: number;
  sourceRead: number;
  sentBatches: number;
  sentDeltas: number;
  resendsAsked: number;
  resendsServed: number;
  /** Accepted batches whose times do not belong on their channel (handoff times elsewhere, or others on a handoff): not used. */
  misplacedBatches: number;
  /** A sender repeated a time it had already passed (not used). */
  divergent: number;
  /** Times used because every live holder's copy agreed (silent holders aside: see singleHolder). */
  agreedGroups: number;
  /** Times not used: the holders' copies differed, or none was complete when the epoch closed. */
  heldBackGroups: number;
  /** Times whose holders' copies differed; the first LISTED_DISAGREEMENTS are in `disagreements`. */
  disagreementCount: number;
  disagreements: Disagreement[];
  /** Times used from fewer than every live holder (the others silent past the grace). */
  singleHolder: SingleHolder[];
  /** Groups from a sender that does not hold their time's source shard (not used). */
  notFromHolder: number;
  /** Groups whose time is no source delta of the epoch (not used). */
  unknownTime: number;
  withholding: Array<{ worker: string; missingGroups: number; sentDone: boolean }>;
  timedOut: boolean;
  /**
   * This worker's output of the epoch is known to be incomplete: an operator stopped; replicas'
   * copies of a time could not be taken on trust and this worker could not compute it (held
   * back, never used); it timed
   * out with batches a member announced still missing, or after a restart that lost what had
   * arrived before it; a source shard's holders all stayed silent; an operator refused inputs
   * as malformed (`malformed`) or deltas had no key (`unkeyable`); or it stopped before the
   * epoch ended. (One silent holder, a withholder or a dead peer, does not make it so: its
   * co-holders deliver the same data.)
   */
  outputIncomplete: boolean;
  /**
   * The output streams that are incomplete, each as complete as the stage it comes out of: with a
   * second exchange (docs/protocol.md §9), what only that exchange lacks leaves the first's outputs
   * complete. Empty when `outputIncomplete` is false.
   */
  incompleteOutputs: string[];
  /**
   * Part of the state this epoch took over rests on fewer holders than it should: some of its live
   * holders stayed silent or could not vouch for it, and nobody can compute a handoff again
   * (`handoff.unconfirmed`, `handoff.unconfirmedGroups`). The output is complete, but not confirmed
   * by every holder of that state; this worker does not hand such state on (the next epoch's
   * output is then incomplete for it, and says so).
   */
  outputUnconfirmed: boolean;
  /** Source shards whose live holders all stayed silent this epoch (their data is missing). */
  silentShards: number[];
  /** Deltas whose data is shorter than their stream's partition key: skipped, on every worker alike. */
  unkeyable: number;
  /** Set when the protection record refused a signature: this worker stopped sending in the epoch. */
  signingRefused?: string;
  operatorErrors: number;
  /** Operators that failed even after a restart and replay: this worker's output of the epoch is incomplete. */
  operatorsStopped: number;
  malformed: number;
  verifyMs: number;
  /**
   * The state handoff (docs/protocol.md §9), when the graph has stateful operators: whether the
   * previous epoch's state was due here, whether it has a gap (then `outputIncomplete`), how many
   * deltas of state this worker handed over from the previous epoch, how many handoff times it
   * took from some holders while others stayed silent, and the time it spent.
   */
  handoff?: {
    due: boolean;
    gap: boolean;
    /** Some holder of a handed-over shard named nothing: the state rests on fewer holders (and is not handed on). */
    unconfirmed: boolean;
    sentDeltas: number;
    unconfirmedGroups: number;
    ms: number;
  };
  /**
   * The graph's second exchange (docs/protocol.md §9), when it has one: whether this worker's first
   * stage was complete and vouched for when it started it (`ran`: else it computed and named
   * nothing, and said why in `skipped`), the shards it ran the operators over, the deltas it sent,
   * whether some shard this worker holds got no holder's copy of an origin shard's part (`gap`:
   * the output is incomplete) or one holder's alone (`unconfirmed`), and the time it spent.
   */
  secondStage?: {
    ran: boolean;
    skipped?: string;
    shards: number;
    sentDeltas: number;
    /** First-exchange batches that came after the second stage began: not used (the state was final). */
    lateBatches: number;
    gap: boolean;
    unconfirmed: boolean;
    ms: number;
  };
  /** Terminal stream → data (hex) → multiplicity (decimal), consolidated. */
  output: Record<string, Record<string, string>>;
  finishedAt: number;
};
