// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {Test} from "../utils/Test.sol";
import {EpochManager} from "../../../contracts/epochs/EpochManager.sol";
import {VRFBeacon} from "../../../contracts/randomness/VRFBeacon.sol";
import {TestToken} from "../../../contracts/mocks/TestToken.sol";
import {IEpochManager} from "../../../contracts/interfaces/IEpochManager.sol";
import {IRandomnessBeacon} from "../../../contracts/interfaces/IRandomnessBeacon.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {VRFCoordinatorV2_5Mock} from "@chainlink/contracts/src/v0.8/vrf/mocks/VRFCoordinatorV2_5Mock.sol";

/// @notice The real stack for epoch/staking tests: test token, Chainlink's VRF v2.5 mock
/// coordinator with a funded subscription, the VRF beacon and the epoch manager.
abstract contract EpochsBase is Test {
    TestToken internal token;
    VRFCoordinatorV2_5Mock internal coord;
    VRFBeacon internal beacon;
    EpochManager internal em;
    uint256 internal subId;
    uint256 internal requests; // the mock numbers requests 1, 2, 3, ...

    address internal governance = address(0x600);
    address internal slasher = address(0x51A5);
    address internal reporter = address(0xBEEF);

    uint256 internal constant MIN_STAKE = 100 ether;
    uint256 internal constant DURATION = 3_600;
    uint256 internal constant LEAD = 600;
    uint256 internal constant TIMEOUT = 1_800;
    uint256 internal constant WINDOW = 24;
    uint256 internal constant UNBONDING = 14 days;

    function _params() internal pure virtual returns (EpochManager.InitialParameters memory) {
        return
            EpochManager.InitialParameters({
                minStake: MIN_STAKE,
                unbondingPeriod: UNBONDING,
                rewardBps: 1_000,
                jailEpochs: 3,
                epochDuration: DURATION,
                freezeLead: LEAD,
                randomnessTimeout: TIMEOUT,
                replication: 2,
                minWorkers: 3,
                maxWorkers: 10_000,
                fraudWindowEpochs: WINDOW
            });
    }

    function setUp() public virtual {
        vm.warp(1_700_000_000);
        vm.roll(1_000);
        token = new TestToken();
        coord = new VRFCoordinatorV2_5Mock(0.1 ether, 1 gwei, 4e15);
        subId = coord.createSubscription();
        coord.fundSubscription(subId, 1_000 ether);
        beacon = new VRFBeacon(address(coord), keccak256("lane"), subId, 3, 200_000, false);
        coord.addConsumer(subId, address(beacon));
        em = new EpochManager(IERC20(address(token)), IRandomnessBeacon(address(beacon)), governance, _params());
        beacon.setRequester(address(em));
        vm.prank(governance);
        em.setSlasher(slasher);
    }

    function _worker(uint256 i) internal pure returns (address) {
        return address(uint160(0x1000 + i));
    }

    function _join(address w, uint256 amount) internal {
        token.mint(w, amount);
        vm.startPrank(w);
        token.approve(address(em), amount);
        em.register(w, "/ip4/127.0.0.1/tcp/9000");
        em.stake(amount);
        vm.stopPrank();
    }

    function _joinMany(uint256 count) internal returns (address[] memory ws) {
        ws = new address[](count);
        for (uint256 i; i < count; ++i) {
            ws[i] = _worker(i);
            _join(ws[i], MIN_STAKE);
        }
    }

    function _commitAll(address[] memory ws, uint64 epoch) internal {
        for (uint256 i; i < ws.length; ++i) {
            vm.prank(ws[i]);
            em.commit(epoch);
        }
    }

    /// Moves time forward to `t` (never back).
    function _warpTo(uint256 t) internal {
        if (block.timestamp < t) vm.warp(t);
    }

    function _freezeNext() internal returns (uint64 next) {
        next = em.currentEpoch() + 1;
        _warpTo(em.epochInfo(next - 1).commitDeadline);
        em.freeze(next);
        if (em.epochInfo(next).assignmentEpoch == next) ++requests;
    }

    function _fulfil() internal {
        coord.fulfillRandomWords(requests, address(beacon));
    }

    function _advanceAfterFulfil() internal returns (uint64 next) {
        next = _freezeNext();
        if (em.epochInfo(next).assignmentEpoch == next) _fulfil();
        _warpTo(em.epochInfo(next - 1).end);
        em.advance();
    }

    /// Punishes `w` (whose signing key is itself, see _join) through the slasher.
    function _punish(
        address w,
        uint64 epoch,
        uint32 index,
        uint8 fault,
        uint256 bps,
        address rep
    ) internal returns (uint256) {
        vm.prank(slasher);
        return em.punish(w, epoch, index, w, fault, bps, rep);
    }

    /// Committed workers in epoch 1, which becomes current.
    function _startEpochOne(uint256 count) internal returns (address[] memory ws) {
        ws = _joinMany(count);
        _commitAll(ws, 1);
        _advanceAfterFulfil();
    }
}
