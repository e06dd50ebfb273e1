// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {EpochsBase} from "./EpochsBase.sol";
import {IEpochManager} from "../../../contracts/interfaces/IEpochManager.sol";
import {IStaking} from "../../../contracts/interfaces/IStaking.sol";
import {IRandomnessBeacon} from "../../../contracts/interfaces/IRandomnessBeacon.sol";
import {EpochManager, IGraphVersionSource} from "../../../contracts/epochs/EpochManager.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

/// A beacon whose request fails: reverts, or burns all the gas it is given.
contract BrokenBeacon is IRandomnessBeacon {
    bool public burnGas;

    function setBurnGas(bool b) external {
        burnGas = b;
    }

    function requestRandomness(uint64) external view returns (uint256) {
        if (burnGas) {
            uint256 x;
            while (gasleft() > 0) x = uint256(keccak256(abi.encode(x)));
        }
        revert("subscription cancelled");
    }

    function randomnessOf(uint64) external pure returns (bool, bytes32, uint64) {
        return (false, bytes32(0), 0);
    }

    function epochOfRequest(uint256) external pure returns (bool, uint64) {
        return (false, 0);
    }
}

contract RevertingGraphSource is IGraphVersionSource {
    bool public broken;
    uint64 public graphVersion = 3;

    function setBroken(bool b) external {
        broken = b;
    }

    function graphState() external view returns (uint64, bytes32) {
        require(!broken, "paused");
        return (graphVersion, keccak256("graph 3"));
    }
}

