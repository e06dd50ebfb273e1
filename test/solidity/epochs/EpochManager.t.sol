// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {EpochsBase} from "./EpochsBase.sol";
import {IEpochManager} from "../../../contracts/interfaces/IEpochManager.sol";
import {IRandomnessBeacon} from "../../../contracts/interfaces/IRandomnessBeacon.sol";
import {EpochManager, IGraphVersionSource} from "../../../contracts/epochs/EpochManager.sol";
import {VRFConsumerBaseV2Plus} from "@chainlink/contracts/src/v0.8/vrf/dev/VRFConsumerBaseV2Plus.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

contract GraphSource is IGraphVersionSource {
    uint64 public graphVersion = 7;

    function set(uint64 v) external {
        graphVersion = v;
    }

    function graphState() external view returns (uint64, bytes32) {
        return (graphVersion, keccak256(abi.encode(graphVersion)));
    }
}

contract CommitTest is EpochsBase {
    function test_commit_assignsIndicesInOrder() public {
        address[] memory ws = _joinMany(3);
        for (uint256 i; i < 3; ++i) {
            vm.prank(ws[i]);
            assertEq(em.commit(1), i, "index");
        }
        assertEq(em.epochInfo(1).committed, 3, "committed");
        assertEq(em.indexOf(1, ws[2]), 2, "indexOf before freeze");
    }

    function test_commit_reverts() public {
        address[] memory ws = _joinMany(3);
        vm.startPrank(ws[0]);
        vm.expectRevert(abi.encodeWithSelector(IEpochManager.EpochNotOpen.selector, 2, 1));
        em.commit(2);
        em.commit(1);
        vm.expectRevert(abi.encodeWithSelector(IEpochManager.EpochAlreadyCommitted.selector, 1, ws[0]));
        em.commit(1);
        vm.stopPrank();
        uint64 deadline = em.epochInfo(0).commitDeadline;
        vm.warp(deadline);
        vm.prank(ws[1]);
        vm.expectRevert(abi.encodeWithSelector(IEpochManager.EpochCommitWindowClosed.selector, 1, deadline));
        em.commit(1);
    }

    function test_commit_requiresMinimumStakeNetOfQueued() public {
        _join(_worker(1), 150 ether);
        vm.startPrank(_worker(1));
        em.requestUnstake(60 ether); // not committed yet: allowed, active 90
        vm.expectRevert(abi.encodeWithSelector(IEpochManager.EpochStakeBelowMinimum.selector, 90 ether, MIN_STAKE));
        em.commit(1);
    }

    function test_commit_recordsActiveStakeOnly() public {
        _join(_worker(1), 250 ether);
        vm.startPrank(_worker(1));
        em.requestUnstake(50 ether); // queued before the commit: leaving, not at stake for epoch 1
        em.commit(1);
        vm.stopPrank();
        address[] memory more = new address[](2);
        more[0] = _worker(2);
        more[1] = _worker(3);
        _join(more[0], MIN_STAKE);
        _join(more[1], MIN_STAKE);
        _commitAll(more, 1);
        _advanceAfterFulfil();
        assertEq(em.committedStakeAt(1, 0), 200 ether, "active at commit");
    }

    function test_indexOf_coversLastTwoCommitments() public {
        address[] memory ws = _startEpochOne(3);
        // Commit to epoch 2 in reverse order: indices differ between epochs 1 and 2.
        for (uint256 i; i < 3; ++i) {
            vm.prank(ws[2 - i]);
            em.commit(2);
        }
        assertEq(em.indexOf(1, ws[0]), 0, "current epoch (prev record)");
        assertEq(em.indexOf(2, ws[0]), 2, "next epoch (last record)");
        vm.expectRevert(abi.encodeWithSelector(IEpochManager.EpochNotAMember.selector, 1, _worker(9)));
        em.indexOf(1, _worker(9));
        _advanceAfterFulfil();
        for (uint256 i; i < 3; ++i) {
            vm.prank(ws[i]);
            em.commit(3);
        }
        vm.expectRevert(abi.encodeWithSelector(IEpochManager.EpochIndexUnavailable.selector, 1, ws[0]));
        em.indexOf(1, ws[0]);
        assertEq(em.workerAt(1, 0), ws[0], "history stays readable by index");
    }
}

