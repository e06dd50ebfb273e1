// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {EpochsBase} from "./EpochsBase.sol";
import {IStaking} from "../../../contracts/interfaces/IStaking.sol";
import {IEpochManager} from "../../../contracts/interfaces/IEpochManager.sol";
import {IRandomnessBeacon} from "../../../contracts/interfaces/IRandomnessBeacon.sol";
import {EpochManager} from "../../../contracts/epochs/EpochManager.sol";
import {FeeOnTransferToken} from "../../../contracts/mocks/TestToken.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

contract RegisterTest is EpochsBase {
    function test_register_setsKeyAndAddress() public {
        address w = _worker(1);
        vm.prank(w);
        em.register(address(0xA11CE), "/ip4/10.0.0.1/tcp/1");
        assertEq(em.signingKeyAt(w, 0), address(0xA11CE), "key from the current epoch");
        assertEq(em.networkAddressOf(w), bytes("/ip4/10.0.0.1/tcp/1"), "address");
        assertTrue(em.stakeOf(w).registered, "registered");
    }

    function test_register_revertsWhenTwice() public {
        vm.startPrank(_worker(1));
        em.register(address(1), "/x");
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingAlreadyRegistered.selector, _worker(1)));
        em.register(address(2), "/x");
    }

    function test_register_revertsOnZeroKeyAndBadAddress() public {
        vm.startPrank(_worker(1));
        vm.expectRevert(IStaking.StakingZeroSigningKey.selector);
        em.register(address(0), "/x");
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingInvalidNetworkAddress.selector, 0));
        em.register(address(1), "");
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingInvalidNetworkAddress.selector, 257));
        em.register(address(1), new bytes(257));
    }

    function test_rotateSigningKey_takesEffectNextEpoch_oldKeyStaysAttributable() public {
        address[] memory ws = _startEpochOne(3);
        address old = em.signingKeyAt(ws[0], 1);
        vm.prank(ws[0]);
        em.rotateSigningKey(address(0xB0B));
        assertEq(em.signingKeyAt(ws[0], 1), old, "old key in the current epoch");
        assertEq(em.signingKeyAt(ws[0], 2), address(0xB0B), "new key from the next");
        assertEq(em.signingKeyAt(ws[0], 0), old, "old key for earlier epochs");
        vm.prank(ws[0]);
        em.rotateSigningKey(address(0xC0C)); // the same epoch: replaces the pending key
        assertEq(em.signingKeyAt(ws[0], 2), address(0xC0C), "replaced");
        assertEq(em.signingKeyAt(ws[0], 1), old, "the old one kept");
    }

    function test_rotateSigningKey_again_waitsUntilTheForgottenKeyLeavesTheWindow() public {
        address[] memory ws = _startEpochOne(3);
        address first = em.signingKeyAt(ws[0], 1); // since registration (epoch 0)
        vm.prank(ws[0]);
        em.rotateSigningKey(address(0xB0B)); // from epoch 2
        _advanceAfterFulfil(); // epoch 2 (carried)
        // A second rotation would forget `first`, whose epochs (0, 1) are still provable.
        vm.prank(ws[0]);
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingRotationTooSoon.selector, 2, 2 + WINDOW));
        em.rotateSigningKey(address(0xC0C));
        while (em.currentEpoch() < 2 + WINDOW) _advanceAfterFulfil();
        vm.prank(ws[0]);
        em.rotateSigningKey(address(0xC0C)); // epoch 1 is out of the window now
        assertEq(em.signingKeyAt(ws[0], 2), address(0xB0B), "the middle key");
        assertEq(em.signingKeyAt(ws[0], uint64(3 + WINDOW)), address(0xC0C), "the newest");
        assertEq(em.signingKeyAt(ws[0], 1), address(0), "the first is forgotten");
        assertTrue(first != address(0), "it was known");
    }

    function test_rotateSigningKey_revertsWhenUnregistered() public {
        vm.prank(_worker(9));
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingNotRegistered.selector, _worker(9)));
        em.rotateSigningKey(address(1));
    }

    function test_setNetworkAddress_updates() public {
        _join(_worker(1), MIN_STAKE);
        vm.prank(_worker(1));
        em.setNetworkAddress("/dns4/w1/tcp/4001");
        assertEq(em.networkAddressOf(_worker(1)), bytes("/dns4/w1/tcp/4001"), "address");
    }
}

