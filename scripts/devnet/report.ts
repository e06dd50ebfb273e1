// What the devnet reports: the workers' own reports and the chain's Slashed events, put together
// into one JSON document and a table, and checked against what a run must show.
import type { CheatRecord, EpochReport } from "../../worker/engine/report.js";
import type { EvidenceRecord } from "../../worker/guard/evidence.js";
import type { DisputeRecord } from "../../worker/disputes/records.js";
import { FAULT_OF_MODE, type ByzantineMode } from "../../worker/adversary/modes.js";
import { ACTIVITY_STREAM, balancesOf, HISTOGRAM_STREAM, OUTPUT_STREAM, type Transfer } from "./sample.js";

/** The report file a worker writes (maru-worker --report). */
export type WorkerReport = {
  worker: string;
  byzantine: string | null;
  checks: boolean;
  startedAt: number;
  stoppedAt: number;
  /** Peak resident memory of the worker's process, in MiB. */
  maxRssMiB?: number;
  /** The longest its main thread's event loop was held up, in ms. */
  maxEventLoopDelayMs?: number;
  /** CPU time of its process (operator threads included), in ms. */
  cpuMs?: number;
  cheats: CheatRecord[];
  evidence: EvidenceRecord[];
  /** What it did in execution disputes (opened, voted, appealed, settled, claimed). */
  disputes?: DisputeRecord[];
  epochs: EpochReport[];
  /** What the transport refused (connections from non-members, messages, oversize, disconnects). */
  transport?: { refusedConnections: number; refusedMessages: number; oversize: number; disconnected: number };
};

export type Slash = {
  worker: string;
  epoch: string;
  fault: string;
  /** In the token's base units (wei), for machines. */
  amount: string;
  /** The same in token units ("50 tMARU"). */
  amountTokens: string;
  reporter: string;
  txHash: string;
};

export type DevnetReport = {
  /** --chaos: what was done to the honest workers, each of which they must survive. */
  chaos: boolean;
  restarts: Array<{ worker: string; epoch: string; when: string; at: number }>;
  reorgs: Array<{ depth: number; fromBlock: number; toBlock: number; txsReincluded: number; at: number }>;
  floods: Array<{
    target: string;
    worker: string;
    connected: boolean;
    refusedAtConnect: number;
    sent: number;
    refusedByWorker: number;
  }>;
  byzantine: string | null;
  byzantineWorker: string | null;
  /** Where the transfers came from: an ERC-20's Transfer logs (chain) or a StreamInbox stream (inbox). */
  source: "chain" | "inbox";
  workers: number;
  replication: number;
  checks: boolean;
  epochs: number;
  deltas: number;
  slashed: Slash[];
  withholding: Array<{ worker: string; reportedBy: string; epoch: string; missingGroups: number }>;
  /** Source deltas in the epochs' windows, of every source: the transfers and (with the join) the approvals. */
  deltasProcessed: number;
  /** Of which Approval logs (the join's second CHAIN source; 0 without the join). */
  approvalsProcessed: number;
  deltasExchanged: number;
  deltasPerSec: number;
  seconds: number;
  /** The output equals the direct computation, epoch by epoch (nothing wrong, nothing missing). */
  outputCorrect: boolean;
  /**
   * Per dataflow output, the records found right at their honest holders over all epochs:
   * `balances`; with the join `activity`, and `histogram` (the dataflow of two exchanges).
   */
  outputChecked: Record<string, number>;
  /** Values an honest worker reported as complete that are wrong: must stay empty in every run. */
  outputProblems: string[];
  /** (epoch, account) values that no honest holder reported complete (held back or lost, and said so). */
  outputIncomplete: string[];
  /**
   * Every execution dispute opened: its parties (A, B), the court's final outcome, and what
   * `maru-worker verify-dispute` said when the devnet ran it afterwards (exit code, the side it
   * found right, and the parties it found wrong).
   */
  disputes: Array<{
    id: string;
    epoch: string;
    parties: string[];
    outcome: string;
    verifyExit: number | null;
    verifyVerdict: string | null;
    wrong: string[];
  }>;
  /**
   * Times whose replicas' copies differed, as the honest receivers reported them: the holders whose
   * copies took part, those whose copy differed from what the receiver computed itself (`wrong`),
   * and how many times the receiver held back because it could not compute them.
   */
  disagreements: Array<{
    reportedBy: string;
    epoch: string;
    count: number;
    holders: string[];
    wrong: string[];
    heldBack: number;
  }>;
  accounts: number;
  cheatToSlashMs: number | null;
  perWorker: Array<{
    worker: string;
    role: string;
    exitCode: number | null;
    epochs: number;
    sourceDeltas: number;
    sentBatches: number;
    sentDeltas: number;
    acceptedDeltas: number;
    rejectedBatches: number;
    verifyMs: number;
    evidence: Array<{ worker: string; fault: string; status: string }>;
    /** Its dispute actions, e.g. "opened", "committed A", "revealed A", "settled A", "claimed". */
    disputes: string[];
    /** In the token's base units (wei), for machines. */
    stakeLost: string;
    /** The same in token units, as a person reads it ("150 tMARU"). */
    stakeLostTokens: string;
    /** Peak resident memory of its process, in MiB (null: no report). */
    maxRssMiB: number | null;
    /** The longest its event loop was held up, in ms (null: no report). */
    maxEventLoopDelayMs: number | null;
    /** CPU time of its process, operator threads included, in ms (null: no report). */
    cpuMs: number | null;
    /** Epochs that took over the previous epoch's state, the state deltas it handed over, and the ms it spent building and queueing them. */
    handoffEpochs: number;
    handoffDeltas: number;
    handoffMs: number;
    /** Epochs whose second exchange ran here, the deltas it sent, and the time from its start to its end notices. */
    secondStageEpochs: number;
    secondStageDeltas: number;
    secondStageMs: number;
  }>;
  expectations: { met: boolean; failures: string[] };
};