contract FreezeTest is EpochsBase {
    function test_freeze_pinsInputsAndRequestsRandomness() public {
        GraphSource g = new GraphSource();
        vm.prank(governance);
        em.setGraphSource(g);
        address[] memory ws = _joinMany(4);
        _commitAll(ws, 1);
        _freezeNext();
        IEpochManager.EpochInfo memory info = em.epochInfo(1);
        assertTrue(info.frozen, "frozen");
        assertEq(info.n, 4, "n");
        assertEq(info.k, 2, "k");
        assertEq(info.graphVersion, 7, "graph version pinned");
        assertEq(info.graphHash, keccak256(abi.encode(uint64(7))), "graph hash pinned");
        assertEq(info.assignmentEpoch, 1, "own assignment");
        assertEq(info.fallbackBlock, block.number + 1, "fallback = next block");
        (bool exists, uint64 epoch) = beacon.epochOfRequest(requests);
        assertTrue(exists && epoch == 1, "request made for epoch 1");
        // Nothing after the request changes the epoch's inputs.
        g.set(8);
        vm.prank(governance);
        em.setParameter(IEpochManager.Param.REPLICATION, 3);
        assertEq(em.epochInfo(1).graphVersion, 7, "graph");
        assertEq(em.epochInfo(1).k, 2, "k");
    }

    function test_freeze_reverts() public {
        address[] memory ws = _joinMany(3);
        _commitAll(ws, 1);
        uint64 deadline = em.epochInfo(0).commitDeadline;
        vm.expectRevert(abi.encodeWithSelector(IEpochManager.EpochFreezeTooEarly.selector, 1, deadline));
        em.freeze(1);
        vm.expectRevert(abi.encodeWithSelector(IEpochManager.EpochNotFreezable.selector, 2, 1));
        em.freeze(2);
        vm.warp(deadline);
        em.freeze(1);
        vm.expectRevert(abi.encodeWithSelector(IEpochManager.EpochNotFreezable.selector, 1, 1));
        em.freeze(1);
    }

    function test_freeze_fewerThanMinWorkersCarriesThePreviousAssignment() public {
        address[] memory ws = _startEpochOne(3);
        bytes32 r1 = em.randomness(1);
        vm.prank(ws[0]);
        em.commit(2); // 1 < MIN_WORKERS
        uint256 before = requests;
        _freezeNext();
        assertEq(requests, before, "no randomness request");
        IEpochManager.EpochInfo memory info = em.epochInfo(2);
        assertEq(info.assignmentEpoch, 1, "carried");
        assertEq(info.n, 3, "previous n");
        assertTrue(info.randomnessSet, "previous randomness");
        _warpTo(em.epochInfo(1).end);
        em.advance();
        assertEq(em.randomness(2), r1, "same randomness: same assignment");
        assertEq(em.workerAt(2, 1), ws[1], "same set");
    }
}

