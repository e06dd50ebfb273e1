// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

/**
 * @title IBlockHashOracle
 * @notice The canonical hash of a block of this chain or a foreign one (docs/protocol.md §8), for
 * evidence about accumulated proofs. It answers only what it can establish and reverts otherwise:
 * evidence about an unknown block never slashes and never counts as "no fault".
 */
interface IBlockHashOracle {
    /// @notice Thrown when the oracle cannot establish the hash of `number` on `chainId` (a future
    /// block, a local block older than the history window that nobody proved, or a foreign block
    /// no anchor reaches).
    error OracleUnknownBlock(uint256 chainId, uint256 number);
    /// @notice Thrown when a header's keccak256 is not the hash the walk expects.
    error OracleHeaderMismatch(uint256 position, bytes32 expected, bytes32 actual);
    /// @notice Thrown when a header is not an RLP list with a parent hash and a number, or its
    /// number is not one below its child's.
    error OracleMalformedHeader(uint256 position);
    /// @notice Thrown when a walk names no header.
    error OracleEmptyWalk();
    /// @notice Thrown when a walk on this chain would record a block the history window still
    /// covers (it could still be reorganised away): walk further back.
    error OracleStillInWindow(uint256 number);
    /// @notice Thrown when an anchor is zero or names a block of this chain.
    error OracleInvalidAnchor(uint256 chainId, uint256 number, bytes32 blockHash);

    /// @notice Emitted when a block hash becomes known: an anchor set by governance or a proven header.
    event BlockHashKnown(uint256 indexed chainId, uint256 indexed number, bytes32 blockHash, bool anchor);

    /// @notice The canonical hash of block `number` of chain `chainId`; reverts with
    /// OracleUnknownBlock if the oracle cannot establish it.
    function blockHash(uint256 chainId, uint256 number) external view returns (bytes32);

    /// @notice Whether {blockHash} would answer.
    function isKnown(uint256 chainId, uint256 number) external view returns (bool);

    /**
     * @notice Proves an older block of `chainId` by walking parent hashes back from block `number`,
     * whose hash the oracle already knows. `headers[0]` is the RLP-encoded header of `number` and
     * must hash to its known hash; each next header must hash to the parent hash named by the one
     * before and carry the number one below. The last (oldest) header's hash is recorded, so end
     * the walk at the block the evidence names; walks longer than one transaction allows go in
     * steps, each starting where the previous ended. Anyone may call.
     * @return oldest The number of the block proven (`number - headers.length + 1`).
     */
    function proveAncestors(
        uint256 chainId,
        uint256 number,
        bytes[] calldata headers
    ) external returns (uint256 oldest);
}
