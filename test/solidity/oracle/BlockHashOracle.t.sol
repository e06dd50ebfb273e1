// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {Test} from "../utils/Test.sol";
import {BlockHashOracle} from "../../../contracts/oracle/BlockHashOracle.sol";
import {IBlockHashOracle} from "../../../contracts/interfaces/IBlockHashOracle.sol";
import {RLP} from "@openzeppelin/contracts/utils/RLP.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

/// @notice Builds RLP block headers of a made-up foreign chain whose parent hashes link.
abstract contract HeaderChain {
    using RLP for RLP.Encoder;

    /// An Ethereum-shaped header: parentHash, 7 filler fields, number, and a few more.
    function _header(bytes32 parent, uint256 number, bytes32 salt) internal pure returns (bytes memory) {
        RLP.Encoder memory enc = RLP.encoder();
        enc = enc.push(parent).push(keccak256("ommers")).push(address(0xC0FFEE));
        enc = enc.push(salt).push(keccak256("txs")).push(keccak256("receipts")); // state root = salt
        enc = enc.push(new bytes(256)).push(uint256(0)).push(number); // logs bloom, difficulty, number
        enc = enc.push(uint256(30_000_000)).push(uint256(0)).push(uint256(1_700_000_000 + number));
        return enc.encode();
    }

    /// Headers of blocks from..to (to > from), newest first, linked by parent hash.
    function _chain(
        uint256 from,
        uint256 to
    ) internal pure returns (bytes[] memory newestFirst, bytes32 genesisParent) {
        uint256 len = to - from + 1;
        bytes[] memory oldestFirst = new bytes[](len);
        genesisParent = keccak256("before");
        bytes32 parent = genesisParent;
        for (uint256 i; i < len; ++i) {
            oldestFirst[i] = _header(parent, from + i, bytes32(i));
            parent = keccak256(oldestFirst[i]);
        }
        newestFirst = new bytes[](len);
        for (uint256 i; i < len; ++i) newestFirst[i] = oldestFirst[len - 1 - i];
    }
}

