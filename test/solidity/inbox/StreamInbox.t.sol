// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {Test} from "../utils/Test.sol";
import {StreamInbox} from "../../../contracts/inbox/StreamInbox.sol";
import {IStreamInbox} from "../../../contracts/interfaces/IStreamInbox.sol";
import {OperatorRegistry} from "../../../contracts/registry/OperatorRegistry.sol";
import {IOperatorRegistry} from "../../../contracts/interfaces/IOperatorRegistry.sol";
import {Delta} from "../../../contracts/libraries/DeltaMerkle.sol";
import {LtHash} from "../../../contracts/libraries/LtHash.sol";
import {PartitionSpec, KeyKind} from "../../../contracts/libraries/Sharding.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

contract StreamInboxTest is Test {
    StreamInbox internal inbox;
    OperatorRegistry internal registry;
    address internal governance = address(0x6070);
    address internal feeder = address(0xFEED);
    bytes32 internal constant A = keccak256("transfers");
    bytes32 internal constant B = keccak256("transfers-b");
    bytes32 internal constant CHAIN = keccak256("from-a-chain");

    function setUp() public {
        registry = new OperatorRegistry(address(this));
        registry.registerStream(_spec(A, IOperatorRegistry.SourceKind.INBOX));
        registry.registerStream(_spec(B, IOperatorRegistry.SourceKind.INBOX));
        registry.registerStream(_spec(CHAIN, IOperatorRegistry.SourceKind.CHAIN));
        inbox = new StreamInbox(IOperatorRegistry(address(registry)), governance);
        vm.startPrank(governance);
        inbox.setAppender(A, feeder, true);
        inbox.setAppender(B, feeder, true);
        vm.stopPrank();
    }

    function _spec(
        bytes32 id,
        IOperatorRegistry.SourceKind kind
    ) internal pure returns (IOperatorRegistry.StreamSpec memory s) {
        s.id = id;
        s.schemaHash = keccak256("schema");
        s.partition = PartitionSpec(KeyKind.WHOLE, 0, 0);
        s.sourceKind = kind;
        if (kind == IOperatorRegistry.SourceKind.CHAIN) {
            s.sourceChainId = 1;
            s.sourceDescriptor = keccak256("contract");
        }
    }

    function _deltas(uint256 from, uint256 n) internal pure returns (Delta[] memory ds) {
        ds = new Delta[](n);
        for (uint256 i; i < n; ++i)
            ds[i] = Delta(abi.encode("account", from + i), uint64(from + i), int64(int256((from + i) % 3)) - 1);
    }

    function _digest(Delta[] memory ds) internal pure returns (bytes32) {
        uint256[64] memory st;
        for (uint256 i; i < ds.length; ++i) LtHash.add(st, ds[i].data, ds[i].time, ds[i].diff);
        return LtHash.digest(st);
    }

    function test_setAppender_governanceOnly_inboxStreamsOnly() public {
        bytes32 role = inbox.GOVERNANCE_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, address(this), role)
        );
        inbox.setAppender(A, address(this), true);
        vm.startPrank(governance);
        vm.expectRevert(abi.encodeWithSelector(IStreamInbox.InboxNotAnInboxStream.selector, CHAIN));
        inbox.setAppender(CHAIN, feeder, true);
        vm.expectRevert(abi.encodeWithSelector(IOperatorRegistry.RegistryUnknownStream.selector, bytes32("nope")));
        inbox.setAppender(bytes32("nope"), feeder, true);
        inbox.setAppender(A, feeder, false);
        vm.stopPrank();
        assertFalse(inbox.isAppender(A, feeder), "revoked");
        vm.prank(feeder);
        vm.expectRevert(abi.encodeWithSelector(IStreamInbox.InboxNotAppender.selector, A, feeder));
        inbox.append(A, _deltas(0, 1));
    }

    function test_append_refusesEmptyAndOversized() public {
        uint256 max = inbox.MAX_APPEND();
        vm.startPrank(feeder);
        vm.expectRevert(abi.encodeWithSelector(IStreamInbox.InboxBadAppendSize.selector, 0, max));
        inbox.append(A, new Delta[](0));
        vm.expectRevert(abi.encodeWithSelector(IStreamInbox.InboxBadAppendSize.selector, max + 1, max));
        inbox.append(A, new Delta[](max + 1));
    }

    function test_append_emitsIndexesAndCheckpointsPerBlock() public {
        Delta[] memory first = _deltas(0, 3);
        vm.roll(100);
        vm.expectEmit();
        emit IStreamInbox.Appended(A, 0, _digest(first), first);
        vm.prank(feeder);
        assertEq(inbox.append(A, first), 0, "first index");
        bytes32 at100 = inbox.digestAt(A, 100);
        vm.prank(feeder);
        assertEq(inbox.append(A, _deltas(3, 2)), 3, "next index"); // same block: the checkpoint moves
        (uint64 count, uint64 lastBlock, bytes32 digest) = inbox.head(A);
        assertEq(count, 5, "count");
        assertEq(lastBlock, 100, "block");
        assertEq(digest, _digest(_deltas(0, 5)), "digest of all five");
        assertEq(inbox.digestAt(A, 100), digest, "end-of-block checkpoint");
        assertTrue(at100 != digest, "it moved within the block");
        vm.roll(101);
        vm.prank(feeder);
        inbox.append(A, _deltas(5, 1));
        assertEq(inbox.digestAt(A, 100), digest, "block 100 kept");
        assertEq(inbox.digestAt(A, 101), _digest(_deltas(0, 6)), "block 101");
        vm.expectRevert(abi.encodeWithSelector(IStreamInbox.InboxNoCheckpoint.selector, A, 99));
        inbox.digestAt(A, 99);
        assertEq(keccak256(inbox.stateOf(A)), inbox.digestAt(A, 101), "the digest is keccak256 of the state");
    }

    function test_head_ofAnEmptyStreamIsTheEmptyDigest() public view {
        (uint64 count, , bytes32 digest) = inbox.head(B);
        assertEq(count, 0, "empty");
        assertEq(digest, _digest(new Delta[](0)), "empty digest");
    }

    /// However a sequence of deltas is split into appends, and in whatever order, the digest is the same.
    function testFuzz_append_digestIndependentOfSplitAndOrder(uint8 total, uint8 cut) public {
        uint256 n = 1 + (uint256(total) % 40);
        uint256 k = uint256(cut) % n;
        Delta[] memory all = _deltas(1000, n);
        Delta[] memory head_ = new Delta[](k);
        Delta[] memory tail = new Delta[](n - k);
        for (uint256 i; i < k; ++i) head_[i] = all[i];
        for (uint256 i = k; i < n; ++i) tail[i - k] = all[i];
        vm.startPrank(feeder);
        if (tail.length != 0) inbox.append(A, tail); // the later part first
        if (head_.length != 0) inbox.append(A, head_);
        inbox.append(B, all);
        vm.stopPrank();
        (, , bytes32 a) = inbox.head(A);
        (, , bytes32 b) = inbox.head(B);
        assertEq(a, b, "same multiset, same digest");
        assertEq(a, _digest(all), "the library's digest");
    }
}
