// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {Test} from "./utils/Test.sol";
import {MathHarness} from "../../contracts/mocks/MathHarness.sol";
import {Sharding, PartitionSpec, KeyKind} from "../../contracts/libraries/Sharding.sol";
import {Shuffle} from "../../contracts/libraries/Shuffle.sol";
import {LtHash} from "../../contracts/libraries/LtHash.sol";
import {DeltaMerkle, Delta} from "../../contracts/libraries/DeltaMerkle.sol";
import {BatchHeaders, BatchHeader} from "../../contracts/libraries/BatchHeaders.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";

contract ShardingFuzzTest is Test {
    MathHarness internal h;

    function setUp() public {
        h = new MathHarness();
    }

    function testFuzz_shard_belowN_andShard32Agrees(bytes32 key, bytes32 r, uint32 n) public pure {
        n = uint32(bound(n, 1, type(uint32).max));
        uint32 s = Sharding.shard(abi.encodePacked(key), r, n);
        assertLt(s, n, "shard < n");
        assertEq(Sharding.shard32(key, r, n), s, "shard32 == shard of the same 32 bytes");
        assertEq(s, uint256(keccak256(abi.encodePacked(key, r))) % n, "definition");
    }

    function testFuzz_shard_anyLengthKey(bytes memory key, bytes32 r, uint32 n) public pure {
        n = uint32(bound(n, 1, type(uint32).max));
        assertEq(Sharding.shard(key, r, n), uint256(keccak256(bytes.concat(key, r))) % n, "definition");
    }

    function testFuzz_keyOf_sliceMatchesBytes(bytes memory data, uint32 offset, uint32 length) public {
        PartitionSpec memory spec = PartitionSpec(KeyKind.SLICE, offset, length);
        if (length == 0) {
            vm.expectRevert(
                abi.encodeWithSelector(Sharding.ShardingInvalidSpec.selector, KeyKind.SLICE, offset, length)
            );
            h.keyOf(spec, data);
        } else if (uint256(offset) + length > data.length) {
            vm.expectRevert(
                abi.encodeWithSelector(Sharding.ShardingSliceOutOfRange.selector, offset, length, data.length)
            );
            h.keyOf(spec, data);
        } else {
            bytes memory key = h.keyOf(spec, data);
            assertEq(key.length, length, "key length");
            for (uint256 i; i < length; ++i) assertTrue(key[i] == data[offset + i], "key byte");
        }
    }

    function test_shard_revertsOnZeroWorkers() public {
        vm.expectRevert(Sharding.ShardingZeroWorkers.selector);
        h.shard32(bytes32(0), bytes32(0), 0);
    }
}

