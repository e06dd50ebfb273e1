import { Interface, isCallException } from "ethers";
import { MaruError } from "./base.js";

/**
 * A contract call reverted with one of the protocol's custom errors: its name, its arguments by
 * name, and a readable message. Decoded by {@link decodeContractError}.
 *
 * @example
 * ```ts
 * try { await fraud.proveEquivocation(a, b); }
 * catch (e) { const err = decodeContractError(e, [fraud.interface, epochs.interface]); console.error(err.message); }
 * ```
 */
export class ContractRevertError extends MaruError {
  override name = "ContractRevertError";
  constructor(
    /** The custom error's name, e.g. `StakingAlreadyPunished`. */
    readonly errorName: string,
    /** Its arguments by name. */
    readonly args: Record<string, unknown>,
    message: string,
    cause?: unknown,
  ) {
    super(message, { cause, details: Object.entries(args).map(([k, v]) => `${k}: ${String(v)}`) });
  }
}

/** What each error means, for the ones a user meets; others show their name and arguments. */
const EXPLAIN: Record<string, (a: Record<string, unknown>) => string> = {
  StakingAlreadyPunished: (a) => `Worker ${a.worker} was already punished for fault ${a.fault} in epoch ${a.epoch}`,
  StakingOutsideFraudWindow: (a) =>
    `Epoch ${a.epoch} is outside the fraud window (current ${a.current}, window ${a.window} epochs)`,
  StakingWrongSigner: (a) => `Signed by ${a.signer}, but ${a.worker}'s key for epoch ${a.epoch} is ${a.expected}`,
  StakingNotInEpoch: (a) => `${a.worker} is not at index ${a.index} of epoch ${a.epoch}`,
  StakingNotSlasher: (a) => `${a.caller} is not the slasher`,
  StakingBelowMinimum: (a) => `That would leave ${a.remaining}, below the minimum stake ${a.minimum}`,
  StakingNothingToWithdraw: () => "Nothing has unlocked yet",
  StakingNothingToClaim: () => "No rewards to claim",
  StakingNotRegistered: (a) => `${a.worker} has not registered (register a signing key and network address first)`,
  EpochStakeBelowMinimum: (a) => `Active stake ${a.active} is below the minimum ${a.minimum}`,
  EpochCommitWindowClosed: (a) => `Commits to epoch ${a.epoch} closed at ${a.deadline}`,
  EpochAlreadyCommitted: (a) => `Already committed to epoch ${a.epoch}`,
  EpochWorkerJailed: (a) => `Jailed until epoch ${a.untilEpoch}`,
  FraudNoFault: (a) => `The evidence shows no fault (fault ${a.fault}): the data is honest`,
  FraudNotTheBatch: () => "The deltas are not the signed batch (their root differs)",
  FraudUnrelatedHeaders: () => "The signed items are not of one channel and seq",
  FraudBadSignature: (a) => `The items are signed by different keys (${a.recovered} vs ${a.expected})`,
  DisputeOutsideWindow: (a) =>
    `Dispute ${a.id}: not now (epoch ${a.current}); this may be done in epochs ${a.from} to ${BigInt(String(a.to)) - 1n}`,
  DisputeNotFinal: (a) => `Dispute ${a.id} is not final yet (stage ${a.stage}): wait for epoch ${a.until}`,
  DisputeTooLate: (a) =>
    `Too late to dispute epoch ${a.epoch} (current ${a.current}): the last epoch to open it in was ${a.lastOpenEpoch}`,
  DisputeBondTooLow: (a) => `Juror bond ${a.bond} of ${a.juror} is below ${a.needed}: deposit more (depositJurorBond)`,
  DisputeLateCommit: (a) =>
    `The commitment was made in epoch ${a.commitEpoch}, not before the reveals (from ${a.revealFrom}): it is void; reclaim its deposit`,
  DisputeNotAJuror: (a) => `${a.caller} is not the drawn juror at index ${a.index} of dispute ${a.id}`,
  DisputeExists: (a) => `Dispute ${a.id} is open already`,
  OracleUnknownBlock: (a) =>
    `The oracle cannot establish block ${a.number} of chain ${a.chainId} (no slash, no verdict)`,
};

/**
 * Turns a reverted call's error into a {@link ContractRevertError} using the given contract
 * interfaces (typechain factories' `createInterface()` or a contract's `interface`). Returns the
 * original error wrapped in a MaruError when the revert data matches none.
 * @example
 * ```ts
 * try { await maru.epochs.commit(epoch); }
 * catch (e) { throw decodeContractError(e, maru.errorInterfaces); } // "Already committed to epoch 3 (EpochAlreadyCommitted)"
 * ```
 */
export function decodeContractError(error: unknown, interfaces: Interface[]): MaruError {
  const data = findRevertData(error);
  if (data) {
    for (const iface of interfaces) {
      const parsed = iface.parseError(data);
      if (!parsed) continue;
      const args: Record<string, unknown> = {};
      parsed.fragment.inputs.forEach((input, i) => (args[input.name || `arg${i}`] = parsed.args[i]));
      const explain = EXPLAIN[parsed.name];
      const message = explain ? `${explain(args)} (${parsed.name})` : `Reverted with ${parsed.name}`;
      return new ContractRevertError(parsed.name, args, message, error);
    }
  }
  if (error instanceof MaruError) return error;
  const text = error instanceof Error ? error.message.split("\n")[0] : String(error);
  return new MaruError(`The call failed: ${text}`, { cause: error });
}

function findRevertData(error: unknown): string | undefined {
  if (isCallException(error) && error.data) return error.data;
  let e: unknown = error;
  for (let depth = 0; e && depth < 5; ++depth) {
    const d = (e as { data?: unknown }).data;
    if (typeof d === "string" && d.startsWith("0x") && d.length >= 10) return d;
    e = (e as { cause?: unknown; error?: unknown }).error ?? (e as { cause?: unknown }).cause;
  }
  return undefined;
}
