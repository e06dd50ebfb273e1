import type { BytesLike } from "ethers";
import {
  ShardingInvalidSpecError,
  ShardingSliceOutOfRangeError,
  ShardingZeroWorkersError,
  ValueOutOfRangeError,
} from "../errors/math.js";
import { core, mem, OFFSETS, reserveInput } from "./wasm.js";
import { toBytes, toBytes32, toUint32 } from "./values.js";

/**
 * How a stream derives a delta's partition key (Solidity: `enum KeyKind`).
 * @example
 * ```ts
 * const spec: PartitionSpec = { kind: KeyKind.SLICE, offset: 0, length: 20 };
 * ```
 */
export const KeyKind = { WHOLE: 0, SLICE: 1 } as const;
/** A value of {@link KeyKind}. */
export type KeyKind = (typeof KeyKind)[keyof typeof KeyKind];

/**
 * A stream's partition key spec (Solidity: `struct PartitionSpec`).
 * @example
 * ```ts
 * const whole: PartitionSpec = { kind: KeyKind.WHOLE, offset: 0, length: 0 };
 * ```
 */
export type PartitionSpec = { kind: KeyKind; offset: number; length: number };

/**
 * Throws {@link ShardingInvalidSpecError} unless `spec` is well-formed: `WHOLE` with offset and
 * length 0, or `SLICE` with length ≥ 1; offset and length are uint32.
 * @example
 * ```ts
 * validateSpec({ kind: KeyKind.SLICE, offset: 0, length: 20 }); // ok
 * ```
 */
export function validateSpec(spec: PartitionSpec): void {
  const u32 = (x: number) => Number.isInteger(x) && x >= 0 && x <= 0xffffffff;
  const ok =
    u32(spec.offset) &&
    u32(spec.length) &&
    (spec.kind === KeyKind.WHOLE
      ? spec.offset === 0 && spec.length === 0
      : spec.kind === KeyKind.SLICE && spec.length !== 0);
  if (!ok) throw new ShardingInvalidSpecError(spec.kind, spec.offset, spec.length);
}

/**
 * The partition key of `data` under `spec`: the data itself for `WHOLE`, a slice for `SLICE`
 * (throws {@link ShardingSliceOutOfRangeError} when the slice does not fit).
 * @example
 * ```ts
 * keyOf({ kind: KeyKind.SLICE, offset: 1, length: 2 }, "0x0a0b0c0d"); // Uint8Array [0x0b, 0x0c]
 * ```
 */
export function keyOf(spec: PartitionSpec, data: BytesLike): Uint8Array {
  validateSpec(spec);
  const bytes = toBytes(data, "data");
  if (spec.kind === KeyKind.WHOLE) return bytes;
  if (spec.offset + spec.length > bytes.length)
    throw new ShardingSliceOutOfRangeError(spec.offset, spec.length, bytes.length);
  return bytes.subarray(spec.offset, spec.offset + spec.length);
}

function checkN(n: number): void {
  if (n === 0) throw new ShardingZeroWorkersError();
  toUint32(n, "n");
}

let currentR: Uint8Array | undefined;
function setR(r: Uint8Array): void {
  if (currentR === r) return;
  mem().set(r, OFFSETS.R);
  currentR = r;
}

/**
 * `uint256(keccak256(key ‖ r)) mod n` (docs/protocol.md §5). For many keys under one epoch, a
 * {@link Sharder} avoids re-checking `r` and `n` on every call.
 * @param key The partition key (any length).
 * @param r The epoch's 32-byte randomness.
 * @param n The epoch's number of workers, 1 ≤ n < 2^32.
 * @example
 * ```ts
 * const s = shard("0x1234", epochRandomness, 16); // 0 ≤ s < 16
 * ```
 */
export function shard(key: BytesLike, r: BytesLike, n: number): number {
  checkN(n);
  const k = toBytes(key, "key");
  setR(Uint8Array.from(toBytes32(r, "r")));
  reserveInput(k.length + 32);
  mem().set(k, OFFSETS.INPUT);
  return core.shard(k.length, n) >>> 0; // wasm returns i32; shards are u32
}

/**
 * Shards keys for one epoch `(r, n)`, the fast path for workers routing deltas.
 * @example
 * ```ts
 * const sharder = new Sharder(r, n);
 * const s = sharder.shardOfDelta(spec, delta.data);
 * ```
 */
export class Sharder {
  private readonly r: Uint8Array;

  /**
   * @param r The epoch's randomness (32 bytes).
   * @param n The epoch's number of workers, 1 ≤ n < 2^32.
   */
  constructor(
    r: BytesLike,
    readonly n: number,
  ) {
    checkN(n);
    this.r = Uint8Array.from(toBytes32(r, "r"));
  }

  /** The shard of a key of any length. */
  shard(key: Uint8Array): number {
    setR(this.r);
    reserveInput(key.length + 32);
    mem().set(key, OFFSETS.INPUT);
    return core.shard(key.length, this.n) >>> 0;
  }

  /** The shard of a 32-byte key (one Keccak permutation, no copies beyond the key). */
  shard32(key: Uint8Array): number {
    if (key.length !== 32) throw new ValueOutOfRangeError("key", `${key.length} bytes`, "exactly 32 bytes");
    setR(this.r);
    mem().set(key, OFFSETS.KEY);
    return core.shard32(this.n) >>> 0;
  }

  /** The shard of a delta's data under its stream's spec. */
  shardOfDelta(spec: PartitionSpec, data: BytesLike): number {
    return this.shard(keyOf(spec, data));
  }
}
