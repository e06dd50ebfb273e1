// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IOperatorRegistry} from "../interfaces/IOperatorRegistry.sol";
import {IGraphVersionSource} from "../epochs/EpochManager.sol";
import {Sharding, PartitionSpec, KeyKind} from "../libraries/Sharding.sol";

/**
 * @title OperatorRegistry
 * @notice Streams and operators of the dataflow graph (docs/protocol.md §4); docs/contracts/registry.md.
 *
 * Storage is shaped by the gas budget of registering an operator through the timelock: an operator
 * is five fresh slots (metadata, content digest, two Arweave ids, its streams as packed uint32
 * indices); its id is its index. Graph hash rule, per change number v = 1, 2, …:
 *   graphHash_v = keccak256(abi.encode(graphHash_{v-1}, v, kind, keccak256(abi.encode(spec))))
 * with kind 1 = stream (StreamSpec), 2 = operator (OperatorSpec), 3 = deprecation (uint32 id).
 */
contract OperatorRegistry is IOperatorRegistry, IGraphVersionSource, AccessControl {
    /// @notice Held by the timelock: every write.
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");

    uint256 private constant _MAX_STREAMS_PER_OPERATOR = 8;
    uint256 private constant _KIND_STREAM = 1;
    uint256 private constant _KIND_OPERATOR = 2;
    uint256 private constant _KIND_DEPRECATION = 3;

    struct StreamData {
        bytes32 id;
        bytes32 schemaHash;
        bytes32 sourceDescriptor;
        // packed: kind, offset, length, sourceKind, sourceChainId, producer (+1; 0 = none)
        KeyKind keyKind;
        uint32 offset;
        uint32 length;
        SourceKind sourceKind;
        uint64 sourceChainId;
        uint32 producerPlusOne;
    }

    struct OperatorData {
        // slot 0
        bytes24 name;
        uint32 version;
        OperatorStatus status;
        uint8 nInputs;
        uint8 nOutputs;
        // slots 1–4
        bytes32 contentHash;
        bytes32 definitionTxId;
        bytes32 bytecodeTxId;
        uint256 streams; // uint32 stream indices, inputs then outputs, lowest bits first
    }

    struct State {
        uint64 version;
        uint32 streamCount;
        uint32 operatorCount;
    }

    State private _state;
    bytes32 private _graphHash;
    mapping(bytes32 id => uint32 indexPlusOne) private _streamIndex;
    mapping(uint32 index => StreamData) private _streams;
    mapping(uint32 id => OperatorData) private _operators;
    /// @dev handoffStreamOf(id) → id (plus one index, as `_streamIndex`), for every registered stream.
    mapping(bytes32 handoff => uint32 indexPlusOne) private _handoffIndex;

    /// @param admin Gets DEFAULT_ADMIN_ROLE and REGISTRAR_ROLE: the timelock (deployment scripts
    /// hand the roles over and renounce the deployer's).
    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(REGISTRAR_ROLE, admin);
    }

    // ------------------------------------------------------------------ writes

    /// @inheritdoc IOperatorRegistry
    function registerStream(StreamSpec calldata spec) external onlyRole(REGISTRAR_ROLE) returns (uint32 index) {
        if (spec.id == bytes32(0) || _streamIndex[spec.id] != 0) revert RegistryStreamExists(spec.id);
        // A stream's id and its handoff id are one namespace: neither may name two streams.
        bytes32 handoff = handoffStreamOf(spec.id);
        if (_handoffIndex[spec.id] != 0) revert RegistryStreamExists(spec.id);
        if (_streamIndex[handoff] != 0) revert RegistryStreamExists(handoff);
        if (spec.schemaHash == bytes32(0)) revert RegistryZeroField("schemaHash");
        Sharding.validate(spec.partition);
        bool chain = spec.sourceKind == SourceKind.CHAIN;
        bool sourceOk =
            chain
                ? spec.sourceChainId != 0 && spec.sourceDescriptor != bytes32(0)
                : spec.sourceChainId == 0 &&
                    (spec.sourceKind == SourceKind.INBOX || spec.sourceDescriptor == bytes32(0));
        if (!sourceOk) revert RegistryInvalidSource(spec.sourceKind, spec.sourceChainId, spec.sourceDescriptor);

        State memory s = _state;
        index = s.streamCount;
        _streamIndex[spec.id] = index + 1;
        _handoffIndex[handoff] = index + 1;
        _streams[index] = StreamData({
            id: spec.id,
            schemaHash: spec.schemaHash,
            sourceDescriptor: spec.sourceDescriptor,
            keyKind: spec.partition.kind,
            offset: spec.partition.offset,
            length: spec.partition.length,
            sourceKind: spec.sourceKind,
            sourceChainId: spec.sourceChainId,
            producerPlusOne: 0
        });
        s.streamCount = index + 1;
        (uint64 v, bytes32 h) = _fold(s, _KIND_STREAM, keccak256(abi.encode(spec)));
        emit StreamRegistered(spec.id, index, spec, v, h);
    }

    /// @inheritdoc IOperatorRegistry
    function registerOperator(OperatorSpec calldata spec) external onlyRole(REGISTRAR_ROLE) returns (uint32 id) {
        _checkShape(spec);
        if (spec.definitionHash == bytes32(0)) revert RegistryZeroField("definitionHash");
        if (spec.bytecodeHash == bytes32(0)) revert RegistryZeroField("bytecodeHash");
        if (spec.definitionTxId == bytes32(0)) revert RegistryZeroField("definitionTxId");
        if (spec.bytecodeTxId == bytes32(0)) revert RegistryZeroField("bytecodeTxId");

        State memory s = _state;
        id = s.operatorCount;
        uint256 packed = _packStreams(spec, id);

        _operators[id] = OperatorData({
            name: bytes24(bytes(spec.name)),
            version: spec.version,
            status: OperatorStatus.ACTIVE,
            nInputs: uint8(spec.inputs.length),
            nOutputs: uint8(spec.outputs.length),
            contentHash: keccak256(abi.encode(spec.definitionHash, spec.bytecodeHash)),
            definitionTxId: spec.definitionTxId,
            bytecodeTxId: spec.bytecodeTxId,
            streams: packed
        });
        s.operatorCount = id + 1;
        (uint64 v, bytes32 h) = _fold(s, _KIND_OPERATOR, keccak256(abi.encode(spec)));
        _emitRegistered(id, spec, v, h);
    }

    /// @inheritdoc IOperatorRegistry
    function deprecateOperator(uint32 id) external onlyRole(REGISTRAR_ROLE) {
        OperatorData storage op = _operators[id];
        if (op.status != OperatorStatus.ACTIVE) revert RegistryNotActive(id);
        op.status = OperatorStatus.DEPRECATED;
        (uint64 v, bytes32 h) = _fold(_state, _KIND_DEPRECATION, keccak256(abi.encode(id)));
        emit OperatorDeprecated(id, v, h);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IOperatorRegistry
    function graphState() external view override(IOperatorRegistry, IGraphVersionSource) returns (uint64, bytes32) {
        return (_state.version, _graphHash);
    }

    /// @inheritdoc IOperatorRegistry
    function graphVersion() external view override(IOperatorRegistry, IGraphVersionSource) returns (uint64) {
        return _state.version;
    }

    /// @inheritdoc IOperatorRegistry
    function counts() external view returns (uint32, uint32) {
        return (_state.streamCount, _state.operatorCount);
    }

    /// @inheritdoc IOperatorRegistry
    function streams(uint256 offset, uint256 limit) external view returns (StreamRecord[] memory out) {
        uint256 end = _end(offset, limit, _state.streamCount);
        out = new StreamRecord[](end > offset ? end - offset : 0);
        for (uint256 i = offset; i < end; ++i) out[i - offset] = _streamRecord(uint32(i));
    }

    /// @inheritdoc IOperatorRegistry
    function operators(uint256 offset, uint256 limit) external view returns (OperatorRecord[] memory out) {
        uint256 end = _end(offset, limit, _state.operatorCount);
        out = new OperatorRecord[](end > offset ? end - offset : 0);
        for (uint256 i = offset; i < end; ++i) out[i - offset] = _operatorRecord(uint32(i));
    }

    /// @inheritdoc IOperatorRegistry
    function stream(bytes32 id) external view returns (StreamRecord memory) {
        return _streamRecord(_indexOf(id));
    }

    /// @inheritdoc IOperatorRegistry
    /// @dev A handoff stream's deltas are its stream's records: they are partitioned alike.
    function partitionOf(bytes32 id) external view returns (PartitionSpec memory) {
        uint32 plusOne = _streamIndex[id];
        if (plusOne == 0) plusOne = _handoffIndex[id];
        if (plusOne == 0) revert RegistryUnknownStream(id);
        StreamData storage d = _streams[plusOne - 1];
        return PartitionSpec(d.keyKind, d.offset, d.length);
    }

    /// @inheritdoc IOperatorRegistry
    function handoffStreamOf(bytes32 id) public pure returns (bytes32) {
        return keccak256(abi.encodePacked("maru.handoff", id));
    }

    /// @inheritdoc IOperatorRegistry
    function operator(uint32 id) external view returns (OperatorRecord memory) {
        if (id >= _state.operatorCount) revert RegistryNotActive(id);
        return _operatorRecord(id);
    }

    // ------------------------------------------------------------------ internals

    function _fold(State memory s, uint256 kind, bytes32 digest) private returns (uint64 v, bytes32 h) {
        v = s.version + 1;
        h = keccak256(abi.encode(_graphHash, v, kind, digest));
        s.version = v;
        _state = s;
        _graphHash = h;
    }

    function _indexOf(bytes32 id) private view returns (uint32) {
        uint32 plusOne = _streamIndex[id];
        if (plusOne == 0) revert RegistryUnknownStream(id);
        return plusOne - 1;
    }

    /// @dev Name: 1..24 bytes, no zero byte (storage pads with zeros). 1..7 inputs, ≥ 1 output, ≤ 8 in all.
    function _checkShape(OperatorSpec calldata spec) private pure {
        bytes calldata name = bytes(spec.name);
        if (name.length == 0 || name.length > 24) revert RegistryInvalidName(name.length);
        for (uint256 i; i < name.length; ++i) if (name[i] == 0) revert RegistryInvalidName(name.length);
        uint256 nIn = spec.inputs.length;
        uint256 nOut = spec.outputs.length;
        if (nIn == 0 || nOut == 0 || nIn + nOut > _MAX_STREAMS_PER_OPERATOR) revert RegistryInvalidArity(nIn, nOut);
    }

    function _emitRegistered(uint32 id, OperatorSpec calldata spec, uint64 v, bytes32 h) private {
        emit OperatorRegistered(id, spec.name, spec.version, spec.definitionHash, spec.bytecodeHash, v, h);
    }

    /// @dev Checks inputs exist and outputs are DERIVED without an active producer, claims the
    /// outputs for operator `id`, and returns the stream indices packed (inputs, then outputs).
    function _packStreams(OperatorSpec calldata spec, uint32 id) private returns (uint256 packed) {
        uint256 nIn = spec.inputs.length;
        for (uint256 i; i < nIn; ++i) {
            packed |= uint256(_indexOf(spec.inputs[i])) << (32 * i);
        }
        for (uint256 i; i < spec.outputs.length; ++i) {
            uint32 index = _indexOf(spec.outputs[i]);
            StreamData storage out = _streams[index];
            if (out.sourceKind != SourceKind.DERIVED) revert RegistryOutputNotDerived(spec.outputs[i], out.sourceKind);
            uint32 producer = out.producerPlusOne;
            // A deprecated producer may be replaced; an active one may not.
            if (producer != 0 && _operators[producer - 1].status == OperatorStatus.ACTIVE) {
                revert RegistryStreamHasProducer(spec.outputs[i], producer - 1);
            }
            out.producerPlusOne = id + 1;
            packed |= uint256(index) << (32 * (nIn + i));
        }
        _checkDistinct(packed, nIn + spec.outputs.length, spec);
    }

    function _checkDistinct(uint256 packed, uint256 n, OperatorSpec calldata spec) private pure {
        for (uint256 i; i < n; ++i) {
            uint32 a = uint32(packed >> (32 * i));
            for (uint256 j = i + 1; j < n; ++j) {
                if (a == uint32(packed >> (32 * j))) {
                    uint256 nIn = spec.inputs.length;
                    revert RegistryDuplicateStream(j < nIn ? spec.inputs[j] : spec.outputs[j - nIn]);
                }
            }
        }
    }

    function _end(uint256 offset, uint256 limit, uint256 count) private pure returns (uint256) {
        if (offset >= count) return offset;
        return limit > count - offset ? count : offset + limit;
    }

    function _streamRecord(uint32 index) private view returns (StreamRecord memory r) {
        StreamData storage d = _streams[index];
        r.spec = StreamSpec({
            id: d.id,
            schemaHash: d.schemaHash,
            partition: PartitionSpec(d.keyKind, d.offset, d.length),
            sourceKind: d.sourceKind,
            sourceChainId: d.sourceChainId,
            sourceDescriptor: d.sourceDescriptor
        });
        r.hasProducer = d.producerPlusOne != 0;
        r.producer = d.producerPlusOne == 0 ? 0 : d.producerPlusOne - 1;
    }

    function _operatorRecord(uint32 id) private view returns (OperatorRecord memory r) {
        OperatorData storage d = _operators[id];
        r.id = id;
        r.status = d.status;
        r.name = _name(d.name);
        r.version = d.version;
        r.inputs = new bytes32[](d.nInputs);
        r.outputs = new bytes32[](d.nOutputs);
        uint256 packed = d.streams;
        for (uint256 i; i < d.nInputs; ++i) r.inputs[i] = _streams[uint32(packed >> (32 * i))].id;
        for (uint256 i; i < d.nOutputs; ++i) r.outputs[i] = _streams[uint32(packed >> (32 * (d.nInputs + i)))].id;
        r.contentHash = d.contentHash;
        r.definitionTxId = d.definitionTxId;
        r.bytecodeTxId = d.bytecodeTxId;
    }

    function _name(bytes24 b) private pure returns (string memory) {
        uint256 len;
        while (len < 24 && b[len] != 0) ++len;
        bytes memory out = new bytes(len);
        for (uint256 i; i < len; ++i) out[i] = b[i];
        return string(out);
    }
}
