import type { ContractTransactionResponse, Interface } from "ethers";
import { decodeContractError } from "../errors/contracts.js";

/** A mined transaction's essentials. */
export type Sent = { hash: string; blockNumber: number; gasUsed: bigint };

/**
 * Sends a contract call and waits for it; a revert becomes a decoded `ContractRevertError` (or a
 * `MaruError`) with a readable message instead of a provider error.
 * @example
 * ```ts
 * const sent = await send(() => maru.epochs.advance(), maru.errorInterfaces);
 * ```
 */
export async function send(call: () => Promise<ContractTransactionResponse>, interfaces: Interface[]): Promise<Sent> {
  try {
    const receipt = await (await call()).wait();
    if (!receipt) throw new Error("the transaction was dropped");
    return { hash: receipt.hash, blockNumber: receipt.blockNumber, gasUsed: receipt.gasUsed };
  } catch (e) {
    throw decodeContractError(e, interfaces);
  }
}
