import type { Protocol } from "../contracts.js";
import { send, type Sent } from "./send.js";

/**
 * Queues `amount` of active stake to leave. It stays slashable until withdrawn; it unlocks after
 * UNBONDING_PERIOD and the fraud window in epochs.
 *
 * @example
 * ```ts
 * await unstake(maru, 50n * 10n ** 18n);
 * ```
 */
export function unstake(p: Protocol, amount: bigint): Promise<Sent> {
  return send(() => p.epochs.requestUnstake(amount), p.errorInterfaces);
}

/**
 * Withdraws every unstake request that has unlocked.
 *
 * @example
 * ```ts
 * await withdraw(maru); // ContractRevertError "Nothing has unlocked yet" when nothing has
 * ```
 */
export function withdraw(p: Protocol): Promise<Sent> {
  return send(() => p.epochs.withdraw(), p.errorInterfaces);
}

/**
 * Claims the signer's rewards as a reporter of proven faults.
 *
 * @example
 * ```ts
 * await claimRewards(maru);
 * ```
 */
export function claimRewards(p: Protocol): Promise<Sent> {
  return send(() => p.epochs.claimRewards(), p.errorInterfaces);
}
