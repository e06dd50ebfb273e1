// npm run gov -- arbitrate: the arbitrator's one action in the execution-dispute court
// (docs/contracts/execution-disputes.md). It decides an appealed or undecided dispute within its
// window. The arbitrator is an account named at deployment (the governance multisig), not the
// timelock, so this sends directly (--send) or writes a Safe Transaction Builder batch
// (--safe-json) instead of scheduling. Before anything, it checks the dispute can be arbitrated now
// (stage, window, simulated as the arbitrator) and recomputes the disputed position as
// `maru-worker verify-dispute` does: an outcome that slashes someone must match that verdict,
// unless --against-verification says the arbitrator decided on other evidence. DRAW slashes
// nobody and needs no verification.
import type { Provider, Signer } from "ethers";
import { connectCourt, connectProtocol, decodeContractError, MaruError } from "../../client/index.js";
import { judge, readDispute } from "../../worker/disputes/judge.js";
import { readBook } from "../../worker/node/setup.js";
import { STAGE_NAMES as STAGES } from "../../worker/disputes/records.js";
import { safeBatch, safeTransaction, writeSafeBatch } from "./safe.js";

/** The outcomes the arbitrator may decide (IExecutionDisputes.Side). */
export const OUTCOMES = { A: 1, B: 2, NEITHER: 3, DRAW: 4 } as const;
export type Outcome = keyof typeof OUTCOMES;
const SIDES = ["none", "A", "B", "NEITHER", "DRAW"];

export type ArbitrateOptions = {
  id: bigint;
  outcome: Outcome;
  mode: "dry-run" | "send" | "safe-json";
  safeJson?: { file: string; safe?: string };
  gateway: string;
  cacheDir?: string;
  perDeltaMs: number;
  againstVerification: boolean;
};

/** Parses `--outcome`. */
export function parseOutcome(v: string): Outcome {
  const o = v.toUpperCase();
  if (!(o in OUTCOMES))
    throw new MaruError(`--outcome ${v} is not an outcome.`, {
      fix: "A (A was right: B is slashed), B, NEITHER (both are slashed) or DRAW (nobody is slashed).",
    });
  return o as Outcome;
}

export async function arbitrate(
  ctx: { provider: Provider; signer?: Signer; bookFile: string; log: (line: string) => void },
  o: ArbitrateOptions,
): Promise<void> {
  const { log } = ctx;
  const book = readBook(ctx.bookFile);
  const p = connectProtocol(book, ctx.signer ?? ctx.provider);
  const court = await connectCourt(p);
  const explain = (e: unknown) => decodeContractError(e, [court.interface, ...p.errorInterfaces]);
  const rules = await court.disputeRules();
  const [d, votes] = await court.disputeOf(o.id).catch((e: unknown) => {
    throw explain(e);
  });
  const stage = Number(d.stage);
  const current = await p.epochs.currentEpoch();
  const revealEnd = BigInt(d.drawEpoch) + BigInt(rules.commitEpochs) + BigInt(rules.revealEpochs);
  const end = revealEnd + BigInt(rules.appealEpochs) + BigInt(rules.arbitrationEpochs);
  log(
    `dispute ${o.id} about epoch ${d.epoch}: stage ${STAGES[stage]}, votes A ${votes[0]}, B ${votes[1]}, NEITHER ${votes[2]}; the arbitrator decides until epoch ${end} (a batch executed later reverts)`,
  );
  if (stage !== 1 && stage !== 2)
    throw new MaruError(`Dispute ${o.id} is ${STAGES[stage]}: there is nothing to arbitrate.`);
  if (current < revealEnd)
    throw new MaruError(`The jury of dispute ${o.id} votes until epoch ${revealEnd} (now ${current}).`, {
      fix: `arbitrate from epoch ${revealEnd}, if it is appealed or left undecided.`,
    });
  if (current >= end)
    throw new MaruError(`The arbitration window of dispute ${o.id} closed at epoch ${end} (now ${current}).`, {
      fix: "it ends as the jury decided, or as a draw: anyone can settle it now.",
    });
  const side = OUTCOMES[o.outcome];
  if (o.mode === "send") {
    const from = await ctx.signer!.getAddress();
    if (from.toLowerCase() !== rules.arbitrator.toLowerCase())
      throw new MaruError(`The account ${from} is not the court's arbitrator ${rules.arbitrator}.`, {
        fix: "send from the arbitrator (--from), or write a batch for its Safe with --safe-json <file>.",
      });
  }

  // Simulated as the arbitrator: the court's own refusal (e.g. a jury that decided and nobody appealed).
  await court
    .connect(ctx.provider)
    .arbitrate.staticCall(o.id, side, { from: rules.arbitrator })
    .catch((e: unknown) => {
      throw explain(e);
    });
  // What the recomputation says (what jurors vote).
  let verified: number | undefined;
  try {
    const j = await judge(p, await readDispute(p, court, o.id), o);
    verified = j.side;
    log(`verify-dispute: ${j.why}`);
    log(`verify-dispute: ${SIDES[j.side]} is right`);
  } catch (e) {
    log(`verify-dispute: cannot decide: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (o.outcome !== "DRAW" && verified !== side && !o.againstVerification)
    throw new MaruError(
      verified === undefined
        ? `The dispute cannot be recomputed here, and ${o.outcome} slashes someone.`
        : `${o.outcome} is not what the recomputation says (${SIDES[verified]}).`,
      {
        fix: `decide ${verified === undefined ? "DRAW" : SIDES[verified]}, or pass --against-verification if you decided on other evidence (the trace of the opening, a later-stage party's inputs).`,
      },
    );

  const courtAddress = await court.getAddress();
  if (o.mode === "dry-run") {
    log(`from: ${rules.arbitrator} (the arbitrator)`);
    log(`to: ${courtAddress}`);
    log(`data: ${court.interface.encodeFunctionData("arbitrate", [o.id, side])}`);
    log("sent nothing");
    return;
  }
  if (o.mode === "safe-json") {
    const safe = o.safeJson!.safe;
    if (safe && safe.toLowerCase() !== rules.arbitrator.toLowerCase())
      throw new MaruError(`The Safe ${safe} is not the court's arbitrator ${rules.arbitrator}.`, {
        fix: "open the batch in the arbitrator's Safe (or leave --safe out).",
      });
    const { chainId } = await ctx.provider.getNetwork();
    await writeSafeBatch(
      o.safeJson!.file,
      safeBatch({
        chainId,
        name: `Arbitrate dispute ${o.id}`,
        description: `ExecutionDisputes.arbitrate(${o.id}, ${o.outcome}) on ${courtAddress}`,
        safe: rules.arbitrator,
        transactions: [safeTransaction(court.interface, courtAddress, "arbitrate", [o.id, side])],
      }),
    );
    log(`wrote ${o.safeJson!.file}: load it in the Safe Transaction Builder of ${rules.arbitrator}`);
    return;
  }
  const tx = await court.arbitrate(o.id, side).catch((e: unknown) => {
    throw explain(e);
  });
  await tx.wait();
  log(`arbitrated dispute ${o.id}: ${o.outcome} (transaction ${tx.hash}); anyone can settle it now`);
}
