// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {RLP} from "@openzeppelin/contracts/utils/RLP.sol";
import {Memory} from "@openzeppelin/contracts/utils/Memory.sol";
import {IBlockHashOracle} from "../interfaces/IBlockHashOracle.sol";

/**
 * @title BlockHashOracle
 * @notice Canonical block hashes for accumulated-proof evidence (docs/protocol.md §8):
 * - this chain: `BLOCKHASH` for the last 256 blocks, the EIP-2935 history contract for the last
 *   8191, and older blocks once proven by a parent walk;
 * - foreign chains: anchors set by governance (the timelock), and blocks proven by a parent walk
 *   back from an anchor.
 * A parent walk checks RLP-encoded headers by keccak256 only: a header is accepted when it hashes
 * to a hash already known, and its parent hash then becomes known. Governance cannot anchor a
 * block of this chain: local hashes come from the chain alone.
 * docs/contracts/block-hash-oracle.md.
 */
contract BlockHashOracle is IBlockHashOracle, AccessControl {
    using RLP for bytes;
    using RLP for Memory.Slice;

    /// @notice Sets foreign-chain anchors (the timelock).
    bytes32 public constant GOVERNANCE_ROLE = keccak256("GOVERNANCE_ROLE");
    /// @notice EIP-2935 block-hash history contract (Prague): hashes of the last 8191 blocks.
    address public constant HISTORY_STORAGE = 0x0000F90827F1C53a10cb7A02335B175320002935;
    /// @notice How many blocks back the history contract answers.
    uint256 public constant HISTORY_WINDOW = 8191;
    /// @notice The index of `number` in an Ethereum block header's RLP list.
    uint256 private constant _NUMBER_FIELD = 8;

    mapping(uint256 chainId => mapping(uint256 number => bytes32 blockHash)) private _known;

    /// @param admin Gets the admin and governance roles (the timelock).
    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(GOVERNANCE_ROLE, admin);
    }

    /// @inheritdoc IBlockHashOracle
    function blockHash(uint256 chainId, uint256 number) external view returns (bytes32 h) {
        h = _lookup(chainId, number);
        if (h == bytes32(0)) revert OracleUnknownBlock(chainId, number);
    }

    /// @inheritdoc IBlockHashOracle
    function isKnown(uint256 chainId, uint256 number) external view returns (bool) {
        return _lookup(chainId, number) != bytes32(0);
    }

    /// @notice Anchors block `number` of foreign chain `chainId` at `hash` (GOVERNANCE_ROLE). The
    /// anchor is trusted as given: governance takes it from the foreign chain's finalized history.
    function setAnchor(uint256 chainId, uint256 number, bytes32 hash) external onlyRole(GOVERNANCE_ROLE) {
        if (hash == bytes32(0) || chainId == block.chainid) revert OracleInvalidAnchor(chainId, number, hash);
        _known[chainId][number] = hash;
        emit BlockHashKnown(chainId, number, hash, true);
    }

    /// @inheritdoc IBlockHashOracle
    function proveAncestors(
        uint256 chainId,
        uint256 number,
        bytes[] calldata headers
    ) external returns (uint256 oldest) {
        if (headers.length == 0) revert OracleEmptyWalk();
        bytes32 expected = _lookup(chainId, number);
        if (expected == bytes32(0)) revert OracleUnknownBlock(chainId, number);
        if (headers.length > number) revert OracleMalformedHeader(number); // would walk past genesis
        for (uint256 i; i < headers.length; ++i) {
            bytes32 actual = keccak256(headers[i]);
            if (actual != expected) revert OracleHeaderMismatch(i, expected, actual);
            (bytes32 parent, uint256 headerNumber) = _parentAndNumber(headers[i], i);
            if (headerNumber != number - i) revert OracleMalformedHeader(i);
            expected = parent;
        }
        oldest = number - headers.length;
        // This chain: record only what the history contract can no longer answer. A recent block
        // may still be reorganised away, and a hash recorded now would outlive the reorg.
        if (chainId == block.chainid && block.number - oldest <= HISTORY_WINDOW) revert OracleStillInWindow(oldest);
        _known[chainId][oldest] = expected;
        emit BlockHashKnown(chainId, oldest, expected, false);
    }

    /// @dev The hash of a block if the oracle can establish it, else zero.
    function _lookup(uint256 chainId, uint256 number) private view returns (bytes32 h) {
        if (chainId == block.chainid) {
            if (number >= block.number) return bytes32(0); // the current block or a future one
            uint256 age = block.number - number;
            if (age <= 256) return blockhash(number);
            if (age <= HISTORY_WINDOW) {
                (bool ok, bytes memory ret) = HISTORY_STORAGE.staticcall(abi.encode(number));
                if (ok && ret.length == 32) h = abi.decode(ret, (bytes32));
                if (h != bytes32(0)) return h;
            }
        }
        return _known[chainId][number];
    }

    /// @dev The parent hash (field 0) and number (field 8) of an RLP-encoded header. Reverts with
    /// OracleMalformedHeader(position) if the header is not a list that long.
    function _parentAndNumber(bytes calldata header, uint256 position) private pure returns (bytes32, uint256) {
        Memory.Slice[] memory fields = bytes(header).decodeList();
        if (fields.length <= _NUMBER_FIELD) revert OracleMalformedHeader(position);
        return (fields[0].readBytes32(), fields[_NUMBER_FIELD].readUint256());
    }
}
