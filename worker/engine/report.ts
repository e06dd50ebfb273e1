// What a worker reports about each epoch (maru-worker --report; the devnet reads it).
import type { ByzantineMode } from "../adversary/modes.js";
import type { InboxCounters } from "../exchange/inbox.js";

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
  divergent: number;
  withholding: Array<{ worker: string; missingGroups: number; sentDone: boolean }>;
  timedOut: boolean;
  /**
   * This worker's output of the epoch is known to be incomplete: an operator stopped; it timed
   * out with batches a member announced still missing, or after a restart that lost what had
   * arrived before it; a source shard's holders all stayed silent; or it stopped before the
   * epoch ended. (One silent holder, a withholder or a dead peer, does not make it so: its
   * co-holders deliver the same data.)
   */
  outputIncomplete: boolean;
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
  /** Terminal stream → data (hex) → multiplicity (decimal), consolidated. */
  output: Record<string, Record<string, string>>;
  finishedAt: number;
};
