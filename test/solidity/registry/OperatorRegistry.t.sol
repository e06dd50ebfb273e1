// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {Test} from "../utils/Test.sol";
import {OperatorRegistry} from "../../../contracts/registry/OperatorRegistry.sol";
import {IOperatorRegistry} from "../../../contracts/interfaces/IOperatorRegistry.sol";
import {PartitionSpec, KeyKind, Sharding} from "../../../contracts/libraries/Sharding.sol";
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

abstract contract RegistryBase is Test {
    OperatorRegistry internal reg;
    address internal registrar = address(0x7E6);
    bytes32 internal constant S_IN = keccak256("transfers");
    bytes32 internal constant S_IN2 = keccak256("prices");
    bytes32 internal constant S_OUT = keccak256("balances");

    // Mirror of the graph hash, recomputed here from the documented rule.
    bytes32 internal expectedHash;
    uint64 internal expectedVersion;

    function setUp() public virtual {
        reg = new OperatorRegistry(registrar);
    }

    function _stream(
        bytes32 id,
        IOperatorRegistry.SourceKind kind
    ) internal pure returns (IOperatorRegistry.StreamSpec memory s) {
        s.id = id;
        s.schemaHash = keccak256(abi.encode("schema", id));
        s.partition = PartitionSpec(KeyKind.SLICE, 0, 20);
        s.sourceKind = kind;
    }

    function _op(string memory name) internal pure returns (IOperatorRegistry.OperatorSpec memory o) {
        o.name = name;
        o.version = 1;
        o.inputs = new bytes32[](2);
        o.inputs[0] = S_IN;
        o.inputs[1] = S_IN2;
        o.outputs = new bytes32[](1);
        o.outputs[0] = S_OUT;
        o.definitionHash = keccak256("definition");
        o.bytecodeHash = keccak256("bytecode");
        o.definitionTxId = keccak256("def-tx");
        o.bytecodeTxId = keccak256("bc-tx");
    }

    function _registerStreams() internal {
        vm.startPrank(registrar);
        reg.registerStream(_stream(S_IN, IOperatorRegistry.SourceKind.INBOX));
        _fold(1, keccak256(abi.encode(_stream(S_IN, IOperatorRegistry.SourceKind.INBOX))));
        reg.registerStream(_stream(S_IN2, IOperatorRegistry.SourceKind.INBOX));
        _fold(1, keccak256(abi.encode(_stream(S_IN2, IOperatorRegistry.SourceKind.INBOX))));
        reg.registerStream(_stream(S_OUT, IOperatorRegistry.SourceKind.DERIVED));
        _fold(1, keccak256(abi.encode(_stream(S_OUT, IOperatorRegistry.SourceKind.DERIVED))));
        vm.stopPrank();
    }

    function _fold(uint256 kind, bytes32 digest) internal {
        ++expectedVersion;
        expectedHash = keccak256(abi.encode(expectedHash, expectedVersion, kind, digest));
    }
}

