import { MaruError } from "./base.js";

// One class per Solidity custom error of the math libraries, with the same name plus "Error",
// carrying the same values, so that a decoded revert and a client-side failure read alike.

/**
 * Thrown when a shard is asked of an epoch with no workers (Solidity: `ShardingZeroWorkers`).
 * @example
 * ```ts
 * try { shard(key, r, 0); } catch (e) { if (e instanceof ShardingZeroWorkersError) { ... } }
 * ```
 */
export class ShardingZeroWorkersError extends MaruError {
  override name = "ShardingZeroWorkersError";
  constructor() {
    super("Sharding needs at least one worker (n = 0).", {
      fix: "wait for an epoch whose active set is non-empty; n comes from EpochManager.numWorkers(epoch).",
    });
  }
}

/**
 * Thrown when a `SLICE` key reaches past the end of a delta's data (Solidity: `ShardingSliceOutOfRange`).
 * @example
 * ```ts
 * keyOf({ kind: KeyKind.SLICE, offset: 4, length: 8 }, new Uint8Array(10)); // throws
 * ```
 */
export class ShardingSliceOutOfRangeError extends MaruError {
  override name = "ShardingSliceOutOfRangeError";
  constructor(
    readonly offset: number,
    readonly length: number,
    readonly dataLength: number,
  ) {
    super(
      `The partition key slice [${offset}, ${offset + length}) reaches past the end of the data (${dataLength} bytes).`,
      {
        details: [`offset: ${offset}`, `length: ${length}`, `data length: ${dataLength}`],
        fix: "the delta does not fit its stream's partition spec; its producer must emit data at least offset + length bytes long.",
      },
    );
  }
}

/**
 * Thrown when a partition spec is malformed (Solidity: `ShardingInvalidSpec`).
 * @example
 * ```ts
 * validateSpec({ kind: KeyKind.SLICE, offset: 0, length: 0 }); // throws
 * ```
 */
export class ShardingInvalidSpecError extends MaruError {
  override name = "ShardingInvalidSpecError";
  constructor(
    readonly kind: number,
    readonly offset: number,
    readonly length: number,
  ) {
    super(`Invalid partition spec (kind ${kind}, offset ${offset}, length ${length}).`, {
      details: [
        "WHOLE (0) takes offset 0 and length 0.",
        "SLICE (1) takes a length of at least 1; offset and length are uint32.",
      ],
    });
  }
}

/**
 * Thrown when an index is not below the permutation's size (Solidity: `ShuffleIndexOutOfRange`).
 * @example
 * ```ts
 * shuffledIndex(10, 10, r); // throws: index 10 of n = 10
 * ```
 */
export class ShuffleIndexOutOfRangeError extends MaruError {
  override name = "ShuffleIndexOutOfRangeError";
  constructor(
    readonly index: number,
    readonly n: number,
  ) {
    super(`Index ${index} is out of range: it must be below ${n}.`);
  }
}

/**
 * Thrown when a shuffle is asked with zero rounds (Solidity: `ShuffleZeroRounds`).
 * @example
 * ```ts
 * shuffledIndex(0, 10, r, 0); // throws
 * ```
 */
export class ShuffleZeroRoundsError extends MaruError {
  override name = "ShuffleZeroRoundsError";
  constructor() {
    super("The shuffle needs at least one round (the protocol uses 90).");
  }
}

/**
 * Thrown when the replication factor is not in [1, n] (Solidity: `ShuffleInvalidReplication`).
 * @example
 * ```ts
 * new Permutation(r, 3).holders(0, 4); // throws: k = 4 > n = 3
 * ```
 */
export class ShuffleInvalidReplicationError extends MaruError {
  override name = "ShuffleInvalidReplicationError";
  constructor(
    readonly k: number,
    readonly n: number,
  ) {
    super(`Replication factor ${k} is invalid for ${n} workers: it must be between 1 and ${n}.`);
  }
}

/**
 * Thrown when an encoded LtHash state is not 2048 bytes (Solidity: `LtHashInvalidLength`).
 * @example
 * ```ts
 * LtHash16.fromBytes(new Uint8Array(10)); // throws
 * ```
 */
export class LtHashInvalidLengthError extends MaruError {
  override name = "LtHashInvalidLengthError";
  constructor(readonly length: number) {
    super(`An encoded LtHash state is 2048 bytes; got ${length}.`);
  }
}

/**
 * Thrown when a Merkle proof is longer than the batch's tree is deep (Solidity: `DeltaMerkleProofTooLong`).
 * @example
 * ```ts
 * verifyDeltaProof(tooLongProof, root, 4, delta); // throws: at most 2 siblings for 4 leaves
 * ```
 */
export class DeltaMerkleProofTooLongError extends MaruError {
  override name = "DeltaMerkleProofTooLongError";
  constructor(
    readonly length: number,
    readonly maxLength: number,
  ) {
    super(`The Merkle proof has ${length} siblings; a batch of this size has at most ${maxLength}.`);
  }
}

/**
 * Thrown when a value does not fit the protocol type it stands for (a uint64 time, an int64 diff,
 * a bytes32, a uint32 shard, ...). Client-side only: on-chain, ABI decoding rejects such values.
 * @example
 * ```ts
 * new LtHash16().add(data, -1n, 1n); // throws: time is a uint64
 * ```
 */
export class ValueOutOfRangeError extends MaruError {
  override name = "ValueOutOfRangeError";
  constructor(
    readonly field: string,
    readonly value: unknown,
    readonly expected: string,
  ) {
    super(`${field} must be ${expected}; got ${String(value)}.`);
  }
}
