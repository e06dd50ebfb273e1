// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @notice A delta, differential dataflow's `(data, time, diff)` (docs/protocol.md §6).
struct Delta {
    bytes data;
    uint64 time;
    int64 diff;
}

/**
 * @title DeltaMerkle
 * @notice Delta leaves and the batch Merkle root (`deltasRoot`, docs/protocol.md §6).
 *
 * - Leaf: `keccak256(bytes.concat(keccak256(abi.encode(data, time, diff))))`. The double hash
 *   makes a leaf the hash of 32 bytes while an inner node is the hash of 64, so an inner node can
 *   never pass as a leaf; and the ABI encoding of a delta is at least 160 bytes, never 64.
 * - Tree: leaves in batch order; each level hashes pairs `(2i, 2i+1)` with OpenZeppelin's
 *   commutative keccak (sorted pair), so a single leaf is provable with `MerkleProof`. An odd
 *   node at the end of a level is promoted unchanged (never duplicated, so no two different leaf
 *   lists share a root by repeating the last leaf, as in Bitcoin's CVE-2012-2459).
 * - Empty batch: root `bytes32(0)`. One leaf: the root is the leaf.
 *
 * The TypeScript twin is `client/math/merkle.ts`.
 */
library DeltaMerkle {
    /// @notice Thrown when a proof has more siblings than a tree of `count` leaves has levels.
    /// @param length The proof's length.
    /// @param maxLength The depth of a tree with the batch's leaf count.
    error DeltaMerkleProofTooLong(uint256 length, uint256 maxLength);

    /// @notice The leaf of a delta.
    function leaf(Delta memory delta) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(delta.data, delta.time, delta.diff))));
    }

    /// @notice The depth of a tree with `count` leaves: ceil(log2(count)), 0 for 0 or 1 leaves.
    function depth(uint256 count) internal pure returns (uint256 d) {
        while ((uint256(1) << d) < count) ++d;
    }

    /// @notice The root of `deltas` in batch order.
    function root(Delta[] memory deltas) internal pure returns (bytes32) {
        uint256 n = deltas.length;
        if (n == 0) return bytes32(0);
        bytes32[] memory level = new bytes32[](n);
        for (uint256 i; i < n; ++i) level[i] = leaf(deltas[i]);
        return rootOfLeaves(level);
    }

    /// @notice The root of the given leaves; overwrites `leaves` as scratch.
    function rootOfLeaves(bytes32[] memory leaves) internal pure returns (bytes32) {
        uint256 n = leaves.length;
        if (n == 0) return bytes32(0);
        while (n > 1) {
            uint256 half = n >> 1;
            for (uint256 i; i < half; ++i) {
                leaves[i] = Hashes.commutativeKeccak256(leaves[2 * i], leaves[2 * i + 1]);
            }
            if (n & 1 == 1) leaves[half] = leaves[n - 1];
            n = half + (n & 1);
        }
        return leaves[0];
    }

    /// @notice Whether `delta` is in the batch with root `root_` and `count` leaves.
    /// Reverts with {DeltaMerkleProofTooLong} for a proof longer than the tree is deep.
    function verify(
        bytes32[] memory proof,
        bytes32 root_,
        uint256 count,
        Delta memory delta
    ) internal pure returns (bool) {
        uint256 maxLength = depth(count);
        require(proof.length <= maxLength, DeltaMerkleProofTooLong(proof.length, maxLength));
        return MerkleProof.verify(proof, root_, leaf(delta));
    }
}