contract RegisterStreamTest is RegistryBase {
    function test_registerStream_foldsIntoTheGraphHash() public {
        _registerStreams();
        (uint64 v, bytes32 h) = reg.graphState();
        assertEq(v, 3, "version bumped per change");
        assertEq(h, expectedHash, "graph hash follows the documented rule");
        IOperatorRegistry.StreamRecord memory r = reg.stream(S_OUT);
        assertEq(r.spec.schemaHash, keccak256(abi.encode("schema", S_OUT)), "schema");
        assertFalse(r.hasProducer, "no producer yet");
    }

    function test_registerStream_validation() public {
        vm.startPrank(registrar);
        IOperatorRegistry.StreamSpec memory s = _stream(S_IN, IOperatorRegistry.SourceKind.INBOX);
        reg.registerStream(s);
        vm.expectRevert(abi.encodeWithSelector(IOperatorRegistry.RegistryStreamExists.selector, S_IN));
        reg.registerStream(s);
        s.id = bytes32(0);
        vm.expectRevert(abi.encodeWithSelector(IOperatorRegistry.RegistryStreamExists.selector, bytes32(0)));
        reg.registerStream(s);
        s.id = keccak256("x");
        s.schemaHash = 0;
        vm.expectRevert(abi.encodeWithSelector(IOperatorRegistry.RegistryZeroField.selector, "schemaHash"));
        reg.registerStream(s);
        s.schemaHash = keccak256("s");
        s.partition = PartitionSpec(KeyKind.SLICE, 0, 0);
        vm.expectRevert(abi.encodeWithSelector(Sharding.ShardingInvalidSpec.selector, KeyKind.SLICE, 0, 0));
        reg.registerStream(s);
        s.partition = PartitionSpec(KeyKind.WHOLE, 0, 0);
        s.sourceKind = IOperatorRegistry.SourceKind.CHAIN; // needs chain id and descriptor
        vm.expectRevert(
            abi.encodeWithSelector(
                IOperatorRegistry.RegistryInvalidSource.selector,
                IOperatorRegistry.SourceKind.CHAIN,
                0,
                bytes32(0)
            )
        );
        reg.registerStream(s);
        s.sourceChainId = 1;
        s.sourceDescriptor = keccak256("erc20-transfers");
        reg.registerStream(s);
    }

    function test_writes_requireTheRegistrarRole() public {
        bytes32 role = reg.REGISTRAR_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, address(this), role)
        );
        reg.registerStream(_stream(S_IN, IOperatorRegistry.SourceKind.INBOX));
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, address(this), role)
        );
        reg.registerOperator(_op("balances"));
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, address(this), role)
        );
        reg.deprecateOperator(0);
    }
}

