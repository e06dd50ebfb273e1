// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {Delta} from "../libraries/DeltaMerkle.sol";

/**
 * @title IStreamInbox
 * @notice An on-chain source stream (docs/protocol.md §9): allowed appenders append deltas to streams the
 * registry marks as INBOX sources; every append is an event with the deltas, and the stream's
 * LtHash digest is checkpointed at every block with appends, so workers read their shards straight
 * from the chain and check what they read.
 */
interface IStreamInbox {
    /// @notice Thrown when `account` may not append to `stream`.
    error InboxNotAppender(bytes32 stream, address account);
    /// @notice Thrown when an append has no deltas or more than MAX_APPEND.
    error InboxBadAppendSize(uint256 count, uint256 maxAppend);
    /// @notice Thrown when governance names a stream that is not an INBOX source in the registry.
    error InboxNotAnInboxStream(bytes32 stream);
    /// @notice Thrown when there is no checkpoint of `stream` at `blockNumber` (no append in that block).
    error InboxNoCheckpoint(bytes32 stream, uint256 blockNumber);

    /// @notice Emitted for every append: the deltas get indices `firstIndex ..` in the stream, and
    /// `digest` is the stream's LtHash digest after them.
    event Appended(bytes32 indexed stream, uint64 firstIndex, bytes32 digest, Delta[] deltas);
    /// @notice Emitted when governance allows or disallows an appender.
    event AppenderSet(bytes32 indexed stream, address indexed account, bool allowed);

    /// @notice Appends `deltas` to `stream` (an allowed appender only). Batches amortise the cost of
    /// the stream's 2,048-byte state: append many deltas per call.
    /// @return firstIndex The stream index of the first delta.
    function append(bytes32 stream, Delta[] calldata deltas) external returns (uint64 firstIndex);

    /// @notice The number of deltas, the last block with an append, and the current digest.
    function head(bytes32 stream) external view returns (uint64 count, uint64 lastBlock, bytes32 digest);

    /// @notice The stream's digest at the end of block `blockNumber`, which must have had an append.
    function digestAt(bytes32 stream, uint256 blockNumber) external view returns (bytes32);

    /// @notice The full 1,024-lane LtHash state of `stream` (2,048 bytes), for fraud proofs and audits.
    function stateOf(bytes32 stream) external view returns (bytes memory);

    /// @notice Whether `account` may append to `stream`.
    function isAppender(bytes32 stream, address account) external view returns (bool);
}