/// docs/protocol.md §10, item 1: membership of a carried epoch keeps stake locked; a member that
/// left is not a live holder of the epochs carried after it left.
contract CarriedMembershipTest is EpochsBase {
    /// Epoch 1 current with three workers, ws[0] holding 2 × MIN_STAKE.
    function _startWithARicherWorker() internal returns (address[] memory ws) {
        ws = _joinMany(3);
        token.mint(ws[0], MIN_STAKE);
        vm.startPrank(ws[0]);
        token.approve(address(em), MIN_STAKE);
        em.stake(MIN_STAKE);
        vm.stopPrank();
        _commitAll(ws, 1);
        _advanceAfterFulfil();
    }

    function test_aLiveCarriedMember_cannotWithdrawWhileCarried_andStaysSlashable() public {
        address[] memory ws = _startWithARicherWorker();
        vm.prank(ws[0]);
        em.requestUnstake(MIN_STAKE); // half: still at MIN_STAKE, still a live holder
        vm.warp(block.timestamp + UNBONDING + 1);
        // Nobody commits: epochs 2, 3, ... carry epoch 1's set, ws[0] included.
        uint64 unlockEpoch = em.unstakeRequestsOf(ws[0])[0].unlockEpoch;
        while (em.currentEpoch() < unlockEpoch + 2) _advanceAfterFulfil();
        uint64 cur = em.currentEpoch();
        assertEq(em.epochInfo(cur).assignmentEpoch, 1, "still carried");
        assertFalse(em.isEjected(cur, ws[0]), "live");
        vm.prank(ws[0]);
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingNothingToWithdraw.selector, ws[0]));
        em.withdraw(); // the review's attack: time and the old unlock epoch have both passed
        // Its faults in the carried epoch still cost it the stake it committed for epoch 1.
        uint256 amount = _punish(ws[0], cur, 0, 1, reporter);
        assertEq(amount, MIN_STAKE, "half of the 2 x MIN_STAKE committed");
    }

    function test_aDepartedMember_isFreeAWindowAfterItLeft_andNotPunishableLater() public {
        address[] memory ws = _startEpochOne(3);
        vm.prank(ws[0]);
        em.requestUnstake(MIN_STAKE); // a full exit during epoch 1
        (bool departed, uint64 d) = em.departedAt(ws[0], 1);
        assertTrue(departed && d == 1, "departed in epoch 1 from epoch 1's set");
        vm.warp(block.timestamp + UNBONDING + 1);
        // Epochs keep being carried with epoch 1's set.
        while (em.currentEpoch() < 2 + WINDOW) _advanceAfterFulfil();
        uint64 cur = em.currentEpoch();
        assertEq(em.epochInfo(cur).assignmentEpoch, 1, "still carried");
        // Live through epoch 2 (frozen while it left): a fault there is still provable.
        _punish(ws[0], 2, 0, 1, reporter);
        // Not a live holder from epoch 3: nothing it signs there is used, nor punished.
        vm.prank(slasher);
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingDepartedMember.selector, ws[0], cur, 1));
        _punishAs(ws[0], cur, 0, 2, reporter);
        vm.prank(ws[0]);
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingNothingToWithdraw.selector, ws[0]));
        em.withdraw(); // epoch 2 is still in the window (current = 2 + WINDOW)
        _advanceAfterFulfil(); // 3 + WINDOW
        vm.prank(ws[0]);
        assertEq(em.withdraw(), MIN_STAKE / 2, "free although the set is still carried (half was slashed)");
    }

    function test_carriedMember_unlocksAWindowAfterTheLastCarriedEpoch() public {
        address[] memory ws = _startWithARicherWorker();
        vm.prank(ws[0]);
        em.requestUnstake(MIN_STAKE); // stays live
        vm.warp(block.timestamp + UNBONDING + 1);
        _advanceAfterFulfil(); // 2: carried
        _advanceAfterFulfil(); // 3: carried (the last one with ws[0])
        address[] memory others = new address[](3);
        (others[0], others[1], others[2]) = (ws[1], ws[2], _worker(7));
        _join(others[2], MIN_STAKE);
        while (em.currentEpoch() < 3 + WINDOW) {
            _commitAll(others, em.currentEpoch() + 1);
            _advanceAfterFulfil();
        }
        assertEq(em.epochInfo(4).assignmentEpoch, 4, "a set of its own from epoch 4");
        vm.prank(ws[0]);
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingNothingToWithdraw.selector, ws[0]));
        em.withdraw(); // epoch 3 is still in the fraud window
        _commitAll(others, em.currentEpoch() + 1);
        _advanceAfterFulfil(); // current = 4 + WINDOW > 3 + WINDOW
        vm.prank(ws[0]);
        assertEq(em.withdraw(), MIN_STAKE, "free");
    }

    function test_aWorkerThatCommittedOnlyToACarriedEpoch_isNotLockedByTheCarry() public {
        address[] memory ws = _startEpochOne(3);
        address late = _worker(9);
        _join(late, MIN_STAKE);
        vm.prank(late);
        em.commit(2); // alone: epoch 2 is carried from epoch 1, whose set it is not in
        _advanceAfterFulfil();
        assertEq(em.epochInfo(2).assignmentEpoch, 1, "carried");
        vm.prank(late);
        em.requestUnstake(MIN_STAKE);
        vm.warp(block.timestamp + UNBONDING + 1);
        uint64 unlockEpoch = em.unstakeRequestsOf(late)[0].unlockEpoch;
        while (em.currentEpoch() < unlockEpoch) _advanceAfterFulfil(); // epoch 1's set still carried
        vm.prank(late);
        assertEq(em.withdraw(), MIN_STAKE, "never in epoch 1's set: the usual lock only");
        assertEq(ws.length, 3, "");
    }

    function test_aNonMember_isNotLockedByAnotherAssignmentsCarry() public {
        address[] memory ws = _startEpochOne(3);
        address outsider = _worker(9);
        _join(outsider, MIN_STAKE); // never commits
        vm.prank(outsider);
        em.requestUnstake(MIN_STAKE);
        vm.warp(block.timestamp + UNBONDING + 1);
        uint64 unlockEpoch = em.unstakeRequestsOf(outsider)[0].unlockEpoch;
        while (em.currentEpoch() < unlockEpoch) _advanceAfterFulfil(); // all carried from epoch 1
        vm.prank(outsider);
        assertEq(em.withdraw(), MIN_STAKE, "not a member of epoch 1: the usual lock only");
        assertEq(ws.length, 3, "set unchanged");
    }

    function test_aMemberBelowMinStake_isNotALiveHolderOfLaterCarriedEpochs() public {
        address[] memory ws = _startEpochOne(3);
        vm.prank(ws[0]);
        em.requestUnstake(MIN_STAKE); // departs in epoch 1
        _advanceAfterFulfil(); // 2: carried, frozen while it was still in
        _advanceAfterFulfil(); // 3: carried after it left
        assertFalse(em.isEjected(1, ws[0]), "epoch 1: committed, a live holder");
        assertFalse(em.isEjected(2, ws[0]), "epoch 2: frozen in the epoch it left");
        assertTrue(em.isEjected(3, ws[0]), "epoch 3: carried after it left");
        assertFalse(em.isEjected(3, ws[1]), "the others are live");
        assertEq(em.workerAt(3, 0), ws[0], "the index space stays");
    }
}

