// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

/// @notice How a stream derives a delta's partition key from the delta's data (docs/protocol.md §4, §5).
enum KeyKind {
    /// @dev The key is the whole data.
    WHOLE,
    /// @dev The key is `data[offset : offset + length]`.
    SLICE
}

/// @notice A stream's partition key spec. For `WHOLE`, `offset` and `length` must be zero.
struct PartitionSpec {
    KeyKind kind;
    uint32 offset;
    uint32 length;
}

/**
 * @title Sharding
 * @notice Partition keys and shard assignment: `shard(key) = uint256(keccak256(key ‖ r)) mod n`
 * (docs/protocol.md §5). The TypeScript twin is `client/math/sharding.ts`; both are checked against
 * `test/vectors/sharding.json`.
 */
library Sharding {
    /// @notice Thrown when a shard is asked of an epoch with no workers.
    error ShardingZeroWorkers();

    /// @notice Thrown when a `SLICE` key reaches past the end of the delta's data.
    /// @param offset The slice's first byte.
    /// @param length The slice's length.
    /// @param dataLength The length of the data it was applied to.
    error ShardingSliceOutOfRange(uint256 offset, uint256 length, uint256 dataLength);

    /// @notice Thrown when a partition spec is malformed: `WHOLE` with a non-zero offset or
    /// length, or `SLICE` with length zero (every delta would land on one shard).
    /// @param kind The spec's kind.
    /// @param offset The spec's offset.
    /// @param length The spec's length.
    error ShardingInvalidSpec(KeyKind kind, uint256 offset, uint256 length);

    /// @notice Reverts unless `spec` is well-formed (see {ShardingInvalidSpec}).
    function validate(PartitionSpec memory spec) internal pure {
        bool ok = spec.kind == KeyKind.WHOLE ? (spec.offset == 0 && spec.length == 0) : spec.length != 0;
        require(ok, ShardingInvalidSpec(spec.kind, spec.offset, spec.length));
    }

    /// @notice The partition key of `data` under `spec`: `data` itself for `WHOLE`, a copy of the slice for `SLICE`.
    function keyOf(PartitionSpec memory spec, bytes memory data) internal pure returns (bytes memory key) {
        validate(spec);
        if (spec.kind == KeyKind.WHOLE) return data;
        uint256 offset = spec.offset;
        uint256 length = spec.length;
        require(offset + length <= data.length, ShardingSliceOutOfRange(offset, length, data.length));
        key = new bytes(length);
        assembly ("memory-safe") {
            mcopy(add(key, 0x20), add(add(data, 0x20), offset), length)
        }
    }

    /// @notice `uint256(keccak256(key ‖ r)) mod n`.
    function shard(bytes memory key, bytes32 r, uint32 n) internal pure returns (uint32 result) {
        require(n != 0, ShardingZeroWorkers());
        assembly ("memory-safe") {
            // Hash key ‖ r in free memory without moving the free memory pointer.
            let len := mload(key)
            let ptr := mload(0x40)
            mcopy(ptr, add(key, 0x20), len)
            mstore(add(ptr, len), r)
            result := mod(keccak256(ptr, add(len, 0x20)), n)
        }
    }

    /// @notice Shard of a 32-byte key: one hash over scratch space, no allocation.
    function shard32(bytes32 key, bytes32 r, uint32 n) internal pure returns (uint32 result) {
        require(n != 0, ShardingZeroWorkers());
        assembly ("memory-safe") {
            mstore(0x00, key)
            mstore(0x20, r)
            result := mod(keccak256(0x00, 0x40), n)
        }
    }

    /// @notice Shard of a delta's data under `spec`: `shard(keyOf(spec, data), r, n)`.
    function shardOf(PartitionSpec memory spec, bytes memory data, bytes32 r, uint32 n) internal pure returns (uint32) {
        return shard(keyOf(spec, data), r, n);
    }
}