/** The sum in a `balances` record: key (20 bytes) ‖ sum (i64 big-endian). */

/** What the chain says one epoch held: its transfers (by inbox event) and where its output keys live. */
export type EpochTruth = {
  epoch: number;
  transfers: Transfer[];
  /** The owner of each of the token's Approval logs in the epoch's window (CHAIN source). */
  approvals: string[];
  /** The shard of an account's `balances` record in this epoch (its randomness and set size). */
  shardOf(account: string): number;
  /** The shard of a bucket's `balance_histogram` record in this epoch (when the histogram runs). */
  shardOfBucket?(bucket: bigint): number;
};

/** What {@link checkOutput} found. */
export type OutputCheck = {
  /** No wrong value and nothing missing: the output equals the direct computation. */
  correct: boolean;
  /**
   * Values a worker reported as complete that differ from the direct computation of their epoch:
   * silently wrong output, which must never happen.
   */
  problems: string[];
  /**
   * (epoch, account) values (for the histogram, (epoch, bucket), named as such) no honest holder
   * reported complete: held back or lost, and said so.
   */
  incomplete: string[];
  accounts: number;
  /** Per dataflow output ("balances", "activity", "histogram"): the records found right at their honest holders, over all epochs. */
  checked: Record<string, number>;
};

/**
 * The dataflow's output, judged per epoch and per worker: every honest worker's epoch report that
 * does not say it is incomplete must hold, for every account of the shards it held, exactly the
 * running balance after that epoch (and, with the join, each account's balance, transfers sent and
 * approvals given), computed directly from the transfers and approvals the chain put in it and
 * every epoch before it (the balances' state is handed from epoch to epoch, docs/protocol.md §9),
 * and nothing else. An epoch after the first whose report says no state was due is wrong. An
 * (epoch, account) whose every honest holder reported its output incomplete is `incomplete`, not
 * wrong: the worker said so. (A graph without stateful operators is judged per epoch.)
 */
