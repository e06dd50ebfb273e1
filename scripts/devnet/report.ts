// What the devnet reports: the workers' own reports and the chain's Slashed events, put together
// into one JSON document and a table, and checked against what a run must show.
import type { CheatRecord, EpochReport } from "../../worker/engine/report.js";
import type { EvidenceRecord } from "../../worker/guard/evidence.js";
import { FAULT_OF_MODE, type ByzantineMode } from "../../worker/adversary/modes.js";
import { balancesOf, OUTPUT_STREAM, type Transfer } from "./sample.js";

/** The report file a worker writes (maru-worker --report). */
export type WorkerReport = {
  worker: string;
  byzantine: string | null;
  checks: boolean;
  startedAt: number;
  stoppedAt: number;
  cheats: CheatRecord[];
  evidence: EvidenceRecord[];
  epochs: EpochReport[];
  /** What the transport refused (connections from non-members, messages, oversize, disconnects). */
  transport?: { refusedConnections: number; refusedMessages: number; oversize: number; disconnected: number };
};

export type Slash = { worker: string; epoch: string; fault: string; amount: string; reporter: string; txHash: string };

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
  workers: number;
  replication: number;
  checks: boolean;
  epochs: number;
  deltas: number;
  slashed: Slash[];
  withholding: Array<{ worker: string; reportedBy: string; epoch: string; missingGroups: number }>;
  deltasProcessed: number;
  deltasExchanged: number;
  deltasPerSec: number;
  seconds: number;
  outputCorrect: boolean;
  outputProblems: string[];
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
    stakeLost: string;
  }>;
  expectations: { met: boolean; failures: string[] };
};

/** The sum in a `balances` record: key (20 bytes) ‖ sum (i64 big-endian). */
function parseBalance(data: string): { account: string; sum: bigint } {
  const hex = data.replace(/^0x/, "");
  let sum = BigInt(`0x${hex.slice(40, 56)}`);
  if (sum >= 1n << 63n) sum -= 1n << 64n;
  return { account: `0x${hex.slice(0, 40)}`, sum };
}

/**
 * The dataflow's output, read from the honest workers: per epoch, every account's sum as the
 * holders of its shard report it (replicas must agree), summed over epochs (operator state starts
 * afresh each epoch), compared with the function computed directly over the transfers fed.
 */
export function checkOutput(
  reports: WorkerReport[],
  honest: Set<string>,
  transfers: Transfer[],
  epochs: number,
): { correct: boolean; problems: string[]; accounts: number } {
  const problems: string[] = [];
  const total = new Map<string, bigint>();
  for (let e = 1; e <= epochs; ++e) {
    const perEpoch = new Map<string, { sum: bigint; from: string }>();
    for (const r of reports) {
      if (!honest.has(r.worker)) continue;
      const ep = r.epochs.find((x) => x.epoch === String(e));
      if (!ep) {
        problems.push(`worker ${r.worker} has no report for epoch ${e}`);
        continue;
      }
      // Its output of the epoch is incomplete, and says so: an operator stopped, or announced
      // batches never arrived (a restarted worker whose peers had gone).
      if (ep.operatorsStopped > 0 || ep.outputIncomplete) continue;
      for (const [data, mult] of Object.entries(ep.output[OUTPUT_STREAM] ?? {})) {
        const { account, sum } = parseBalance(data);
        if (mult !== "1") problems.push(`epoch ${e}: ${account} has multiplicity ${mult} at ${r.worker}`);
        const seen = perEpoch.get(account);
        if (seen && seen.sum !== sum)
          problems.push(
            `epoch ${e}: replicas disagree on ${account}: ${seen.sum} (${seen.from}) vs ${sum} (${r.worker})`,
          );
        if (!seen) perEpoch.set(account, { sum, from: r.worker });
      }
    }
    for (const [account, { sum }] of perEpoch) total.set(account, (total.get(account) ?? 0n) + sum);
  }
  const expected = balancesOf(transfers);
  for (const [account, sum] of expected) {
    const got = total.get(account) ?? 0n;
    if (got !== sum) problems.push(`${account}: the dataflow says ${got}, the direct computation ${sum}`);
  }
  for (const [account, sum] of total) {
    if (sum !== 0n && !expected.has(account)) problems.push(`${account}: the dataflow says ${sum}, expected nothing`);
  }
  return { correct: problems.length === 0, problems, accounts: expected.size };
}

/** What a run must show: the cheater (and only it) slashed for its lie, or nobody; the output right. */
export function checkExpectations(r: Omit<DevnetReport, "expectations">): { met: boolean; failures: string[] } {
  const failures: string[] = [];
  if (!r.outputCorrect) failures.push(`the output is wrong: ${r.outputProblems.slice(0, 3).join("; ")}`);
  const others = r.slashed.filter((s) => s.worker !== r.byzantineWorker);
  if (others.length > 0) failures.push(`honest workers were slashed: ${others.map((s) => s.worker).join(", ")}`);
  if (r.byzantine && r.byzantine !== "withhold") {
    const fault = FAULT_OF_MODE[r.byzantine as ByzantineMode];
    if (!r.slashed.some((s) => s.worker === r.byzantineWorker && s.fault === fault))
      failures.push(`the cheater was not slashed for ${fault}`);
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
    ["worker", "role", "epochs", "source", "sent (batches/deltas)", "accepted", "rejected", "evidence", "stake lost"],
    ...r.perWorker.map((w) => [
      short(w.worker),
      w.role,
      String(w.epochs),
      String(w.sourceDeltas),
      `${w.sentBatches}/${w.sentDeltas}`,
      String(w.acceptedDeltas),
      String(w.rejectedBatches),
      w.evidence.map((e) => `${e.fault}:${e.status}`).join(" ") || "-",
      w.stakeLost,
    ]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const line = (row: string[]) => row.map((c, i) => c.padEnd(widths[i])).join("  ");
  const out = [line(rows[0]), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(line)];
  out.push("");
  out.push(
    `deltas: ${r.deltasProcessed} source, ${r.deltasExchanged} exchanged; ${r.deltasPerSec.toFixed(1)} source deltas/s over ${r.seconds.toFixed(1)} s (checks ${r.checks ? "on" : "off"})`,
  );
  out.push(`output: ${r.outputCorrect ? "correct" : "WRONG"} (${r.accounts} accounts, summed over ${r.epochs} epochs)`);
  out.push(
    `slashed: ${r.slashed.length === 0 ? "nobody" : r.slashed.map((s) => `${short(s.worker)} for ${s.fault} (${s.amount})`).join(", ")}`,
  );
  if (r.withholding.length > 0)
    out.push(
      `withholding (not provable on-chain): ${[...new Set(r.withholding.map((w) => short(w.worker)))].join(", ")}`,
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