contract AdvanceTest is EpochsBase {
    function _frozenEpochOne() internal returns (address[] memory ws) {
        ws = _joinMany(3);
        _commitAll(ws, 1);
        _freezeNext();
    }

    function test_advance_usesTheVrfValue() public {
        _frozenEpochOne();
        _fulfil();
        (, bytes32 value, ) = beacon.randomnessOf(1);
        _warpTo(em.epochInfo(0).end);
        em.advance();
        assertEq(em.currentEpoch(), 1, "current");
        assertEq(em.randomness(1), value, "VRF value");
        assertFalse(em.epochInfo(1).usedFallback, "no fallback");
        IEpochManager.EpochInfo memory info = em.epochInfo(1);
        assertEq(info.end, info.start + DURATION, "end");
        assertEq(info.commitDeadline, info.end - LEAD, "commits to 2 open until end - lead");
    }

    function test_advance_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(IEpochManager.EpochNotFrozen.selector, 1));
        em.advance();
        _frozenEpochOne();
        uint64 start = em.epochInfo(0).end;
        vm.expectRevert(abi.encodeWithSelector(IEpochManager.EpochNotStarted.selector, 1, start));
        em.advance();
        _warpTo(start);
        vm.expectRevert(abi.encodeWithSelector(IEpochManager.EpochRandomnessPending.selector, 1, start + TIMEOUT));
        em.advance();
    }

    function test_advance_fallsBackToTheFreezeBlockHashAfterTimeout() public {
        _frozenEpochOne();
        uint256 fb = em.epochInfo(1).fallbackBlock;
        vm.roll(fb + 5);
        bytes32 expected = blockhash(fb);
        assertTrue(expected != bytes32(0), "hash available");
        _warpTo(em.epochInfo(0).end + TIMEOUT);
        em.advance();
        assertEq(em.randomness(1), expected, "fallback value");
        assertTrue(em.epochInfo(1).usedFallback, "used fallback");
    }

    function test_advance_lateVrfAnswerIsIgnored() public {
        _frozenEpochOne();
        uint256 fb = em.epochInfo(1).fallbackBlock;
        vm.roll(fb + 5);
        _warpTo(em.epochInfo(0).end + TIMEOUT); // the deadline passes first
        _fulfil(); // then the VRF answers
        em.advance();
        assertEq(em.randomness(1), blockhash(fb), "fallback, not the late VRF value");
    }

    function test_recordFallback_keepsTheHashBeyondTheHistoryWindow() public {
        _frozenEpochOne();
        uint256 fb = em.epochInfo(1).fallbackBlock;
        vm.expectRevert(abi.encodeWithSelector(IEpochManager.EpochFallbackUnavailable.selector, 1, fb));
        em.recordFallback(1); // not mined yet
        vm.roll(fb + 1);
        bytes32 h = blockhash(fb);
        em.recordFallback(1);
        em.recordFallback(1); // idempotent
        vm.roll(fb + 20_000); // far beyond BLOCKHASH and EIP-2935
        _warpTo(em.epochInfo(0).end + TIMEOUT);
        em.advance();
        assertEq(em.randomness(1), h, "recorded hash used");
    }

    function test_advance_revertsWhenTheFallbackHashIsGone() public {
        _frozenEpochOne();
        uint256 fb = em.epochInfo(1).fallbackBlock;
        vm.roll(fb + 20_000);
        _warpTo(em.epochInfo(0).end + TIMEOUT);
        vm.expectRevert(abi.encodeWithSelector(IEpochManager.EpochFallbackUnavailable.selector, 1, fb));
        em.advance();
        // The VRF can still answer; its value then counts only if it came before the deadline,
        // so this epoch is stuck on the previous assignment (documented liveness limit).
    }

    function test_randomness_revertsUntilSet() public {
        vm.expectRevert(abi.encodeWithSelector(IEpochManager.EpochUnknown.selector, 1));
        em.randomness(1);
    }
}