export function checkOutput(
  reports: WorkerReport[],
  honest: Set<string>,
  truth: EpochTruth[],
  options: { activity?: boolean; histogram?: boolean } = {},
): OutputCheck {
  const problems: string[] = [];
  const incomplete: string[] = [];
  const accounts = new Set<string>();
  const checked: Record<string, number> = {};
  const stateful = reports.some((r) => r.epochs.some((e) => e.handoff !== undefined));
  const sorted = [...truth].sort((x, y) => x.epoch - y.epoch);
  const upTo: Transfer[] = [];
  const approvedUpTo: string[] = [];
  for (const [i, t] of sorted.entries()) {
    upTo.push(...t.transfers);
    approvedUpTo.push(...t.approvals);
    const transfers = stateful ? upTo : t.transfers;
    const approvals = stateful ? approvedUpTo : t.approvals;
    // Each dataflow's expected records, by account: the balances, and the join's (balance, sent, approvals).
    const balances = balancesOf(transfers);
    const expected = new Map<string, Map<string, string>>([
      [OUTPUT_STREAM, new Map([...balances].map(([a, v]) => [a, balanceRecord(a, v)]))],
    ]);
    if (options.activity) {
      const sent = sentOf(transfers);
      const approved = countOf(approvals);
      const activity = new Map<string, string>();
      for (const a of new Set([...balances.keys(), ...sent.keys(), ...approved.keys()]))
        activity.set(a, activityRecord(a, balances.get(a) ?? 0n, sent.get(a) ?? 0n, approved.get(a) ?? 0n));
      expected.set(ACTIVITY_STREAM, activity);
    }
    if (options.histogram)
      expected.set(
        HISTOGRAM_STREAM,
        new Map([...histogramOf(balances)].map(([b, n]) => [bucketKey(b), histogramRecord(b, n)])),
      );
    for (const a of balances.keys()) accounts.add(a);
    const holdersOf = new Map<number, Array<{ worker: string; ep: EpochReport | undefined }>>();
    for (const r of reports) {
      if (!honest.has(r.worker)) continue;
      const ep = r.epochs.find((x) => x.epoch === String(t.epoch));
      if (!ep) continue;
      for (const s of ep.shards) holdersOf.set(s, [...(holdersOf.get(s) ?? []), { worker: r.worker, ep }]);
      if (stateful && i > 0 && !ep.handoff?.due)
        problems.push(`epoch ${t.epoch}: ${r.worker} did not take over the state of epoch ${sorted[i - 1].epoch}`);
      // Every holder reads the whole window of every source stream (it needs every delta's shard).
      const inWindow = t.transfers.length + t.approvals.length;
      if (ep.sourceRead !== inWindow)
        problems.push(
          `epoch ${t.epoch}: ${r.worker} read ${ep.sourceRead} source deltas, the chain holds ${inWindow} (${t.approvals.length} approvals)`,
        );
      for (const [stream, want] of expected) {
        if (!completeFor(ep, stream)) continue;
        for (const [data, mult] of Object.entries(ep.output[stream] ?? {})) {
          const account = keyOf(stream, data);
          if (mult !== "1") problems.push(`epoch ${t.epoch}: ${account} has multiplicity ${mult} at ${r.worker}`);
          const record = want.get(account);
          if (data !== record)
            problems.push(
              `epoch ${t.epoch}: ${r.worker} says ${describe(stream, data)}, the direct computation ${record ? describe(stream, record) : "nothing"}`,
            );
        }
      }
    }
    for (const [stream, want] of expected)
      for (const [account, record] of want) {
        const shard =
          stream === HISTOGRAM_STREAM ? t.shardOfBucket!(BigInt.asIntN(64, BigInt(account))) : t.shardOf(account);
        const holders = holdersOf.get(shard) ?? [];
        const complete = holders.filter(({ ep }) => ep && completeFor(ep, stream));
        if (complete.length === 0) {
          incomplete.push(
            `epoch ${t.epoch}: ${stream === HISTOGRAM_STREAM ? `histogram bucket ${BigInt.asIntN(64, BigInt(account))}` : stream === OUTPUT_STREAM ? account : `${nameOf(stream)} ${account}`} (no honest holder's output of the epoch is complete)`,
          );
          continue;
        }
        for (const { worker, ep } of complete)
          if (!(ep!.output[stream] ?? {})[record])
            problems.push(
              `epoch ${t.epoch}: ${worker} holds ${account}'s shard but does not report ${describe(stream, record)}`,
            );
          else checked[nameOf(stream)] = (checked[nameOf(stream)] ?? 0) + 1;
      }
  }
  return {
    correct: problems.length === 0 && incomplete.length === 0,
    problems,
    incomplete,
    accounts: accounts.size,
    checked,
  };
}

/**
 * Whether a worker's epoch output of `stream` is complete: as its report says per stream (an output
 * is as complete as the exchange it comes out of), or for the whole epoch in a report without that.
 */
function completeFor(ep: EpochReport, stream: string): boolean {
  return ep.incompleteOutputs
    ? !ep.incompleteOutputs.includes(stream)
    : ep.operatorsStopped === 0 && !ep.outputIncomplete;
}

/** A sample output's short name (a function: sample.ts and this module import each other). */
const nameOf = (stream: string) =>
  stream === HISTOGRAM_STREAM ? "histogram" : stream === ACTIVITY_STREAM ? "activity" : "balances";