/// Item 2: a fault ejects from its epoch on, in every epoch frozen or carried with the worker
/// while it is jailed.
contract EjectionCarriesTest is EpochsBase {
    function test_ejection_holdsInCarriedEpochs() public {
        address[] memory ws = _startEpochOne(3);
        _advanceAfterFulfil(); // 2: carried
        _punish(ws[0], 1, 0, 1, reporter); // a fault of epoch 1, proven in epoch 2
        assertTrue(em.isEjected(1, ws[0]), "the fault's epoch");
        assertTrue(em.isEjected(2, ws[0]), "the carried epoch it is in");
        _advanceAfterFulfil(); // 3: carried after the slash
        assertTrue(em.isEjected(3, ws[0]), "and later carried ones while jailed");
        assertEq(em.faultsAt(3, 0), 0, "its own faults are epoch 3's only");
        assertEq(em.stakeOf(ws[0]).ejectedFrom, 1, "from the fault's epoch");
        assertFalse(em.isEjected(3, ws[1]), "others live");
    }

    function test_ejection_holdsInAnEpochFrozenBeforeTheSlash() public {
        address[] memory ws = _startEpochOne(3);
        _commitAll(ws, 2);
        _advanceAfterFulfil(); // 2: its own set, ws[0] in it
        _punish(ws[0], 1, 0, 1, reporter);
        assertTrue(em.isEjected(2, ws[0]), "frozen with it before the slash");
    }

    function test_ejection_startsAtTheFault_andEndsWithTheJail() public {
        address[] memory ws = _startEpochOne(3);
        _commitAll(ws, 2);
        _advanceAfterFulfil(); // 2
        _punish(ws[0], 2, 0, 1, reporter); // fault in epoch 2, jailed until 2 + 1 + 3 = 6
        assertFalse(em.isEjected(1, ws[0]), "epochs before the fault are not");
        assertTrue(em.isEjected(2, ws[0]), "the fault's epoch");
        // After the jail it may commit again; that assignment is not ejected.
        token.mint(ws[0], MIN_STAKE);
        vm.startPrank(ws[0]);
        token.approve(address(em), MIN_STAKE);
        em.stake(MIN_STAKE);
        vm.stopPrank();
        address[] memory others = new address[](2);
        (others[0], others[1]) = (ws[1], ws[2]);
        while (em.currentEpoch() < 5) _advanceAfterFulfil();
        _commitAll(ws, 6);
        _advanceAfterFulfil(); // 6
        assertFalse(em.isEjected(6, ws[0]), "served its jail");
        assertEq(others.length, 2, "");
    }
}