contract StakeTest is EpochsBase {
    function test_stake_addsToActiveAndTotal() public {
        _join(_worker(1), 150 ether);
        assertEq(em.stakeOf(_worker(1)).active, 150 ether, "active");
        assertEq(em.totalStaked(), 150 ether, "total");
        assertEq(token.balanceOf(address(em)), 150 ether, "balance");
    }

    function test_stake_revertsWhenUnregistered() public {
        vm.prank(_worker(1));
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingNotRegistered.selector, _worker(1)));
        em.stake(1 ether);
    }

    function test_stake_revertsOnZeroAndOverflow() public {
        _join(_worker(1), 1 ether);
        vm.startPrank(_worker(1));
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingInvalidAmount.selector, 0));
        em.stake(0);
        // active + queued stays below 2^88 (the member slot's stake field): 1 ether + (2^88 - 1 ether) is one too many.
        uint256 tooMuch = uint256(type(uint88).max) - 1 ether + 1;
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingInvalidAmount.selector, tooMuch));
        em.stake(tooMuch);
    }

    function test_stake_refusesFeeOnTransferToken() public {
        FeeOnTransferToken fee = new FeeOnTransferToken();
        EpochManager m = new EpochManager(
            IERC20(address(fee)),
            IRandomnessBeacon(address(beacon)),
            governance,
            _params()
        );
        address w = _worker(1);
        fee.mint(w, 100 ether);
        vm.startPrank(w);
        fee.approve(address(m), 100 ether);
        m.register(w, "/x");
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingTokenShortfall.selector, 100 ether, 99 ether));
        m.stake(100 ether);
    }
}

