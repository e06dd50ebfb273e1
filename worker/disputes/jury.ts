// A worker's duties in the execution-dispute court (docs/contracts/execution-disputes.md), done on
// every poll of the epoch loop for each dispute about an epoch it was a member of:
//
// - juror (drawn, not a party): in the commit window it judges the dispute itself (./judge.ts: the
//   chain's inputs, the registered bytecode) and commits its vote, with a salt it can derive again
//   from its key alone (a restart with a lost disk can still reveal); in the reveal window it
//   reveals; once settled it claims its deposit and share. It does not vote on a dispute it cannot
//   decide (a later-stage position): a vote it cannot justify could only cost it its deposit.
// - party: when the jury's verdict goes against it and its own judgement says it was right, it
//   appeals (an honest holder is never slashed by a wrong jury without the arbitrator agreeing).
// - anyone involved: once the dispute is final, it settles it (the slash happens there).
//
// The juror's bond is topped up from the account's stake-token balance when it cannot cover the
// deposit; with no balance, the worker says so once and does not vote.
import type { Logger } from "pino";
import type { Wallet } from "ethers";
import type { Protocol } from "../../client/contracts.js";
import { ContractRevertError, decodeContractError } from "../../client/errors/contracts.js";
import { DisputeSide, jurorSalt, voteCommitment } from "../../client/evidence/disputes.js";
import { inBlockRanges } from "../../client/events/logRanges.js";
import type { ExecutionDisputes, IExecutionDisputes } from "../../typechain-types/index.js";
import { UndecidableError, judge, readDispute, type DisputeCase } from "./judge.js";
import type { readEpochWindow } from "../chain/source.js";
import { SIDE_NAMES, type DisputeRecord } from "./records.js";

/** IExecutionDisputes.Stage. */
const Stage = { NONE: 0, VOTING: 1, APPEALED: 2, ARBITRATED: 3, SETTLED: 4 } as const;

/** Epoch windows kept for judging. */
const WINDOWS_KEPT = 4;

/** Blocks behind the last scanned head that are scanned again for openings (reorgs). */
const RESCAN_BLOCKS = 12;

/** Deposits a juror's bond is topped up to at once (so that one transfer serves several disputes). */
const BOND_DEPOSITS = 4n;

type Duty = {
  id: bigint;
  epoch: bigint;
  myIndex: number;
  /** The block its DisputeOpened event was seen in. */
  openedAt: number;
  /** "A" or "B" when this worker is a party. */
  party?: "A" | "B";
  c?: DisputeCase;
  /** This worker's own verdict (undefined: not judged yet; null: it cannot decide). */
  side?: number | null;
  committed?: number;
  revealed?: boolean;
  appealChecked?: boolean;
  /** Whether what the court holds of this worker's vote was read (once, after a start or restart). */
  recovered?: boolean;
  /** The headers cannot be read from public data (opened through another contract). */
  unreadable?: boolean;
  done: boolean;
};

/** FraudProofs.Fault.EXECUTION. */
const EXECUTION = 5;

/** The court's mark of a vote whose pay was claimed. */
const CLAIMED = 255n;

export type JuryOptions = {
  p: Protocol;
  court: ExecutionDisputes;
  wallet: Wallet;
  log: Logger;
  gateway: string;
  cacheDir?: string;
  perDeltaMs: number;
};

/**
 * @example
 * ```ts
 * const jury = new Jury({ p, court, wallet, log, gateway, perDeltaMs });
 * await jury.tick(current); // on every poll
 * if (!jury.busy()) stop();
 * ```
 */
export class Jury {
  readonly records: DisputeRecord[] = [];
  private readonly duties = new Map<bigint, Duty>();
  private scannedTo: number;
  private rules?: IExecutionDisputes.DisputeRulesStructOutput;
  private readonly me: string;
  private noBondSaid = false;
  private readonly indexes = new Map<bigint, number | undefined>();
  /** Epoch windows read for judging, the newest few (several disputes about one epoch read it once). */
  private readonly windows = new Map<string, Promise<Awaited<ReturnType<typeof readEpochWindow>>>>();

  constructor(private readonly o: JuryOptions) {
    this.scannedTo = o.p.book.startBlock - 1;
    this.me = o.wallet.address.toLowerCase();
  }

