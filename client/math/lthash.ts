import { hexlify, type BytesLike } from "ethers";
import { LtHashInvalidLengthError } from "../errors/math.js";
import { core, mem, OFFSETS, reserveInput } from "./wasm.js";
import { toBytes, toBytes32, toInt64, toUint64 } from "./values.js";

/** Lanes in a state. */
export const LTHASH_LANES = 1024;
/** Bytes in an encoded state. */
export const LTHASH_BYTES = 2048;

/**
 * A delta, differential dataflow's `(data, time, diff)` (Solidity: `struct Delta`).
 * @example
 * ```ts
 * const d: Delta = { data: "0x01", time: 7n, diff: -1n };
 * ```
 */
export type Delta = { data: BytesLike; time: bigint | number; diff: bigint | number };

/**
 * A delta's data in bytes, whether it is bytes or 0x-hex (two characters a byte; not checked).
 * @example
 * ```ts
 * dataLength({ data: "0x0102", time: 0n, diff: 1n }); // 2
 * ```
 */
export const dataLength = (d: Delta): number =>
  typeof d.data === "string" ? (d.data.length - 2) >> 1 : (d.data as Uint8Array).length;

function lanesView(): Uint16Array {
  return new Uint16Array(core.memory.buffer, OFFSETS.LTHASH, LTHASH_LANES);
}

// time as (hi, lo) u32 halves for the core, which takes no BigInt.
function splitTime(time: bigint): [number, number] {
  return [Number(time >> 32n), Number(time & 0xffffffffn)];
}

// Writes data at INPUT + 96 and hashes abi.encode(data, time) into ELEMENT.
function hashElement(data: Uint8Array, time: bigint): void {
  reserveInput(96 + data.length + 32);
  mem().set(data, OFFSETS.INPUT + 96);
  const [hi, lo] = splitTime(time);
  core.elementHash(data.length, hi, lo);
}

/**
 * The element of a delta: `keccak256(abi.encode(data, time))` (docs/protocol.md §7).
 * @example
 * ```ts
 * element("0x01", 7n); // "0x…" (32 bytes)
 * ```
 */
export function element(data: BytesLike, time: bigint | number): string {
  hashElement(toBytes(data, "data"), toUint64(time, "time"));
  return hexlify(mem().slice(OFFSETS.ELEMENT, OFFSETS.ELEMENT + 32));
}

/** A multiplicity reduced mod 2^16 (two's complement for negatives), as the lanes see it. */
function multiplier(diff: bigint): number {
  return Number(BigInt.asUintN(16, diff));
}

/**
 * LtHash16 over keccak256, the protocol's multiset hash (docs/protocol.md §7): 1024 lanes of 16 bits
 * with wrapping arithmetic. Order-independent and incremental; `diff` may be negative.
 * Mutating methods return `this` for chaining.
 * @example
 * ```ts
 * const batch = new LtHash16();
 * for (const d of deltas) batch.add(d.data, d.time, d.diff);
 * const cumulative = previous.clone().combine(batch);
 * header.batchMsh = batch.digest();
 * ```
 */
export class LtHash16 {
  /** The lanes, lane i = lanes[i] (lane 0 is the first big-endian u16 of the encoding). */
  readonly lanes: Uint16Array;

  constructor(lanes?: Uint16Array) {
    this.lanes = lanes ? Uint16Array.from(lanes) : new Uint16Array(LTHASH_LANES);
    if (this.lanes.length !== LTHASH_LANES) throw new LtHashInvalidLengthError(this.lanes.length * 2);
  }

  /** Decodes a 2048-byte big-endian state (as fraud proofs carry it). */
  static fromBytes(encoded: BytesLike): LtHash16 {
    const b = toBytes(encoded, "encoded state");
    if (b.length !== LTHASH_BYTES) throw new LtHashInvalidLengthError(b.length);
    const lanes = new Uint16Array(LTHASH_LANES);
    for (let i = 0; i < LTHASH_LANES; i++) lanes[i] = (b[2 * i] << 8) | b[2 * i + 1];
    return new LtHash16(lanes);
  }

  /** The 2048-byte big-endian encoding. */
  toBytes(): Uint8Array {
    const out = new Uint8Array(LTHASH_BYTES);
    for (let i = 0; i < LTHASH_LANES; i++) {
      out[2 * i] = this.lanes[i] >>> 8;
      out[2 * i + 1] = this.lanes[i] & 0xff;
    }
    return out;
  }

  /** A copy. */
  clone(): LtHash16 {
    return new LtHash16(this.lanes);
  }

  /** Adds the delta `(data, time, diff)`: every lane += diff · laneOf(element) (mod 2^16). */
  add(data: BytesLike, time: bigint | number, diff: bigint | number): this {
    return this.addAll([{ data, time, diff }]);
  }

  /** Adds many deltas with one copy of the state in and out of the core. */
  addAll(deltas: Iterable<Delta>): this {
    // Validate everything first, so a bad delta leaves the state untouched.
    const items: [Uint8Array, bigint, number][] = [];
    for (const d of deltas)
      items.push([toBytes(d.data, "data"), toUint64(d.time, "time"), multiplier(toInt64(d.diff, "diff"))]);
    lanesView().set(this.lanes);
    for (const [data, time, m] of items) {
      if (m === 0) continue;
      hashElement(data, time);
      core.ltHashAddElement(m);
    }
    this.lanes.set(lanesView());
    return this;
  }

  /** Adds `mult` copies of a precomputed element (32 bytes). */
  addElement(e: BytesLike, mult: bigint | number): this {
    const eb = toBytes32(e, "element");
    const m = multiplier(toInt64(mult, "mult"));
    if (m === 0) return this;
    lanesView().set(this.lanes);
    mem().set(eb, OFFSETS.ELEMENT);
    core.ltHashAddElement(m);
    this.lanes.set(lanesView());
    return this;
  }

  /** this += other, lane-wise (multiset union). */
  combine(other: LtHash16): this {
    for (let i = 0; i < LTHASH_LANES; i++) this.lanes[i] = (this.lanes[i] + other.lanes[i]) & 0xffff;
    return this;
  }

  /** this -= other, lane-wise (multiset difference). */
  subtract(other: LtHash16): this {
    for (let i = 0; i < LTHASH_LANES; i++) this.lanes[i] = (this.lanes[i] - other.lanes[i]) & 0xffff;
    return this;
  }

  /** Whether this is the empty multiset. */
  isEmpty(): boolean {
    return this.lanes.every((x) => x === 0);
  }

  /** Lane-wise equality. */
  equals(other: LtHash16): boolean {
    return this.lanes.every((x, i) => x === other.lanes[i]);
  }

  /** The digest headers carry: keccak256 of the 2048-byte big-endian state, as 0x-hex. */
  digest(): string {
    lanesView().set(this.lanes);
    core.ltHashDigest();
    return hexlify(mem().slice(OFFSETS.OUT, OFFSETS.OUT + 32));
  }
}
