import { getBytes, hexlify, type BytesLike } from "ethers";
import { ValueOutOfRangeError } from "../errors/math.js";

// Checks that a value fits the Solidity type it stands for, so that the client never computes
// on a value the contracts would reject or read differently.

const UINT64_MAX = (1n << 64n) - 1n;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

/** Node's Buffer where there is one (its hex codec is native). */
const NodeBuffer = (
  globalThis as {
    Buffer?: {
      from(s: string, enc: "hex"): Uint8Array;
      from(b: ArrayBufferLike, offset: number, length: number): { toString(enc: "hex"): string };
    };
  }
).Buffer;

/** Lower-case 0x-prefixed hex of bytes: Node's native encoder where there is one (ethers' hexlify builds the string a byte at a time). */
export function bytesToHex(b: Uint8Array): string {
  return NodeBuffer ? "0x" + NodeBuffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex") : hexlify(b);
}

/** Bytes of any length from a 0x-prefixed hex string or byte array; anything else is a {@link ValueOutOfRangeError}. */
export function toBytes(value: BytesLike, field: string): Uint8Array {
  // Node's native hex decoding where there is one (ethers' is a loop in JavaScript: the worker's
  // hottest path decoded every delta's data several times through it).
  if (NodeBuffer && typeof value === "string" && value.length % 2 === 0 && value.startsWith("0x")) {
    // Node stops decoding at the first character that is not hex: a shorter result means one was
    // there, and ethers' decoder below gives the error.
    const b = NodeBuffer.from(value.slice(2), "hex");
    if (b.length * 2 === value.length - 2) return new Uint8Array(b.buffer, b.byteOffset, b.length);
  }
  try {
    return getBytes(value);
  } catch {
    throw new ValueOutOfRangeError(field, value, "a 0x-prefixed hex string or a Uint8Array");
  }
}

/** Exactly 32 bytes. */
export function toBytes32(value: BytesLike, field: string): Uint8Array {
  const b = toBytes(value, field);
  if (b.length !== 32) throw new ValueOutOfRangeError(field, value, "exactly 32 bytes (a bytes32)");
  return b;
}

/** An integer in [min, max] (numbers only: the protocol's uint32 values). */
export function toUint32(value: number, field: string, min = 0): number {
  if (!Number.isInteger(value) || value < min || value > 0xffffffff)
    throw new ValueOutOfRangeError(field, value, `an integer in [${min}, 2^32 - 1] (a uint32)`);
  return value;
}

/** A uint64 as bigint. */
export function toUint64(value: bigint | number, field: string): bigint {
  const v = toBigInt(value, field);
  if (v < 0n || v > UINT64_MAX) throw new ValueOutOfRangeError(field, value, "in [0, 2^64 - 1] (a uint64)");
  return v;
}

/** An int64 as bigint. */
export function toInt64(value: bigint | number, field: string): bigint {
  const v = toBigInt(value, field);
  if (v < INT64_MIN || v > INT64_MAX) throw new ValueOutOfRangeError(field, value, "in [-2^63, 2^63 - 1] (an int64)");
  return v;
}

function toBigInt(value: bigint | number, field: string): bigint {
  if (typeof value === "bigint") return value;
  if (!Number.isSafeInteger(value))
    throw new ValueOutOfRangeError(field, value, "an integer (use a bigint beyond 2^53)");
  return BigInt(value);
}