/// Item 3: a change to how workers are punished waits longer than a worker needs to leave, and
/// never applies to an epoch frozen before it.
contract RuleChangesTest is EpochsBase {
    function _delay() internal view returns (uint256) {
        return UNBONDING + (WINDOW + 2) * DURATION;
    }

    function test_ruleChangeDelay_exceedsUnbondingAndTheLock() public view {
        assertEq(em.ruleChangeDelay(), _delay(), "unbonding + (window + 2) epochs");
        assertGt(em.ruleChangeDelay(), UNBONDING, "longer than unbonding");
    }

    function test_aNewSlasher_isScheduled_andNeverJudgesOlderCommitments() public {
        address[] memory ws = _startEpochOne(3);
        address next = address(0x5EC0);
        vm.prank(governance);
        em.setSlasher(next);
        (address pending, uint64 at, , , , , ) = em.ruleChanges();
        assertEq(pending, next, "pending");
        assertEq(at, block.timestamp + _delay(), "after the delay");
        assertEq(em.slasher(), slasher, "not yet");
        vm.prank(next);
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingNotSlasher.selector, next));
        _punishAs(ws[0], 1, 0, 0, reporter);
        // Time passes; epochs carried with epoch 1's set do not install it (their members
        // committed under the old slasher).
        vm.warp(block.timestamp + _delay());
        _advanceAfterFulfil(); // 2: carried
        assertEq(em.slasher(), slasher, "a carried freeze installs nothing");
        _commitAll(ws, 3);
        _advanceAfterFulfil(); // 3: a set of its own: installs it
        assertEq(em.slasher(), next, "installed");
        assertEq(em.slasherOf(3), next, "judges epoch 3");
        assertEq(em.slasherOf(2), slasher, "the previous one keeps epochs 1 and 2");
        vm.prank(next);
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingNotSlasher.selector, next));
        _punishAs(ws[0], 2, 0, 0, reporter);
        _punish(ws[0], 2, 0, 0, reporter); // the old slasher, for the old epoch
        uint32 index = em.indexOf(3, ws[1]); // before the prank
        vm.prank(next);
        _punishAs(ws[1], 3, index, 0, reporter);
    }

    function test_setSlasher_governanceOnly_cancellable_notZero() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector,
                address(this),
                em.GOVERNANCE_ROLE()
            )
        );
        em.setSlasher(address(1));
        vm.startPrank(governance);
        vm.expectRevert(IStaking.StakingZeroSlasher.selector);
        em.setSlasher(address(0));
        vm.expectRevert(IStaking.StakingNothingPending.selector);
        em.cancelSlasherChange();
        em.setSlasher(address(1));
        em.cancelSlasherChange();
        vm.stopPrank();
        (address pending, , , , , , ) = em.ruleChanges();
        assertEq(pending, address(0), "cancelled");
    }

    function test_newShares_applyToEpochsFrozenAfterTheDelay_only() public {
        address[] memory ws = _startEpochOne(3);
        vm.prank(governance);
        em.scheduleShares(5_000, [uint256(10_000), 10_000, 10_000, 10_000, 10_000, 10_000]);
        (, , , , uint256 current, uint256 pending, uint64 at) = em.ruleChanges();
        assertEq(uint16(current), 1_000, "reward in force");
        assertEq(uint16(pending), 5_000, "reward scheduled");
        assertEq(at, block.timestamp + _delay(), "effective after the delay");
        assertEq(em.parameter(IEpochManager.Param.REWARD_BPS), 1_000, "REWARD_BPS unchanged");
        vm.warp(block.timestamp + _delay());
        _advanceAfterFulfil(); // 2: carried (its commit window passed): installs nothing
        assertEq(em.parameter(IEpochManager.Param.REWARD_BPS), 1_000, "not by a carried freeze");
        _commitAll(ws, 3);
        _advanceAfterFulfil(); // 3: installed here
        assertEq(em.parameter(IEpochManager.Param.REWARD_BPS), 5_000, "installed");
        // Epoch 1 froze under the old shares: a fault there costs 50%, not 100%.
        assertEq(_punish(ws[0], 1, 0, 0, reporter), MIN_STAKE / 2, "epoch 1's snapshot");
        assertEq(em.claimableOf(reporter), MIN_STAKE / 20, "and its 10% reward");
        assertEq(_punish(ws[1], 3, em.indexOf(3, ws[1]), 0, reporter), MIN_STAKE, "epoch 3: the new shares");
        assertEq(em.sharesOf(2) & 0xFFFF, 1_000, "epoch 2 (carried) reward");
        assertEq(em.sharesOf(3) & 0xFFFF, 5_000, "epoch 3 reward");
    }

    function test_aCarriedEpoch_keepsItsAssignmentsShares() public {
        _startEpochOne(3);
        vm.prank(governance);
        em.scheduleShares(0, [uint256(10_000), 10_000, 10_000, 10_000, 10_000, 10_000]);
        vm.warp(block.timestamp + _delay());
        _advanceAfterFulfil(); // 2: carried
        assertEq(em.sharesOf(2), em.sharesOf(1), "the shares epoch 1's members committed under");
        assertEq(em.parameter(IEpochManager.Param.REWARD_BPS), 1_000, "not installed by a carried freeze");
    }

    function test_scheduleShares_bounds_accessAndCancel() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector,
                address(this),
                em.GOVERNANCE_ROLE()
            )
        );
        em.scheduleShares(0, [uint256(0), 0, 0, 0, 0, 0]);
        vm.startPrank(governance);
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingInvalidBps.selector, 5_001));
        em.scheduleShares(5_001, [uint256(0), 0, 0, 0, 0, 0]); // a reward over half: collusion would pay
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingInvalidBps.selector, 10_001));
        em.scheduleShares(0, [uint256(0), 0, 10_001, 0, 0, 0]);
        vm.expectRevert(IEpochManager.EpochUseScheduleShares.selector);
        em.setParameter(IEpochManager.Param.REWARD_BPS, 5_000);
        vm.expectRevert(IStaking.StakingNothingPending.selector);
        em.cancelRuleChanges();
        em.scheduleShares(0, [uint256(0), 0, 0, 0, 0, 0]);
        em.cancelRuleChanges();
        vm.stopPrank();
        (, , , , , uint256 pending, uint64 at) = em.ruleChanges();
        assertEq(pending + at, 0, "cancelled");
    }

    function test_aNewGraphSource_isScheduled() public {
        RevertingGraphSource first = new RevertingGraphSource();
        RevertingGraphSource second = new RevertingGraphSource();
        vm.startPrank(governance);
        em.setGraphSource(first); // the first: at once (deployment)
        em.setGraphSource(second);
        vm.stopPrank();
        assertEq(em.graphSource(), address(first), "still the first");
        (, , address pending, uint64 at, , , ) = em.ruleChanges();
        assertEq(pending, address(second), "scheduled");
        assertEq(at, block.timestamp + _delay(), "after the delay");
        address[] memory ws = _joinMany(3);
        vm.warp(block.timestamp + _delay());
        _advanceAfterFulfil(); // 1: carried (its commit window passed)
        assertEq(em.graphSource(), address(first), "not by a carried freeze");
        _commitAll(ws, 2);
        _advanceAfterFulfil();
        assertEq(em.graphSource(), address(second), "installed by the freeze");
    }
}

