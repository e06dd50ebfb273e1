// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IStreamInbox} from "../interfaces/IStreamInbox.sol";
import {IOperatorRegistry} from "../interfaces/IOperatorRegistry.sol";
import {Delta} from "../libraries/DeltaMerkle.sol";
import {LtHash} from "../libraries/LtHash.sol";

/**
 * @title StreamInbox
 * @notice docs/protocol.md §9: the on-chain source stream. Governance (the timelock) allows appenders
 * per stream, for streams the registry registered with source kind INBOX. docs/contracts/stream-inbox.md.
 *
 * Cost: each append loads and stores the stream's 64-word LtHash state once (≈ 5,000 gas a word)
 * and adds each delta (≈ 13,000 gas), so the cost per delta falls with the batch size.
 */
contract StreamInbox is IStreamInbox, AccessControl {
    /// @notice Allows appenders (the timelock).
    bytes32 public constant GOVERNANCE_ROLE = keccak256("GOVERNANCE_ROLE");
    /// @notice The most deltas one append takes (bounds the transaction).
    uint256 public constant MAX_APPEND = 512;

    /// @dev count [0,64) | lastBlock [64,128)
    struct Head {
        uint64 count;
        uint64 lastBlock;
    }

    IOperatorRegistry private immutable _registry;

    mapping(bytes32 stream => uint256[64]) private _states;
    mapping(bytes32 stream => Head) private _heads;
    mapping(bytes32 stream => mapping(uint256 blockNumber => bytes32 digest)) private _checkpoints;
    mapping(bytes32 stream => mapping(address account => bool)) private _appenders;

    /// @param registry The registry that says which streams are INBOX sources.
    /// @param admin Gets the admin and governance roles (the timelock).
    constructor(IOperatorRegistry registry, address admin) {
        _registry = registry;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(GOVERNANCE_ROLE, admin);
    }

    /// @notice Allows or disallows `account` to append to `stream` (GOVERNANCE_ROLE). The stream
    /// must be registered with source kind INBOX.
    function setAppender(bytes32 stream, address account, bool allowed) external onlyRole(GOVERNANCE_ROLE) {
        if (_registry.stream(stream).spec.sourceKind != IOperatorRegistry.SourceKind.INBOX) {
            revert InboxNotAnInboxStream(stream);
        }
        _appenders[stream][account] = allowed;
        emit AppenderSet(stream, account, allowed);
    }

    /// @inheritdoc IStreamInbox
    function append(bytes32 stream, Delta[] calldata deltas) external returns (uint64 firstIndex) {
        if (!_appenders[stream][msg.sender]) revert InboxNotAppender(stream, msg.sender);
        uint256 n = deltas.length;
        if (n == 0 || n > MAX_APPEND) revert InboxBadAppendSize(n, MAX_APPEND);
        uint256[64] storage stored = _states[stream];
        uint256[64] memory state = stored; // 64 reads, once
        for (uint256 i; i < n; ++i) {
            Delta calldata d = deltas[i];
            LtHash.addElement(state, keccak256(abi.encode(d.data, d.time)), d.diff);
        }
        for (uint256 w; w < 64; ++w) stored[w] = state[w]; // 64 writes, once
        bytes32 digest = LtHash.digest(state);
        Head storage h = _heads[stream];
        firstIndex = h.count;
        (h.count, h.lastBlock) = (firstIndex + uint64(n), uint64(block.number));
        _checkpoints[stream][block.number] = digest;
        emit Appended(stream, firstIndex, digest, deltas);
    }

    /// @inheritdoc IStreamInbox
    function head(bytes32 stream) external view returns (uint64 count, uint64 lastBlock, bytes32 digest) {
        Head storage h = _heads[stream];
        if (h.lastBlock == 0) {
            uint256[64] memory empty;
            return (0, 0, LtHash.digest(empty));
        }
        return (h.count, h.lastBlock, _checkpoints[stream][h.lastBlock]);
    }

    /// @inheritdoc IStreamInbox
    function digestAt(bytes32 stream, uint256 blockNumber) external view returns (bytes32 d) {
        d = _checkpoints[stream][blockNumber];
        if (d == bytes32(0)) revert InboxNoCheckpoint(stream, blockNumber);
    }

    /// @inheritdoc IStreamInbox
    function stateOf(bytes32 stream) external view returns (bytes memory) {
        return LtHash.encode(_states[stream]);
    }

    /// @inheritdoc IStreamInbox
    function isAppender(bytes32 stream, address account) external view returns (bool) {
        return _appenders[stream][account];
    }
}