/** The key of a sample record: its account, or for the histogram its bucket (8 bytes), as lower-case hex. */
function keyOf(stream: string, data: string): string {
  return `0x${data.replace(/^0x/, "").slice(0, stream === HISTOGRAM_STREAM ? 16 : 40)}`;
}

/** A bucket's key as the histogram's records start with it (i64, big-endian). */
export const bucketKey = (bucket: bigint) => `0x${BigInt.asUintN(64, bucket).toString(16).padStart(16, "0")}`;

/** The histogram's record: bucket ‖ number of accounts (each i64), lower-case hex. */
export function histogramRecord(bucket: bigint, accounts: bigint): string {
  return `${bucketKey(bucket)}${BigInt.asUintN(64, accounts).toString(16).padStart(16, "0")}`;
}

/**
 * The third dataflow computed directly: how many accounts hold a balance of each bit length
 * (negative below zero; a zero balance is in no bucket), as balance_buckets and count_by_bucket do.
 */
export function histogramOf(balances: Map<string, bigint>): Map<bigint, bigint> {
  const out = new Map<bigint, bigint>();
  for (const v of balances.values()) {
    if (v === 0n) continue;
    const bits = BigInt((v < 0n ? -v : v).toString(2).length);
    const b = v < 0n ? -bits : bits;
    out.set(b, (out.get(b) ?? 0n) + 1n);
  }
  return out;
}

/** A sample record in words: a balance, the join's balance, transfers sent and approvals given, or a bucket's count. */
function describe(stream: string, data: string): string {
  const hex = data.replace(/^0x/, "");
  const i64 = (from: number) => BigInt.asIntN(64, BigInt(`0x${hex.slice(from, from + 16)}`));
  const account = `0x${hex.slice(0, 40)}`;
  if (stream === HISTOGRAM_STREAM) return `${i64(16)} accounts hold balances of bit length ${i64(0)}`;
  return stream === ACTIVITY_STREAM
    ? `${account} holds ${i64(40)} after ${i64(56)} transfers sent and ${i64(72)} approvals given`
    : `${account} holds ${i64(40)}`;
}

/** The join's record for an account: key (20 bytes) ‖ balance ‖ transfers sent ‖ approvals given (each i64), lower-case hex. */
export function activityRecord(account: string, balance: bigint, sent: bigint, approvals: bigint): string {
  const word = (v: bigint) => BigInt.asUintN(64, v).toString(16).padStart(16, "0");
  return `0x${account.replace(/^0x/, "").toLowerCase()}${word(balance)}${word(sent)}${word(approvals)}`;
}

/** How many times each account appears (lower case). */
function countOf(accounts: string[]): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const a of accounts) out.set(a.toLowerCase(), (out.get(a.toLowerCase()) ?? 0n) + 1n);
  return out;
}

/** Transfers sent per account (zeros left out). */
export function sentOf(transfers: Transfer[]): Map<string, bigint> {
  return countOf(transfers.map((t) => t.from));
}

/** The `balances` record for an account: key (20 bytes) ‖ sum (i64 big-endian), lower-case hex. */
export function balanceRecord(account: string, sum: bigint): string {
  const u = sum < 0n ? sum + (1n << 64n) : sum;
  return `0x${account.replace(/^0x/, "").toLowerCase()}${u.toString(16).padStart(16, "0")}`;
}

/**
 * What a run must show: never a wrong value in any honest worker's complete output, and nothing
 * missing; the cheater (and only it) slashed for its lie, or nobody. With `wrong-output` the
 * honest receivers must also find the cheater's copies differing, compute those times themselves
 * and name the cheater (alone) as the holder whose copy was wrong; the dispute they open is decided
 * by the jury and the cheater is slashed for EXECUTION.
 */