  /** Disputes this worker still has something to do in (vote, appeal, settle, claim). */
  busy(): boolean {
    return [...this.duties.values()].some((d) => !d.done);
  }

  /** The epoch that was current when openings were last scanned up to the head (-1: never). */
  scannedIn = -1n;

  async tick(current: bigint): Promise<void> {
    const { court } = this.o;
    this.rules ??= await court.disputeRules();
    const head = await this.o.p.epochs.runner!.provider!.getBlockNumber();
    if (head > this.scannedTo) {
      // A few blocks scanned again each time: an opening a reorg moved into them is not missed.
      const opened = await inBlockRanges(
        (f, t) => court.queryFilter(court.filters.DisputeOpened(), f, t),
        Math.max(this.o.p.book.startBlock, this.scannedTo + 1 - RESCAN_BLOCKS),
        head,
      );
      for (const e of opened)
        await this.take(BigInt(e.args.id), BigInt(e.args.epoch), e.args.partyA, e.args.partyB, e.blockNumber);
      this.scannedTo = head;
    }
    this.scannedIn = current;
    for (const duty of this.duties.values()) {
      if (duty.done) continue;
      try {
        await this.step(duty, current);
      } catch (e) {
        const err = decodeContractError(e, [court.interface, this.o.p.epochs.interface]);
        if (err instanceof ContractRevertError && err.errorName === "DisputeUnknown") {
          // The node that answered has not the opening (a reorg, or a node behind the one that
          // served the log): forget it and scan from its block again; it comes back if it exists.
          this.duties.delete(duty.id);
          this.scannedTo = Math.min(this.scannedTo, duty.openedAt - 1);
          continue;
        }
        const reason = err.message.split("\n")[0];
        this.o.log.warn({ id: duty.id.toString(), reason }, "dispute duty failed, retrying on the next poll");
      }
    }
  }

  /** A dispute opened: a duty when this worker was a member of the disputed epoch. */
  private async take(id: bigint, epoch: bigint, partyA: string, partyB: string, openedAt: number): Promise<void> {
    if (this.duties.has(id)) return;
    const myIndex = await this.indexIn(epoch);
    if (myIndex === undefined) return;
    const party = partyA.toLowerCase() === this.me ? "A" : partyB.toLowerCase() === this.me ? "B" : undefined;
    this.duties.set(id, { id, epoch, myIndex, party, openedAt, done: false });
    this.o.log.info(
      { id: id.toString(), epoch: epoch.toString(), party: party ?? null },
      "dispute opened about an epoch this worker was in",
    );
  }

  /**
   * This worker's index in `epoch`'s set, or undefined when not a member. EpochManager.indexOf
   * answers only for a worker's two latest commit records, so an older epoch is searched in its
   * member list (once per epoch).
   */
  private async indexIn(epoch: bigint): Promise<number | undefined> {
    if (this.indexes.has(epoch)) return this.indexes.get(epoch);
    const { epochs } = this.o.p;
    let index: number | undefined;
    try {
      index = Number(await epochs.indexOf(epoch, this.me));
    } catch (e) {
      const err = decodeContractError(e, [epochs.interface]);
      if (!(err instanceof ContractRevertError)) throw e;
      if (err.errorName === "EpochIndexUnavailable") {
        const [n] = await epochs.assignment(epoch);
        for (let i = 0; i < Number(n) && index === undefined; ++i)
          if ((await epochs.workerAt(epoch, i)).toLowerCase() === this.me) index = i;
      }
    }
    this.indexes.set(epoch, index);
    return index;
  }

