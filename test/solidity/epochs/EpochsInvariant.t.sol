// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {EpochsBase} from "./EpochsBase.sol";
import {Test} from "../utils/Test.sol";
import {Vm} from "../utils/Vm.sol";
import {EpochManager} from "../../../contracts/epochs/EpochManager.sol";
import {IEpochManager} from "../../../contracts/interfaces/IEpochManager.sol";
import {IStaking} from "../../../contracts/interfaces/IStaking.sol";
import {TestToken} from "../../../contracts/mocks/TestToken.sol";
import {VRFCoordinatorV2_5Mock} from "@chainlink/contracts/src/v0.8/vrf/mocks/VRFCoordinatorV2_5Mock.sol";
import {VRFBeacon} from "../../../contracts/randomness/VRFBeacon.sol";

/// @notice Drives the epoch manager with bounded random actions by a few workers, and keeps the
/// ghost records the invariants compare against. Every action either succeeds or is skipped.
contract EpochsHandler {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    EpochManager public em;
    TestToken public token;
    VRFCoordinatorV2_5Mock public coord;
    VRFBeacon public beacon;
    address public slasher;
    address[] public actors;
    address public constant REPORTER = address(0xBEEF);

    // Ghosts.
    mapping(uint64 => bytes32) public firstRandomness; // first value observed once set
    mapping(uint64 => bool) public randomnessSeen;
    mapping(uint64 => bytes32) public frozenSnapshot; // hash of n, k, graph, assignment, members
    mapping(uint64 => bool) public frozenSeen;
    uint64 public highestFrozen;
    bool public earlyWithdrawal;
    mapping(address => uint64) public lastCommitOf;
    mapping(uint64 => uint64) public lastCarried; // assignment epoch → last epoch carried with it
    bool public overSlash;
    uint256 public slashed; // Σ punish amounts
    uint256 public burned; // Σ burnSlashed amounts
    uint256 public paidToWorkers; // Σ rewards claimed by workers
    uint256 public requests;
    uint256 public calls;

    constructor(
        EpochManager em_,
        TestToken token_,
        VRFCoordinatorV2_5Mock coord_,
        VRFBeacon beacon_,
        address slasher_
    ) {
        em = em_;
        token = token_;
        coord = coord_;
        beacon = beacon_;
        slasher = slasher_;
        for (uint256 i; i < 5; ++i) {
            address a = address(uint160(0x7000 + i));
            actors.push(a);
            vm.prank(a);
            em.register(vm.addr(_key(a)), "/ip4/127.0.0.1/tcp/1");
            token.mint(a, 300 ether);
            vm.startPrank(a);
            token.approve(address(em), type(uint256).max);
            em.stake(300 ether);
            vm.stopPrank();
        }
    }

    function _key(address a) internal pure returns (uint256) {
        return uint256(keccak256(abi.encode("signing key", a))) >> 8;
    }

    function actorCount() external view returns (uint256) {
        return actors.length;
    }

    function _actor(uint256 seed) internal view returns (address) {
        return actors[seed % actors.length];
    }

    function stake(uint256 seed, uint256 amount) external {
        ++calls;
        address a = _actor(seed);
        amount = 1 ether + (amount % 500 ether);
        token.mint(a, amount);
        vm.prank(a);
        em.stake(amount);
    }

    function requestUnstake(uint256 seed, uint256 amount) external {
        ++calls;
        address a = _actor(seed);
        uint256 active = em.stakeOf(a).active;
        if (active == 0) return;
        amount = 1 + (amount % active);
        vm.prank(a);
        try em.requestUnstake(amount) {} catch {}
    }

    function withdraw(uint256 seed) external {
        ++calls;
        address a = _actor(seed);
        IStaking.UnstakeRequest[] memory rs = em.unstakeRequestsOf(a);
        uint256 unlocked;
        uint64 cur = em.currentEpoch();
        // Halted: no epoch for a whole unbonding period past the current one's end (§10).
        bool halted = block.timestamp >= em.epochInfo(cur).end + em.parameter(IEpochManager.Param.UNBONDING_PERIOD);
        for (uint256 i; i < rs.length; ++i) {
            if (rs[i].unlockTime > block.timestamp) break;
            if (!halted && (rs[i].unlockEpoch > cur || _memberUnlock(a, rs[i].memberEpoch) > cur)) break;
            unlocked += rs[i].amount;
        }
        vm.prank(a);
        try em.withdraw() returns (uint256 got) {
            if (got != unlocked) earlyWithdrawal = true; // paid more (or other) than what had unlocked
        } catch {}
    }

    /// The first epoch a request's stake is free of membership (docs/protocol.md §10), from the
    /// ghost records: the worker's last commitment and how far each assignment was carried.
    function _memberUnlock(address a, uint64 memberEpoch) internal view returns (uint64) {
        IEpochManager.EpochInfo memory info = em.epochInfo(memberEpoch);
        if (!info.frozen) return memberEpoch;
        uint64 asg = info.assignmentEpoch;
        if (asg == 0 || lastCommitOf[a] < asg) return 0;
        uint64 last = lastCarried[asg] > asg ? lastCarried[asg] : asg;
        return last + 1 + uint64(em.parameter(IEpochManager.Param.FRAUD_WINDOW_EPOCHS));
    }

    function commit(uint256 seed) external {
        ++calls;
        address a = _actor(seed);
        uint64 next = em.currentEpoch() + 1; // before the prank: a prank applies to the next call
        vm.prank(a);
        try em.commit(next) {
            lastCommitOf[a] = next;
        } catch {}
    }

    /// Every actor tries to commit to the next epoch (most sequences then reach a frozen set).
    function commitAll() external {
        ++calls;
        uint64 next = em.currentEpoch() + 1;
        for (uint256 i; i < actors.length; ++i) {
            vm.prank(actors[i]);
            try em.commit(next) {
                lastCommitOf[actors[i]] = next;
            } catch {}
        }
    }

    /// Freezes if needed, fulfils the VRF unless `skipVrf`, waits, and advances.
    function progress(uint256 wait, bool skipVrf) external {
        ++calls;
        uint64 next = em.currentEpoch() + 1;
        if (!em.epochInfo(next).frozen) this.freeze();
        if (!skipVrf) this.fulfil(wait);
        this.advance(wait);
    }

    /// Lets time pass (up to 20 days), so that unstake requests unlock.
    function passTime(uint256 secondsAhead) external {
        ++calls;
        vm.warp(block.timestamp + (secondsAhead % 20 days));
    }

    function freeze() external {
        ++calls;
        uint64 next = em.currentEpoch() + 1;
        IEpochManager.EpochInfo memory cur = em.epochInfo(next - 1);
        if (block.timestamp < cur.commitDeadline) vm.warp(cur.commitDeadline);
        try em.freeze(next) {
            uint64 asg = em.epochInfo(next).assignmentEpoch;
            if (asg == next) ++requests;
            else lastCarried[asg] = next;
            _snapshot(next);
        } catch {}
    }

    function fulfil(uint256 words) external {
        ++calls;
        if (requests == 0) return;
        uint256[] memory w = new uint256[](1);
        w[0] = words;
        try coord.fulfillRandomWordsWithOverride(requests, address(beacon), w) {} catch {}
    }

    function advance(uint256 wait) external {
        ++calls;
        uint64 next = em.currentEpoch() + 1;
        uint256 start = em.epochInfo(next - 1).end;
        uint256 t = start + (wait % (3 * 1_800));
        if (block.timestamp < t) vm.warp(t);
        vm.roll(block.number + 1 + (wait % 300));
        try em.advance() {
            bytes32 r = em.randomness(next);
            randomnessSeen[next] = true;
            firstRandomness[next] = r;
        } catch {}
    }

    function slash(uint256 seed) external {
        ++calls;
        uint64 cur = em.currentEpoch();
        if (cur == 0) return;
        if (em.numWorkers(cur) == 0) return;
        uint32 index = uint32(seed % em.numWorkers(cur));
        uint8 fault = uint8(seed % 6);
        if ((em.faultsAt(cur, index) >> fault) & 1 == 1) return; // punished once: covered by unit tests
        // Reporters: an outside account, or another worker (rewarded in its queue slot).
        address reporter = (seed >> 16) % 2 == 0 ? REPORTER : actors[(seed >> 8) % actors.length];
        uint256 cap = _slashable(cur, index);
        address w = em.workerAt(cur, index);
        // The handler is the slasher.
        uint256 amount = _punish(w, cur, index, fault, keccak256(abi.encode(seed)), reporter);
        if (amount > cap) overSlash = true;
        slashed += amount;
    }

    function _punish(
        address w,
        uint64 epoch,
        uint32 index,
        uint8 fault,
        bytes32 digest,
        address reporter
    ) internal returns (uint256) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(_key(w), digest);
        return em.punish(w, epoch, index, fault, digest, abi.encodePacked(r, s, v), address(0), reporter);
    }

    /// The most a punishment may take: the committed stake, capped at what is left.
    function _slashable(uint64 epoch, uint32 index) internal view returns (uint256 cap) {
        address w = em.workerAt(epoch, index);
        cap = em.stakeOf(w).active + em.stakeOf(w).queued;
        uint256 committed = em.committedStakeAt(epoch, index);
        if (committed < cap) cap = committed;
    }

    function claim(uint256 seed) external {
        ++calls;
        // The outside reporter, or a worker (rewarded when it reports: see slash()).
        address who = seed % 2 == 0 ? REPORTER : actors[seed % actors.length];
        vm.prank(who);
        try em.claimRewards() returns (uint256 amount) {
            if (who != REPORTER) paidToWorkers += amount;
        } catch {}
    }

    function burn() external {
        ++calls;
        try em.burnSlashed() returns (uint256 amount) {
            burned += amount;
        } catch {}
    }

    function _snapshot(uint64 e) internal {
        IEpochManager.EpochInfo memory info = em.epochInfo(e);
        bytes32 h = keccak256(abi.encode(info.n, info.k, info.graphVersion, info.assignmentEpoch, info.fallbackBlock));
        for (uint32 i; i < info.n; ++i) h = keccak256(abi.encode(h, em.workerAt(e, i), em.committedStakeAt(e, i)));
        frozenSnapshot[e] = h;
        frozenSeen[e] = true;
        if (e > highestFrozen) highestFrozen = e;
    }

    function snapshotOf(uint64 e) external view returns (bytes32 h) {
        IEpochManager.EpochInfo memory info = em.epochInfo(e);
        h = keccak256(abi.encode(info.n, info.k, info.graphVersion, info.assignmentEpoch, info.fallbackBlock));
        for (uint32 i; i < info.n; ++i) h = keccak256(abi.encode(h, em.workerAt(e, i), em.committedStakeAt(e, i)));
    }
}

