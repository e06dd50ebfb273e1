import { BaseWallet, type TypedDataDomain } from "ethers";
import { EIP712_TYPES, batchHeaderDigest, type AccumulatedProof, type BatchHeader } from "../math/eip712.js";

/** Anything that signs EIP-712 typed data (an ethers `Wallet` or `Signer`). */
export type TypedDataSigner = {
  signTypedData(
    domain: TypedDataDomain,
    types: Record<string, Array<{ name: string; type: string }>>,
    value: Record<string, unknown>,
  ): Promise<string>;
};

/**
 * Signs a batch header with the worker's signing key under the protocol's EIP-712 domain
 * (`protocolDomain(chainId, fraudProofsAddress)`).
 *
 * @example
 * ```ts
 * const signature = await signBatch(signingKey, protocolDomain(chainId, book.contracts.fraudProofs), header);
 * ```
 */
export function signBatch(key: TypedDataSigner, domain: TypedDataDomain, header: BatchHeader): Promise<string> {
  // A key held here signs the digest this client computes (the bytes ethers' typed-data encoder
  // hashes, tested equal; RFC 6979 makes the signature the same): the encoder cost a busy worker
  // more than the signing itself. Any other signer gets the typed data.
  if (key instanceof BaseWallet)
    return Promise.resolve(key.signingKey.sign(batchHeaderDigest(domain, header)).serialized);
  return key.signTypedData(domain, { BatchHeader: [...EIP712_TYPES.BatchHeader] }, header);
}

/**
 * The accumulated proof for a channel's header (docs/protocol.md §6): "the deltas of this channel up
 * to `seq` are what I produced from `sourceChainId` up to block `blockNumber` with hash
 * `blockHash`", repeating the header's `cumulativeMsh`. Unsigned: what {@link buildAccumulatedProof}
 * signs, and what a protection record records before it does.
 *
 * @example
 * ```ts
 * const proof = accumulatedProofOf(header, 1n, block.number, block.hash);
 * ```
 */
export function accumulatedProofOf(
  header: BatchHeader,
  sourceChainId: bigint,
  blockNumber: bigint,
  blockHash: string,
): AccumulatedProof {
  return {
    epoch: BigInt(header.epoch),
    stream: header.stream,
    shard: Number(header.shard),
    originShard: Number(header.originShard),
    sender: header.sender,
    seq: BigInt(header.seq),
    sourceChainId,
    blockNumber,
    blockHash,
    cumulativeMsh: header.cumulativeMsh,
  };
}

/**
 * Builds and signs an accumulated proof ({@link accumulatedProofOf}). Sign only for a block final
 * on its chain.
 *
 * @example
 * ```ts
 * const { proof, signature } = await buildAccumulatedProof(key, domain, header, 1n, block.number, block.hash);
 * ```
 */
export async function buildAccumulatedProof(
  key: TypedDataSigner,
  domain: TypedDataDomain,
  header: BatchHeader,
  sourceChainId: bigint,
  blockNumber: bigint,
  blockHash: string,
): Promise<{ proof: AccumulatedProof; signature: string }> {
  const proof = accumulatedProofOf(header, sourceChainId, blockNumber, blockHash);
  const signature = await key.signTypedData(domain, { AccumulatedProof: [...EIP712_TYPES.AccumulatedProof] }, proof);
  return { proof, signature };
}