contract ShuffleFuzzTest is Test {
    MathHarness internal h;

    function setUp() public {
        h = new MathHarness();
    }

    function testFuzz_shuffle_inverseIsExact(uint32 index, uint32 n, bytes32 r, uint8 rounds) public pure {
        n = uint32(bound(n, 1, 1_000_000));
        index = uint32(bound(index, 0, n - 1));
        rounds = uint8(bound(rounds, 1, 90));
        uint32 w = Shuffle.shuffledIndex(index, n, r, rounds);
        assertLt(w, n, "in range");
        assertEq(Shuffle.unshuffledIndex(w, n, r, rounds), index, "inverse");
    }

    function testFuzz_shuffle_distinctIndicesStayDistinct(uint32 a, uint32 b, uint32 n, bytes32 r) public pure {
        n = uint32(bound(n, 2, 100_000));
        a = uint32(bound(a, 0, n - 1));
        b = uint32(bound(b, 0, n - 1));
        vm.assume(a != b);
        assertTrue(Shuffle.shuffledIndex(a, n, r, 90) != Shuffle.shuffledIndex(b, n, r, 90), "injective");
    }

    function testFuzz_holds_exactlyTheHolders(uint32 j, uint32 w, uint32 n, uint32 k, bytes32 r) public pure {
        n = uint32(bound(n, 1, 10_000));
        k = uint32(bound(k, 1, n < 8 ? n : 8));
        j = uint32(bound(j, 0, n - 1));
        w = uint32(bound(w, 0, n - 1));
        uint32[] memory hs = Shuffle.holders(j, n, k, r, 90);
        bool isHolder;
        for (uint256 i; i < k; ++i) {
            assertTrue(Shuffle.holds(hs[i], j, n, k, r, 90), "a holder holds");
            for (uint256 m = i + 1; m < k; ++m) assertTrue(hs[i] != hs[m], "holders distinct");
            if (hs[i] == w) isHolder = true;
        }
        assertEq(Shuffle.holds(w, j, n, k, r, 90), isHolder, "holds(w) iff w is a holder");
    }

    function test_shuffle_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(Shuffle.ShuffleIndexOutOfRange.selector, 3, 3));
        h.shuffledIndex(3, 3, bytes32(0), 90);
        vm.expectRevert(Shuffle.ShuffleZeroRounds.selector);
        h.unshuffledIndex(0, 3, bytes32(0), 0);
        vm.expectRevert(abi.encodeWithSelector(Shuffle.ShuffleInvalidReplication.selector, 0, 3));
        h.holds(0, 0, 3, 0, bytes32(0), 90);
        vm.expectRevert(abi.encodeWithSelector(Shuffle.ShuffleIndexOutOfRange.selector, 2, 2));
        h.holderAt(0, 2, 3, 2, bytes32(0), 90);
    }
}

contract LtHashFuzzTest is Test {
    function _lane(uint256[64] memory s, uint256 i) internal pure returns (uint256) {
        return (s[i / 16] >> (240 - 16 * (i % 16))) & 0xffff;
    }

    function testFuzz_ltHash_addThenRemoveIsEmpty(bytes memory data, uint64 time, int64 diff) public pure {
        vm.assume(diff != type(int64).min);
        uint256[64] memory s;
        LtHash.add(s, data, time, diff);
        LtHash.add(s, data, time, -diff);
        assertTrue(LtHash.isEmpty(s), "empty after add and remove");
    }

    function testFuzz_ltHash_orderIndependent(
        bytes memory a,
        bytes memory b,
        uint64 t,
        int64 da,
        int64 db
    ) public pure {
        uint256[64] memory x;
        uint256[64] memory y;
        LtHash.add(x, a, t, da);
        LtHash.add(x, b, t, db);
        LtHash.add(y, b, t, db);
        LtHash.add(y, a, t, da);
        assertEq(LtHash.digest(x), LtHash.digest(y), "order-independent");
    }

    /// SWAR multiply (any diff) against repeated SWAR add (diff = 1), and against per-lane math.
    function testFuzz_ltHash_multiplyIsRepeatedAdd(bytes32 e, uint8 m) public pure {
        m = uint8(bound(m, 2, 6));
        uint256[64] memory once;
        uint256[64] memory times;
        uint256[64] memory repeated;
        LtHash.addElement(once, e, 1);
        LtHash.addElement(times, e, int64(uint64(m)));
        for (uint256 i; i < m; ++i) LtHash.addElement(repeated, e, 1);
        assertEq(LtHash.digest(times), LtHash.digest(repeated), "m * lanes == lanes added m times");
        for (uint256 i; i < 1024; i += 97) assertEq(_lane(times, i), (_lane(once, i) * m) % 65536, "lane");
    }

    function testFuzz_ltHash_combineSubtract(bytes32 e1, bytes32 e2, int64 m1, int64 m2) public pure {
        uint256[64] memory a;
        uint256[64] memory b;
        LtHash.addElement(a, e1, m1);
        LtHash.addElement(b, e2, m2);
        bytes32 da = LtHash.digest(a);
        uint256[64] memory both;
        LtHash.addElement(both, e1, m1);
        LtHash.addElement(both, e2, m2);
        LtHash.combine(a, b);
        assertEq(LtHash.digest(a), LtHash.digest(both), "combine == adding both");
        LtHash.subtract(a, b);
        assertEq(LtHash.digest(a), da, "subtract undoes combine");
    }

    function testFuzz_ltHash_encodeDecode(bytes32 e, int64 m) public pure {
        uint256[64] memory a;
        LtHash.addElement(a, e, m);
        assertEq(LtHash.digest(LtHash.decode(LtHash.encode(a))), LtHash.digest(a), "round trip");
        assertEq(keccak256(LtHash.encode(a)), LtHash.digest(a), "digest is keccak of the encoding");
    }
}

