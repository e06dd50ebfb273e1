// Signing through the slashing-protection record (docs/protocol.md §11, docs/worker.md#the-protection-record).
// Nothing signed leaves the process before its position and content hash are on disk (fsync'd),
// and a content that differs from the recorded one for a position is refused: a restarted worker
// re-signs exactly what it signed before (ECDSA with RFC 6979 nonces gives the same signature) and
// can never equivocate, whatever happened to its process.
import type { TypedDataDomain, Wallet } from "ethers";
import { accumulatedProofOf, signBatch, buildAccumulatedProof } from "../../client/batches/signBatch.js";
import {
  contentHash,
  hashAccumulatedProof,
  type AccumulatedProof,
  type BatchHeader,
} from "../../client/math/eip712.js";
import type { ProtectionRecord, Signed } from "../protection/record.js";
import type { EpochDone } from "../transport/codec.js";
import { signDone } from "./notices.js";

/** What the exchange layer signs with. */
export type ExchangeSigner = {
  /** The signing key's address. */
  readonly address: string;
  /**
   * Signs batches: each entry is one position (its content: any of its headers) and the headers
   * to sign for it (one per receiver, perhaps none). All positions are recorded with one fsync
   * before any signature is made; throws SigningRefusedError (and signs nothing) if any position
   * was recorded with another content.
   */
  signBatches(batches: Array<{ content: BatchHeader; headers: BatchHeader[] }>): Promise<string[][]>;
  /** Signs an accumulated proof for the header's position, through the record too. */
  signProof(
    header: BatchHeader,
    sourceChainId: bigint,
    blockNumber: bigint,
    blockHash: string,
  ): Promise<{ proof: AccumulatedProof; signature: string }>;
  /** Signs an end notice (off-chain only, not recorded). */
  signDone(d: Omit<EpochDone, "signature">): Promise<string>;
};

/**
 * The production signer: a signing key and its protection record.
 * @example
 * ```ts
 * const signer = protectedSigner(signingKey, domain, ProtectionRecord.open(dir, meta));
 * const [[sigA, sigB]] = await signer.signBatches([[toA, toB]]);
 * ```
 */
export function protectedSigner(key: Wallet, domain: TypedDataDomain, record: ProtectionRecord): ExchangeSigner {
  const position = (h: {
    epoch: bigint | number;
    stream: string;
    shard: number | bigint;
    originShard: number | bigint;
    seq: bigint | number;
  }) => ({
    epoch: BigInt(h.epoch),
    stream: h.stream.toLowerCase(),
    shard: Number(h.shard),
    originShard: Number(h.originShard),
    seq: BigInt(h.seq),
  });
  return {
    address: key.address,
    async signBatches(batches) {
      const entries: Signed[] = batches.map((b) => ({
        kind: "header",
        ...position(b.content),
        contentHash: contentHash(b.content).toLowerCase(),
      }));
      record.record(entries);
      const out: string[][] = [];
      for (const b of batches) out.push(await Promise.all(b.headers.map((h) => signBatch(key, domain, h))));
      return out;
    },
    async signProof(header, sourceChainId, blockNumber, blockHash) {
      const proof = accumulatedProofOf(header, sourceChainId, blockNumber, blockHash);
      record.record([{ kind: "proof", ...position(proof), contentHash: hashAccumulatedProof(proof).toLowerCase() }]);
      return buildAccumulatedProof(key, domain, header, sourceChainId, blockNumber, blockHash);
    },
    signDone: (d) => signDone(key, domain, d),
  };
}
