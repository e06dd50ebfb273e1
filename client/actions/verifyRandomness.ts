import { AbiCoder, Interface, keccak256, toBeHex } from "ethers";
import { MaruError } from "../errors/base.js";
import type { Protocol } from "../contracts.js";

/**
 * Thrown when an epoch's randomness cannot be verified: do not act on that epoch.
 * @example
 * ```ts
 * try { await verifyRandomness(maru, epoch); } catch (e) { if (e instanceof RandomnessUnverifiedError) skipEpoch(); }
 * ```
 */
export class RandomnessUnverifiedError extends MaruError {
  override name = "RandomnessUnverifiedError";
}

/** A verified randomness and where it came from. */
export type VerifiedRandomness = {
  epoch: bigint;
  r: string;
  /** `vrf`: the coordinator's fulfilment; `fallback`: the hash of the block after freeze. */
  source: "vrf" | "fallback";
  /** The epoch whose assignment (and randomness) this epoch uses (itself unless carried). */
  assignmentEpoch: bigint;
  requestId?: bigint;
  /** The block the value was fixed in, and how deep it is now. */
  blockNumber: number;
  confirmations: number;
};

const COORDINATOR = new Interface([
  "event RandomWordsFulfilled(uint256 indexed requestId, uint256 outputSeed, uint256 indexed subId, uint96 payment, bool nativePayment, bool success, bool onlyPremium)",
]);

/**
 * docs/protocol.md §3: checks an epoch's randomness before acting on it. For a VRF value: the request
 * id is the one the epoch's freeze made, the coordinator fulfilled exactly that request in a block
 * at least `confirmations` deep, and the stored value is the coordinator's first word
 * (`keccak256(abi.encode(outputSeed, 0))`). For the fallback: the value is the hash of the
 * recorded fallback block. A carried epoch is checked through the epoch it carries.
 * Throws {@link RandomnessUnverifiedError} saying what failed.
 *
 * @example
 * ```ts
 * const { r } = await verifyRandomness(maru, epoch, { confirmations: 3 });
 * ```
 */
export async function verifyRandomness(
  p: Protocol,
  epoch: bigint,
  options: { confirmations?: number } = {},
): Promise<VerifiedRandomness> {
  const need = options.confirmations ?? 3;
  const provider = p.epochs.runner?.provider;
  if (!provider) throw new RandomnessUnverifiedError("The contracts need a provider to verify randomness");
  const info = await p.epochs.epochInfo(epoch);
  if (!info.randomnessSet) throw new RandomnessUnverifiedError(`Epoch ${epoch} has no randomness yet`);
  const stored = await p.epochs.randomness(epoch);
  const assignmentEpoch = BigInt(info.assignmentEpoch);
  const head = await provider.getBlockNumber();
  if (assignmentEpoch !== epoch) {
    const inner = await verifyRandomness(p, assignmentEpoch, options);
    if (inner.r !== stored)
      throw new RandomnessUnverifiedError(`Carried epoch ${epoch} does not repeat epoch ${assignmentEpoch}'s r`);
    return { ...inner, epoch };
  }
  if (info.usedFallback) {
    const block = await provider.getBlock(Number(info.fallbackBlock));
    if (!block || block.hash !== stored) {
      throw new RandomnessUnverifiedError(
        `Epoch ${epoch}'s fallback value is not the hash of block ${info.fallbackBlock}`,
      );
    }
    const depth = head - block.number;
    if (depth < need) throw new RandomnessUnverifiedError(`The fallback block is ${depth} deep, fewer than ${need}`);
    return { epoch, r: stored, source: "fallback", assignmentEpoch, blockNumber: block.number, confirmations: depth };
  }
  const frozen = await p.epochs.queryFilter(p.epochs.filters.EpochFrozen(epoch), p.book.startBlock);
  if (frozen.length !== 1) throw new RandomnessUnverifiedError(`Epoch ${epoch} was frozen ${frozen.length} times`);
  const requestId = frozen[0].args.requestId as bigint;
  const fulfilled = await p.beacon.queryFilter(
    p.beacon.filters.RandomnessFulfilled(epoch, requestId),
    frozen[0].blockNumber,
  );
  if (fulfilled.length !== 1)
    throw new RandomnessUnverifiedError(`No fulfilment of request ${requestId} for epoch ${epoch}`);
  const receipt = await provider.getTransactionReceipt(fulfilled[0].transactionHash);
  const topic = COORDINATOR.getEvent("RandomWordsFulfilled")!.topicHash;
  const log = receipt?.logs.find(
    (l) =>
      l.address.toLowerCase() === p.book.contracts.vrfCoordinator.toLowerCase() &&
      l.topics[0] === topic &&
      BigInt(l.topics[1]) === requestId,
  );
  if (!log)
    throw new RandomnessUnverifiedError(`The coordinator did not fulfil request ${requestId} in that transaction`);
  const seed = COORDINATOR.parseLog(log)!.args.outputSeed as bigint;
  const word0 = keccak256(AbiCoder.defaultAbiCoder().encode(["uint256", "uint256"], [seed, 0]));
  if (word0 !== stored || toBeHex(fulfilled[0].args.value as string, 32) !== stored) {
    throw new RandomnessUnverifiedError(`Epoch ${epoch}'s r is not the coordinator's output for request ${requestId}`);
  }
  const depth = head - log.blockNumber;
  if (depth < need) throw new RandomnessUnverifiedError(`The fulfilment is ${depth} blocks deep, fewer than ${need}`);
  return {
    epoch,
    r: stored,
    source: "vrf",
    assignmentEpoch,
    requestId,
    blockNumber: log.blockNumber,
    confirmations: depth,
  };
}
