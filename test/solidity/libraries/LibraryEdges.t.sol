// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {Test} from "../utils/Test.sol";
import {LtHash} from "../../../contracts/libraries/LtHash.sol";
import {DeltaMerkle} from "../../../contracts/libraries/DeltaMerkle.sol";
import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";

/// Edges of the libraries the vectors and fuzz suites (MathVectors.t.sol, MathFuzz.t.sol) do not reach.
contract LibraryEdgesTest is Test {
    function test_ltHash_isEmptyOnlyWhenEveryLaneIsZero() public pure {
        uint256[64] memory s;
        assertTrue(LtHash.isEmpty(s), "zero state");
        for (uint256 lane; lane < 64; lane += 21) {
            s[lane] = 1;
            assertFalse(LtHash.isEmpty(s), "one lane set");
            s[lane] = 0;
        }
        s[63] = type(uint256).max;
        assertFalse(LtHash.isEmpty(s), "last lane set");
    }

    function test_deltaMerkle_rootOfNoLeavesIsZero() public pure {
        assertEq(DeltaMerkle.rootOfLeaves(new bytes32[](0)), bytes32(0), "no leaves");
        bytes32[] memory one = new bytes32[](1);
        one[0] = keccak256("leaf");
        assertEq(DeltaMerkle.rootOfLeaves(one), keccak256("leaf"), "one leaf is the root");
        bytes32[] memory three = new bytes32[](3);
        three[0] = keccak256("a");
        three[1] = keccak256("b");
        three[2] = keccak256("c");
        bytes32 expected = Hashes.commutativeKeccak256(
            Hashes.commutativeKeccak256(keccak256("a"), keccak256("b")),
            keccak256("c") // an odd last node is carried up unhashed
        );
        assertEq(DeltaMerkle.rootOfLeaves(three), expected, "three leaves");
    }
}
