// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {Test} from "./utils/Test.sol";
import {MathHarness} from "../../contracts/mocks/MathHarness.sol";
import {Sharding, PartitionSpec, KeyKind} from "../../contracts/libraries/Sharding.sol";
import {Shuffle} from "../../contracts/libraries/Shuffle.sol";
import {LtHash} from "../../contracts/libraries/LtHash.sol";
import {DeltaMerkle, Delta} from "../../contracts/libraries/DeltaMerkle.sol";
import {BatchHeaders, BatchHeader, AccumulatedProof} from "../../contracts/libraries/BatchHeaders.sol";

/// @notice The Solidity libraries against the shared vectors in test/vectors (written by
/// `npm run vectors` from the TypeScript client; the TypeScript tests read the same files).
contract MathVectorsTest is Test {
    MathHarness internal h;

    function setUp() public {
        h = new MathHarness();
    }

    function _at(string memory base, uint256 i, string memory field) internal pure returns (string memory) {
        return string.concat(base, "[", vm.toString(i), "]", field);
    }

    /// The domain separator of vector `c` in `base` (".headers" or ".proofs").
    function _domainSeparator(string memory json, string memory base, uint256 c) internal pure returns (bytes32) {
        return
            BatchHeaders.domainSeparator(
                vm.parseJsonUint(json, _at(base, c, ".chainId")),
                vm.parseJsonAddress(json, _at(base, c, ".verifyingContract"))
            );
    }

    function _delta(string memory json, string memory path) internal pure returns (Delta memory d) {
        d.data = vm.parseJsonBytes(json, string.concat(path, ".data"));
        d.time = uint64(vm.parseJsonUint(json, string.concat(path, ".time")));
        d.diff = int64(vm.parseJsonInt(json, string.concat(path, ".diff")));
    }

    // ---------------- sharding ----------------

    function test_vectors_shard() public view {
        string memory json = vm.readFile("test/vectors/sharding.json");
        uint256 i;
        for (; vm.keyExistsJson(json, _at(".shard", i, "")); ++i) {
            bytes memory key = vm.parseJsonBytes(json, _at(".shard", i, ".key"));
            bytes32 r = vm.parseJsonBytes32(json, _at(".shard", i, ".r"));
            uint32 n = uint32(vm.parseJsonUint(json, _at(".shard", i, ".n")));
            uint256 expected = vm.parseJsonUint(json, _at(".shard", i, ".expected"));
            assertEq(Sharding.shard(key, r, n), expected, string.concat("shard case ", vm.toString(i)));
            if (key.length == 32) assertEq(Sharding.shard32(bytes32(key), r, n), expected, "shard32");
        }
        assertGe(i, 50, "number of shard vectors");
    }

    function test_vectors_shard_zeroWorkers() public {
        string memory json = vm.readFile("test/vectors/sharding.json");
        vm.expectRevert(vm.parseJsonBytes(json, ".zeroWorkersRevert"));
        h.shard(hex"01", bytes32(0), 0);
    }

    function test_vectors_keyOf() public {
        string memory json = vm.readFile("test/vectors/sharding.json");
        uint256 i;
        for (; vm.keyExistsJson(json, _at(".keyOf", i, "")); ++i) {
            PartitionSpec memory spec = PartitionSpec({
                kind: KeyKind(vm.parseJsonUint(json, _at(".keyOf", i, ".kind"))),
                offset: uint32(vm.parseJsonUint(json, _at(".keyOf", i, ".offset"))),
                length: uint32(vm.parseJsonUint(json, _at(".keyOf", i, ".length")))
            });
            bytes memory data = vm.parseJsonBytes(json, _at(".keyOf", i, ".data"));
            bytes memory revertData = vm.parseJsonBytes(json, _at(".keyOf", i, ".revert"));
            if (revertData.length != 0) {
                vm.expectRevert(revertData);
                h.keyOf(spec, data);
            } else {
                assertEq(h.keyOf(spec, data), vm.parseJsonBytes(json, _at(".keyOf", i, ".key")), vm.toString(i));
            }
        }
        assertGe(i, 10, "number of keyOf vectors");
    }

    // ---------------- shuffle ----------------

    function test_vectors_shuffledIndex() public view {
        string memory json = vm.readFile("test/vectors/shuffle.json");
        uint256 i;
        for (; vm.keyExistsJson(json, _at(".index", i, "")); ++i) {
            uint32 index = uint32(vm.parseJsonUint(json, _at(".index", i, ".index")));
            uint32 n = uint32(vm.parseJsonUint(json, _at(".index", i, ".n")));
            bytes32 r = vm.parseJsonBytes32(json, _at(".index", i, ".r"));
            uint8 rounds = uint8(vm.parseJsonUint(json, _at(".index", i, ".rounds")));
            string memory label = string.concat("index case ", vm.toString(i));
            uint32 shuffled = Shuffle.shuffledIndex(index, n, r, rounds);
            assertEq(shuffled, vm.parseJsonUint(json, _at(".index", i, ".shuffled")), label);
            assertEq(
                Shuffle.unshuffledIndex(index, n, r, rounds),
                vm.parseJsonUint(json, _at(".index", i, ".unshuffled")),
                label
            );
            assertEq(Shuffle.unshuffledIndex(shuffled, n, r, rounds), index, "inverse");
        }
        assertGe(i, 40, "number of index vectors");
    }

    function test_vectors_permutationsAndHolders() public view {
        string memory json = vm.readFile("test/vectors/shuffle.json");
        uint256 c;
        for (; vm.keyExistsJson(json, _at(".permutations", c, "")); ++c) {
            uint32 n = uint32(vm.parseJsonUint(json, _at(".permutations", c, ".n")));
            uint32 k = uint32(vm.parseJsonUint(json, _at(".permutations", c, ".k")));
            bytes32 r = vm.parseJsonBytes32(json, _at(".permutations", c, ".r"));
            uint8 rounds = uint8(vm.parseJsonUint(json, _at(".permutations", c, ".rounds")));
            uint256[] memory workerAt = vm.parseJsonUintArray(json, _at(".permutations", c, ".workerAt"));
            assertEq(workerAt.length, n, "permutation length");
            for (uint32 p; p < n; ++p) {
                assertEq(Shuffle.shuffledIndex(p, n, r, rounds), workerAt[p], "workerAt");
            }
            // Holders of a few shards (all of them for small n), and holds() agrees.
            for (uint32 j; j < n; j += (n > 16 ? 37 : 1)) {
                uint256[] memory expected = vm.parseJsonUintArray(
                    json,
                    string.concat(_at(".permutations", c, ".holders"), "[", vm.toString(j), "]")
                );
                uint32[] memory got = Shuffle.holders(j, n, k, r, rounds);
                assertEq(got.length, expected.length, "holders length");
                for (uint256 i; i < k; ++i) {
                    assertEq(got[i], expected[i], "holder");
                    assertTrue(Shuffle.holds(got[i], j, n, k, r, rounds), "holder holds its shard");
                    assertEq(Shuffle.holderAt(j, uint32(i), n, k, r, rounds), expected[i], "holderAt");
                }
            }
        }
        assertEq(c, 5, "number of permutation vectors");
    }

    function test_vectors_shuffleReverts() public {
        string memory json = vm.readFile("test/vectors/shuffle.json");
        vm.expectRevert(vm.parseJsonBytes(json, ".reverts.indexOutOfRange.revert"));
        h.shuffledIndex(5, 5, bytes32(0), 90);
        vm.expectRevert(vm.parseJsonBytes(json, ".reverts.zeroRounds"));
        h.shuffledIndex(0, 5, bytes32(0), 0);
        vm.expectRevert(vm.parseJsonBytes(json, ".reverts.invalidReplication.revert"));
        h.holders(0, 5, 6, bytes32(0), 90);
    }

    // ---------------- LtHash ----------------

    function test_vectors_ltHash() public view {
        string memory json = vm.readFile("test/vectors/lthash.json");
        uint256 c;
        for (; vm.keyExistsJson(json, _at(".cases", c, "")); ++c) {
            string memory base = _at(".cases", c, ".deltas");
            uint256[64] memory state;
            uint256 i;
            for (; vm.keyExistsJson(json, _at(base, i, "")); ++i) {
                Delta memory d = _delta(json, _at(base, i, ""));
                assertEq(
                    LtHash.element(d.data, d.time),
                    vm.parseJsonBytes32(json, _at(base, i, ".element")),
                    "element"
                );
                LtHash.add(state, d.data, d.time, d.diff);
            }
            string memory label = vm.parseJsonString(json, _at(".cases", c, ".name"));
            assertEq(LtHash.encode(state), vm.parseJsonBytes(json, _at(".cases", c, ".state")), label);
            assertEq(LtHash.digest(state), vm.parseJsonBytes32(json, _at(".cases", c, ".digest")), label);
        }
        assertGe(c, 20, "number of LtHash vectors");
    }

    function test_vectors_ltHash_invalidLength() public {
        string memory json = vm.readFile("test/vectors/lthash.json");
        vm.expectRevert(vm.parseJsonBytes(json, ".invalidLengthRevert"));
        h.ltHashDigest(new bytes(10));
    }

    // ---------------- Merkle ----------------

    function test_vectors_merkle() public view {
        string memory json = vm.readFile("test/vectors/merkle.json");
        assertEq(DeltaMerkle.root(new Delta[](0)), vm.parseJsonBytes32(json, ".emptyRoot"), "empty root");
        uint256 c;
        for (; vm.keyExistsJson(json, _at(".cases", c, "")); ++c) {
            uint256 count = vm.parseJsonUint(json, _at(".cases", c, ".count"));
            bytes32 root = vm.parseJsonBytes32(json, _at(".cases", c, ".root"));
            bytes32[] memory leaves = vm.parseJsonBytes32Array(json, _at(".cases", c, ".leaves"));
            Delta[] memory deltas = new Delta[](count);
            for (uint256 i; i < count; ++i) {
                deltas[i] = _delta(json, _at(_at(".cases", c, ".deltas"), i, ""));
                assertEq(DeltaMerkle.leaf(deltas[i]), leaves[i], "leaf");
            }
            assertEq(DeltaMerkle.root(deltas), root, string.concat("root of ", vm.toString(count)));
            for (uint256 i; i < count; ++i) {
                bytes32[] memory proof = vm.parseJsonBytes32Array(
                    json,
                    string.concat(_at(".cases", c, ".proofs"), "[", vm.toString(i), "]")
                );
                assertTrue(DeltaMerkle.verify(proof, root, count, deltas[i]), "proof verifies");
            }
        }
        assertGe(c, 10, "number of Merkle vectors");
    }

    // ---------------- EIP-712 ----------------

    function test_vectors_eip712_typeHashes() public view {
        string memory json = vm.readFile("test/vectors/eip712.json");
        assertEq(BatchHeaders.BATCH_HEADER_TYPEHASH, vm.parseJsonBytes32(json, ".batchHeaderTypehash"), "header");
        assertEq(
            BatchHeaders.ACCUMULATED_PROOF_TYPEHASH,
            vm.parseJsonBytes32(json, ".accumulatedProofTypehash"),
            "proof"
        );
    }

    /// @dev The calldata-only replica hash, through an external call.
    function replicaHashOf(BatchHeader calldata hd) external pure returns (bytes32) {
        return BatchHeaders.replicaHashCalldata(hd);
    }

    function test_vectors_eip712_batchHeader() public view {
        string memory json = vm.readFile("test/vectors/eip712.json");
        uint256 c;
        for (; vm.keyExistsJson(json, _at(".headers", c, "")); ++c) {
            string memory p = _at(".headers", c, ".header");
            BatchHeader memory hd = BatchHeader({
                epoch: uint64(vm.parseJsonUint(json, string.concat(p, ".epoch"))),
                stream: vm.parseJsonBytes32(json, string.concat(p, ".stream")),
                shard: uint32(vm.parseJsonUint(json, string.concat(p, ".shard"))),
                originShard: uint32(vm.parseJsonUint(json, string.concat(p, ".originShard"))),
                sender: vm.parseJsonAddress(json, string.concat(p, ".sender")),
                receiver: vm.parseJsonAddress(json, string.concat(p, ".receiver")),
                seq: uint64(vm.parseJsonUint(json, string.concat(p, ".seq"))),
                prev: vm.parseJsonBytes32(json, string.concat(p, ".prev")),
                deltasRoot: vm.parseJsonBytes32(json, string.concat(p, ".deltasRoot")),
                count: uint32(vm.parseJsonUint(json, string.concat(p, ".count"))),
                batchMsh: vm.parseJsonBytes32(json, string.concat(p, ".batchMsh")),
                cumulativeMsh: vm.parseJsonBytes32(json, string.concat(p, ".cumulativeMsh")),
                inputMsh: vm.parseJsonBytes32(json, string.concat(p, ".inputMsh")),
                firstTime: uint64(vm.parseJsonUint(json, string.concat(p, ".firstTime"))),
                lastTime: uint64(vm.parseJsonUint(json, string.concat(p, ".lastTime")))
            });
            bytes32 structHash = BatchHeaders.hash(hd);
            assertEq(structHash, vm.parseJsonBytes32(json, _at(".headers", c, ".structHash")), "struct hash");
            assertEq(
                this.replicaHashOf(hd),
                vm.parseJsonBytes32(json, _at(".headers", c, ".replicaHash")),
                "replica hash"
            );
            assertEq(
                BatchHeaders.contentHash(hd),
                vm.parseJsonBytes32(json, _at(".headers", c, ".contentHash")),
                "content"
            );
            bytes32 ds = _domainSeparator(json, ".headers", c);
            assertEq(ds, vm.parseJsonBytes32(json, _at(".headers", c, ".domainSeparator")), "domain separator");
            assertEq(
                BatchHeaders.typedDataHash(ds, structHash),
                vm.parseJsonBytes32(json, _at(".headers", c, ".digest")),
                "digest"
            );
        }
        assertGe(c, 6, "number of header vectors");
    }

    function test_vectors_eip712_accumulatedProof() public view {
        string memory json = vm.readFile("test/vectors/eip712.json");
        uint256 c;
        for (; vm.keyExistsJson(json, _at(".proofs", c, "")); ++c) {
            string memory p = _at(".proofs", c, ".proof");
            AccumulatedProof memory ap = AccumulatedProof({
                epoch: uint64(vm.parseJsonUint(json, string.concat(p, ".epoch"))),
                stream: vm.parseJsonBytes32(json, string.concat(p, ".stream")),
                shard: uint32(vm.parseJsonUint(json, string.concat(p, ".shard"))),
                originShard: uint32(vm.parseJsonUint(json, string.concat(p, ".originShard"))),
                sender: vm.parseJsonAddress(json, string.concat(p, ".sender")),
                seq: uint64(vm.parseJsonUint(json, string.concat(p, ".seq"))),
                sourceChainId: vm.parseJsonUint(json, string.concat(p, ".sourceChainId")),
                blockNumber: uint64(vm.parseJsonUint(json, string.concat(p, ".blockNumber"))),
                blockHash: vm.parseJsonBytes32(json, string.concat(p, ".blockHash")),
                cumulativeMsh: vm.parseJsonBytes32(json, string.concat(p, ".cumulativeMsh"))
            });
            bytes32 structHash = BatchHeaders.hash(ap);
            assertEq(structHash, vm.parseJsonBytes32(json, _at(".proofs", c, ".structHash")), "struct hash");
            bytes32 ds = _domainSeparator(json, ".proofs", c);
            assertEq(
                BatchHeaders.typedDataHash(ds, structHash),
                vm.parseJsonBytes32(json, _at(".proofs", c, ".digest")),
                "digest"
            );
        }
        assertGe(c, 6, "number of proof vectors");
    }
}
