// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {PartitionSpec} from "../libraries/Sharding.sol";

/**
 * @title IOperatorRegistry
 * @notice The dataflow graph every worker of an epoch runs (docs/protocol.md §4): streams and the
 * operators that produce them, with their definitions and bytecode on Arweave. Every change bumps
 * the graph version and folds into a running `graphHash`; the EpochManager pins both at freeze.
 * Writes are governed (REGISTRAR_ROLE, held by the timelock).
 */
interface IOperatorRegistry {
    // ------------------------------------------------------------------ types

    /// @notice Where a stream's deltas come from.
    enum SourceKind {
        INBOX, // the on-chain StreamInbox
        CHAIN, // a source chain (sourceChainId + sourceDescriptor)
        DERIVED // the output of exactly one operator
    }

    /// @notice An operator's lifecycle.
    enum OperatorStatus {
        NONE,
        ACTIVE,
        DEPRECATED
    }

    /// @notice A stream as governance registers it.
    struct StreamSpec {
        bytes32 id;
        bytes32 schemaHash;
        PartitionSpec partition;
        SourceKind sourceKind;
        uint64 sourceChainId; // CHAIN only
        bytes32 sourceDescriptor; // CHAIN: which contract/topic; otherwise zero
    }

    /// @notice An operator as governance registers it. Up to 8 streams in all (inputs + outputs).
    struct OperatorSpec {
        string name; // 1..24 bytes
        uint32 version;
        bytes32[] inputs;
        bytes32[] outputs;
        bytes32 definitionHash; // keccak256 of the definition blob
        bytes32 bytecodeHash; // keccak256 of the wasm bytecode blob
        bytes32 definitionTxId; // Arweave transaction id, 32 raw bytes
        bytes32 bytecodeTxId;
    }

    /// @notice A stream as the registry returns it.
    struct StreamRecord {
        StreamSpec spec;
        bool hasProducer;
        uint32 producer; // operator id, when hasProducer
    }

    /// @notice An operator as the registry returns it. `contentHash` is
    /// `keccak256(abi.encode(definitionHash, bytecodeHash))`; the two hashes are in its event.
    struct OperatorRecord {
        uint32 id;
        OperatorStatus status;
        string name;
        uint32 version;
        bytes32[] inputs;
        bytes32[] outputs;
        bytes32 contentHash;
        bytes32 definitionTxId;
        bytes32 bytecodeTxId;
    }

    // ------------------------------------------------------------------ errors

    /// @notice Thrown when a stream id is zero or registered already.
    error RegistryStreamExists(bytes32 id);
    /// @notice Thrown when a stream id is unknown.
    error RegistryUnknownStream(bytes32 id);
    /// @notice Thrown when a hash, transaction id or schema hash is zero.
    /// @param field Which one.
    error RegistryZeroField(string field);
    /// @notice Thrown when a stream's source fields do not fit its kind.
    error RegistryInvalidSource(SourceKind kind, uint64 sourceChainId, bytes32 sourceDescriptor);
    /// @notice Thrown when an operator name is empty, longer than 24 bytes or contains a zero byte.
    error RegistryInvalidName(uint256 length);
    /// @notice Thrown when an operator has no input, no output, or more than 8 streams in all.
    error RegistryInvalidArity(uint256 inputs, uint256 outputs);
    /// @notice Thrown when an output stream is not DERIVED.
    error RegistryOutputNotDerived(bytes32 stream, SourceKind kind);
    /// @notice Thrown when an output stream already has an active producer.
    error RegistryStreamHasProducer(bytes32 stream, uint32 producer);
    /// @notice Thrown when a stream appears twice among an operator's inputs and outputs.
    error RegistryDuplicateStream(bytes32 stream);
    /// @notice Thrown when an operator id is unknown or already deprecated.
    error RegistryNotActive(uint32 id);

    // ------------------------------------------------------------------ events

    /// @notice Emitted when a stream is registered.
    event StreamRegistered(bytes32 indexed id, uint32 index, StreamSpec spec, uint64 graphVersion, bytes32 graphHash);
    /// @notice Emitted when an operator is registered (with both content hashes, of which storage keeps one digest).
    event OperatorRegistered(
        uint32 indexed id,
        string name,
        uint32 version,
        bytes32 definitionHash,
        bytes32 bytecodeHash,
        uint64 graphVersion,
        bytes32 graphHash
    );
    /// @notice Emitted when an operator is deprecated (its outputs may get a new producer).
    event OperatorDeprecated(uint32 indexed id, uint64 graphVersion, bytes32 graphHash);

    // ------------------------------------------------------------------ actions

    /// @notice Registers a stream (REGISTRAR_ROLE).
    function registerStream(StreamSpec calldata spec) external returns (uint32 index);

    /// @notice Registers an operator (REGISTRAR_ROLE): inputs exist, outputs are DERIVED streams
    /// without an active producer, hashes and transaction ids non-zero.
    /// @return id The operator's id (its index).
    function registerOperator(OperatorSpec calldata spec) external returns (uint32 id);

    /// @notice Deprecates operator `id` (REGISTRAR_ROLE).
    function deprecateOperator(uint32 id) external;

    // ------------------------------------------------------------------ views

    /// @notice The graph version (bumped by every change) and the running hash of all changes.
    function graphState() external view returns (uint64 version, bytes32 hash);

    /// @notice The current graph version.
    function graphVersion() external view returns (uint64);

    /// @notice Numbers of streams and operators.
    function counts() external view returns (uint32 streams, uint32 operators);

    /// @notice Streams `[offset, offset + limit)` in registration order (clamped to the end).
    function streams(uint256 offset, uint256 limit) external view returns (StreamRecord[] memory);

    /// @notice Operators `[offset, offset + limit)` by id (clamped to the end).
    function operators(uint256 offset, uint256 limit) external view returns (OperatorRecord[] memory);

    /// @notice One stream by id.
    function stream(bytes32 id) external view returns (StreamRecord memory);

    /// @notice How stream `id` is partitioned (two storage reads, for fraud proofs). For the handoff
    /// stream of a registered stream ({handoffStreamOf}), that stream's partition.
    function partitionOf(bytes32 id) external view returns (PartitionSpec memory);

    /// @notice The id of stream `id`'s state handoff (docs/protocol.md §9): the channels on which a
    /// stateful operator's consolidated input moves from epoch e's holders to epoch e + 1's,
    /// signed under e + 1 and routed by its randomness like any batch of `id`.
    /// `keccak256(abi.encodePacked("maru.handoff", id))`; never the id of a registered stream.
    function handoffStreamOf(bytes32 id) external pure returns (bytes32);

    /// @notice One operator by id.
    function operator(uint32 id) external view returns (OperatorRecord memory);
}
