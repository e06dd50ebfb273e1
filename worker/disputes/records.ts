// What a worker did in execution disputes (the worker's report, and the devnet's cheat → slash
// latency): opened, voted, appealed, settled, claimed, or why not.
export type DisputeRecord = {
  id: string;
  /** The disputed epoch. */
  epoch: string;
  action:
    | "opened"
    | "already-disputed"
    | "refused"
    | "committed"
    | "revealed"
    | "appealed"
    | "settled"
    | "claimed"
    | "not-voting";
  /** The holder this worker found wrong (opened), or the side it voted (committed, revealed). */
  against?: string;
  side?: string;
  /** The final outcome (settled). */
  outcome?: string;
  txHash?: string;
  reason?: string;
  /** Wall-clock ms. */
  at: number;
};

/** IExecutionDisputes.Side, by value. */
export const SIDE_NAMES = ["none", "A", "B", "neither", "draw"];

/** IExecutionDisputes.Stage, by value. */
export const STAGE_NAMES = ["none", "voting", "appealed", "arbitrated", "settled"];
