import { signerAddress, type Protocol } from "../contracts.js";
import { send, type Sent } from "./send.js";

/**
 * Commits the signer to the next epoch (current + 1) and returns its index there.
 *
 * @example
 * ```ts
 * const { index, epoch } = await commit(maru);
 * ```
 */
export async function commit(p: Protocol): Promise<Sent & { epoch: bigint; index: number }> {
  const epoch = (await p.epochs.currentEpoch()) + 1n;
  const sent = await send(() => p.epochs.commit(epoch), p.errorInterfaces);
  const me = await signerAddress(p);
  const index = Number(await p.epochs.indexOf(epoch, me));
  return { ...sent, epoch, index };
}
