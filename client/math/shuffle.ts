import type { BytesLike } from "ethers";
import {
  ShuffleIndexOutOfRangeError,
  ShuffleInvalidReplicationError,
  ShuffleZeroRoundsError,
  ValueOutOfRangeError,
} from "../errors/math.js";
import { core, mem, OFFSETS } from "./wasm.js";
import { toBytes32, toUint32 } from "./values.js";

/**
 * The default number of swap-or-not rounds (Ethereum's `SHUFFLE_ROUND_COUNT`).
 * @example
 * ```ts
 * new Permutation(r, n, DEFAULT_ROUNDS);
 * ```
 */
export const DEFAULT_ROUNDS = 90;

// Hashes r ‖ uint8(round) (33 bytes) or r ‖ uint8(round) ‖ uint32_be(chunk) (37 bytes).
function roundHash(r: Uint8Array, round: number, chunk?: number): Uint8Array {
  const m = mem();
  const at = OFFSETS.INPUT;
  m.set(r, at);
  m[at + 32] = round;
  let len = 33;
  if (chunk !== undefined) {
    m[at + 33] = (chunk >>> 24) & 0xff;
    m[at + 34] = (chunk >>> 16) & 0xff;
    m[at + 35] = (chunk >>> 8) & 0xff;
    m[at + 36] = chunk & 0xff;
    len = 37;
  }
  core.keccak(len);
  return m.subarray(OFFSETS.OUT, OFFSETS.OUT + 32);
}

// uint64_be(first 8 bytes of the hash) mod n, without BigInt: hi * 2^32 + lo (mod n).
function pivotOf(r: Uint8Array, round: number, n: number): number {
  const h = roundHash(r, round);
  const hi = ((h[0] << 24) | (h[1] << 16) | (h[2] << 8) | h[3]) >>> 0;
  const lo = ((h[4] << 24) | (h[5] << 16) | (h[6] << 8) | h[7]) >>> 0;
  // hi mod n < 2^32, times 2^32 < 2^64: split to stay within 2^53.
  const hiMod = hi % n;
  const hiTimes = (((hiMod * 0x10000) % n) * 0x10000) % n;
  return (hiTimes + (lo % n)) % n;
}

// Same order of checks as Shuffle.sol, so both sides fail with the same error.
function check(index: number, n: number, rounds: number): void {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) toUint32(n, "n");
  if (!Number.isInteger(index) || index < 0 || index >= n) throw new ShuffleIndexOutOfRangeError(index, n);
  if (!Number.isInteger(rounds) || rounds < 0 || rounds > 255)
    throw new ValueOutOfRangeError("rounds", rounds, "an integer in [1, 255] (a uint8)");
  if (rounds === 0) throw new ShuffleZeroRoundsError();
}

function run(index: number, n: number, r: Uint8Array, rounds: number, forward: boolean): number {
  for (let step = 0; step < rounds; step++) {
    const round = forward ? step : rounds - 1 - step;
    const pivot = pivotOf(r, round, n);
    const flip = (pivot + n - index) % n;
    const position = Math.max(index, flip);
    const source = roundHash(r, round, Math.floor(position / 256));
    const bit = (source[(position % 256) >>> 3] >>> (position % 8)) & 1;
    if (bit) index = flip;
  }
  return index;
}

/**
 * σ_r(index): the worker index at position `index` (Ethereum's `compute_shuffled_index` with
 * keccak256 and big-endian integers; byte layout in docs/protocol-math.md). O(rounds) hashes; for all positions at once
 * use {@link Permutation}.
 * @example
 * ```ts
 * const worker = shuffledIndex(3, 10, r); // the worker at position 3 of 10
 * ```
 */
export function shuffledIndex(index: number, n: number, r: BytesLike, rounds: number = DEFAULT_ROUNDS): number {
  check(index, n, rounds);
  return run(index, n, toBytes32(r, "r"), rounds, true);
}

/**
 * σ_r⁻¹(worker): the position of worker index `worker`.
 * @example
 * ```ts
 * unshuffledIndex(shuffledIndex(3, 10, r), 10, r); // 3
 * ```
 */
export function unshuffledIndex(worker: number, n: number, r: BytesLike, rounds: number = DEFAULT_ROUNDS): number {
  check(worker, n, rounds);
  return run(worker, n, toBytes32(r, "r"), rounds, false);
}

/**
 * The whole permutation σ_r of `[0, n)` and its inverse, computed once in O(n · rounds)
 * cheap steps and O(rounds · n / 256) hashes; afterwards every holder query is O(1) per answer.
 * @example
 * ```ts
 * const perm = new Permutation(r, n);
 * perm.holders(shard, k);          // the k workers that hold `shard`
 * perm.holds(myIndex, shard, k);   // does this worker hold it?
 * perm.shardsOf(myIndex, k);       // every shard this worker holds
 * ```
 */
export class Permutation {
  /** workerAt[p] = σ(p). */
  readonly workerAt: Uint32Array;
  /** positionOf[w] = σ⁻¹(w). */
  readonly positionOf: Uint32Array;

  constructor(
    r: BytesLike,
    readonly n: number,
    readonly rounds: number = DEFAULT_ROUNDS,
  ) {
    check(0, n, rounds);
    const rb = Uint8Array.from(toBytes32(r, "r"));
    const cur = new Uint32Array(n);
    for (let p = 0; p < n; p++) cur[p] = p;
    const chunks = Math.ceil(n / 256);
    const bits = new Uint8Array(chunks * 32);
    for (let round = 0; round < rounds; round++) {
      const pivot = pivotOf(rb, round, n);
      for (let c = 0; c < chunks; c++) bits.set(roundHash(rb, round, c), c * 32);
      for (let p = 0; p < n; p++) {
        const index = cur[p];
        const flip = (pivot + n - index) % n;
        const position = index > flip ? index : flip;
        if ((bits[position >>> 3] >>> (position & 7)) & 1) cur[p] = flip;
      }
    }
    this.workerAt = cur;
    this.positionOf = new Uint32Array(n);
    for (let p = 0; p < n; p++) this.positionOf[cur[p]] = p;
  }

  private checkShard(j: number, k: number): void {
    if (!Number.isInteger(k) || k < 1 || k > this.n) throw new ShuffleInvalidReplicationError(k, this.n);
    if (!Number.isInteger(j) || j < 0 || j >= this.n) throw new ShuffleIndexOutOfRangeError(j, this.n);
  }

  /** The k holders of shard j, in replica order: σ(j), σ(j+1), …, σ(j+k-1) (mod n). */
  holders(j: number, k: number): number[] {
    this.checkShard(j, k);
    const out = new Array<number>(k);
    for (let i = 0; i < k; i++) out[i] = this.workerAt[(j + i) % this.n];
    return out;
  }

  /** Whether worker index `worker` holds shard j. */
  holds(worker: number, j: number, k: number): boolean {
    this.checkShard(j, k);
    if (!Number.isInteger(worker) || worker < 0 || worker >= this.n)
      throw new ShuffleIndexOutOfRangeError(worker, this.n);
    return (this.positionOf[worker] + this.n - j) % this.n < k;
  }

  /** The k shards worker index `worker` holds, ascending from its own position backwards. */
  shardsOf(worker: number, k: number): number[] {
    this.checkShard(0, k);
    if (!Number.isInteger(worker) || worker < 0 || worker >= this.n)
      throw new ShuffleIndexOutOfRangeError(worker, this.n);
    const p = this.positionOf[worker];
    const out = new Array<number>(k);
    for (let i = 0; i < k; i++) out[i] = (p - i + this.n) % this.n;
    return out;
  }
}