  private async step(duty: Duty, current: bigint): Promise<void> {
    const { court } = this.o;
    const rules = this.rules!;
    const [d] = await court.disputeOf(duty.id);
    const stage = Number(d.stage);
    const commitFrom = BigInt(d.drawEpoch);
    const revealFrom = commitFrom + BigInt(rules.commitEpochs);
    const revealEnd = revealFrom + BigInt(rules.revealEpochs);
    const appealEnd = revealEnd + BigInt(rules.appealEpochs);
    const arbitrationEnd = appealEnd + BigInt(rules.arbitrationEpochs);
    if (!duty.recovered) await this.recover(duty);
    if (stage === Stage.SETTLED) {
      await this.claim(duty);
      duty.done = true;
      return;
    }
    if (!duty.party && duty.committed === undefined) {
      if (current >= revealFrom) {
        duty.done = true; // the commit window passed before this worker could vote
        return;
      }
      if (current < commitFrom) return; // the draw's randomness is not set yet
      if (!(await court.isJuror(duty.id, duty.myIndex))) {
        duty.done = true; // not drawn: nothing to do
        return;
      }
      const side = await this.verdict(duty);
      if (side === null || (await this.alreadyPunished(duty, side))) {
        duty.done = true;
        return;
      }
      if (!(await this.ensureBond(rules.jurorDeposit, rules.appealBond))) return;
      const salt = await jurorSalt(this.o.wallet, duty.id, duty.myIndex);
      // Judging may have taken a while: a commit mined once reveals are open would be void.
      if ((await this.o.p.epochs.currentEpoch()) >= revealFrom) {
        duty.done = true;
        return;
      }
      try {
        const tx = await court.commitVote(
          duty.id,
          duty.myIndex,
          voteCommitment(duty.id, duty.myIndex, side as DisputeSide, salt),
        );
        await tx.wait();
        duty.committed = side;
        this.record(duty, { action: "committed", side: SIDE_NAMES[side], txHash: tx.hash });
      } catch (e) {
        // A commit of an earlier life of this process landed meanwhile: read it back next time.
        duty.recovered = false;
        throw e;
      }
    }
    if (
      duty.committed !== undefined &&
      duty.committed > 0 &&
      !duty.revealed &&
      current >= revealFrom &&
      current < revealEnd
    ) {
      const salt = await jurorSalt(this.o.wallet, duty.id, duty.myIndex);
      let tx;
      try {
        tx = await court.revealVote(duty.id, duty.myIndex, duty.committed, salt);
        await tx.wait();
      } catch (e) {
        const err = decodeContractError(e, [court.interface]);
        if (!(err instanceof ContractRevertError) || err.errorName !== "DisputeLateCommit") throw e;
        // The commit landed once reveals were open: void. Its deposit goes back to the bond.
        await (await court.reclaimVoidCommit(duty.id, duty.myIndex)).wait();
        this.record(duty, { action: "refused", reason: "the commit landed too late (void): deposit reclaimed" });
        duty.done = true;
        return;
      }
      duty.revealed = true;
      this.record(duty, { action: "revealed", side: SIDE_NAMES[duty.committed], txHash: tx.hash });
    }
    if (!duty.party && !duty.revealed && current >= revealEnd) duty.done = true; // missed: the deposit burns
    if (duty.party && stage === Stage.VOTING && !duty.appealChecked && current >= revealEnd && current < appealEnd)
      await this.maybeAppeal(duty, rules.appealBond);
    if (current >= revealEnd && (stage === Stage.VOTING || stage === Stage.APPEALED || stage === Stage.ARBITRATED)) {
      const c = await this.caseOf(duty).catch((e: Error) => {
        if (current < arbitrationEnd + 2n) throw e;
        this.o.log.error(
          { id: duty.id.toString(), error: e.message },
          "cannot read the dispute to settle it: leaving it to others",
        );
        return undefined;
      });
      if (c) await this.settle(duty, c);
      else if (current >= arbitrationEnd) duty.done = true; // nothing this worker can settle with
    }
  }

  /**
   * Whether every party the juror's verdict would slash is already slashed for EXECUTION in the
   * disputed epoch: the dispute can slash nobody new, so a juror spends nothing on it (this keeps
   * two colluders from keeping jurors busy after their first slash, without letting a liar paired
   * with an already slashed colluder escape).
   */
  private async alreadyPunished(duty: Duty, side: number): Promise<boolean> {
    const [d] = await this.o.court.disputeOf(duty.id);
    const losers = side === DisputeSide.A ? [d.bIndex] : side === DisputeSide.B ? [d.aIndex] : [d.aIndex, d.bIndex];
    for (const index of losers) {
      // By index: EpochManager.indexOf (and so FraudProofs.punished) cannot answer for old epochs.
      const faults = Number(await this.o.p.epochs.faultsAt(duty.epoch, index));
      if (((faults >> EXECUTION) & 1) === 0) return false;
    }
    this.record(duty, { action: "not-voting", reason: `already slashed for execution in epoch ${duty.epoch}` });
    return true;
  }

