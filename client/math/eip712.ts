import { AbiCoder, hexlify, id, keccak256, TypedDataEncoder, type BytesLike, type TypedDataDomain } from "ethers";
import { ValueOutOfRangeError } from "../errors/math.js";
import { toBytes, toBytes32 } from "./values.js";
import { keccakBytes } from "./wasm.js";

/**
 * The protocol's EIP-712 domain name and version (Solidity: `BatchHeaders.DOMAIN_NAME/VERSION`).
 * @example
 * ```ts
 * const domain = protocolDomain(chainId, slashingAddress); // { name: EIP712_NAME, ... }
 * ```
 */
export const EIP712_NAME = "Maru";
/** See {@link EIP712_NAME}. */
export const EIP712_VERSION = "1";

/**
 * A batch header (docs/protocol.md §6, §12; Solidity: `struct BatchHeader`). A channel is
 * `(epoch, stream, shard, originShard, sender → receiver)`; `prev` is the {@link contentHash} of the
 * previous header on it, zero for seq 0. `inputMsh` is the LtHash digest of the origin shard's
 * inputs up to `lastTime`; `firstTime`/`lastTime` are the times of the batch's first and last delta.
 * @example
 * ```ts
 * const h: BatchHeader = { epoch: 3n, stream, shard: 1, originShard: 0, sender, receiver, seq: 0n,
 *   prev: ZeroHash, deltasRoot, count: 4, batchMsh, cumulativeMsh, inputMsh, firstTime: 7n, lastTime: 9n };
 * ```
 */
export type BatchHeader = {
  epoch: bigint;
  stream: string;
  shard: number;
  originShard: number;
  sender: string;
  receiver: string;
  seq: bigint;
  prev: string;
  deltasRoot: string;
  count: number;
  batchMsh: string;
  cumulativeMsh: string;
  inputMsh: string;
  firstTime: bigint;
  lastTime: bigint;
};

/**
 * An accumulated proof (docs/protocol.md §6; Solidity: `struct AccumulatedProof`).
 * @example
 * ```ts
 * const p: AccumulatedProof = { epoch, stream, shard, originShard, sender, seq, sourceChainId: 1n,
 *   blockNumber: 100n, blockHash, cumulativeMsh };
 * ```
 */
export type AccumulatedProof = {
  epoch: bigint;
  stream: string;
  shard: number;
  originShard: number;
  sender: string;
  seq: bigint;
  sourceChainId: bigint;
  blockNumber: bigint;
  blockHash: string;
  cumulativeMsh: string;
};

/**
 * The EIP-712 types, as ethers' `signTypedData` takes them.
 * @example
 * ```ts
 * await signer.signTypedData(domain, { BatchHeader: EIP712_TYPES.BatchHeader }, header);
 * ```
 */
export const EIP712_TYPES = {
  BatchHeader: [
    { name: "epoch", type: "uint64" },
    { name: "stream", type: "bytes32" },
    { name: "shard", type: "uint32" },
    { name: "originShard", type: "uint32" },
    { name: "sender", type: "address" },
    { name: "receiver", type: "address" },
    { name: "seq", type: "uint64" },
    { name: "prev", type: "bytes32" },
    { name: "deltasRoot", type: "bytes32" },
    { name: "count", type: "uint32" },
    { name: "batchMsh", type: "bytes32" },
    { name: "cumulativeMsh", type: "bytes32" },
    { name: "inputMsh", type: "bytes32" },
    { name: "firstTime", type: "uint64" },
    { name: "lastTime", type: "uint64" },
  ],
  AccumulatedProof: [
    { name: "epoch", type: "uint64" },
    { name: "stream", type: "bytes32" },
    { name: "shard", type: "uint32" },
    { name: "originShard", type: "uint32" },
    { name: "sender", type: "address" },
    { name: "seq", type: "uint64" },
    { name: "sourceChainId", type: "uint256" },
    { name: "blockNumber", type: "uint64" },
    { name: "blockHash", type: "bytes32" },
    { name: "cumulativeMsh", type: "bytes32" },
  ],
} as const;

const BATCH_TYPES = { BatchHeader: [...EIP712_TYPES.BatchHeader] };
const PROOF_TYPES = { AccumulatedProof: [...EIP712_TYPES.AccumulatedProof] };

/**
 * The type hashes (Solidity: `BatchHeaders.BATCH_HEADER_TYPEHASH`, `ACCUMULATED_PROOF_TYPEHASH`).
 * @example
 * ```ts
 * BATCH_HEADER_TYPEHASH; // keccak256("BatchHeader(uint64 epoch,...)")
 * ```
 */
export const BATCH_HEADER_TYPEHASH = id(TypedDataEncoder.from(BATCH_TYPES).encodeType("BatchHeader"));
/** See {@link BATCH_HEADER_TYPEHASH}. */
export const ACCUMULATED_PROOF_TYPEHASH = id(TypedDataEncoder.from(PROOF_TYPES).encodeType("AccumulatedProof"));

/**
 * The protocol's EIP-712 domain on a chain, for a verifying contract (the slashing contract).
 * @example
 * ```ts
 * const domain = protocolDomain(31337n, await slashing.getAddress());
 * ```
 */
export function protocolDomain(chainId: bigint | number, verifyingContract: string): TypedDataDomain {
  return { name: EIP712_NAME, version: EIP712_VERSION, chainId, verifyingContract };
}

/**
 * The domain separator of {@link protocolDomain}.
 * @example
 * ```ts
 * domainSeparator(31337n, slashingAddress); // equals the contract's _domainSeparatorV4()
 * ```
 */