contract RegisterOperatorTest is RegistryBase {
    function setUp() public override {
        super.setUp();
        _registerStreams();
    }

    function test_registerOperator_storesAndFolds() public {
        IOperatorRegistry.OperatorSpec memory o = _op("balances");
        vm.prank(registrar);
        assertEq(reg.registerOperator(o), 0, "id 0");
        _fold(2, keccak256(abi.encode(o)));
        (uint64 v, bytes32 h) = reg.graphState();
        assertEq(v, 4, "version");
        assertEq(h, expectedHash, "graph hash");
        IOperatorRegistry.OperatorRecord memory r = reg.operator(0);
        assertEq(keccak256(bytes(r.name)), keccak256("balances"), "name");
        assertEq(r.inputs[1], S_IN2, "inputs");
        assertEq(r.outputs[0], S_OUT, "outputs");
        assertEq(r.contentHash, keccak256(abi.encode(o.definitionHash, o.bytecodeHash)), "content digest");
        assertEq(r.bytecodeTxId, o.bytecodeTxId, "tx id");
        IOperatorRegistry.StreamRecord memory out = reg.stream(S_OUT);
        assertTrue(out.hasProducer && out.producer == 0, "producer");
    }

    function test_registerOperator_validation() public {
        vm.startPrank(registrar);
        IOperatorRegistry.OperatorSpec memory o = _op("");
        vm.expectRevert(abi.encodeWithSelector(IOperatorRegistry.RegistryInvalidName.selector, 0));
        reg.registerOperator(o);
        o.name = "a-name-that-is-too-long-x";
        vm.expectRevert(abi.encodeWithSelector(IOperatorRegistry.RegistryInvalidName.selector, 25));
        reg.registerOperator(o);
        o.name = string(abi.encodePacked("a", bytes1(0), "b"));
        vm.expectRevert(abi.encodeWithSelector(IOperatorRegistry.RegistryInvalidName.selector, 3));
        reg.registerOperator(o);
        o = _op("x");
        o.bytecodeTxId = 0;
        vm.expectRevert(abi.encodeWithSelector(IOperatorRegistry.RegistryZeroField.selector, "bytecodeTxId"));
        reg.registerOperator(o);
        o = _op("x");
        o.inputs[1] = keccak256("missing");
        vm.expectRevert(abi.encodeWithSelector(IOperatorRegistry.RegistryUnknownStream.selector, keccak256("missing")));
        reg.registerOperator(o);
        o = _op("x");
        o.outputs[0] = S_IN; // not DERIVED
        vm.expectRevert(
            abi.encodeWithSelector(
                IOperatorRegistry.RegistryOutputNotDerived.selector,
                S_IN,
                IOperatorRegistry.SourceKind.INBOX
            )
        );
        reg.registerOperator(o);
        o = _op("x");
        o.inputs[1] = S_IN; // duplicate input
        vm.expectRevert(abi.encodeWithSelector(IOperatorRegistry.RegistryDuplicateStream.selector, S_IN));
        reg.registerOperator(o);
        o = _op("x");
        o.outputs = new bytes32[](0);
        vm.expectRevert(abi.encodeWithSelector(IOperatorRegistry.RegistryInvalidArity.selector, 2, 0));
        reg.registerOperator(o);
    }

    function test_everyStreamHasOneActiveProducer_deprecatedMayBeReplaced() public {
        vm.startPrank(registrar);
        reg.registerOperator(_op("v1"));
        vm.expectRevert(abi.encodeWithSelector(IOperatorRegistry.RegistryStreamHasProducer.selector, S_OUT, 0));
        reg.registerOperator(_op("v2"));
        reg.deprecateOperator(0);
        vm.expectRevert(abi.encodeWithSelector(IOperatorRegistry.RegistryNotActive.selector, 0));
        reg.deprecateOperator(0);
        assertEq(reg.registerOperator(_op("v2")), 1, "replacement");
        assertEq(reg.stream(S_OUT).producer, 1, "new producer");
        assertEq(uint8(reg.operator(0).status), uint8(IOperatorRegistry.OperatorStatus.DEPRECATED), "old deprecated");
    }

    function test_pagination_clampsAtTheEnd() public {
        vm.startPrank(registrar);
        reg.registerOperator(_op("a"));
        assertEq(reg.streams(0, 2).length, 2, "first page");
        assertEq(reg.streams(2, 10).length, 1, "clamped");
        assertEq(reg.streams(5, 10).length, 0, "past the end");
        assertEq(reg.operators(0, 10).length, 1, "operators");
        (uint32 ns, uint32 no) = reg.counts();
        assertEq(ns, 3, "streams");
        assertEq(no, 1, "operators");
    }

    function testFuzz_graphHash_dependsOnEveryField(bytes32 defHash, bytes32 txId, uint32 version) public {
        vm.assume(defHash != 0 && txId != 0);
        IOperatorRegistry.OperatorSpec memory o = _op("f");
        o.definitionHash = defHash;
        o.bytecodeTxId = txId;
        o.version = version;
        vm.prank(registrar);
        reg.registerOperator(o);
        _fold(2, keccak256(abi.encode(o)));
        (, bytes32 h) = reg.graphState();
        assertEq(h, expectedHash, "graph hash");
    }
}

/// Governance: the timelock holds the role; nothing executes before the delay or twice.
contract RegistryTimelockTest is Test {
    OperatorRegistry internal reg;
    TimelockController internal timelock;
    address internal proposer = address(0x9909);
    uint256 internal constant DELAY = 2 days;

    function setUp() public {
        address[] memory proposers = new address[](1);
        proposers[0] = proposer;
        address[] memory executors = new address[](1);
        executors[0] = address(0); // anyone may execute a ready proposal
        timelock = new TimelockController(DELAY, proposers, executors, address(0));
        reg = new OperatorRegistry(address(timelock));
    }

    function test_timelock_delay_andNoReplay() public {
        IOperatorRegistry.StreamSpec memory s;
        s.id = keccak256("s");
        s.schemaHash = keccak256("schema");
        s.partition = PartitionSpec(KeyKind.WHOLE, 0, 0);
        bytes memory data = abi.encodeCall(OperatorRegistry.registerStream, (s));
        vm.prank(proposer);
        timelock.schedule(address(reg), 0, data, bytes32(0), bytes32(0), DELAY);
        bytes32 id = timelock.hashOperation(address(reg), 0, data, bytes32(0), bytes32(0));
        vm.expectRevert(
            abi.encodeWithSelector(
                TimelockController.TimelockUnexpectedOperationState.selector,
                id,
                bytes32(1 << uint8(TimelockController.OperationState.Ready))
            )
        );
        timelock.execute(address(reg), 0, data, bytes32(0), bytes32(0));
        vm.warp(block.timestamp + DELAY);
        timelock.execute(address(reg), 0, data, bytes32(0), bytes32(0));
        assertEq(reg.graphVersion(), 1, "executed once");
        vm.expectRevert(
            abi.encodeWithSelector(
                TimelockController.TimelockUnexpectedOperationState.selector,
                id,
                bytes32(1 << uint8(TimelockController.OperationState.Ready))
            )
        );
        timelock.execute(address(reg), 0, data, bytes32(0), bytes32(0)); // replay
        // A non-proposer cannot schedule.
        vm.expectRevert();
        timelock.schedule(address(reg), 0, data, bytes32(0), keccak256("salt"), DELAY);
    }
}

