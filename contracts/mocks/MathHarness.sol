// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

// The libraries take memory arguments, so calldata here would only add a copy.
// solhint-disable gas-calldata-parameters

import {Sharding, PartitionSpec} from "../libraries/Sharding.sol";
import {Shuffle} from "../libraries/Shuffle.sol";
import {LtHash} from "../libraries/LtHash.sol";
import {DeltaMerkle, Delta} from "../libraries/DeltaMerkle.sol";
import {BatchHeaders, BatchHeader, AccumulatedProof} from "../libraries/BatchHeaders.sol";

/**
 * @title MathHarness
 * @notice Exposes the protocol math libraries for the differential tests (TypeScript vs Solidity on
 * the simulated network) and measures their execution gas with `gasleft()` for `npm run bench:gas`.
 * Test-only: nothing in production deploys or calls it.
 */
contract MathHarness {
    // ---- Sharding ----

    function keyOf(PartitionSpec memory spec, bytes memory data) external pure returns (bytes memory) {
        return Sharding.keyOf(spec, data);
    }

    function shard(bytes memory key, bytes32 r, uint32 n) external pure returns (uint32) {
        return Sharding.shard(key, r, n);
    }

    function shard32(bytes32 key, bytes32 r, uint32 n) external pure returns (uint32) {
        return Sharding.shard32(key, r, n);
    }

    function shardOf(PartitionSpec memory spec, bytes memory data, bytes32 r, uint32 n) external pure returns (uint32) {
        return Sharding.shardOf(spec, data, r, n);
    }

    /// @notice Shards of many 32-byte keys in one call (for distribution tests).
    function shard32Many(bytes32[] calldata keys, bytes32 r, uint32 n) external pure returns (uint32[] memory out) {
        out = new uint32[](keys.length);
        for (uint256 i; i < keys.length; ++i) out[i] = Sharding.shard32(keys[i], r, n);
    }

    // ---- Shuffle ----

    function shuffledIndex(uint32 index, uint32 n, bytes32 r, uint8 rounds) external pure returns (uint32) {
        return Shuffle.shuffledIndex(index, n, r, rounds);
    }

    function unshuffledIndex(uint32 worker, uint32 n, bytes32 r, uint8 rounds) external pure returns (uint32) {
        return Shuffle.unshuffledIndex(worker, n, r, rounds);
    }

    function holders(uint32 j, uint32 n, uint32 k, bytes32 r, uint8 rounds) external pure returns (uint32[] memory) {
        return Shuffle.holders(j, n, k, r, rounds);
    }

    function holderAt(uint32 j, uint32 i, uint32 n, uint32 k, bytes32 r, uint8 rounds) external pure returns (uint32) {
        return Shuffle.holderAt(j, i, n, k, r, rounds);
    }

    function holds(uint32 worker, uint32 j, uint32 n, uint32 k, bytes32 r, uint8 rounds) external pure returns (bool) {
        return Shuffle.holds(worker, j, n, k, r, rounds);
    }

    // ---- LtHash ----

    function element(bytes memory data, uint64 time) external pure returns (bytes32) {
        return LtHash.element(data, time);
    }

    /// @notice Starts from `encodedState` (empty bytes = the empty multiset), adds the deltas in
    /// order, and returns the encoded state and its digest.
    function ltHashAddAll(
        bytes memory encodedState,
        Delta[] memory deltas
    ) external pure returns (bytes memory encoded, bytes32 digest) {
        uint256[64] memory state;
        if (encodedState.length != 0) state = LtHash.decode(encodedState);
        for (uint256 i; i < deltas.length; ++i) LtHash.add(state, deltas[i].data, deltas[i].time, deltas[i].diff);
        return (LtHash.encode(state), LtHash.digest(state));
    }

    function ltHashCombine(bytes memory a, bytes memory b) external pure returns (bytes memory) {
        uint256[64] memory x = LtHash.decode(a);
        LtHash.combine(x, LtHash.decode(b));
        return LtHash.encode(x);
    }

    function ltHashSubtract(bytes memory a, bytes memory b) external pure returns (bytes memory) {
        uint256[64] memory x = LtHash.decode(a);
        LtHash.subtract(x, LtHash.decode(b));
        return LtHash.encode(x);
    }

    function ltHashDigest(bytes memory encoded) external pure returns (bytes32) {
        return LtHash.digest(LtHash.decode(encoded));
    }

    // ---- Merkle ----

    function leaf(Delta memory delta) external pure returns (bytes32) {
        return DeltaMerkle.leaf(delta);
    }

    function deltasRoot(Delta[] memory deltas) external pure returns (bytes32) {
        return DeltaMerkle.root(deltas);
    }

    function verifyDelta(
        bytes32[] memory proof,
        bytes32 root,
        uint256 count,
        Delta memory delta
    ) external pure returns (bool) {
        return DeltaMerkle.verify(proof, root, count, delta);
    }

    // ---- EIP-712 ----

    function hashBatchHeader(BatchHeader memory h) external pure returns (bytes32) {
        return BatchHeaders.hash(h);
    }

    function hashAccumulatedProof(AccumulatedProof memory p) external pure returns (bytes32) {
        return BatchHeaders.hash(p);
    }

    function contentHash(BatchHeader memory h) external pure returns (bytes32) {
        return BatchHeaders.contentHash(h);
    }

    function replicaHash(BatchHeader calldata h) external pure returns (bytes32) {
        return BatchHeaders.replicaHashCalldata(h);
    }

    function domainSeparator(uint256 chainId, address verifyingContract) external pure returns (bytes32) {
        return BatchHeaders.domainSeparator(chainId, verifyingContract);
    }

    function typedDataHash(bytes32 domainSeparator_, bytes32 structHash) external pure returns (bytes32) {
        return BatchHeaders.typedDataHash(domainSeparator_, structHash);
    }

    // ---- Gas (execution gas of the library call alone, measured around it) ----

    function gasLtHashAdd(
        bytes memory data,
        uint64 time,
        int64 diff
    ) external view returns (uint256 gasUsed, bytes32 d) {
        uint256[64] memory state;
        uint256 before = gasleft();
        LtHash.add(state, data, time, diff);
        gasUsed = before - gasleft();
        d = LtHash.digest(state);
    }

    function gasShard32(bytes32 key, bytes32 r, uint32 n) external view returns (uint256 gasUsed, uint32 s) {
        uint256 before = gasleft();
        s = Sharding.shard32(key, r, n);
        gasUsed = before - gasleft();
    }

    function gasHolds(
        uint32 worker,
        uint32 j,
        uint32 n,
        uint32 k,
        bytes32 r,
        uint8 rounds
    ) external view returns (uint256 gasUsed, bool held) {
        uint256 before = gasleft();
        held = Shuffle.holds(worker, j, n, k, r, rounds);
        gasUsed = before - gasleft();
    }

    function gasDeltaVerify(
        bytes32[] memory proof,
        bytes32 root,
        uint256 count,
        Delta memory delta
    ) external view returns (uint256 gasUsed, bool ok) {
        uint256 before = gasleft();
        ok = DeltaMerkle.verify(proof, root, count, delta);
        gasUsed = before - gasleft();
    }
}
