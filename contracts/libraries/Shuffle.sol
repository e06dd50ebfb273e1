// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

/**
 * @title Shuffle
 * @notice The swap-or-not permutation σ_r of `[0, n)` and the shard holders built on it
 * (docs/protocol.md §5). Derived from Ethereum's `compute_shuffled_index` (consensus specs,
 * phase0) with keccak256 in place of sha256 and big-endian integers in place of little-endian
 * (the byte swaps cost a third of the gas of a round on the EVM; docs/protocol-math.md).
 * Per round `i`:
 *
 *   pivot    = uint64_be(keccak256(r ‖ uint8(i))[0:8]) mod n
 *   flip     = (pivot + n - index) mod n
 *   position = max(index, flip)
 *   source   = keccak256(r ‖ uint8(i) ‖ uint32_be(position / 256))
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
    function holders(
        uint32 j,
        uint32 n,
        uint32 k,
        bytes32 r,
        uint8 rounds
    ) internal pure returns (uint32[] memory out) {
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
    /// Callers guarantee index < n < 2^32 and rounds > 0. Branchless and in scratch space:
    /// this loop is what `holds` costs (docs/PERFORMANCE.md).
    function _run(uint256 index, uint256 n, bytes32 r, uint8 rounds, bool forward) private pure returns (uint256) {
        assembly ("memory-safe") {
            // Scratch 0x00..0x24 holds r ‖ uint8(round) ‖ uint32_be(position / 256). The 32-byte
            // store at 0x21 also writes byte 0x40, the top byte of the free memory pointer, with
            // zero, which it already is (the pointer is far below 2^248).
            mstore(0x00, r)
            let round := 0
            let step := 1
            if iszero(forward) {
                round := sub(rounds, 1)
                step := not(0) // -1
            }
            for {
                let left := rounds
            } left {
                left := sub(left, 1)
            } {
                mstore8(0x20, round)
                // pivot = uint64_be(keccak256(r ‖ round)[0:8]) mod n; flip = (pivot + n - index) mod n,
                // computed as addmod(uint64 value, n - index, n), which reduces the pivot on the way.
                let flip := addmod(shr(192, keccak256(0x00, 0x21)), sub(n, index), n)
                // position = max(index, flip)
                let position := xor(index, mul(xor(index, flip), gt(flip, index)))
                mstore(0x21, shl(224, shr(8, position)))
                // bit = (source[(position mod 256) / 8] >> (position mod 8)) & 1
                let bit := and(shr(and(position, 7), byte(and(shr(3, position), 31), keccak256(0x00, 0x25))), 1)
                // index = bit ? flip : index
                index := xor(index, mul(xor(index, flip), bit))
                round := add(round, step)
            }
        }
        return index;
    }
}