contract DeltaMerkleFuzzTest is Test {
    MathHarness internal h;

    function setUp() public {
        h = new MathHarness();
    }

    function _deltas(uint256 seed, uint256 n) internal pure returns (Delta[] memory ds) {
        ds = new Delta[](n);
        for (uint256 i; i < n; ++i) {
            bytes32 x = keccak256(abi.encode(seed, i));
            ds[i] = Delta(abi.encodePacked(x, i), uint64(uint256(x)), int64(int256(uint256(x) % 7)) - 3);
        }
    }

    /// Proof of leaf `index` built independently: walk the levels of the promotion rule.
    function _proof(Delta[] memory ds, uint256 index) internal pure returns (bytes32[] memory proof) {
        uint256 n = ds.length;
        bytes32[] memory level = new bytes32[](n);
        for (uint256 i; i < n; ++i) level[i] = DeltaMerkle.leaf(ds[i]);
        bytes32[] memory tmp = new bytes32[](DeltaMerkle.depth(n));
        uint256 len;
        while (n > 1) {
            uint256 sib = index ^ 1;
            if (sib < n) tmp[len++] = level[sib];
            uint256 half = n / 2;
            for (uint256 i; i < half; ++i) level[i] = Hashes.commutativeKeccak256(level[2 * i], level[2 * i + 1]);
            if (n % 2 == 1) level[half] = level[n - 1];
            n = half + (n % 2);
            index /= 2;
        }
        proof = new bytes32[](len);
        for (uint256 i; i < len; ++i) proof[i] = tmp[i];
    }

    function testFuzz_merkle_everyLeafProves(uint256 seed, uint8 count, uint8 index) public pure {
        uint256 n = bound(count, 1, 40);
        Delta[] memory ds = _deltas(seed, n);
        bytes32 root = DeltaMerkle.root(ds);
        uint256 i = bound(index, 0, n - 1);
        bytes32[] memory proof = _proof(ds, i);
        assertTrue(DeltaMerkle.verify(proof, root, n, ds[i]), "leaf proves");
        assertTrue(MerkleProof.verify(proof, root, DeltaMerkle.leaf(ds[i])), "plain OpenZeppelin verify");
        Delta memory other = ds[i];
        other.diff = other.diff == type(int64).max ? int64(0) : other.diff + 1;
        assertFalse(DeltaMerkle.verify(proof, root, n, other), "changed delta fails");
    }

    function testFuzz_merkle_innerNodeIsNotALeaf(uint256 seed) public pure {
        Delta[] memory ds = _deltas(seed, 4);
        bytes32 root = DeltaMerkle.root(ds);
        bytes32 l0 = DeltaMerkle.leaf(ds[0]);
        bytes32 l1 = DeltaMerkle.leaf(ds[1]);
        bytes32[] memory upper = new bytes32[](1);
        upper[0] = Hashes.commutativeKeccak256(DeltaMerkle.leaf(ds[2]), DeltaMerkle.leaf(ds[3]));
        // A bare leaf check accepts the inner node n01 with the shortened proof ...
        assertTrue(MerkleProof.verify(upper, root, Hashes.commutativeKeccak256(l0, l1)), "bare check is fooled");
        // ... but a delta whose bytes are the two children does not hash to n01.
        (bytes32 a, bytes32 b) = l0 < l1 ? (l0, l1) : (l1, l0);
        Delta memory forged = Delta(abi.encodePacked(a, b), 0, 0);
        assertFalse(DeltaMerkle.verify(upper, root, 4, forged), "inner node refused as a delta");
    }

    function test_merkle_proofTooLong() public {
        Delta[] memory ds = _deltas(1, 3);
        bytes32[] memory proof = new bytes32[](3);
        vm.expectRevert(abi.encodeWithSelector(DeltaMerkle.DeltaMerkleProofTooLong.selector, 3, 2));
        h.verifyDelta(proof, DeltaMerkle.root(ds), 3, ds[0]);
    }
}