export function domainSeparator(chainId: bigint | number, verifyingContract: string): string {
  return TypedDataEncoder.hashDomain(protocolDomain(chainId, verifyingContract));
}

/**
 * The EIP-712 struct hash of a batch header.
 * @example
 * ```ts
 * hashBatchHeader(header); // equals BatchHeaders.hash(header) on-chain
 * ```
 */
export function hashBatchHeader(h: BatchHeader): string {
  return hexlify(keccakBytes(headerWords(h, true, BATCH_HEADER_TYPEHASH)));
}

/**
 * The EIP-712 struct hash of an accumulated proof.
 * @example
 * ```ts
 * hashAccumulatedProof(proof);
 * ```
 */
export function hashAccumulatedProof(p: AccumulatedProof): string {
  return TypedDataEncoder.hashStruct("AccumulatedProof", PROOF_TYPES, p);
}

/**
 * The digest a sender signs for a header: `keccak256("\x19\x01" ‖ domainSeparator ‖ structHash)`.
 * @example
 * ```ts
 * const digest = batchHeaderDigest(domain, header); // what ecrecover checks on-chain
 * ```
 */
export function batchHeaderDigest(domain: TypedDataDomain, h: BatchHeader): string {
  const key = `${domain.name}|${domain.version}|${domain.chainId}|${domain.verifyingContract}|${domain.salt ?? ""}`;
  let separator = separators.get(key);
  if (separator === undefined) {
    separator = toBytes(TypedDataEncoder.hashDomain(domain), "domain");
    separators.set(key, separator);
  }
  const out = new Uint8Array(66);
  out[0] = 0x19;
  out[1] = 0x01;
  out.set(separator, 2);
  out.set(toBytes(hashBatchHeader(h), "struct hash"), 34);
  return hexlify(keccakBytes(out));
}

/** Domain separators by domain (a worker signs and checks under one or two). */
const separators = new Map<string, Uint8Array>();

/**
 * The digest a sender signs for an accumulated proof.
 * @example
 * ```ts
 * const digest = accumulatedProofDigest(domain, proof);
 * ```
 */
export function accumulatedProofDigest(domain: TypedDataDomain, p: AccumulatedProof): string {
  return TypedDataEncoder.hash(domain, PROOF_TYPES, p);
}

const coder = AbiCoder.defaultAbiCoder();

/**
 * The content hash of a header: every field but `receiver` (Solidity: `BatchHeaders.contentHash`).
 * `prev` links content hashes, and two headers of one (epoch, stream, shard, originShard, sender,
 * seq) equivocate exactly when their content hashes differ.
 * @example
 * ```ts
 * next.prev = contentHash(previousHeader);
 * ```
 */
export function contentHash(h: BatchHeader): string {
  return hexlify(keccakBytes(headerWords(h, false)));
}

/**
 * abi.encode of a header's static fields (with `receiver` after `sender`, or without it), or with
 * `typeHash` as a first word: one 32-byte word each, written here and hashed by the math core
 * (ethers' AbiCoder, TypedDataEncoder and keccak were a tenth of a receiver's time).
 */
function headerWords(h: BatchHeader, receiver: boolean, typeHash?: string): Uint8Array {
  const fields = receiver ? 15 : 14;
  const base = typeHash ? 1 : 0;
  const out = new Uint8Array((base + fields) * 32);
  if (typeHash) out.set(toBytes32(typeHash, "typeHash"), 0);
  let i = base;
  const uint = (v: bigint | number | string, field: string, bits: number) => {
    let x = BigInt(v);
    if (x < 0n || x >> BigInt(bits) !== 0n) throw new ValueOutOfRangeError(field, x, `a uint${bits}`);
    for (let j = 31; x > 0n; --j, x >>= 8n) out[i * 32 + j] = Number(x & 0xffn);
    i += 1;
  };
  const word = (v: BytesLike, field: string) => out.set(toBytes32(v, field), 32 * i++);
  const address = (v: string, field: string) => {
    const b = toBytes(String(v), field);
    if (b.length !== 20) throw new ValueOutOfRangeError(field, v, "an address (20 bytes)");
    out.set(b, 32 * i++ + 12);
  };
  uint(h.epoch, "epoch", 64);
  word(h.stream, "stream");
  uint(h.shard, "shard", 32);
  uint(h.originShard, "originShard", 32);
  address(h.sender, "sender");
  if (receiver) address(h.receiver, "receiver");
  uint(h.seq, "seq", 64);
  word(h.prev, "prev");
  word(h.deltasRoot, "deltasRoot");
  uint(h.count, "count", 32);
  word(h.batchMsh, "batchMsh");
  word(h.cumulativeMsh, "cumulativeMsh");
  word(h.inputMsh, "inputMsh");
  uint(h.firstTime, "firstTime", 64);
  uint(h.lastTime, "lastTime", 64);
  return out;
}

/**
 * The replica content of a header: what every honest holder of the origin shard signs alike at one
 * position `(epoch, stream, shard, originShard, seq)` (Solidity: `BatchHeaders.replicaHashCalldata`). It
 * leaves out the sender, the receiver and `prev` (which links the sender's own chain).
 * @example
 * ```ts
 * if (replicaHash(a) !== replicaHash(b)) openDispute(a, b); // same position, different holders
 * ```
 */
export function replicaHash(h: BatchHeader): string {
  return keccak256(
    coder.encode(
      ["bytes32", "uint32", "bytes32", "bytes32", "bytes32", "uint64", "uint64"],
      [h.deltasRoot, h.count, h.batchMsh, h.cumulativeMsh, h.inputMsh, h.firstTime, h.lastTime],
    ),
  );
}