  /** The dispute's headers, read once; undefined (recorded) when they cannot be read from public data. */
  private async caseOf(duty: Duty): Promise<DisputeCase | undefined> {
    if (duty.c || duty.unreadable) return duty.c;
    try {
      duty.c = await readDispute(this.o.p, this.o.court, duty.id);
    } catch (e) {
      if (!(e instanceof UndecidableError)) throw e;
      duty.unreadable = true;
      this.record(duty, { action: "not-voting", reason: e.message });
    }
    return duty.c;
  }

  /**
   * What the court already holds of this worker's vote (a restarted worker, its memory lost): a
   * commitment (the side is found by trying each against it, with the salt derived again from the
   * key), a revealed side, or a claim. Without this a restarted juror would commit again and fail.
   */
  private async recover(duty: Duty): Promise<void> {
    const held = BigInt(await this.o.court.voteOf(duty.id, duty.myIndex, this.me));
    duty.recovered = true;
    if (held === 0n) return;
    if (held === CLAIMED) {
      duty.committed = 0;
      duty.revealed = true;
      return;
    }
    if (held <= 3n) {
      duty.committed = Number(held);
      duty.revealed = true;
      return;
    }
    const salt = await jurorSalt(this.o.wallet, duty.id, duty.myIndex);
    for (const side of [DisputeSide.A, DisputeSide.B, DisputeSide.NEITHER])
      if (BigInt(voteCommitment(duty.id, duty.myIndex, side, salt)) >> 64n === held >> 64n) duty.committed = side;
    if (duty.committed === undefined)
      this.o.log.warn(
        { id: duty.id.toString() },
        "a commitment is held for this worker that its key did not make: not revealing",
      );
    duty.committed ??= -1;
  }

  /** This worker's own verdict, judged once; null when it cannot decide (it then does not vote). */
  private async verdict(duty: Duty): Promise<number | null> {
    if (duty.side !== undefined) return duty.side;
    const c = await this.caseOf(duty);
    if (!c) return (duty.side = null);
    try {
      while (this.windows.size >= WINDOWS_KEPT) this.windows.delete(this.windows.keys().next().value!);
      const j = await judge(this.o.p, c, { ...this.o, windows: this.windows });
      this.o.log.info({ id: duty.id.toString(), side: SIDE_NAMES[j.side], why: j.why }, "dispute judged");
      duty.side = j.side;
    } catch (e) {
      if (!(e instanceof UndecidableError)) throw e;
      this.record(duty, { action: "not-voting", reason: e.message });
      duty.side = null;
    }
    return duty.side;
  }

  /**
   * A party appeals a verdict against it unless its own judgement says it was wrong: when it
   * cannot judge (the headers or the operator fail it here), it appeals, and the arbitrator decides.
   */
  private async maybeAppeal(duty: Duty, bond: bigint): Promise<void> {
    const mine = duty.party === "A" ? DisputeSide.A : DisputeSide.B;
    // Any failure to judge (a gateway down, an RPC error) counts as "cannot judge": appeal.
    const own = await this.verdict(duty).catch((e: Error) => {
      this.o.log.warn({ id: duty.id.toString(), error: e.message }, "cannot judge the dispute: appealing anyway");
      return null;
    });
    if (own !== null && own !== mine) {
      duty.appealChecked = true;
      return;
    }
    try {
      await this.o.court.appeal.staticCall(duty.id);
    } catch (e) {
      const err = decodeContractError(e, [this.o.court.interface]);
      if (err instanceof ContractRevertError) {
        if (err.errorName !== "DisputeNotAppellant") throw e;
        duty.appealChecked = true; // the verdict is for this worker (or undecided)
        return;
      }
      // Not the court's refusal: the bond's transfer (no allowance yet), approved below.
    }
    const balance = await this.o.p.token.balanceOf(this.me);
    if (balance < bond) {
      // Loud, and again on every poll while the window lasts: this is the honest worker's own stake.
      this.o.log.error(
        { id: duty.id.toString(), bond: bond.toString(), balance: balance.toString() },
        "the jury's verdict goes against this worker, which computed right: appealing needs the appeal bond in stake tokens; send them to the account now (the appeal window closes at the end of the epoch)",
      );
      return;
    }
    await this.approve(bond);
    const tx = await this.o.court.appeal(duty.id);
    await tx.wait();
    duty.appealChecked = true;
    this.record(duty, { action: "appealed", txHash: tx.hash });
  }