contract BlockHashOracleTest is Test, HeaderChain {
    using RLP for RLP.Encoder;

    BlockHashOracle internal oracle;
    address internal governance = address(0x6070);
    uint256 internal constant FOREIGN = 8453;

    function setUp() public {
        oracle = new BlockHashOracle(governance);
        vm.roll(20_000);
    }

    function test_local_recentBlocksFromBlockhash() public {
        vm.setBlockhash(19_990, keccak256("b19990"));
        assertEq(oracle.blockHash(block.chainid, 19_990), keccak256("b19990"), "BLOCKHASH");
        assertTrue(oracle.isKnown(block.chainid, 19_990), "known");
    }

    function test_local_currentFutureAndForgottenBlocksAreUnknown() public {
        for (uint256 i; i < 3; ++i) {
            uint256 b =
                i == 0
                    ? block.number
                    : i == 1
                        ? block.number + 5
                        : block.number - 9_000;
            vm.expectRevert(abi.encodeWithSelector(IBlockHashOracle.OracleUnknownBlock.selector, block.chainid, b));
            oracle.blockHash(block.chainid, b);
            assertFalse(oracle.isKnown(block.chainid, b), "unknown");
        }
    }

    function test_local_governanceCannotAnchor() public {
        vm.prank(governance);
        vm.expectRevert(
            abi.encodeWithSelector(IBlockHashOracle.OracleInvalidAnchor.selector, block.chainid, 5, bytes32("h"))
        );
        oracle.setAnchor(block.chainid, 5, bytes32("h"));
    }

    function test_local_walkInsideTheHistoryWindowIsRefused() public {
        (bytes[] memory hs, ) = _chain(19_990, 19_995);
        vm.setBlockhash(19_995, keccak256(hs[0])); // made-up local headers, known through BLOCKHASH
        bytes[] memory walk = new bytes[](2);
        walk[0] = hs[0];
        walk[1] = hs[1];
        vm.expectRevert(abi.encodeWithSelector(IBlockHashOracle.OracleStillInWindow.selector, 19_993));
        oracle.proveAncestors(block.chainid, 19_995, walk);
    }

    function test_foreign_anchorsByGovernanceOnly() public {
        vm.expectRevert(abi.encodeWithSelector(IBlockHashOracle.OracleUnknownBlock.selector, FOREIGN, 100));
        oracle.blockHash(FOREIGN, 100);
        bytes32 role = oracle.GOVERNANCE_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, address(this), role)
        );
        oracle.setAnchor(FOREIGN, 100, bytes32("h"));
        vm.startPrank(governance);
        vm.expectRevert(abi.encodeWithSelector(IBlockHashOracle.OracleInvalidAnchor.selector, FOREIGN, 100, 0));
        oracle.setAnchor(FOREIGN, 100, 0);
        oracle.setAnchor(FOREIGN, 100, bytes32("h"));
        assertEq(oracle.blockHash(FOREIGN, 100), bytes32("h"), "anchored");
    }

    function test_parentWalk_provesTheBlockBeforeTheLastHeader() public {
        (bytes[] memory hs, ) = _chain(90, 100); // blocks 100..90, newest first
        vm.prank(governance);
        oracle.setAnchor(FOREIGN, 100, keccak256(hs[0]));
        bytes[] memory walk = new bytes[](3); // headers of 100, 99, 98: proves 97
        for (uint256 i; i < 3; ++i) walk[i] = hs[i];
        assertEq(oracle.proveAncestors(FOREIGN, 100, walk), 97, "oldest");
        assertEq(oracle.blockHash(FOREIGN, 97), keccak256(hs[3]), "hash of 97");
        vm.expectRevert(abi.encodeWithSelector(IBlockHashOracle.OracleUnknownBlock.selector, FOREIGN, 98));
        oracle.blockHash(FOREIGN, 98); // only the oldest is recorded
        // The next step starts at 97.
        bytes[] memory next = new bytes[](2);
        next[0] = hs[3];
        next[1] = hs[4];
        assertEq(oracle.proveAncestors(FOREIGN, 97, next), 95, "second step");
        assertEq(oracle.blockHash(FOREIGN, 95), keccak256(hs[5]), "hash of 95");
    }

    function test_parentWalk_refusesWrongHeaders() public {
        (bytes[] memory hs, ) = _chain(90, 100);
        vm.prank(governance);
        oracle.setAnchor(FOREIGN, 100, keccak256(hs[0]));
        bytes[] memory walk = new bytes[](2);
        // A header that does not hash to the expected parent.
        walk[0] = hs[0];
        walk[1] = hs[2];
        vm.expectRevert(
            abi.encodeWithSelector(
                IBlockHashOracle.OracleHeaderMismatch.selector,
                1,
                keccak256(hs[1]),
                keccak256(hs[2])
            )
        );
        oracle.proveAncestors(FOREIGN, 100, walk);
        // A made-up header for the known block.
        walk[0] = _header(keccak256("lie"), 100, 0);
        walk[1] = hs[1];
        vm.expectRevert(
            abi.encodeWithSelector(
                IBlockHashOracle.OracleHeaderMismatch.selector,
                0,
                keccak256(hs[0]),
                keccak256(walk[0])
            )
        );
        oracle.proveAncestors(FOREIGN, 100, walk);
        // No headers; an unknown start.
        vm.expectRevert(IBlockHashOracle.OracleEmptyWalk.selector);
        oracle.proveAncestors(FOREIGN, 100, new bytes[](0));
        vm.expectRevert(abi.encodeWithSelector(IBlockHashOracle.OracleUnknownBlock.selector, FOREIGN, 99));
        oracle.proveAncestors(FOREIGN, 99, walk);
    }

    function test_parentWalk_refusesAWrongNumberOrAShortHeader() public {
        // A header whose hash is anchored but whose number is not the block's.
        bytes memory wrongNumber = _header(keccak256("p"), 7, 0);
        bytes memory short = RLP.encoder().push(keccak256("p")).push(uint256(50)).encode();
        vm.startPrank(governance);
        oracle.setAnchor(FOREIGN, 50, keccak256(wrongNumber));
        oracle.setAnchor(FOREIGN, 60, keccak256(short));
        vm.stopPrank();
        bytes[] memory walk = new bytes[](1);
        walk[0] = wrongNumber;
        vm.expectRevert(abi.encodeWithSelector(IBlockHashOracle.OracleMalformedHeader.selector, 0));
        oracle.proveAncestors(FOREIGN, 50, walk);
        walk[0] = short;
        vm.expectRevert(abi.encodeWithSelector(IBlockHashOracle.OracleMalformedHeader.selector, 0));
        oracle.proveAncestors(FOREIGN, 60, walk);
    }

    /// Whatever the claimed walk, a recorded hash is always the true parent of a true header.
    function testFuzz_parentWalk_recordsOnlyTrueAncestors(uint8 length, uint8 tamperAt, bool tamper) public {
        (bytes[] memory hs, bytes32 genesisParent) = _chain(1, 40);
        vm.prank(governance);
        oracle.setAnchor(FOREIGN, 40, keccak256(hs[0]));
        uint256 len = 1 + (uint256(length) % 40);
        bytes[] memory walk = new bytes[](len);
        for (uint256 i; i < len; ++i) walk[i] = hs[i];
        uint256 at = uint256(tamperAt) % len;
        if (tamper) walk[at] = _header(keccak256("x"), 40 - at, bytes32(uint256(999)));
        if (tamper) {
            vm.expectRevert();
            oracle.proveAncestors(FOREIGN, 40, walk);
            return;
        }
        uint256 oldest = oracle.proveAncestors(FOREIGN, 40, walk);
        assertEq(oldest, 40 - len, "oldest");
        bytes32 expected = len < 40 ? keccak256(hs[len]) : genesisParent;
        assertEq(oracle.blockHash(FOREIGN, oldest), expected, "true parent");
    }
}
