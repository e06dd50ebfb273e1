import type { TypedDataDomain } from "ethers";
import { recoverSigner } from "../math/ecrecover.js";
import { accumulatedProofDigest, type AccumulatedProof } from "../math/eip712.js";
import type { EpochView, ReceiverChannel, Violation } from "./types.js";
import { Fault } from "./verifyBatch.js";
import type { Evidence } from "../evidence/buildEvidence.js";

/** An accumulated proof as it travels. */
export type SignedAccumulatedProof = { proof: AccumulatedProof; signature: string };

/**
 * Checks a sender's accumulated proof (docs/protocol.md §6, §8): signed by its key for the epoch;
 * repeats the cumulative hash of its header of the same seq (when that header was received on
 * `channel`); names the canonical hash of its source block (`canonicalHash` answers from the
 * source chain: return undefined when the block is not known or not final yet: then nothing is
 * judged). Never throws on bad input. Provable violations come with their evidence.
 *
 * @example
 * ```ts
 * const { violations } = await verifyAccumulatedProof(p, { view, domain, channel,
 *   canonicalHash: async (chain, n) => (await sourceProvider.getBlock(Number(n)))?.hash ?? undefined });
 * ```
 */
export async function verifyAccumulatedProof(
  signed: SignedAccumulatedProof,
  ctx: {
    view: EpochView;
    domain: TypedDataDomain;
    channel?: ReceiverChannel;
    canonicalHash?: (chainId: bigint, blockNumber: bigint) => Promise<string | undefined>;
    /** The stream's source chain: a proof naming another is a lie. */
    sourceChainId?: bigint;
    /** The last block of the epoch's window (once it has closed): a proof naming another is a lie. */
    windowEnd?: bigint;
  },
): Promise<{ ok: boolean; violations: Array<Violation & { evidence?: Evidence }> }> {
  const violations: Array<Violation & { evidence?: Evidence }> = [];
  const p = signed.proof;
  try {
    const sender = String(p.sender).toLowerCase();
    const expected = ctx.view.signingKeyOf.get(sender);
    const senderIndex = ctx.view.indexOf.get(sender);
    let signer = "";
    try {
      signer = recoverSigner(accumulatedProofDigest(ctx.domain, p), signed.signature);
    } catch {
      signer = "unrecoverable";
    }
    if (
      !expected ||
      senderIndex === undefined ||
      signer !== expected.toLowerCase() ||
      BigInt(p.epoch) !== ctx.view.epoch
    ) {
      violations.push({ kind: "bad-signature", message: `not ${sender}'s signed proof for epoch ${ctx.view.epoch}` });
      return { ok: false, violations };
    }
    const sp = { proof: p, signature: signed.signature, senderIndex };
    const header = ctx.channel?.seen.get(BigInt(p.seq));
    if (header && header.header.cumulativeMsh !== p.cumulativeMsh) {
      violations.push({
        kind: "invalid-accumulated-proof",
        fault: Fault.INVALID_ACCUMULATED_PROOF,
        message: `the proof's cumulative ${p.cumulativeMsh} contradicts header seq ${p.seq} (${header.header.cumulativeMsh})`,
        evidence: {
          fault: Fault.INVALID_ACCUMULATED_PROOF,
          method: "proveContradictedProof",
          args: [sp, { header: header.header, signature: header.signature, senderIndex }],
        },
      });
    }
    const lie = (message: string) =>
      violations.push({
        kind: "invalid-accumulated-proof",
        fault: Fault.INVALID_ACCUMULATED_PROOF,
        message,
        evidence: { fault: Fault.INVALID_ACCUMULATED_PROOF, method: "proveFalseBlockHash", args: [sp] },
      });
    // What FraudProofs.proveFalseBlockHash proves without the oracle (docs/protocol.md §8, §10):
    // another chain than the source, a block other than the window's last.
    if (ctx.sourceChainId !== undefined && BigInt(p.sourceChainId) !== ctx.sourceChainId) {
      lie(`the proof names chain ${p.sourceChainId}; the stream's source is chain ${ctx.sourceChainId}`);
    } else if (ctx.windowEnd !== undefined && BigInt(p.blockNumber) !== ctx.windowEnd) {
      lie(`the proof names block ${p.blockNumber}; epoch ${p.epoch}'s window ends at block ${ctx.windowEnd}`);
    } else if (ctx.canonicalHash) {
      const canonical = await ctx.canonicalHash(BigInt(p.sourceChainId), BigInt(p.blockNumber));
      if (canonical !== undefined && canonical.toLowerCase() !== String(p.blockHash).toLowerCase()) {
        lie(`block ${p.blockNumber} of chain ${p.sourceChainId} is ${canonical}, not ${p.blockHash}`);
      }
    }
  } catch (e) {
    violations.push({ kind: "not-for-me", message: `malformed proof: ${(e as Error).message.split("\n")[0]}` });
  }
  return { ok: violations.length === 0, violations };
}