/// Item 4: nothing outside governance stops the epochs.
contract LivenessTest is EpochsBase {
    BrokenBeacon internal broken;

    function _deployBroken() internal {
        broken = new BrokenBeacon();
        em = new EpochManager(IERC20(address(token)), IRandomnessBeacon(address(broken)), governance, _params());
        vm.prank(governance);
        em.setSlasher(slasher);
    }

    function _freezeAndFallBack() internal returns (uint64 next) {
        next = em.currentEpoch() + 1;
        _warpTo(em.epochInfo(next - 1).commitDeadline);
        em.freeze(next);
        assertEq(em.epochInfo(next).frozen, true, "frozen although the request failed");
        vm.roll(block.number + 2);
        em.recordFallback(next);
        _warpTo(em.epochInfo(next - 1).end + TIMEOUT);
        em.advance();
        assertTrue(em.epochInfo(next).usedFallback, "the fixed fallback value");
    }

    function test_aFailingBeacon_fallsBack_insteadOfHalting() public {
        _deployBroken();
        address[] memory ws = _joinMany(3);
        _commitAll(ws, 1);
        uint64 e = _freezeAndFallBack();
        assertEq(em.currentEpoch(), e, "epoch 1 began");
        broken.setBurnGas(true); // a request that burns its whole allowance
        _commitAll(ws, 2);
        _freezeAndFallBack();
        assertEq(em.currentEpoch(), 2, "epoch 2 began");
    }

    function test_freeze_refusesTooLittleGas_soStarvingCannotForceTheFallback() public {
        address[] memory ws = _joinMany(3);
        _commitAll(ws, 1);
        _warpTo(em.epochInfo(0).commitDeadline);
        try em.freeze{gas: 400_000}(1) {
            revert("froze with a starved beacon call");
        } catch (bytes memory reason) {
            assertEq(bytes4(reason), IEpochManager.EpochFreezeGasTooLow.selector, "refused, not fallen back");
        }
        assertFalse(em.epochInfo(1).frozen, "nothing changed");
        em.freeze(1);
        assertTrue(em.epochInfo(1).frozen, "with enough gas");
    }

    function test_aRevertingGraphSource_keepsThePreviousGraph() public {
        RevertingGraphSource source = new RevertingGraphSource();
        vm.prank(governance);
        em.setGraphSource(source);
        address[] memory ws = _startEpochOne(3);
        assertEq(em.graphVersion(1), 3, "read at freeze");
        source.setBroken(true);
        _commitAll(ws, 2);
        _advanceAfterFulfil();
        assertEq(em.graphVersion(2), 3, "kept the previous graph");
        assertEq(em.epochInfo(2).graphHash, em.epochInfo(1).graphHash, "and its hash");
    }

    function test_recordFallback_rearms_whenNobodyRecordedItInTime() public {
        _deployBroken();
        address[] memory ws = _joinMany(3);
        _commitAll(ws, 1);
        _warpTo(em.epochInfo(0).commitDeadline);
        em.freeze(1);
        uint64 b = em.epochInfo(1).fallbackBlock;
        vm.roll(block.number + 300); // no EIP-2935 history here: the hash is gone after 256 blocks
        _warpTo(em.epochInfo(0).end + TIMEOUT);
        vm.expectRevert(abi.encodeWithSelector(IEpochManager.EpochFallbackUnavailable.selector, 1, b));
        em.advance();
        em.recordFallback(1); // re-arms on the next block
        uint64 b2 = em.epochInfo(1).fallbackBlock;
        assertEq(b2, block.number + 1, "the next block");
        vm.expectRevert(abi.encodeWithSelector(IEpochManager.EpochFallbackUnavailable.selector, 1, b2));
        em.recordFallback(1); // not mined yet
        vm.roll(block.number + 2);
        em.advance();
        assertEq(em.randomness(1), blockhash(b2), "the new block's hash");
    }

    function test_withdrawEscape_whenNoEpochAdvancesForAnUnbondingPeriod() public {
        address[] memory ws = _startEpochOne(3);
        vm.prank(ws[0]);
        em.requestUnstake(MIN_STAKE);
        vm.warp(block.timestamp + UNBONDING + 1);
        vm.prank(ws[0]);
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingNothingToWithdraw.selector, ws[0]));
        em.withdraw(); // epochs are merely slow
        vm.warp(em.epochInfo(1).end + TIMEOUT + UNBONDING - 1);
        vm.prank(ws[0]);
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingNothingToWithdraw.selector, ws[0]));
        em.withdraw(); // still within the wait for randomness plus an unbonding period
        vm.warp(em.epochInfo(1).end + TIMEOUT + UNBONDING); // nothing advanced for a whole unbonding period
        vm.prank(ws[0]);
        assertEq(em.withdraw(), MIN_STAKE, "time alone frees the stake of a halted protocol");
    }

    function test_freezeLeadPlusTimeout_fitsTheFallbackWindow() public {
        vm.startPrank(governance);
        vm.expectRevert(
            abi.encodeWithSelector(
                IEpochManager.ParameterOutOfBounds.selector,
                IEpochManager.Param.RANDOMNESS_TIMEOUT,
                2 hours,
                1,
                2 hours - LEAD
            )
        );
        em.setParameter(IEpochManager.Param.RANDOMNESS_TIMEOUT, 2 hours);
        em.setParameter(IEpochManager.Param.RANDOMNESS_TIMEOUT, 2 hours - LEAD);
        vm.stopPrank();
    }
}