  /** Settles once final (any involved worker may: the first succeeds, the others see it settled). */
  private async settle(duty: Duty, c: DisputeCase): Promise<void> {
    const { a, b } = c;
    try {
      await this.o.court.settle.staticCall(duty.id, a, b);
    } catch (e) {
      const err = decodeContractError(e, [this.o.court.interface]);
      if (err instanceof ContractRevertError && ["DisputeNotFinal", "DisputeWrongStage"].includes(err.errorName))
        return;
      throw e;
    }
    let tx;
    let receipt;
    try {
      tx = await this.o.court.settle(duty.id, a, b);
      receipt = await tx.wait();
    } catch (e) {
      // Another worker's settlement landed first: nothing left to do here but claim.
      const [after] = await this.o.court.disputeOf(duty.id);
      if (Number(after.stage) !== Stage.SETTLED) throw e;
      await this.claim(duty);
      duty.done = true;
      return;
    }
    const settled = receipt?.logs
      .map((l) => {
        try {
          return this.o.court.interface.parseLog(l);
        } catch {
          return null;
        }
      })
      .find((x) => x?.name === "DisputeSettled");
    this.record(duty, { action: "settled", outcome: SIDE_NAMES[Number(settled?.args.outcome ?? 0)], txHash: tx.hash });
    if (duty.revealed) await this.claim(duty);
    duty.done = true;
  }

  private async claim(duty: Duty): Promise<void> {
    try {
      await this.o.court.claimJuror.staticCall(duty.id, duty.myIndex);
    } catch (e) {
      const err = decodeContractError(e, [this.o.court.interface]);
      if (
        err instanceof ContractRevertError &&
        ["DisputeNothingToClaim", "DisputeAlreadyVoted"].includes(err.errorName)
      )
        return; // nothing earned (or claimed already)
      throw e; // an RPC error: claimed on a later poll
    }
    const tx = await this.o.court.claimJuror(duty.id, duty.myIndex);
    await tx.wait();
    this.record(duty, { action: "claimed", txHash: tx.hash });
  }

  /**
   * Tops the juror bond up to BOND_DEPOSITS deposits from the stake-token balance, keeping one
   * appeal bond in the account (this worker's own defence comes first); false when it cannot.
   */
  private async ensureBond(deposit: bigint, appealBond: bigint): Promise<boolean> {
    const bond = await this.o.court.jurorBondOf(this.me);
    if (bond >= deposit) return true;
    const held = await this.o.p.token.balanceOf(this.me);
    const balance = held > appealBond ? held - appealBond : 0n;
    const amount = balance < deposit * BOND_DEPOSITS ? balance : deposit * BOND_DEPOSITS;
    if (bond + amount < deposit) {
      if (!this.noBondSaid)
        this.o.log.warn(
          { bond: bond.toString(), balance: balance.toString(), deposit: deposit.toString() },
          "drawn as a juror, but the juror bond cannot cover the deposit (one appeal bond stays in the account): send the account stake tokens to vote",
        );
      this.noBondSaid = true;
      return false;
    }
    await this.approve(amount);
    await (await this.o.court.depositJurorBond(amount)).wait();
    return true;
  }

  private async approve(amount: bigint): Promise<void> {
    const spender = await this.o.court.getAddress();
    if ((await this.o.p.token.allowance(this.me, spender)) >= amount) return;
    await (await this.o.p.token.approve(spender, amount)).wait();
  }

  private record(duty: Duty, r: Omit<DisputeRecord, "at" | "id" | "epoch">): void {
    const full = { id: duty.id.toString(), epoch: duty.epoch.toString(), ...r, at: Date.now() } as DisputeRecord;
    this.records.push(full);
    this.o.log.info(full, `dispute ${r.action}`);
  }
}