contract UnstakeTest is EpochsBase {
    function test_requestUnstake_movesToQueue() public {
        _join(_worker(1), 300 ether);
        vm.prank(_worker(1));
        em.requestUnstake(50 ether);
        IStaking.StakeInfo memory s = em.stakeOf(_worker(1));
        assertEq(s.active, 250 ether, "active");
        assertEq(s.queued, 50 ether, "queued");
        assertEq(em.totalStaked(), 300 ether, "queued stake stays in totalStaked");
        IStaking.UnstakeRequest[] memory rs = em.unstakeRequestsOf(_worker(1));
        assertEq(rs.length, 1, "one request");
        assertEq(rs[0].unlockTime, block.timestamp + UNBONDING, "unlock time");
        assertEq(rs[0].unlockEpoch, 0 + 2 + WINDOW, "unlock epoch");
    }

    function test_requestUnstake_reverts() public {
        _join(_worker(1), 100 ether);
        vm.startPrank(_worker(1));
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingInvalidAmount.selector, 0));
        em.requestUnstake(0);
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingInsufficientStake.selector, 101 ether, 100 ether));
        em.requestUnstake(101 ether);
    }

    function test_requestUnstake_committedMayNotDropBelowMinimum_butMayLeave() public {
        _join(_worker(1), 150 ether);
        vm.startPrank(_worker(1));
        em.commit(1);
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingBelowMinimum.selector, 90 ether, MIN_STAKE));
        em.requestUnstake(60 ether);
        em.requestUnstake(50 ether); // leaves exactly the minimum
        em.requestUnstake(100 ether); // full exit
        assertEq(em.stakeOf(_worker(1)).active, 0, "left entirely");
    }

    function test_requestUnstake_uncommittedMayDropBelowMinimum() public {
        _join(_worker(1), 150 ether);
        vm.prank(_worker(1));
        em.requestUnstake(60 ether);
        assertEq(em.stakeOf(_worker(1)).active, 90 ether, "active");
    }

    function test_requestUnstake_boundedQueue() public {
        _join(_worker(1), 100 ether);
        vm.startPrank(_worker(1));
        for (uint256 i; i < 16; ++i) em.requestUnstake(1 ether);
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingTooManyUnstakeRequests.selector, 16));
        em.requestUnstake(1 ether);
    }

    function test_withdraw_waitsForTimeAndEpochs() public {
        address[] memory ws = _startEpochOne(3);
        vm.prank(ws[0]);
        em.requestUnstake(MIN_STAKE); // a committed worker may leave entirely
        vm.prank(ws[0]);
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingNothingToWithdraw.selector, ws[0]));
        em.withdraw();
        // Epochs advance to the unlock epoch with a new set (without ws[0]) from epoch 2 on.
        address[] memory others = new address[](3);
        (others[0], others[1], others[2]) = (ws[1], ws[2], _worker(7));
        _join(others[2], MIN_STAKE);
        uint64 unlockEpoch = em.unstakeRequestsOf(ws[0])[0].unlockEpoch;
        while (em.currentEpoch() < unlockEpoch) {
            _commitAll(others, em.currentEpoch() + 1);
            _advanceAfterFulfil();
        }
        // Epochs alone are not enough: the unbonding period counts time.
        vm.prank(ws[0]);
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingNothingToWithdraw.selector, ws[0]));
        em.withdraw();
        vm.warp(block.timestamp + UNBONDING + 1);
        uint256 before = token.balanceOf(ws[0]);
        vm.prank(ws[0]);
        assertEq(em.withdraw(), MIN_STAKE, "withdrawn");
        assertEq(token.balanceOf(ws[0]) - before, MIN_STAKE, "paid");
        assertEq(em.totalStaked(), 3 * MIN_STAKE, "total");
    }
}