/// The punish path's epoch checks, through the slasher.
contract PunishEpochChecksTest is EpochsBase {
    function test_punish_refusesAnEpochNotFrozen_orAnIndexOutOfRange() public {
        address[] memory ws = _startEpochOne(3);
        vm.startPrank(slasher);
        vm.expectRevert(abi.encodeWithSelector(IEpochManager.EpochIndexOutOfRange.selector, 1, 3, 3));
        _punishAs(ws[0], 1, 3, 0, reporter);
        vm.stopPrank();
        assertEq(em.beacon(), address(beacon), "the beacon");
        vm.expectRevert(abi.encodeWithSelector(IEpochManager.EpochUnknown.selector, 2));
        em.assignment(2);
    }
}

contract BadGraphSource {
    function graphState() external pure returns (uint256, bytes32) {
        return (type(uint256).max, bytes32(0)); // a version that is not a uint64
    }
}

/// The review's second round: each case the first version of the hardening missed.
contract HardeningEdgesTest is EpochsBase {
    function test_aMemberSlashedInACarriedSet_staysEjectedAfterItsJail_whileTheSetIsCarried() public {
        address[] memory ws = _startEpochOne(3);
        _punish(ws[0], 1, 0, 1, reporter); // jailed until 1 + 1 + 3 = 5
        while (em.currentEpoch() < 7) _advanceAfterFulfil(); // carried with epoch 1's set
        assertTrue(em.isEjected(6, ws[0]), "past its jail, in the set it was slashed in");
        assertFalse(em.isEjected(6, ws[1]), "others live");
    }

    function test_aSlashedMemberLeaving_departs_evenBelowTheMinimumAlready() public {
        address[] memory ws = _startEpochOne(3);
        _punish(ws[0], 1, 0, 1, reporter); // half: active 50, below MIN_STAKE
        vm.prank(ws[0]);
        em.requestUnstake(MIN_STAKE / 2);
        (bool departed, uint64 d) = em.departedAt(ws[0], 1);
        assertTrue(departed && d == 1, "a departure, so that its stake is not locked by the carry");
    }

    function test_ruleChangeDelay_hasAFloor() public {
        vm.startPrank(governance);
        em.setParameter(IEpochManager.Param.FRAUD_WINDOW_EPOCHS, 1);
        em.setParameter(IEpochManager.Param.UNBONDING_PERIOD, DURATION + 1);
        vm.stopPrank();
        assertEq(em.ruleChangeDelay(), 7 days, "parameters that change at once cannot shorten it below 7 days");
    }

    function test_aScheduledChange_waitsForAnEpochWhoseCommitWindowOpenedAfterIt() public {
        address[] memory ws = _startEpochOne(3);
        vm.prank(governance);
        em.scheduleShares(0, [uint256(1), 1, 1, 1, 1, 1]);
        (, , , , , , uint64 at) = em.ruleChanges();
        // Epoch 2's commit window opened when epoch 1 began, before the change was due: a freeze of
        // epoch 2 after `at` must not apply it to members that committed before.
        _commitAll(ws, 2);
        vm.warp(at);
        em.freeze(2); // its window opened before `at`
        ++requests; // the mock numbers requests in order
        assertEq(em.parameter(IEpochManager.Param.REWARD_BPS), 1_000, "not for epoch 2");
        vm.roll(block.number + 2); // the fallback block (the VRF answer would be late now)
        em.advance();
        _commitAll(ws, 3);
        _advanceAfterFulfil(); // 3: its window opened at epoch 2's start, after `at`
        assertEq(em.parameter(IEpochManager.Param.REWARD_BPS), 0, "from epoch 3");
    }

    function test_aGraphSourceWithoutCode_orWithAMalformedAnswer_keepsThePreviousGraph() public {
        vm.prank(governance);
        em.setGraphSource(IGraphVersionSource(address(0xDEAD))); // no code
        address[] memory ws = _startEpochOne(3);
        assertEq(em.graphVersion(1), 0, "the previous (genesis) graph");
        EpochManager other = new EpochManager(
            IERC20(address(token)),
            IRandomnessBeacon(address(beacon)),
            governance,
            _params()
        );
        IGraphVersionSource bad = IGraphVersionSource(address(new BadGraphSource()));
        vm.prank(governance);
        other.setGraphSource(bad);
        assertEq(ws.length, 3, "");
        vm.warp(other.epochInfo(0).commitDeadline);
        other.freeze(1); // no commitments: carried from genesis, the graph is not read
        assertEq(other.graphVersion(1), 0, "carried");
    }
}
