import { hexlify } from "ethers";
import { deltaProof } from "../math/merkle.js";
import { MaruError } from "../errors/base.js";
import type { LtHash16 } from "../math/lthash.js";
import type { EpochView, ReceiverChannel, SignedBatch, Violation } from "../batches/types.js";
import { Fault } from "../batches/verifyBatch.js";

/** A fraud proof ready to send: the FraudProofs function and its arguments. */
export type Evidence = {
  fault: number;
  method:
    | "proveMisroutedDelta"
    | "proveEquivocation"
    | "proveBatchMismatch"
    | "proveBrokenChain"
    | "proveBrokenChainWithDeltas"
    | "proveContradictedProof"
    | "proveFalseBlockHash";
  args: unknown[];
};

/**
 * Thrown when a violation cannot be proven on-chain (it has no fault id, or a piece is missing).
 * @example
 * ```ts
 * for (const v of verdict.violations) if (v.fault !== undefined) evidence.push(buildEvidence(v, batch, ctx));
 * ```
 */
export class NotProvableError extends MaruError {
  override name = "NotProvableError";
}

/** Batches up to this many deltas are proven with their deltas rather than their state (cheaper). */
const DELTAS_FORM_MAX = 3;

/**
 * Turns a provable violation from `verifyBatch` into evidence (docs/protocol.md §8). Call it with the
 * channel as it was when the batch was verified (the rejected batch did not advance it).
 *
 * @example
 * ```ts
 * const v = verdict.violations.find((x) => x.fault !== undefined)!;
 * const evidence = buildEvidence(v, batch, { view, me, channel, batchState: verdict.batchState! });
 * const result = await submitEvidence(fraudProofs, evidence);
 * ```
 */
export function buildEvidence(
  violation: Violation,
  batch: SignedBatch,
  ctx: { view: EpochView; me: string; channel: ReceiverChannel; batchState: LtHash16 },
): Evidence {
  const senderIndex = ctx.view.indexOf.get(String(batch.header.sender).toLowerCase());
  if (violation.fault === undefined || senderIndex === undefined) {
    throw new NotProvableError(`A "${violation.kind}" violation is not provable on-chain`, {
      details: [violation.message],
      fix: "drop the batch; only violations with a fault id become evidence",
    });
  }
  const signed = { header: batch.header, signature: batch.signature, senderIndex };
  switch (violation.fault) {
    case Fault.MISROUTED_DELTA: {
      const i = violation.deltaIndex ?? 0;
      const d = batch.deltas[i];
      const myIndex = ctx.view.indexOf.get(ctx.me.toLowerCase());
      return {
        fault: Fault.MISROUTED_DELTA,
        method: "proveMisroutedDelta",
        args: [signed, d.data, d.time, d.diff, deltaProof(batch.deltas, i), myIndex],
      };
    }
    case Fault.BATCH_MISMATCH:
      return { fault: Fault.BATCH_MISMATCH, method: "proveBatchMismatch", args: [signed, batch.deltas] };
    case Fault.EQUIVOCATION: {
      const seen = ctx.channel.seen.get(BigInt(batch.header.seq));
      if (!seen) throw new NotProvableError("No earlier header of this seq to pair with");
      const first = { header: seen.header, signature: seen.signature, senderIndex };
      return { fault: Fault.EQUIVOCATION, method: "proveEquivocation", args: [first, signed] };
    }
    case Fault.BROKEN_CHAIN: {
      if (BigInt(batch.header.seq) === 0n) {
        return { fault: Fault.BROKEN_CHAIN, method: "proveBrokenChain", args: [signed, signed, "0x", "0x"] };
      }
      const last = ctx.channel.last;
      if (!last) throw new NotProvableError("The previous header of the channel is not known");
      const prev = { header: last.header, signature: last.signature, senderIndex };
      const prevState = hexlify(last.cumulative.toBytes());
      return batch.deltas.length <= DELTAS_FORM_MAX
        ? {
            fault: Fault.BROKEN_CHAIN,
            method: "proveBrokenChainWithDeltas",
            args: [prev, signed, prevState, batch.deltas],
          }
        : {
            fault: Fault.BROKEN_CHAIN,
            method: "proveBrokenChain",
            args: [prev, signed, prevState, hexlify(ctx.batchState.toBytes())],
          };
    }
    default:
      throw new NotProvableError(`Fault ${violation.fault} is not built from a batch`);
  }
}