contract PunishTest is EpochsBase {
    function test_punish_onlySlasher_setByGovernance_firstAtOnce() public {
        address[] memory ws = _startEpochOne(3);
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingNotSlasher.selector, address(this)));
        _punishAs(ws[0], 1, 0, 0, reporter);
        bytes32 role = em.GOVERNANCE_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, address(this), role)
        );
        em.setSlasher(address(this));
        assertEq(em.slasher(), slasher, "installed at deployment");
        assertEq(em.slasherOf(1), slasher, "judges epoch 1");
        _punish(ws[0], 1, 0, 0, reporter);
    }

    function test_punish_refusesBadFaultMemberOrSignature() public {
        address[] memory ws = _startEpochOne(3);
        bytes32 digest = keccak256("x");
        bytes memory good = _sig(ws[0], digest);
        vm.startPrank(slasher);
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingInvalidFault.selector, 6));
        em.punish(ws[0], 1, 0, 6, digest, good, address(0), reporter);
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingNotInEpoch.selector, 1, 1, ws[0]));
        em.punish(ws[0], 1, 1, 0, digest, good, address(0), reporter);
        // Another worker's signature: Staking recovers it and compares with its own record.
        address keyOf0 = em.signingKeyAt(ws[0], 1);
        address keyOf1 = em.signingKeyAt(ws[1], 1);
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingWrongSigner.selector, ws[0], 1, keyOf1, keyOf0));
        em.punish(ws[0], 1, 0, 0, digest, _sig(ws[1], digest), address(0), reporter);
        // A signature of another digest recovers to some other key.
        vm.expectRevert();
        em.punish(ws[0], 1, 0, 0, keccak256("y"), good, address(0), reporter);
        vm.expectRevert(IStaking.StakingBadSignature.selector);
        em.punish(ws[0], 1, 0, 0, digest, hex"1234", address(0), reporter);
        // The second piece of evidence must be the worker's too.
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingWrongSigner.selector, ws[0], 1, keyOf1, keyOf0));
        em.punish(ws[0], 1, 0, 0, digest, good, keyOf1, reporter);
        em.punish(ws[0], 1, 0, 0, digest, good, keyOf0, reporter);
        vm.stopPrank();
    }

    function test_punish_onlyWithinTheFraudWindow() public {
        address[] memory ws = _startEpochOne(3);
        _commitAll(ws, 2);
        _freezeNext(); // epoch 2 frozen, not current
        vm.startPrank(slasher);
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingOutsideFraudWindow.selector, 2, 1, WINDOW));
        _punishAs(ws[0], 2, 0, 0, reporter);
        vm.stopPrank();
        _fulfil();
        _warpTo(em.epochInfo(1).end);
        em.advance(); // current = 2
        for (uint256 i = 1; i < WINDOW; ++i) _advanceAfterFulfil(); // current = 1 + WINDOW: still inside
        _punish(ws[0], 1, 0, 0, reporter);
        _advanceAfterFulfil(); // current = 2 + WINDOW: outside
        vm.prank(slasher);
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingOutsideFraudWindow.selector, 1, 2 + WINDOW, WINDOW));
        _punishAs(ws[0], 1, 0, 1, reporter);
    }

    function test_punish_oncePerWorkerEpochFault_ejectsAndJails() public {
        _redeploy([uint256(5_000), 5_000, 0, 0, 5_000, 5_000]);
        address[] memory ws = _startEpochOne(3);
        assertFalse(em.isEjected(1, ws[0]), "not yet");
        _punish(ws[0], 1, 0, 2, reporter); // 0 bps: the stake stays at the minimum, so commit fails on the jail
        assertEq(em.faultsOf(ws[0], 1), 1 << 2, "fault bit");
        assertEq(em.faultsAt(1, 0), 1 << 2, "by index");
        assertEq(em.committedStakeAt(1, 0), MIN_STAKE, "the committed stake survives the fault bits");
        assertEq(em.workerAt(1, 0), ws[0], "and the member");
        assertTrue(em.isEjected(1, ws[0]), "ejected");
        assertFalse(em.isEjected(1, ws[1]), "others not");
        assertFalse(em.isEjected(2, ws[0]), "not a member of epoch 2");
        assertEq(em.stakeOf(ws[0]).jailedUntil, 1 + 1 + 3, "current + 1 + JAIL_EPOCHS");
        assertEq(em.stakeOf(ws[0]).ejectedFrom, 1, "ejected from the fault's epoch");
        vm.prank(slasher);
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingAlreadyPunished.selector, ws[0], 1, 2));
        _punishAs(ws[0], 1, 0, 2, reporter);
        _punish(ws[0], 1, 0, 3, reporter); // another fault of the same epoch: punished too
        assertEq(em.faultsOf(ws[0], 1), (1 << 2) | (1 << 3), "both bits");
        vm.prank(ws[0]);
        vm.expectRevert(abi.encodeWithSelector(IEpochManager.EpochWorkerJailed.selector, ws[0], 5));
        em.commit(2);
    }

    function test_punish_takesActiveFirst_thenQueuedNewestFirst_rewardsReporter_restBurnable() public {
        _redeploy([uint256(9_000), 5_000, 5_000, 5_000, 5_000, 5_000]);
        address[] memory ws = _joinMany(3);
        address w = ws[0];
        token.mint(w, 200 ether);
        vm.startPrank(w);
        token.approve(address(em), 200 ether);
        em.stake(200 ether); // active 300
        vm.stopPrank();
        _commitAll(ws, 1); // w commits with 300 active
        vm.startPrank(w);
        em.requestUnstake(30 ether); // oldest
        em.requestUnstake(20 ether); // newest; active 250, queued 50: still committed for epoch 1
        vm.stopPrank();
        _advanceAfterFulfil();
        uint256 amount = _punish(w, 1, 0, 0, reporter); // 90% of 300 = 270
        assertEq(amount, 270 ether, "amount");
        IStaking.StakeInfo memory s = em.stakeOf(w);
        assertEq(s.active, 0, "active first");
        assertEq(s.queued, 30 ether, "then 20 from the queue");
        IStaking.UnstakeRequest[] memory rs = em.unstakeRequestsOf(w);
        assertEq(rs.length, 1, "the newest request consumed");
        assertEq(rs[0].amount, 30 ether, "the oldest intact");
        assertEq(em.claimableOf(reporter), 27 ether, "reward 10%");
        assertEq(em.totalClaimable(), 27 ether, "owed");
        assertEq(em.burnable(), 243 ether, "rest burnable");
        assertEq(em.totalStaked(), 3 * MIN_STAKE + 200 ether - 270 ether, "total");

        vm.prank(reporter);
        assertEq(em.claimRewards(), 27 ether, "claimed");
        vm.prank(reporter);
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingNothingToClaim.selector, reporter));
        em.claimRewards();

        uint256 burnBefore = token.balanceOf(em.BURN_ADDRESS());
        assertEq(em.burnSlashed(), 243 ether, "burned");
        assertEq(token.balanceOf(em.BURN_ADDRESS()) - burnBefore, 243 ether, "sent to the burn address");
        vm.expectRevert(IStaking.StakingNothingToBurn.selector);
        em.burnSlashed();
        assertEq(token.balanceOf(address(em)), em.totalStaked(), "what is left is stake");
    }

    function test_punish_workerReporter_rewardInItsQueueSlot_selfReportGetsNothing() public {
        _redeploy([uint256(1_000), 1_000, 1_000, 5_000, 5_000, 5_000]);
        address[] memory ws = _startEpochOne(3);
        _punish(ws[0], 1, 0, 0, ws[1]); // 10 ether, reward 1 to a registered worker
        assertEq(em.claimableOf(ws[1]), 1 ether, "worker reporter");
        uint256 burnable = em.burnable();
        _punish(ws[0], 1, 0, 1, ws[0]); // a worker reporting itself
        assertEq(em.burnable() - burnable, 10 ether, "self-report: all burned");
        _punish(ws[0], 1, 0, 2, reporter); // an outside reporter
        assertEq(em.totalClaimable(), 2 ether, "total owed");
        uint256 before = token.balanceOf(ws[1]);
        vm.prank(ws[1]);
        assertEq(em.claimRewards(), 1 ether, "claimed");
        assertEq(token.balanceOf(ws[1]) - before, 1 ether, "paid");
        IStaking.StakeInfo memory s = em.stakeOf(ws[1]);
        assertEq(s.active, MIN_STAKE, "rewards are not stake");
    }

    function test_punish_carriedEpoch_keepsItsOwnFaults() public {
        _redeploy([uint256(5_000), 100, 5_000, 5_000, 5_000, 5_000]);
        address[] memory ws = _startEpochOne(3);
        // Nobody commits to epoch 2: it carries epoch 1's set (and member slots).
        _advanceAfterFulfil();
        assertEq(em.epochInfo(2).assignmentEpoch, 1, "carried");
        _punish(ws[0], 1, 0, 1, reporter);
        assertEq(em.faultsAt(2, 0), 0, "a fault in epoch 1 is not one in epoch 2");
        _punish(ws[0], 2, 0, 1, reporter);
        assertEq(em.faultsAt(2, 0), 2, "epoch 2's own record");
        assertEq(em.faultsAt(1, 0), 2, "epoch 1 unchanged");
        assertTrue(em.isEjected(2, ws[0]) && em.isEjected(1, ws[0]), "ejected from both");
        vm.prank(slasher);
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingAlreadyPunished.selector, ws[0], 2, 1));
        _punishAs(ws[0], 2, 0, 1, reporter);
    }

    function test_punish_roundsAgainstTheSlashed_andCapsAtStake() public {
        _redeploy([uint256(1), 10_000, 10_000, 5_000, 5_000, 5_000]);
        address[] memory ws = _startEpochOne(3);
        assertEq(_punish(ws[0], 1, 0, 0, reporter), 0.01 ether, "1 bps");
        assertEq(_punish(ws[0], 1, 0, 1, reporter), 100 ether - 0.01 ether, "capped at what is left");
        assertEq(_punish(ws[0], 1, 0, 2, reporter), 0, "nothing left");
        assertTrue(em.faultsOf(ws[0], 1) & 4 != 0, "still recorded and ejected");
        assertEq(em.committedStakeAt(1, 0), MIN_STAKE, "committed stake unchanged");
    }
}

