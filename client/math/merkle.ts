import { hexlify, type BytesLike } from "ethers";
import { DeltaMerkleProofTooLongError } from "../errors/math.js";
import type { Delta } from "./lthash.js";
import { core, mem, OFFSETS, reserveInput } from "./wasm.js";
import { toBytes, toBytes32, toInt64, toUint64 } from "./values.js";

const ZERO32 = "0x" + "00".repeat(32);

/** A DataView of the core's memory (a new one when the memory grew). */
let view: DataView | undefined;
function viewOf(m: Uint8Array): DataView {
  if (view?.buffer !== m.buffer) view = new DataView(m.buffer);
  return view;
}

/**
 * The leaf of a delta: `keccak256(keccak256(abi.encode(data, time, diff)))` (docs/protocol.md §6).
 * @example
 * ```ts
 * deltaLeaf({ data: "0x01", time: 1n, diff: 1n }); // "0x…"
 * ```
 */
export function deltaLeaf(delta: Delta): string {
  return hexlify(leafBytes(delta));
}

function leafBytes(delta: Delta): Uint8Array {
  const data = toBytes(delta.data, "data");
  const time = toUint64(delta.time, "time");
  const diff = toInt64(delta.diff, "diff");
  const padded = (data.length + 31) & ~31;
  reserveInput(128 + padded);
  const m = mem();
  const at = OFFSETS.INPUT;
  // abi.encode(bytes, uint64, int64): offset 0x60, time, diff (sign-extended), length, data. Each
  // word is big-endian; time and diff fit their low 8 bytes, the length its low 4 (a word written
  // byte by byte through BigInt shifts cost a twelfth of a busy worker's main thread).
  const v = viewOf(m);
  m.fill(0, at, at + 128 + padded);
  m[at + 31] = 0x60;
  v.setBigUint64(at + 56, time);
  if (diff < 0n) m.fill(0xff, at + 64, at + 88);
  v.setBigInt64(at + 88, diff);
  v.setUint32(at + 124, data.length);
  m.set(data, at + 128);
  core.keccak(128 + padded);
  m.copyWithin(at, OFFSETS.OUT, OFFSETS.OUT + 32);
  core.keccak(32);
  return m.slice(OFFSETS.OUT, OFFSETS.OUT + 32);
}

function compare(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < 32; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

/** OpenZeppelin's commutative keccak: the hash of the sorted pair. */
function hashPair(a: Uint8Array, b: Uint8Array): Uint8Array {
  const m = mem();
  const [x, y] = compare(a, b) <= 0 ? [a, b] : [b, a];
  m.set(x, OFFSETS.INPUT);
  m.set(y, OFFSETS.INPUT + 32);
  core.keccak(64);
  return m.slice(OFFSETS.OUT, OFFSETS.OUT + 32);
}

/**
 * The depth of a tree with `count` leaves: ceil(log2(count)); 0 for 0 or 1 leaves.
 * @example
 * ```ts
 * merkleDepth(5); // 3
 * ```
 */
export function merkleDepth(count: number): number {
  let d = 0;
  while (2 ** d < count) d++;
  return d;
}

// All levels, leaves first; an odd last node is promoted unchanged.
function levels(leaves: Uint8Array[]): Uint8Array[][] {
  const out = [leaves];
  let level = leaves;
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(hashPair(level[i], level[i + 1]));
    if (level.length % 2 === 1) next.push(level[level.length - 1]);
    out.push(next);
    level = next;
  }
  return out;
}

/**
 * The batch Merkle root of deltas in batch order (`deltasRoot`); zero for an empty batch.
 * Rule for odd levels and why: docs/protocol-math.md.
 * @example
 * ```ts
 * const root = deltasRoot(batch.deltas);
 * ```
 */
export function deltasRoot(deltas: readonly Delta[]): string {
  if (deltas.length === 0) return ZERO32;
  const ls = levels(deltas.map(leafBytes));
  return hexlify(ls[ls.length - 1][0]);
}

/**
 * The Merkle proof (sibling hashes, bottom-up) of the delta at `index`, verifiable with
 * OpenZeppelin's `MerkleProof.verify` and `DeltaMerkle.verify`.
 * @example
 * ```ts
 * const proof = deltaProof(batch.deltas, 3);
 * ```
 */
export function deltaProof(deltas: readonly Delta[], index: number): string[] {
  if (!Number.isInteger(index) || index < 0 || index >= deltas.length)
    throw new RangeError(`delta index ${index} is outside the batch (${deltas.length} deltas)`);
  const proof: string[] = [];
  const ls = levels(deltas.map(leafBytes));
  let i = index;
  for (let l = 0; l < ls.length - 1; l++) {
    const sibling = i ^ 1;
    if (sibling < ls[l].length) proof.push(hexlify(ls[l][sibling]));
    i >>= 1;
  }
  return proof;
}

/**
 * Whether `delta` is in the batch with root `root` and `count` leaves; throws
 * {@link DeltaMerkleProofTooLongError} for a proof longer than the tree is deep (as on-chain).
 * @example
 * ```ts
 * verifyDeltaProof(proof, header.deltasRoot, header.count, delta); // true
 * ```
 */
export function verifyDeltaProof(proof: readonly BytesLike[], root: BytesLike, count: number, delta: Delta): boolean {
  const maxLength = merkleDepth(count);
  if (proof.length > maxLength) throw new DeltaMerkleProofTooLongError(proof.length, maxLength);
  let node = leafBytes(delta);
  for (const p of proof) node = hashPair(node, Uint8Array.from(toBytes32(p, "proof element")));
  return compare(node, toBytes32(root, "root")) === 0;
}
