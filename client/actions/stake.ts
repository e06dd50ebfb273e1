import { signerAddress, type Protocol } from "../contracts.js";
import { send, type Sent } from "./send.js";

/**
 * Adds `amount` of the stake token to the signer's active stake, approving the epoch manager
 * first when the allowance is short. The signer must be registered ({@link register}).
 *
 * @example
 * ```ts
 * await stake(maru, 100n * 10n ** 18n);
 * ```
 */
export async function stake(p: Protocol, amount: bigint): Promise<Sent> {
  const me = await signerAddress(p);
  const allowance = await p.token.allowance(me, p.book.contracts.epochManager);
  if (allowance < amount) await send(() => p.token.approve(p.book.contracts.epochManager, amount), p.errorInterfaces);
  return send(() => p.epochs.stake(amount), p.errorInterfaces);
}