contract BatchHeadersFuzzTest is Test {
    function testFuzz_batchHeader_signatureRecovers(
        uint256 pk,
        BatchHeader memory hd,
        uint64 chainId,
        address verifier
    ) public pure {
        pk = bound(pk, 1, 115792089237316195423570985008687907852837564279074904382605163141518161494336);
        bytes32 typehash = keccak256(
            "BatchHeader(uint64 epoch,bytes32 stream,uint32 shard,uint32 originShard,address sender,address receiver,uint64 seq,bytes32 prev,bytes32 deltasRoot,uint32 count,bytes32 batchMsh,bytes32 cumulativeMsh,bytes32 inputMsh,uint64 firstTime,uint64 lastTime)"
        );
        assertEq(BatchHeaders.BATCH_HEADER_TYPEHASH, typehash, "type hash");
        bytes32 digest = BatchHeaders.typedDataHash(
            BatchHeaders.domainSeparator(chainId, verifier),
            BatchHeaders.hash(hd)
        );
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(pk, digest);
        assertEq(ecrecover(digest, v, r, s), vm.addr(pk), "recovers the signer");
    }

    function testFuzz_contentHash_ignoresReceiverOnly(
        BatchHeader memory hd,
        address otherReceiver,
        bytes32 otherRoot
    ) public pure {
        bytes32 c = BatchHeaders.contentHash(hd);
        bytes32 s = BatchHeaders.hash(hd);
        address receiver = hd.receiver;
        hd.receiver = otherReceiver;
        assertEq(BatchHeaders.contentHash(hd), c, "receiver not in content");
        if (otherReceiver != receiver) assertTrue(BatchHeaders.hash(hd) != s, "receiver is signed");
        vm.assume(otherRoot != hd.deltasRoot);
        hd.deltasRoot = otherRoot;
        assertTrue(BatchHeaders.contentHash(hd) != c, "content changes with deltasRoot");
    }

    /// @dev The calldata twins, through an external call.
    function viaCalldata(BatchHeader calldata hd) external pure returns (bytes32, bytes32, bytes32) {
        return (
            BatchHeaders.hashCalldata(hd),
            BatchHeaders.contentHashCalldata(hd),
            BatchHeaders.replicaHashCalldata(hd)
        );
    }

    function testFuzz_headerHashes_matchAbiEncoding(BatchHeader memory hd) public view {
        bytes32 structRef = keccak256(abi.encode(BatchHeaders.BATCH_HEADER_TYPEHASH, hd));
        bytes32 contentRef = keccak256(
            abi.encodePacked(
                abi.encode(hd.epoch, hd.stream, hd.shard, hd.originShard, hd.sender),
                abi.encode(
                    hd.seq,
                    hd.prev,
                    hd.deltasRoot,
                    hd.count,
                    hd.batchMsh,
                    hd.cumulativeMsh,
                    hd.inputMsh,
                    hd.firstTime,
                    hd.lastTime
                )
            )
        );
        bytes32 replicaRef = keccak256(
            abi.encode(hd.deltasRoot, hd.count, hd.batchMsh, hd.cumulativeMsh, hd.inputMsh, hd.firstTime, hd.lastTime)
        );
        assertEq(BatchHeaders.hash(hd), structRef, "struct hash (memory)");
        assertEq(BatchHeaders.contentHash(hd), contentRef, "content hash (memory)");
        (bytes32 h, bytes32 c, bytes32 r) = this.viaCalldata(hd);
        assertEq(h, structRef, "struct hash (calldata)");
        assertEq(c, contentRef, "content hash (calldata)");
        assertEq(r, replicaRef, "replica hash (calldata)");
    }
}
