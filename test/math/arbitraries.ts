// fast-check generators for the protocol's values, shared by the property and differential tests.
import fc from "fast-check";
import { hexlify } from "ethers";

export const bytesHex = (maxLength: number) => fc.uint8Array({ maxLength }).map((b) => hexlify(b));
export const bytes32 = fc.oneof(
  { weight: 1, arbitrary: fc.constantFrom("0x" + "00".repeat(32), "0x" + "ff".repeat(32)) },
  { weight: 8, arbitrary: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => hexlify(b)) },
);
export const uint64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
export const int64 = fc.oneof(
  fc.constantFrom(0n, -1n, 1n, 1n << 15n, 1n << 16n, -(1n << 63n), (1n << 63n) - 1n),
  fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }),
  fc.bigInt({ min: -5n, max: 5n }),
);
export const delta = fc.record({ data: bytesHex(96), time: uint64, diff: int64 });

/** Runs per property: CI sets FAST_CHECK_RUNS; locally the default keeps the suite quick. */
export const RUNS = Number(process.env.FAST_CHECK_RUNS ?? 100);