/// State handoff ids (docs/protocol.md §9): one per stream, partitioned as the stream, never a stream.
contract RegistryHandoffTest is RegistryBase {
    function test_handoff_idRuleAndPartition() public {
        _registerStreams();
        bytes32 h = reg.handoffStreamOf(S_OUT);
        assertEq(h, keccak256(abi.encodePacked("maru.handoff", S_OUT)), "id rule");
        PartitionSpec memory p = reg.partitionOf(h);
        PartitionSpec memory q = reg.partitionOf(S_OUT);
        assertEq(uint8(p.kind), uint8(q.kind), "kind");
        assertEq(p.offset, q.offset, "offset");
        assertEq(p.length, q.length, "length");
        bytes32 unknown = reg.handoffStreamOf(keccak256("missing"));
        vm.expectRevert(abi.encodeWithSelector(IOperatorRegistry.RegistryUnknownStream.selector, unknown));
        reg.partitionOf(unknown);
        // A handoff id is not a stream: not readable as one, not an operator's input.
        vm.expectRevert(abi.encodeWithSelector(IOperatorRegistry.RegistryUnknownStream.selector, h));
        reg.stream(h);
        IOperatorRegistry.OperatorSpec memory o = _op("x");
        o.inputs[1] = h;
        vm.prank(registrar);
        vm.expectRevert(abi.encodeWithSelector(IOperatorRegistry.RegistryUnknownStream.selector, h));
        reg.registerOperator(o);
    }

    function test_handoff_idsAndStreamIdsNeverCollide() public {
        _registerStreams();
        bytes32 h = reg.handoffStreamOf(S_IN);
        vm.startPrank(registrar);
        // A stream whose id is a registered stream's handoff id.
        vm.expectRevert(abi.encodeWithSelector(IOperatorRegistry.RegistryStreamExists.selector, h));
        reg.registerStream(_stream(h, IOperatorRegistry.SourceKind.DERIVED));
        // A stream whose handoff id is a registered stream's id.
        bytes32 x = keccak256("x");
        reg.registerStream(_stream(reg.handoffStreamOf(x), IOperatorRegistry.SourceKind.DERIVED));
        vm.expectRevert(
            abi.encodeWithSelector(IOperatorRegistry.RegistryStreamExists.selector, reg.handoffStreamOf(x))
        );
        reg.registerStream(_stream(x, IOperatorRegistry.SourceKind.DERIVED));
        vm.stopPrank();
    }

    function testFuzz_handoff_partitionFollowsTheStream(bytes32 id, uint32 offset, uint32 length) public {
        vm.assume(id != bytes32(0));
        length = uint32(bound(length, 1, 64));
        offset = uint32(bound(offset, 0, 1024));
        IOperatorRegistry.StreamSpec memory s = _stream(id, IOperatorRegistry.SourceKind.DERIVED);
        s.partition = PartitionSpec(KeyKind.SLICE, offset, length);
        vm.prank(registrar);
        reg.registerStream(s);
        PartitionSpec memory p = reg.partitionOf(reg.handoffStreamOf(id));
        assertEq(p.offset, offset, "offset");
        assertEq(p.length, length, "length");
    }
}
