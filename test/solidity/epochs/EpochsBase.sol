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

    /// Whether _deploy installs `slasher` (FraudBase installs the FraudProofs contract instead).
    bool internal installTestSlasher = true;

    /// The SLASH_BPS of each fault the manager is deployed with (see _redeploy).
    uint256[6] internal slashShares = [uint256(5_000), 5_000, 5_000, 5_000, 5_000, 5_000];

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
                fraudWindowEpochs: WINDOW,
                slashBps: [uint256(5_000), 5_000, 5_000, 5_000, 5_000, 5_000]
            });
    }

    function setUp() public virtual {
        vm.warp(1_700_000_000);
        vm.roll(1_000);
        token = new TestToken();
        _deploy();
    }

    /// A fresh beacon and manager whose SLASH_BPS are `shares` (before anyone joins).
    function _redeploy(uint256[6] memory shares) internal {
        slashShares = shares;
        _deploy();
    }

    function _deploy() internal {
        requests = 0;
        coord = new VRFCoordinatorV2_5Mock(0.1 ether, 1 gwei, 4e15);
        subId = coord.createSubscription();
        coord.fundSubscription(subId, 1_000 ether);
        beacon = new VRFBeacon(address(coord), keccak256("lane"), subId, 3, 200_000, false);
        coord.addConsumer(subId, address(beacon));
        EpochManager.InitialParameters memory p = _params();
        p.slashBps = slashShares;
        em = new EpochManager(IERC20(address(token)), IRandomnessBeacon(address(beacon)), governance, p);
        beacon.setRequester(address(em));
        if (!installTestSlasher) return;
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
        em.register(vm.addr(_keyOf(w)), "/ip4/127.0.0.1/tcp/9000");
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

    /// The private signing key of a worker that joined with _join.
    function _keyOf(address w) internal pure returns (uint256) {
        return uint256(keccak256(abi.encode("signing key", w))) >> 8;
    }

    /// `w`'s signature over `digest` (any message: Staking checks whose key signed it).
    function _sig(address w, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 rr, bytes32 ss) = vm.sign(_keyOf(w), digest);
        return abi.encodePacked(rr, ss, v);
    }

    /// Punishes `w` (signed by its key, see _join) through the slasher.
    function _punish(address w, uint64 epoch, uint32 index, uint8 fault, address rep) internal returns (uint256) {
        vm.prank(slasher);
        return _punishAs(w, epoch, index, fault, rep);
    }

    /// As _punish, from the current caller (no prank).
    function _punishAs(address w, uint64 epoch, uint32 index, uint8 fault, address rep) internal returns (uint256) {
        bytes32 digest = keccak256(abi.encode("evidence", w, epoch, fault));
        return em.punish(w, epoch, index, fault, digest, _sig(w, digest), address(0), rep);
    }

    /// Committed workers in epoch 1, which becomes current.
    function _startEpochOne(uint256 count) internal returns (address[] memory ws) {
        ws = _joinMany(count);
        _commitAll(ws, 1);
        _advanceAfterFulfil();
    }
}