contract ParameterTest is EpochsBase {
    function test_setParameter_onlyGovernance() public {
        bytes32 role = em.GOVERNANCE_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, address(this), role)
        );
        em.setParameter(IEpochManager.Param.MIN_STAKE, 1);
    }

    function test_setParameter_boundsAndCrossBounds() public {
        vm.startPrank(governance);
        em.setParameter(IEpochManager.Param.MIN_STAKE, 5 ether);
        assertEq(em.parameter(IEpochManager.Param.MIN_STAKE), 5 ether, "set");
        vm.expectRevert(
            abi.encodeWithSelector(
                IEpochManager.ParameterOutOfBounds.selector,
                IEpochManager.Param.REPLICATION,
                4,
                1,
                3
            )
        );
        em.setParameter(IEpochManager.Param.REPLICATION, 4); // k ≤ MIN_WORKERS
        vm.expectRevert(
            abi.encodeWithSelector(
                IEpochManager.ParameterOutOfBounds.selector,
                IEpochManager.Param.FREEZE_LEAD,
                DURATION,
                1,
                DURATION - 1
            )
        );
        em.setParameter(IEpochManager.Param.FREEZE_LEAD, DURATION);
        uint256 minUnbonding = WINDOW * DURATION + 1;
        vm.expectRevert(
            abi.encodeWithSelector(
                IEpochManager.ParameterOutOfBounds.selector,
                IEpochManager.Param.UNBONDING_PERIOD,
                minUnbonding - 1,
                minUnbonding,
                365 days
            )
        );
        em.setParameter(IEpochManager.Param.UNBONDING_PERIOD, minUnbonding - 1); // must exceed the window
        vm.expectRevert(
            abi.encodeWithSelector(
                IEpochManager.ParameterOutOfBounds.selector,
                IEpochManager.Param.MAX_WORKERS,
                9_999,
                10_000,
                1_000_000
            )
        );
        em.setParameter(IEpochManager.Param.MAX_WORKERS, 9_999);
        // A punishment share changes only through scheduleShares (with a delay).
        vm.expectRevert(IEpochManager.EpochUseScheduleShares.selector);
        em.setParameter(IEpochManager.Param.REWARD_BPS, 1_000);
    }

    function test_setParameter_minStakeAppliesFromTheNextWindow() public {
        _join(_worker(1), MIN_STAKE);
        vm.prank(governance);
        em.setParameter(IEpochManager.Param.MIN_STAKE, 2 * MIN_STAKE);
        vm.prank(_worker(1));
        em.commit(1); // window opened under the old minimum
    }
}

contract BeaconTest is EpochsBase {
    function test_request_onlyRequester_inOrder() public {
        vm.expectRevert(abi.encodeWithSelector(IRandomnessBeacon.BeaconUnauthorizedRequester.selector, address(this)));
        beacon.requestRandomness(5);
        vm.startPrank(address(em));
        beacon.requestRandomness(5);
        vm.expectRevert(abi.encodeWithSelector(IRandomnessBeacon.BeaconAlreadyRequested.selector, 5));
        beacon.requestRandomness(5);
        vm.expectRevert(abi.encodeWithSelector(IRandomnessBeacon.BeaconAlreadyRequested.selector, 4));
        beacon.requestRandomness(4);
    }

    function test_fulfil_onlyCoordinator() public {
        uint256[] memory words = new uint256[](1);
        vm.expectRevert(
            abi.encodeWithSelector(
                VRFConsumerBaseV2Plus.OnlyCoordinatorCanFulfill.selector,
                address(this),
                address(coord)
            )
        );
        beacon.rawFulfillRandomWords(1, words);
    }

    function test_fulfil_duplicateAndUnknownAreIgnored() public {
        vm.prank(address(em));
        uint256 id = beacon.requestRandomness(1);
        uint256[] memory words = new uint256[](1);
        words[0] = 42;
        vm.startPrank(address(coord));
        beacon.rawFulfillRandomWords(id, words);
        words[0] = 43;
        beacon.rawFulfillRandomWords(id, words); // duplicate: ignored, no revert
        beacon.rawFulfillRandomWords(id + 1000, words); // unknown: ignored
        (bool ok, bytes32 v, ) = beacon.randomnessOf(1);
        assertTrue(ok, "fulfilled");
        assertEq(v, bytes32(uint256(42)), "first value kept");
    }

    function test_setRequester_once() public {
        vm.expectRevert();
        beacon.setRequester(address(1));
    }
}
