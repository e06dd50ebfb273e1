import { AbiCoder, keccak256, ZeroHash } from "ethers";

/** The kinds of change the registry folds into its graph hash (OperatorRegistry.sol). */
export const GraphChangeKind = { STREAM: 1, OPERATOR: 2, DEPRECATION: 3 } as const;
/** A value of {@link GraphChangeKind}. */
export type GraphChangeKind = (typeof GraphChangeKind)[keyof typeof GraphChangeKind];

/** A stream spec as the registry takes it (ids and hashes 0x-hex). */
export type StreamSpec = {
  id: string;
  schemaHash: string;
  partition: { kind: number; offset: number; length: number };
  sourceKind: number;
  sourceChainId: bigint;
  sourceDescriptor: string;
};

/** An operator spec as the registry takes it. */
export type OperatorSpec = {
  name: string;
  version: number;
  inputs: string[];
  outputs: string[];
  definitionHash: string;
  bytecodeHash: string;
  definitionTxId: string;
  bytecodeTxId: string;
};

const STREAM_TUPLE =
  "tuple(bytes32 id, bytes32 schemaHash, tuple(uint8 kind, uint32 offset, uint32 length) partition, uint8 sourceKind, uint64 sourceChainId, bytes32 sourceDescriptor)";
const OPERATOR_TUPLE =
  "tuple(string name, uint32 version, bytes32[] inputs, bytes32[] outputs, bytes32 definitionHash, bytes32 bytecodeHash, bytes32 definitionTxId, bytes32 bytecodeTxId)";
const coder = AbiCoder.defaultAbiCoder();

/**
 * keccak256(abi.encode(spec)) of a change, as the registry computes it.
 * @example
 * ```ts
 * changeDigest(GraphChangeKind.DEPRECATION, 3); // keccak256(abi.encode(uint32(3)))
 * ```
 */
export function changeDigest(kind: GraphChangeKind, spec: StreamSpec | OperatorSpec | number): string {
  if (kind === GraphChangeKind.STREAM) return keccak256(coder.encode([STREAM_TUPLE], [spec]));
  if (kind === GraphChangeKind.OPERATOR) return keccak256(coder.encode([OPERATOR_TUPLE], [spec]));
  return keccak256(coder.encode(["uint32"], [spec]));
}

/**
 * One step of the registry's running hash:
 * `graphHash_v = keccak256(abi.encode(graphHash_{v-1}, v, kind, digest))`, starting from zero.
 * @example
 * ```ts
 * let h = ZeroHash;
 * h = foldGraphHash(h, 1n, GraphChangeKind.STREAM, changeDigest(GraphChangeKind.STREAM, spec));
 * ```
 */
export function foldGraphHash(previous: string, version: bigint, kind: GraphChangeKind, digest: string): string {
  return keccak256(coder.encode(["bytes32", "uint64", "uint256", "bytes32"], [previous, version, kind, digest]));
}

/**
 * The digest the registry stores for an operator's blobs:
 * `keccak256(abi.encode(definitionHash, bytecodeHash))` (OperatorRegistry.sol).
 * @example
 * ```ts
 * operatorContentHash(spec.definitionHash, spec.bytecodeHash) === record.contentHash;
 * ```
 */
export function operatorContentHash(definitionHash: string, bytecodeHash: string): string {
  return keccak256(coder.encode(["bytes32", "bytes32"], [definitionHash, bytecodeHash]));
}

/** The graph hash before any change. */
export const EMPTY_GRAPH_HASH = ZeroHash;
