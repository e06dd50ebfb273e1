// Signed end-of-epoch notices (docs/protocol.md §11): a sender tells one receiver how many batches it sent
// on each channel. The signature binds the notice to the sender's signing key for the epoch and to
// the receiver, so nobody else can end a receiver's wait early (a forged notice once made a worker
// finalise an epoch before the real batches came, silently dropping them). Off-chain only: the
// contracts never see a notice, so it is not slashable and needs no protection record.
//
// The typed data is `EpochDone(uint64 epoch, address sender, address receiver, uint64 lastBlock,
// uint8 stage, bytes32 channelsHash)` (stage: which exchange the notice ends, 1 or 2), where channelsHash = keccak256(abi.encode(channels)) over the list of
// `(bytes32 stream, uint32 shard, uint32 originShard, uint64 batches)`, one per channel (a sender
// keeps one channel per origin shard). A notice of the previous wire version (no originShard)
// hashes differently and is refused; such a worker also speaks another protocol id. So does a notice
// without the stage (before /maru/batch/4.0.0).
import { AbiCoder, keccak256, TypedDataEncoder, type TypedDataDomain } from "ethers";
import { recoverSigner } from "../../client/math/ecrecover.js";
import type { EpochDone } from "../transport/codec.js";

const TYPES = {
  EpochDone: [
    { name: "epoch", type: "uint64" },
    { name: "sender", type: "address" },
    { name: "receiver", type: "address" },
    { name: "lastBlock", type: "uint64" },
    { name: "stage", type: "uint8" },
    { name: "channelsHash", type: "bytes32" },
  ],
};
const coder = AbiCoder.defaultAbiCoder();

function value(d: Omit<EpochDone, "signature">) {
  const channelsHash = keccak256(
    coder.encode(
      ["tuple(bytes32 stream, uint32 shard, uint32 originShard, uint64 batches)[]"],
      [d.channels.map((c) => [c.stream, c.shard, c.originShard, c.batches])],
    ),
  );
  return {
    epoch: d.epoch,
    sender: d.sender,
    receiver: d.receiver,
    lastBlock: d.lastBlock,
    stage: d.stage,
    channelsHash,
  };
}

/**
 * Signs an end notice with the worker's signing key.
 * @example
 * ```ts
 * const signature = await signDone(signingKey, domain, { epoch, sender, receiver, lastBlock, channels });
 * ```
 */
export function signDone(
  key: { signTypedData(d: TypedDataDomain, t: typeof TYPES, v: Record<string, unknown>): Promise<string> },
  domain: TypedDataDomain,
  d: Omit<EpochDone, "signature">,
): Promise<string> {
  return key.signTypedData(domain, TYPES, value(d));
}

/**
 * The address that signed an end notice ("" when the signature is malformed).
 * @example
 * ```ts
 * if (doneSigner(domain, done) !== view.signingKeyOf.get(done.sender)) drop();
 * ```
 */
export function doneSigner(domain: TypedDataDomain, d: EpochDone): string {
  try {
    return recoverSigner(TypedDataEncoder.hash(domain, TYPES, value(d)), d.signature);
  } catch {
    return "";
  }
}