contract StakingFuzzTest is EpochsBase {
    /// slash = min(ceil(committed · bps / 10⁴), stake); reward = floor(slash · 10%); the rest burned.
    function testFuzz_slash_roundsUpCapsAndSplits(uint96 extra, uint16 bps, uint96 unstake) public {
        bps = uint16(bound(bps, 0, 10_000));
        _redeploy([uint256(bps), 5_000, 5_000, 5_000, 5_000, 5_000]);
        extra = uint96(bound(extra, 0, 1e26)); // stake stays below 2^88 ≈ 3.1e26
        address[] memory ws = _joinMany(3);
        token.mint(ws[0], extra);
        vm.startPrank(ws[0]);
        token.approve(address(em), extra);
        if (extra != 0) em.stake(extra);
        uint256 total = MIN_STAKE + extra;
        vm.stopPrank();
        _commitAll(ws, 1);
        unstake = uint96(bound(unstake, 0, extra)); // queued after the commit: still at stake
        vm.prank(ws[0]);
        if (unstake != 0) em.requestUnstake(unstake);
        _advanceAfterFulfil();
        uint256 amount = _punish(ws[0], 1, 0, 0, reporter);
        uint256 expected = (total * bps + 9_999) / 10_000;
        assertEq(amount, expected > total ? total : expected, "ceil, capped");
        uint256 reward = em.claimableOf(reporter);
        assertEq(reward, (amount * 1_000) / 10_000, "reward rounds down");
        assertEq(em.burnable(), amount - reward, "rest burnable");
        IStakingView memory s = _view(ws[0]);
        assertEq(s.total, total - amount, "stake reduced by exactly the slash");
        assertEq(em.totalStaked(), 2 * MIN_STAKE + total - amount, "totalStaked");
    }

    struct IStakingView {
        uint256 total;
    }

    function _view(address w) internal view returns (IStakingView memory v) {
        v.total = em.stakeOf(w).active + em.stakeOf(w).queued;
    }

    /// Tokens are conserved: what goes in comes out, no more, after the unbonding period and epochs.
    function testFuzz_stakeUnstakeWithdraw_conserves(uint96 a, uint96 b, uint96 u1, uint96 u2) public {
        a = uint96(bound(a, 1, 1e26));
        b = uint96(bound(b, 1, 1e26));
        address w = _worker(1);
        _join(w, a);
        token.mint(w, b);
        vm.startPrank(w);
        token.approve(address(em), b);
        em.stake(b);
        u1 = uint96(bound(u1, 1, uint256(a) + b));
        em.requestUnstake(u1);
        u2 = uint96(bound(u2, 0, uint256(a) + b - u1));
        if (u2 != 0) em.requestUnstake(u2);
        vm.stopPrank();
        vm.warp(block.timestamp + UNBONDING + 1);
        uint64 unlock = em.unstakeRequestsOf(w)[0].unlockEpoch;
        while (em.currentEpoch() < unlock) _advanceAfterFulfil();
        vm.prank(w);
        assertEq(em.withdraw(), uint256(u1) + u2, "withdraws exactly what was queued");
        assertEq(token.balanceOf(w), uint256(u1) + u2, "paid");
        assertEq(em.totalStaked(), uint256(a) + b - u1 - u2, "the rest stays staked");
        assertEq(token.balanceOf(address(em)), em.totalStaked(), "balance matches");
    }
}
