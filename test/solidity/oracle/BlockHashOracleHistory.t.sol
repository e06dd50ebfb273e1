// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {Test} from "../utils/Test.sol";
import {HeaderChain} from "./BlockHashOracle.t.sol";
import {BlockHashOracle} from "../../../contracts/oracle/BlockHashOracle.sol";
import {IBlockHashOracle} from "../../../contracts/interfaces/IBlockHashOracle.sol";

/// @notice Stands in for the EIP-2935 history contract, which Hardhat's chain does not serve yet
/// (docs/development.md): answers `answer` for block `at` and zero for any other block. Its
/// values are immutables, so they travel with the code `vm.etch` copies.
contract HistoryAnswers {
    uint256 private immutable _at;
    bytes32 private immutable _answer;

    constructor(uint256 at, bytes32 answer) {
        _at = at;
        _answer = answer;
    }

    fallback(bytes calldata input) external returns (bytes memory) {
        return abi.encode(abi.decode(input, (uint256)) == _at ? _answer : bytes32(0));
    }
}

/// @notice A history contract that fails every read.
contract HistoryReverts {
    fallback() external {
        revert("no history");
    }
}

/// @notice A history contract that answers with fewer than 32 bytes.
contract HistoryShort {
    fallback() external {
        assembly {
            mstore(0, 0xff)
            return(0, 31)
        }
    }
}

/// The window between BLOCKHASH (256 blocks) and the history contract's end (8191 blocks), and a
/// walk of this chain's headers that starts inside it.
contract BlockHashOracleHistoryTest is Test, HeaderChain {
    BlockHashOracle internal oracle;
    address internal governance = address(0x6070);
    address internal history;
    uint256 internal constant NOW = 20_000;

    function setUp() public {
        oracle = new BlockHashOracle(governance);
        history = oracle.HISTORY_STORAGE();
        vm.roll(NOW);
    }

    function _history(address stub) internal {
        vm.etch(history, stub.code);
    }

    function test_window_answersFromTheHistoryContract() public {
        uint256 b = NOW - 1_000;
        _history(address(new HistoryAnswers(b, keccak256("b"))));
        assertEq(oracle.blockHash(block.chainid, b), keccak256("b"), "from history");
        assertTrue(oracle.isKnown(block.chainid, b), "known");
        // Both ends of the window: 257 blocks back is the history's, 8191 back still is.
        _history(address(new HistoryAnswers(NOW - 257, keccak256("257"))));
        assertEq(oracle.blockHash(block.chainid, NOW - 257), keccak256("257"), "257 back");
        _history(address(new HistoryAnswers(NOW - 8_191, keccak256("8191"))));
        assertEq(oracle.blockHash(block.chainid, NOW - 8_191), keccak256("8191"), "8191 back");
        // Past the window the history contract is not asked: the block is unknown.
        _history(address(new HistoryAnswers(NOW - 8_192, keccak256("8192"))));
        vm.expectRevert(
            abi.encodeWithSelector(IBlockHashOracle.OracleUnknownBlock.selector, block.chainid, NOW - 8_192)
        );
        oracle.blockHash(block.chainid, NOW - 8_192);
    }

    function test_window_aZeroFailedOrShortAnswerIsUnknown() public {
        uint256 b = NOW - 1_000;
        address[3] memory stubs = [
            address(new HistoryAnswers(b + 1, keccak256("another block"))), // zero for b
            address(new HistoryReverts()),
            address(new HistoryShort())
        ];
        for (uint256 i; i < stubs.length; ++i) {
            _history(stubs[i]);
            assertFalse(oracle.isKnown(block.chainid, b), "unknown");
            vm.expectRevert(abi.encodeWithSelector(IBlockHashOracle.OracleUnknownBlock.selector, block.chainid, b));
            oracle.blockHash(block.chainid, b);
        }
    }

    /// A walk from a block the history contract knows records the ancestor the walk proves, once it
    /// is older than the window; the oracle then answers it from its own record.
    function test_walk_fromTheWindowRecordsAnAncestorPastIt() public {
        (bytes[] memory hs, ) = _chain(11_800, 11_810); // blocks 11810..11800, newest first
        _history(address(new HistoryAnswers(11_810, keccak256(hs[0]))));
        bytes[] memory walk = new bytes[](5); // headers of 11810..11806: proves 11805
        for (uint256 i; i < 5; ++i) walk[i] = hs[i];
        assertEq(oracle.proveAncestors(block.chainid, 11_810, walk), 11_805, "oldest");
        assertEq(NOW - 11_805, 8_195, "past the window");
        assertEq(oracle.blockHash(block.chainid, 11_805), keccak256(hs[5]), "recorded");
    }

    function test_walk_pastGenesisIsRefused() public {
        (bytes[] memory hs, ) = _chain(0, 2);
        vm.prank(governance);
        oracle.setAnchor(8453, 2, keccak256(hs[0]));
        bytes[] memory walk = new bytes[](3); // 2, 1, 0 would prove block -1
        for (uint256 i; i < 3; ++i) walk[i] = hs[i];
        vm.expectRevert(abi.encodeWithSelector(IBlockHashOracle.OracleMalformedHeader.selector, 2));
        oracle.proveAncestors(8453, 2, walk);
        bytes[] memory toGenesis = new bytes[](2); // 2, 1: proves block 0
        toGenesis[0] = hs[0];
        toGenesis[1] = hs[1];
        assertEq(oracle.proveAncestors(8453, 2, toGenesis), 0, "genesis");
        assertEq(oracle.blockHash(8453, 0), keccak256(hs[2]), "genesis hash");
    }
}
