// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IStaking} from "../interfaces/IStaking.sol";

/**
 * @title Staking
 * @notice Stake accounting for workers, inherited by the EpochManager so that a commit reads and
 * writes one packed worker slot (docs/contracts/staking.md). Not deployable on its own.
 *
 * Accounting rules (checked by the invariant suite):
 * - token balance ≥ totalStaked + totalClaimable;
 * - totalStaked = Σ (active + queued) over workers; totalClaimable = Σ claimable;
 * - a slash takes at most the stake committed for the fault's epoch and at most what is left;
 * - rounding: the slash rounds up (against the slashed worker), the reporter's reward rounds
 *   down (against the reporter); the remainder is burned.
 */
abstract contract Staking is IStaking, AccessControl, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using Checkpoints for Checkpoints.Trace208;

    /// @notice Holds the governance parameters (the timelock, from the registry issue on).
    bytes32 public constant GOVERNANCE_ROLE = keccak256("GOVERNANCE_ROLE");
    /// @notice Held by the slashing contract: slash, jail and eject.
    bytes32 public constant SLASHER_ROLE = keccak256("SLASHER_ROLE");

    /// @notice Where burned stake goes (tokens need not implement burn).
    address public constant BURN_ADDRESS = 0x000000000000000000000000000000000000dEaD;
    /// @notice The most pending unstake requests a worker may have (bounds every loop over them).
    uint256 public constant MAX_UNSTAKE_REQUESTS = 16;

    uint256 internal constant _BPS = 10_000;

    /// @dev One slot per worker, read and written once by a commit.
    struct Worker {
        uint96 active; // active stake (queued stake excluded)
        uint32 jailedUntil; // first epoch it may commit to again
        uint32 lastEpoch; // its last two commitments (epoch 0 = none; epoch 0 takes no commits)
        uint24 lastIndex; // indices < MAX_WORKERS ≤ 1,000,000 < 2^24
        uint32 prevEpoch;
        uint24 prevIndex;
        bool registered; // set by register: a first stake then rewrites a non-empty slot
    }

    /// @dev The unstake queue: a ring of MAX_UNSTAKE_REQUESTS entries.
    struct Queue {
        uint96 queued;
        uint8 head;
        uint8 length;
    }

    IERC20 private immutable _token;

    mapping(address worker => Worker) internal _workers;
    mapping(address worker => Queue) internal _queues;
    mapping(address worker => mapping(uint256 slot => UnstakeRequest)) private _requests;
    mapping(address worker => Checkpoints.Trace208) private _signingKeys;
    mapping(address worker => bytes) private _networkAddresses;
    mapping(address account => uint256) private _claimable;
    uint256 private _totalStaked;
    uint256 private _totalClaimable;

    // Parameters that belong to staking (bounds in EpochManager.setParameter).
    uint96 internal _minStake;
    uint64 internal _unbondingPeriod;
    uint16 internal _rewardBps;
    uint32 internal _jailEpochs;

    constructor(IERC20 token_) {
        _token = token_;
    }

    // ------------------------------------------------------------------ hooks for the epoch manager

    /// @dev The epoch whose assignment is in force.
    function _current() internal view virtual returns (uint64);

    /// @dev The epoch that stake queued now is slashable through (withdrawal waits for it).
    function _unlockEpochForRequestNow() internal view virtual returns (uint64);

    /// @dev The worker at `index` of `epoch`'s assignment and its committed stake; reverts if out of range.
    function _memberAt(uint64 epoch, uint32 index) internal view virtual returns (address worker, uint96 stake);

    // ------------------------------------------------------------------ registration

    /// @inheritdoc IStaking
    function register(address signingKey, bytes calldata networkAddress) external {
        if (_workers[msg.sender].registered) revert StakingAlreadyRegistered(msg.sender);
        require(signingKey != address(0), StakingZeroSigningKey());
        _checkNetworkAddress(networkAddress);
        _signingKeys[msg.sender].push(uint48(_current()), uint208(uint160(signingKey)));
        _networkAddresses[msg.sender] = networkAddress;
        _workers[msg.sender].registered = true;
        emit WorkerRegistered(msg.sender, signingKey, networkAddress);
    }

    /// @inheritdoc IStaking
    function rotateSigningKey(address signingKey) external {
        _checkRegistered(msg.sender);
        require(signingKey != address(0), StakingZeroSigningKey());
        uint64 fromEpoch = _current() + 1;
        // A second rotation in the same epoch replaces the pending key (same checkpoint key).
        _signingKeys[msg.sender].push(uint48(fromEpoch), uint208(uint160(signingKey)));
        emit SigningKeyRotated(msg.sender, signingKey, fromEpoch);
    }

    /// @inheritdoc IStaking
    function setNetworkAddress(bytes calldata networkAddress) external {
        _checkRegistered(msg.sender);
        _checkNetworkAddress(networkAddress);
        _networkAddresses[msg.sender] = networkAddress;
        emit NetworkAddressSet(msg.sender, networkAddress);
    }

    // ------------------------------------------------------------------ stake

    /// @inheritdoc IStaking
    function stake(uint256 amount) external nonReentrant {
        _stake(amount);
    }

    /// @inheritdoc IStaking
    function increaseStake(uint256 amount) external nonReentrant {
        _stake(amount);
    }

    function _stake(uint256 amount) private {
        Worker storage w = _workers[msg.sender];
        if (!w.registered) revert StakingNotRegistered(msg.sender);
        uint256 queued = _queues[msg.sender].queued;
        // active + queued must fit 96 bits: it is what a commit records.
        require(amount != 0 && w.active + queued + amount <= type(uint96).max, StakingInvalidAmount(amount));
        uint256 before = _token.balanceOf(address(this));
        _token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = _token.balanceOf(address(this)) - before;
        require(received == amount, StakingTokenShortfall(amount, received));
        uint96 active = w.active + uint96(amount);
        w.active = active;
        _totalStaked += amount;
        emit Staked(msg.sender, amount, active);
    }

    /// @inheritdoc IStaking
    function requestUnstake(uint256 amount) external {
        Worker storage w = _workers[msg.sender];
        uint256 active = w.active;
        require(amount != 0, StakingInvalidAmount(amount));
        require(amount <= active, StakingInsufficientStake(amount, active));
        uint256 remaining = active - amount;
        // A committed worker (to the current or the next epoch) may leave entirely, but may not
        // drop to a stake below the minimum it committed with.
        // (Commits start at epoch 1, so lastEpoch 0 means never committed.)
        if (remaining != 0 && w.lastEpoch != 0 && w.lastEpoch >= _current()) {
            require(remaining >= _minStake, StakingBelowMinimum(remaining, _minStake));
        }
        Queue storage q = _queues[msg.sender];
        require(q.length < MAX_UNSTAKE_REQUESTS, StakingTooManyUnstakeRequests(q.length));
        w.active = uint96(remaining);
        q.queued += uint96(amount);
        uint64 unlockTime = uint64(block.timestamp) + _unbondingPeriod;
        uint64 unlockEpoch = _unlockEpochForRequestNow();
        _requests[msg.sender][(uint256(q.head) + q.length) % MAX_UNSTAKE_REQUESTS] = UnstakeRequest(
            uint96(amount),
            unlockTime,
            uint32(unlockEpoch)
        );
        ++q.length;
        emit UnstakeRequested(msg.sender, amount, unlockTime, unlockEpoch);
    }

    /// @inheritdoc IStaking
    function withdraw() external nonReentrant returns (uint256 amount) {
        Queue storage q = _queues[msg.sender];
        uint64 current = _current();
        uint256 head = q.head;
        uint256 length = q.length;
        // Oldest first; stops at the first request still locked (at most MAX_UNSTAKE_REQUESTS steps).
        while (length != 0) {
            UnstakeRequest memory r = _requests[msg.sender][head];
            if (r.unlockTime > block.timestamp || r.unlockEpoch > current) break;
            amount += r.amount;
            delete _requests[msg.sender][head];
            head = (head + 1) % MAX_UNSTAKE_REQUESTS;
            --length;
        }
        require(amount != 0, StakingNothingToWithdraw(msg.sender));
        q.head = uint8(head);
        q.length = uint8(length);
        q.queued -= uint96(amount);
        _totalStaked -= amount;
        _token.safeTransfer(msg.sender, amount);
        emit Withdrawn(msg.sender, amount);
    }

    /// @inheritdoc IStaking
    function claimRewards() external nonReentrant returns (uint256 amount) {
        amount = _claimable[msg.sender];
        require(amount != 0, StakingNothingToClaim(msg.sender));
        _claimable[msg.sender] = 0;
        _totalClaimable -= amount;
        _token.safeTransfer(msg.sender, amount);
        emit RewardsClaimed(msg.sender, amount);
    }

    // ------------------------------------------------------------------ slashing

    /// @inheritdoc IStaking
    function slash(
        address worker,
        uint64 epoch,
        uint32 index,
        uint256 bps,
        address reporter
    ) external onlyRole(SLASHER_ROLE) nonReentrant returns (uint256 amount) {
        require(bps <= _BPS, StakingInvalidBps(bps));
        (address member, uint96 committedStake) = _memberAt(epoch, index);
        require(member == worker, StakingNotInEpoch(epoch, index, worker));

        Worker storage w = _workers[worker];
        amount = Math.min(
            Math.mulDiv(committedStake, bps, _BPS, Math.Rounding.Ceil),
            uint256(w.active) + _queues[worker].queued
        );
        if (amount == 0) return 0;
        // Queued stake first (newest request first): stake on its way out after a fault goes first.
        uint256 fromQueue = _slashQueue(worker, amount);
        w.active -= uint96(amount - fromQueue); // amount ≤ active + queued

        uint256 reward = reporter == address(0) ? 0 : Math.mulDiv(amount, _rewardBps, _BPS);
        uint256 burned = amount - reward;
        _totalStaked -= amount;
        if (reward != 0) {
            _claimable[reporter] += reward;
            _totalClaimable += reward;
        }
        if (burned != 0) _token.safeTransfer(BURN_ADDRESS, burned);
        emit Slashed(worker, epoch, amount, reporter, reward, burned);
    }

    /// @dev Takes up to `amount` from `worker`'s unstake requests, newest first; returns what it took.
    function _slashQueue(address worker, uint256 amount) private returns (uint256 taken) {
        Queue storage q = _queues[worker];
        uint256 length = q.length;
        while (taken < amount && length != 0) {
            uint256 slot = (uint256(q.head) + length - 1) % MAX_UNSTAKE_REQUESTS;
            UnstakeRequest storage r = _requests[worker][slot];
            uint256 take = Math.min(amount - taken, r.amount);
            r.amount -= uint96(take);
            taken += take;
            if (r.amount == 0) {
                delete _requests[worker][slot];
                --length;
            }
        }
        q.length = uint8(length);
        q.queued -= uint96(taken);
    }

    /// @inheritdoc IStaking
    function jail(address worker, uint64 untilEpoch) external onlyRole(SLASHER_ROLE) {
        Worker storage w = _workers[worker];
        // Saturate, never wrap: the slot keeps epochs in 32 bits.
        uint32 until = uint32(Math.min(untilEpoch, type(uint32).max));
        if (until > w.jailedUntil) w.jailedUntil = until;
        emit Jailed(worker, w.jailedUntil);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IStaking
    function stakeToken() external view returns (address) {
        return address(_token);
    }

    /// @inheritdoc IStaking
    function stakeOf(address worker) external view returns (StakeInfo memory) {
        Worker storage w = _workers[worker];
        return StakeInfo(w.active, _queues[worker].queued, w.jailedUntil, w.registered);
    }

    /// @inheritdoc IStaking
    function unstakeRequestsOf(address worker) external view returns (UnstakeRequest[] memory out) {
        Queue storage q = _queues[worker];
        out = new UnstakeRequest[](q.length);
        for (uint256 i; i < q.length; ++i) out[i] = _requests[worker][(uint256(q.head) + i) % MAX_UNSTAKE_REQUESTS];
    }

    /// @inheritdoc IStaking
    function signingKeyAt(address worker, uint64 epoch) public view returns (address) {
        return address(uint160(_signingKeys[worker].upperLookupRecent(uint48(epoch))));
    }

    /// @inheritdoc IStaking
    function networkAddressOf(address worker) external view returns (bytes memory) {
        return _networkAddresses[worker];
    }

    /// @inheritdoc IStaking
    function claimableOf(address account) external view returns (uint256) {
        return _claimable[account];
    }

    /// @inheritdoc IStaking
    function totalStaked() external view returns (uint256) {
        return _totalStaked;
    }

    /// @inheritdoc IStaking
    function totalClaimable() external view returns (uint256) {
        return _totalClaimable;
    }

    // ------------------------------------------------------------------ internals

    function _checkRegistered(address worker) internal view {
        if (!_workers[worker].registered) revert StakingNotRegistered(worker);
    }

    function _checkNetworkAddress(bytes calldata networkAddress) private pure {
        require(
            networkAddress.length != 0 && networkAddress.length <= 256,
            StakingInvalidNetworkAddress(networkAddress.length)
        );
    }
}