export function checkExpectations(r: Omit<DevnetReport, "expectations">): { met: boolean; failures: string[] } {
  const failures: string[] = [];
  if (r.outputProblems.length > 0) failures.push(`the output is wrong: ${r.outputProblems.slice(0, 3).join("; ")}`);
  // A withholder stays a live holder: the state of its shards rests on one copy in the epoch after
  // (used, and said so) and is not handed on after that (docs/protocol.md §9), so from the third
  // epoch on the output is incomplete there, and says so. The second exchange runs only over state
  // its holders vouch for, so the histogram is incomplete there from the second epoch. Anywhere
  // else, nothing may be missing.
  const expectedGap = (line: string) => {
    const epoch = Number(/^epoch (\d+)/.exec(line)?.[1]);
    return r.byzantine === "withhold" && (epoch >= 3 || (epoch === 2 && line.startsWith("epoch 2: histogram ")));
  };
  const missing = r.outputIncomplete.filter((line) => !expectedGap(line));
  if (missing.length > 0) failures.push(`the output is incomplete: ${missing.slice(0, 3).join("; ")}`);
  const blamed = [...new Set(r.disagreements.flatMap((d) => d.wrong))];
  if (r.byzantine === "wrong-output") {
    if (!r.disagreements.some((d) => d.holders.includes(r.byzantineWorker!)))
      failures.push("no honest receiver reported the cheater's copies disagreeing with its co-holders'");
  } else if (r.disagreements.length > 0)
    failures.push(
      `replicas disagreed without a wrong-output cheater: ${r.disagreements
        .slice(0, 3)
        .map((d) => `${d.reportedBy} in epoch ${d.epoch}`)
        .join(", ")}`,
    );
  for (const d of r.disputes) {
    if (d.verifyExit !== 0) failures.push(`verify-dispute ${d.id} exited ${d.verifyExit}`);
    else if (d.wrong.length !== 1 || d.wrong[0] !== r.byzantineWorker)
      failures.push(`verify-dispute ${d.id} found wrong ${d.wrong.join(", ") || "nobody"}, not the cheater alone`);
    const honestSide = d.parties[0] === r.byzantineWorker ? "B" : "A";
    if (d.outcome !== honestSide && d.outcome !== "draw")
      failures.push(`dispute ${d.id} ended ${d.outcome}, against the honest party`);
  }
  if (r.byzantine === "wrong-output" && !r.disputes.some((d) => d.outcome !== "draw"))
    failures.push("no dispute against the wrong-output cheater was decided");
  const framed = blamed.filter((w) => w !== r.byzantineWorker);
  if (framed.length > 0) failures.push(`honest workers' copies were found wrong: ${framed.join(", ")}`);
  const others = r.slashed.filter((s) => s.worker !== r.byzantineWorker);
  if (others.length > 0) failures.push(`honest workers were slashed: ${others.map((s) => s.worker).join(", ")}`);
  if (r.byzantine && r.byzantine !== "withhold") {
    const fault = FAULT_OF_MODE[r.byzantine as ByzantineMode];
    if (!r.slashed.some((s) => s.worker === r.byzantineWorker && s.fault === fault)) {
      // What the honest guards did about it, to tell a lie nobody saw from evidence the chain refused.
      const evidence = r.perWorker
        .flatMap((w) => w.evidence.map((e) => `${w.worker.slice(0, 10)}: ${e.fault} ${e.status}`))
        .join("; ");
      failures.push(`the cheater was not slashed for ${fault} (evidence: ${evidence || "none submitted"})`);
    }
  }
  if (r.byzantine === "withhold") {
    if (r.slashed.length > 0) failures.push("withholding is not provable on-chain, yet someone was slashed");
    if (!r.withholding.some((w) => w.worker === r.byzantineWorker))
      failures.push("no honest worker reported the withholding worker");
  }
  const wronglyAccused = r.withholding.filter((w) => w.worker !== r.byzantineWorker);
  if (wronglyAccused.length > 0)
    failures.push(`honest workers reported as withholding: ${wronglyAccused.map((w) => w.worker).join(", ")}`);
  if (r.chaos) {
    if (r.restarts.length === 0) failures.push("chaos: no worker was killed and restarted");
    if (r.reorgs.length === 0) failures.push("chaos: the chain was not reorganised");
    if (r.floods.length === 0) failures.push("chaos: no worker was flooded");
    for (const f of r.floods)
      if (f.connected || f.refusedByWorker === 0)
        failures.push(
          `chaos: the flooding non-member ${f.connected ? "got a connection" : "was not refused by the worker"}`,
        );
  }
  const crashed = r.perWorker.filter((w) => w.exitCode !== 0);
  if (crashed.length > 0) failures.push(`workers did not exit cleanly: ${crashed.map((w) => w.worker).join(", ")}`);
  return { met: failures.length === 0, failures };
}