contract EpochsInvariantTest is EpochsBase {
    EpochsHandler internal handler;

    function setUp() public override {
        installTestSlasher = false; // the handler is the first slasher
        super.setUp();
        handler = new EpochsHandler(em, token, coord, beacon, slasher);
        vm.prank(governance);
        em.setSlasher(address(handler));
        targetContract(address(handler));
    }

    function invariant_balanceCoversLiabilities() public view {
        assertGe(token.balanceOf(address(em)), em.totalStaked() + em.totalClaimable(), "balance >= staked + claimable");
    }

    function invariant_totalsAreSums() public view {
        uint256 staked;
        for (uint256 i; i < handler.actorCount(); ++i) {
            IStaking.StakeInfo memory s = em.stakeOf(handler.actors(i));
            staked += s.active + s.queued;
        }
        assertEq(em.totalStaked(), staked, "totalStaked = sum of active + queued");
        uint256 owed = em.claimableOf(handler.REPORTER());
        for (uint256 i; i < handler.actorCount(); ++i) owed += em.claimableOf(handler.actors(i));
        assertEq(em.totalClaimable(), owed, "totalClaimable = sum of claimable");
    }

    /// Every slashed token is either owed to a reporter, paid out, burnable or burned; with the
    /// initial stake as the only inflow besides stake(), the balance reconciles exactly.
    function invariant_slashedIsRewardPlusBurn() public view {
        uint256 paid = token.balanceOf(handler.REPORTER()) + handler.paidToWorkers();
        assertEq(
            handler.slashed(),
            em.totalClaimable() + paid + em.burnable() + handler.burned(),
            "reward + burned = slashed"
        );
    }

    function invariant_randomnessWrittenOnce() public view {
        uint64 cur = em.currentEpoch();
        for (uint64 e = 1; e <= cur; ++e) {
            if (handler.randomnessSeen(e)) assertEq(em.randomness(e), handler.firstRandomness(e), "r never changes");
        }
    }

    function invariant_frozenSetNeverChanges() public view {
        for (uint64 e = 1; e <= handler.highestFrozen(); ++e) {
            if (handler.frozenSeen(e))
                assertEq(handler.snapshotOf(e), handler.frozenSnapshot(e), "frozen inputs unchanged");
        }
    }

    function invariant_noEarlyWithdrawal_noOverSlash() public view {
        assertFalse(handler.earlyWithdrawal(), "withdrawal before unlock");
        assertFalse(handler.overSlash(), "slash above stake");
    }
}

/// @notice The handler is not vacuous: a scripted run reaches frozen and advanced epochs,
/// randomness, slashes and withdrawals.
contract EpochsHandlerReachTest is EpochsBase {
    function setUp() public override {
        installTestSlasher = false; // the handler is the first slasher
        super.setUp();
    }

    function test_handler_reachesEveryPhase() public {
        EpochsHandler h = new EpochsHandler(em, token, coord, beacon, slasher);
        vm.prank(governance);
        em.setSlasher(address(h));
        for (uint256 round; round < 3; ++round) {
            for (uint256 i; i < 5; ++i) h.stake(i, 200 ether);
            for (uint256 i; i < 5; ++i) h.commit(i);
            h.freeze();
            h.fulfil(round + 1);
            h.advance(0);
            h.slash(round);
            h.requestUnstake(round, 10 ether);
        }
        assertEq(em.currentEpoch(), 3, "three epochs advanced");
        assertTrue(h.frozenSeen(3) && h.randomnessSeen(3), "frozen and randomness recorded");
        assertGe(em.totalClaimable(), 1, "slashes paid rewards");
        assertFalse(h.earlyWithdrawal() || h.overSlash(), "no violations");
    }
}
