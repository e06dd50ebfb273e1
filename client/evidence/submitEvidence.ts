import type { BaseContract, ContractTransactionResponse, Interface } from "ethers";
import { decodeContractError, ContractRevertError } from "../errors/contracts.js";
import type { Evidence } from "./buildEvidence.js";

/** What became of submitted evidence. */
export type EvidenceResult =
  | { status: "slashed"; txHash: string; amount: bigint; reward: bigint; gasUsed: bigint }
  | {
      status: "already-punished" | "outside-window" | "no-fault" | "refused";
      reason: string;
      errorName?: string;
      /** Not the contract's decision (a dropped or conflicting transaction, an unreachable node, a
       * commitment not yet in a past block): the same evidence may succeed if sent again. */
      transient?: boolean;
    };

type FraudProofsLike = BaseContract & {
  interface: Interface;
  getFunction(name: string): {
    estimateGas(...args: unknown[]): Promise<bigint>;
    (...args: unknown[]): Promise<ContractTransactionResponse>;
  };
};

/**
 * Sends evidence to the FraudProofs contract: estimates gas first (a refusal costs nothing, except
 * for a false block hash, whose commitment comes first: {@link commitFirst}), then submits and
 * reads the `Slashed` event. Never throws for a refusal: the result says why
 * (already punished, outside the fraud window, no fault, or another decoded contract error).
 * `errorInterfaces` decodes the EpochManager's errors too (pass its interface).
 *
 * @example
 * ```ts
 * const result = await submitEvidence(fraud, evidence, [epochs.interface]);
 * if (result.status === "slashed") log.info({ amount: result.amount }, "slashed");
 * ```
 */
export async function submitEvidence(
  fraud: FraudProofsLike,
  evidence: Evidence,
  errorInterfaces: Interface[] = [],
): Promise<EvidenceResult> {
  const fn = fraud.getFunction(evidence.method);
  const interfaces = [fraud.interface, ...errorInterfaces];
  let gas: bigint;
  try {
    // A false block hash names no receiver: only a reporter that committed to it in an earlier
    // block may reveal it, and is paid (docs/protocol.md §13). Commit first (once), then the
    // estimate below can see the commitment.
    if (evidence.method === "proveFalseBlockHash") await commitFirst(fraud, evidence.args[0]);
    gas = await fn.estimateGas(...evidence.args);
  } catch (e) {
    const err = decodeContractError(e, interfaces);
    // A node may estimate in the commitment's own block (interval mining): wait for the next one.
    if (!(err instanceof ContractRevertError && err.errorName === "FraudNotCommitted")) return refusal(err);
    try {
      await nextBlock(fraud);
      gas = await fn.estimateGas(...evidence.args);
    } catch (again) {
      return refusal(decodeContractError(again, interfaces));
    }
  }
  try {
    const tx = await fn(...evidence.args, { gasLimit: (gas * 12n) / 10n });
    const receipt = await tx.wait();
    let amount = 0n;
    let reward = 0n;
    for (const log of receipt?.logs ?? []) {
      for (const iface of errorInterfaces) {
        const parsed = (() => {
          try {
            return iface.parseLog(log);
          } catch {
            return null;
          }
        })();
        if (parsed?.name === "Slashed") {
          amount = parsed.args.amount as bigint;
          reward = parsed.args.reward as bigint;
        }
      }
    }
    return { status: "slashed", txHash: receipt!.hash, amount, reward, gasUsed: receipt!.gasUsed };
  } catch (e) {
    return refusal(decodeContractError(e, interfaces));
  }
}

/** Waits (up to 60 s) until the chain has a block after the current one. */
async function nextBlock(fraud: FraudProofsLike): Promise<void> {
  const provider = (fraud.runner as { provider?: { getBlockNumber(): Promise<number> } } | null)?.provider;
  if (!provider) return;
  const start = await provider.getBlockNumber();
  const deadline = Date.now() + 60_000;
  while ((await provider.getBlockNumber()) <= start && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 250));
}

/** Commits to a false-block-hash proof (once) and waits for the commitment's block. */
async function commitFirst(fraud: FraudProofsLike, signedProof: unknown): Promise<void> {
  const reporter = await (fraud.runner as { getAddress?: () => Promise<string> } | null)?.getAddress?.();
  if (!reporter) return; // a read-only contract: nothing to bind the reward to
  const call = (name: string, ...args: unknown[]) =>
    (fraud.getFunction(name) as unknown as { staticCall(...a: unknown[]): Promise<unknown> }).staticCall(...args);
  const digest = (await call("proofDigest", signedProof)) as string;
  const commitment = (await call("reportCommitment", reporter, digest)) as string;
  if (((await call("reportCommittedAt", commitment)) as bigint) !== 0n) return;
  const tx = await fraud.getFunction("commitReport")(commitment);
  await tx.wait();
}

function refusal(err: Error): EvidenceResult {
  const name = err instanceof ContractRevertError ? err.errorName : undefined;
  const status =
    name === "StakingAlreadyPunished"
      ? "already-punished"
      : name === "StakingOutsideFraudWindow"
        ? "outside-window"
        : name === "FraudNoFault"
          ? "no-fault"
          : "refused";
  const transient = name === undefined || name === "FraudNotCommitted";
  return { status, reason: err.message.split("\n")[0], errorName: name, transient };
}