/** The summary table, as text. */
export function summaryTable(r: DevnetReport): string {
  const short = (a: string) => `${a.slice(0, 6)}…${a.slice(-4)}`;
  const rows = [
    [
      "worker",
      "role",
      "epochs",
      "source",
      "sent (batches/deltas)",
      "accepted",
      "rejected",
      "evidence",
      "disputes",
      "stake lost",
      "peak RSS",
      "longest loop delay",
    ],
    ...r.perWorker.map((w) => [
      short(w.worker),
      w.role,
      String(w.epochs),
      String(w.sourceDeltas),
      `${w.sentBatches}/${w.sentDeltas}`,
      String(w.acceptedDeltas),
      String(w.rejectedBatches),
      w.evidence.map((e) => `${e.fault}:${e.status}`).join(" ") || "-",
      w.disputes.join(" ") || "-",
      w.stakeLostTokens,
      w.maxRssMiB === null ? "-" : `${w.maxRssMiB} MiB`,
      w.maxEventLoopDelayMs === null ? "-" : `${w.maxEventLoopDelayMs} ms`,
    ]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const line = (row: string[]) => row.map((c, i) => c.padEnd(widths[i])).join("  ");
  const out = [line(rows[0]), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(line)];
  out.push("");
  out.push(
    `deltas: ${r.deltasProcessed} source${r.approvalsProcessed ? ` (${r.approvalsProcessed} of them approvals)` : ""}, ${r.deltasExchanged} exchanged; ${r.deltasPerSec.toFixed(1)} source deltas/s over ${r.seconds.toFixed(1)} s (checks ${r.checks ? "on" : "off"})`,
  );
  const verdict = r.outputCorrect
    ? "correct"
    : r.outputProblems.length > 0
      ? "WRONG"
      : `incomplete (${r.outputIncomplete.length} account-epochs held back or lost, and reported so; nothing wrong)`;
  const dataflows = [
    "running balances",
    ...(r.outputChecked.activity
      ? ["balances joined with transfers sent and (a second CHAIN source) approvals given"]
      : []),
    ...(r.outputChecked.histogram ? ["a histogram of the balances by bit length (two exchanges)"] : []),
  ].join("; ");
  out.push(`output: ${verdict} (${dataflows} of ${r.accounts} accounts, checked after each of ${r.epochs} epochs)`);
  if (r.disagreements.length > 0)
    out.push(
      `replicas disagreed: ${r.disagreements.reduce((x, d) => x + d.count, 0)} times, reported by ${new Set(r.disagreements.map((d) => short(d.reportedBy))).size} worker(s), who computed them again and found wrong the copies of ${[...new Set(r.disagreements.flatMap((d) => d.wrong))].map(short).join(", ") || "nobody"}`,
    );
  out.push(
    `slashed: ${r.slashed.length === 0 ? "nobody" : r.slashed.map((s) => `${short(s.worker)} for ${s.fault} (${s.amountTokens})`).join(", ")}`,
  );
  if (r.withholding.length > 0)
    out.push(
      `withholding (not provable on-chain): ${[...new Set(r.withholding.map((w) => short(w.worker)))].join(", ")}`,
    );
  for (const d of r.disputes)
    out.push(
      `dispute about epoch ${d.epoch} (${short(d.parties[0])} vs ${short(d.parties[1])}): outcome ${d.outcome}; verify-dispute: ${d.verifyExit === 0 ? `${d.verifyVerdict} right, ${d.wrong.map(short).join(", ")} wrong` : `exit ${d.verifyExit}`}`,
    );
  if (r.cheatToSlashMs !== null) out.push(`cheat → slash: ${r.cheatToSlashMs} ms`);
  if (r.chaos) {
    const restarted = [...new Set(r.restarts.map((x) => short(x.worker)))];
    const slashedHonest = (w: string) => r.slashed.some((s) => s.worker === w);
    for (const x of r.restarts)
      out.push(
        `survived: ${short(x.worker)} killed (SIGKILL) ${x.when} and restarted: ${slashedHonest(x.worker) ? "SLASHED" : "not slashed"}`,
      );
    for (const x of r.reorgs)
      out.push(
        `survived: reorg of blocks ${x.fromBlock}-${x.toBlock} (depth ${x.depth}, ${x.txsReincluded} transactions mined again): ${r.slashed.filter((s) => s.worker !== r.byzantineWorker).length === 0 ? "nobody honest slashed" : "an honest worker was SLASHED"}`,
      );
    for (const x of r.floods)
      out.push(
        `survived: a non-member flooded ${short(x.worker)}: ${x.refusedByWorker} connections refused by the worker, ${x.connected ? "it CONNECTED" : "it never connected"}`,
      );
    if (restarted.length === 0) out.push("chaos: nothing was restarted");
  }
  out.push(r.expectations.met ? "expectations: met" : `expectations: NOT met: ${r.expectations.failures.join("; ")}`);
  return out.join("\n");
}
