// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

/**
 * @title Shuffle
 * @notice The swap-or-not permutation σ_r of `[0, n)` and the shard holders built on it
 * (PROTOCOL.md §5). Derived from Ethereum's `compute_shuffled_index` (consensus specs,
 * phase0) with keccak256 in place of sha256 and the same byte layout, per round `i`:
 *
 *   pivot    = uint64_le(keccak256(r ‖ uint8(i))[0:8]) mod n
 *   flip     = (pivot + n - index) mod n
 *   position = max(index, flip)
 *   source   = keccak256(r ‖ uint8(i) ‖ uint32_le(position / 256))
 *   bit      = (source[(position mod 256) / 8] >> (position mod 8)) & 1
 *   index    = bit == 1 ? flip : index
 *
 * Each round is an involution, so the inverse runs the rounds in reverse order.
 * The worker at position `p` is `σ(p)`; the holders of shard `j` are the workers at
 * positions `j, j+1, …, j+k-1 (mod n)`. The TypeScript twin is `client/math/shuffle.ts`.
 */
library Shuffle {
    /// @notice The default number of rounds (Ethereum's `SHUFFLE_ROUND_COUNT`).
    uint8 internal constant DEFAULT_ROUNDS = 90;

    /// @notice Thrown when an index is not below the permutation's size.
    /// @param index The index given.
    /// @param n The permutation's size.
    error ShuffleIndexOutOfRange(uint256 index, uint256 n);

    /// @notice Thrown when the round count is zero (the identity permutation is never intended).
    error ShuffleZeroRounds();

    /// @notice Thrown when the replication factor is not in `[1, n]`.
    /// @param k The replication factor given.
    /// @param n The number of workers.
    error ShuffleInvalidReplication(uint256 k, uint256 n);

    /// @notice σ_r(index): the worker index at position `index`.
    function shuffledIndex(uint32 index, uint32 n, bytes32 r, uint8 rounds) internal pure returns (uint32) {
        _check(index, n, rounds);
        return uint32(_run(index, n, r, rounds, true));
    }

    /// @notice σ_r⁻¹(worker): the position of worker index `worker`.
    function unshuffledIndex(uint32 worker, uint32 n, bytes32 r, uint8 rounds) internal pure returns (uint32) {
        _check(worker, n, rounds);
        return uint32(_run(worker, n, r, rounds, false));
    }

    /// @notice The `i`-th holder (`0 <= i < k`) of shard `j`: σ((j + i) mod n).
    function holderAt(uint32 j, uint32 i, uint32 n, uint32 k, bytes32 r, uint8 rounds) internal pure returns (uint32) {
        _checkReplication(k, n);
        _check(j, n, rounds);
        require(i < k, ShuffleIndexOutOfRange(i, k));
        return uint32(_run((uint256(j) + i) % n, n, r, rounds, true));
    }

    /// @notice The `k` holders of shard `j`, in replica order.
    function holders(uint32 j, uint32 n, uint32 k, bytes32 r, uint8 rounds) internal pure returns (uint32[] memory out) {
        _checkReplication(k, n);
        _check(j, n, rounds);
        out = new uint32[](k);
        for (uint256 i; i < k; ++i) {
            out[i] = uint32(_run((uint256(j) + i) % n, n, r, rounds, true));
        }
    }

    /// @notice Whether worker index `worker` holds shard `j`. Costs one inverse permutation.
    function holds(uint32 worker, uint32 j, uint32 n, uint32 k, bytes32 r, uint8 rounds) internal pure returns (bool) {
        _checkReplication(k, n);
        _check(j, n, rounds);
        _check(worker, n, rounds);
        uint256 position = _run(worker, n, r, rounds, false);
        // position ∈ {j, …, j+k-1} (mod n)  ⇔  (position - j) mod n < k
        return (position + n - j) % n < k;
    }

    function _check(uint256 index, uint256 n, uint8 rounds) private pure {
        require(index < n, ShuffleIndexOutOfRange(index, n));
        require(rounds != 0, ShuffleZeroRounds());
    }

    function _checkReplication(uint256 k, uint256 n) private pure {
        require(k != 0 && k <= n, ShuffleInvalidReplication(k, n));
    }

    /// @dev Applies rounds 0..rounds-1 (forward) or rounds-1..0 (inverse) to `index`.
    /// Callers guarantee index < n < 2^32 and rounds > 0.
    function _run(uint256 index, uint256 n, bytes32 r, uint8 rounds, bool forward) private pure returns (uint256) {
        assembly ("memory-safe") {
            // Scratch at the free memory pointer (not advanced): r ‖ round ‖ uint32_le(position/256).
            let ptr := mload(0x40)
            mstore(ptr, r)
            for {
                let step := 0
            } lt(step, rounds) {
                step := add(step, 1)
            } {
                let round := step
                if iszero(forward) {
                    round := sub(sub(rounds, 1), step)
                }
                mstore8(add(ptr, 0x20), round)
                // First 8 bytes of the hash, read little-endian.
                let v := shr(192, keccak256(ptr, 0x21))
                v := or(shr(8, and(v, 0xFF00FF00FF00FF00)), shl(8, and(v, 0x00FF00FF00FF00FF)))
                v := or(shr(16, and(v, 0xFFFF0000FFFF0000)), shl(16, and(v, 0x0000FFFF0000FFFF)))
                v := or(shr(32, v), shl(32, and(v, 0xFFFFFFFF)))
                let flip := mod(sub(add(mod(v, n), n), index), n)
                let position := index
                if gt(flip, index) {
                    position := flip
                }
                // uint32_le(position / 256): position < 2^32, so the quotient has 3 bytes.
                let q := shr(8, position)
                mstore(
                    add(ptr, 0x21),
                    or(or(shl(248, and(q, 0xFF)), shl(240, and(shr(8, q), 0xFF))), shl(232, shr(16, q)))
                )
                let source := keccak256(ptr, 0x25)
                let bit := and(shr(and(position, 7), byte(shr(3, and(position, 0xFF)), source)), 1)
                if bit {
                    index := flip
                }
            }
        }
        return index;
    }
}
