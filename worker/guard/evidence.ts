// The guard's evidence desk: every provable violation becomes one submission per (worker, epoch,
// fault), one transaction at a time. A fault counts as handled only once the chain has accepted
// evidence for it (slashed, or already punished by someone else): a refused submission (evidence
// about a stream the contract does not know, a block the oracle cannot judge yet, a reverted or
// dropped transaction) leaves the fault open, so the liar's next provable lie in that epoch is
// still reported; one that failed for a transient reason (a dropped or conflicting transaction, a
// node that did not answer) is sent again at the next drains, three times in all. (A cheater used to burn the fault with a misroute on an unregistered stream id
// first, after which its real misroute was never reported.)
import type { Logger } from "pino";
import type { Evidence } from "../../client/evidence/buildEvidence.js";
import type { EvidenceResult } from "../../client/evidence/submitEvidence.js";
import { noMetrics, type WorkerMetrics } from "../metrics/metrics.js";

export const FAULT_NAMES = [
  "misrouted-delta",
  "equivocation",
  "batch-mismatch",
  "broken-chain",
  "invalid-accumulated-proof",
  "execution",
];

/** Evidence this worker submitted, and what became of it. */
export type EvidenceRecord = {
  epoch: string;
  worker: string;
  fault: string;
  status: string;
  amount?: string;
  txHash?: string;
  reason?: string;
  /** Wall-clock ms: when the violation was seen, and when the transaction settled. */
  detectedAt: number;
  settledAt: number;
};

type Queued = { key: string; epoch: bigint; worker: string; evidence: Evidence; detectedAt: number; attempts: number };

/** How many times evidence whose submission failed for a transient reason is sent in all. */
const ATTEMPTS = 3;

/** Settled results that close a fault: the chain holds it punished. */
const CLOSES = new Set(["slashed", "already-punished", "outside-window"]);

/**
 * @example
 * ```ts
 * const desk = new EvidenceDesk((e) => submitEvidence(fraud, e, [epochs.interface]), log);
 * desk.queue(epoch, liar, evidence);
 * await desk.drain(); // on every tick
 * ```
 */
export class EvidenceDesk {
  readonly records: EvidenceRecord[] = [];
  private readonly closed = new Set<string>();
  private readonly queued = new Set<string>();
  private readonly waiting: Queued[] = [];
  /** Evidence whose last submission failed for a transient reason: sent again at the next drain. */
  private readonly retry: Queued[] = [];

  constructor(
    private readonly submit: (e: Evidence) => Promise<EvidenceResult>,
    private readonly log: Logger,
    private readonly metrics: WorkerMetrics = noMetrics,
  ) {}

  /** Queues evidence unless its fault is already handled or already waiting to be submitted. */
  queue(epoch: bigint, worker: string, evidence: Evidence): void {
    const key = `${worker.toLowerCase()}|${epoch}|${evidence.fault}`;
    if (this.closed.has(key) || this.queued.has(key)) return;
    this.queued.add(key);
    this.waiting.push({ key, epoch, worker: worker.toLowerCase(), evidence, detectedAt: Date.now(), attempts: 0 });
  }

  /** Submits what is queued, in order; a fault stays open unless the chain accepted evidence for it. */
  async drain(): Promise<void> {
    this.waiting.unshift(...this.retry.splice(0));
    while (this.waiting.length > 0) {
      const q = this.waiting.shift()!;
      let result: EvidenceResult;
      try {
        result = await this.submit(q.evidence);
      } catch (e) {
        result = { status: "refused", reason: (e as Error).message.split("\n")[0], transient: true };
      }
      const again = result.status === "refused" && result.transient === true && q.attempts + 1 < ATTEMPTS;
      if (again) this.retry.push({ ...q, attempts: q.attempts + 1 });
      else this.queued.delete(q.key);
      if (CLOSES.has(result.status)) this.closed.add(q.key);
      const record: EvidenceRecord = {
        epoch: q.epoch.toString(),
        worker: q.worker,
        fault: FAULT_NAMES[q.evidence.fault],
        status: result.status,
        detectedAt: q.detectedAt,
        settledAt: Date.now(),
        ...(result.status === "slashed"
          ? { amount: result.amount.toString(), txHash: result.txHash }
          : { reason: result.reason }),
      };
      this.records.push(record);
      this.metrics.evidence(record.fault, record.status);
      this.log.info(record, "evidence");
    }
  }
}
