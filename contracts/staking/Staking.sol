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
 * Accounting rules (checked by the invariant suites):
 * - token balance ≥ totalStaked + totalClaimable; the excess is what {burnSlashed} burns;
 * - totalStaked = Σ (active + queued) over workers; totalClaimable = Σ claimable (both kinds);
 * - a slash takes at most the stake committed for the fault's epoch and at most what is left;
 * - rounding: the slash rounds up (against the slashed worker), the reporter's reward rounds
 *   down (against the reporter); the remainder is burned.
 *
 * Punishment is the gas-critical path of every fraud proof: it rewrites slots that exist (the
 * member slot holds the fault bits, which are also the ejection; a registered reporter's queue
 * slot holds its reward) and creates none (docs/contracts/staking.md).
 */
// Many small state variables on purpose: they are packed so that each hot path reads few slots.
// solhint-disable-next-line max-states-count
abstract contract Staking is IStaking, AccessControl, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using Checkpoints for Checkpoints.Trace208;

    /// @notice Holds the governance parameters (the timelock, from the registry issue on).
    bytes32 public constant GOVERNANCE_ROLE = keccak256("GOVERNANCE_ROLE");

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

    /// @dev The unstake queue (a ring of MAX_UNSTAKE_REQUESTS entries) and the worker's rewards as
    /// a reporter. `registered` keeps the slot non-zero from registration on, so that crediting a
    /// reward to a worker rewrites a slot instead of creating one.
    struct Queue {
        uint96 queued;
        uint8 head;
        uint8 length;
        bool registered;
        uint128 claimable;
    }

    /// @dev Member slot: worker [0,160) | committed stake [160,248) | fault bits [248,256).
    uint256 internal constant _MEMBER_STAKE_BITS = 88;
    uint256 internal constant _MEMBER_FAULTS_SHIFT = 248;

    IERC20 private immutable _token;

    mapping(address worker => Worker) internal _workers;
    mapping(address worker => Queue) internal _queues;
    mapping(address worker => mapping(uint256 slot => UnstakeRequest)) private _requests;
    mapping(address worker => Checkpoints.Trace208) private _signingKeys;
    /// @dev The newest signing key and the epoch it signs from (fromEpoch << 160 | key): one read
    /// answers every epoch since its rotation, the common case of a fraud proof.
    mapping(address worker => uint256) private _latestSigningKey;
    mapping(address worker => bytes) private _networkAddresses;
    /// @dev Rewards of reporters that are not registered workers.
    mapping(address account => uint256) private _claimable;
    /// @dev (assignment epoch << 32 | index) → member slot (see _MEMBER_*): one fresh slot per commit.
    mapping(uint256 key => uint256 packed) internal _members;
    /// @dev Fault bits of (worker << 64 | epoch) for carried epochs, whose member slots belong to
    /// the epoch they carry (a fault in each epoch is punished once).
    mapping(uint256 key => uint256 faults) internal _carriedFaults;
    // One slot: a slash moves stake into rewards with one write.
    uint128 private _totalStaked;
    uint128 private _totalClaimable;

    // One slot, read by every punishment: who may punish, and the current epoch.
    address private _slasher;
    uint64 internal _currentEpoch;

    // One slot: parameters that belong to staking and punishment (bounds in EpochManager.setParameter).
    uint96 internal _minStake;
    uint64 internal _unbondingPeriod;
    uint16 internal _rewardBps;
    uint32 internal _jailEpochs;
    uint32 internal _fraudWindowEpochs;

    constructor(IERC20 token_) {
        _token = token_;
    }

    // ------------------------------------------------------------------ hooks for the epoch manager

    /// @dev The epoch that stake queued now is slashable through (withdrawal waits for it).
    function _unlockEpochForRequestNow() internal view virtual returns (uint64);

    /// @dev The key of the member slot at `index` of `epoch`'s assignment; reverts if the epoch is
    /// not frozen or `index` out of range.
    function _memberKey(uint64 epoch, uint32 index) internal view virtual returns (uint256);

    // ------------------------------------------------------------------ registration

    /// @inheritdoc IStaking
    function register(address signingKey, bytes calldata networkAddress) external {
        if (_workers[msg.sender].registered) revert StakingAlreadyRegistered(msg.sender);
        require(signingKey != address(0), StakingZeroSigningKey());
        _checkNetworkAddress(networkAddress);
        _pushSigningKey(_currentEpoch, signingKey);
        _networkAddresses[msg.sender] = networkAddress;
        _workers[msg.sender].registered = true;
        _queues[msg.sender].registered = true;
        emit WorkerRegistered(msg.sender, signingKey, networkAddress);
    }

    /// @inheritdoc IStaking
    function rotateSigningKey(address signingKey) external {
        _checkRegistered(msg.sender);
        require(signingKey != address(0), StakingZeroSigningKey());
        uint64 fromEpoch = _currentEpoch + 1;
        // A second rotation in the same epoch replaces the pending key (same checkpoint key).
        _pushSigningKey(fromEpoch, signingKey);
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
        // active + queued must fit 88 bits: it is what a commit records (the member slot's stake).
        require(amount != 0 && w.active + queued + amount <= type(uint88).max, StakingInvalidAmount(amount));
        uint256 before = _token.balanceOf(address(this));
        _token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = _token.balanceOf(address(this)) - before;
        require(received == amount, StakingTokenShortfall(amount, received));
        uint96 active = w.active + uint96(amount);
        w.active = active;
        _totalStaked += uint128(amount); // < 2^88 per call
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
        if (remaining != 0 && w.lastEpoch != 0 && w.lastEpoch >= _currentEpoch) {
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
        uint64 current = _currentEpoch;
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
        _totalStaked -= uint128(amount);
        _token.safeTransfer(msg.sender, amount);
        emit Withdrawn(msg.sender, amount);
    }

    /// @inheritdoc IStaking
    function claimRewards() external nonReentrant returns (uint256 amount) {
        Queue storage q = _queues[msg.sender];
        uint256 fromQueue = q.claimable;
        amount = _claimable[msg.sender] + fromQueue;
        require(amount != 0, StakingNothingToClaim(msg.sender));
        if (fromQueue != 0) q.claimable = 0;
        if (amount != fromQueue) _claimable[msg.sender] = 0;
        _totalClaimable -= uint128(amount);
        _token.safeTransfer(msg.sender, amount);
        emit RewardsClaimed(msg.sender, amount);
    }

    /// @inheritdoc IStaking
    function burnSlashed() external nonReentrant returns (uint256 amount) {
        amount = burnable();
        if (amount == 0) revert StakingNothingToBurn();
        _token.safeTransfer(BURN_ADDRESS, amount);
        emit Burned(amount);
    }

    // ------------------------------------------------------------------ punishment

    /// @inheritdoc IStaking
    /// @dev No external call: nothing to re-enter. The gas-critical path of every fraud proof
    /// (docs/contracts/staking.md): it creates no storage slot when the reporter is a registered
    /// worker. The fault bits live in the member slot (read anyway), the reward in the reporter's
    /// queue slot; errors via if/revert (a custom error's arguments are evaluated even when
    /// `require` passes).
    function punish(
        address worker,
        uint64 epoch,
        uint32 index,
        address signer,
        uint8 fault,
        uint256 bps,
        address reporter
    ) external returns (uint256 amount) {
        uint64 current = _currentEpoch; // same slot as _slasher
        if (msg.sender != _slasher) revert StakingNotSlasher(msg.sender);
        uint96 committedStake = _recordFault(worker, epoch, index, signer, fault, bps, current);
        uint32 jailedUntil;
        (amount, jailedUntil) = _slashStake(worker, committedStake, bps, current);
        _settle(worker, epoch, fault, reporter, amount, jailedUntil);
    }

    /// @dev The rules every fault shares, then sets the fault's bit; returns the stake `worker`
    /// committed for `epoch`.
    function _recordFault(
        address worker,
        uint64 epoch,
        uint32 index,
        address signer,
        uint8 fault,
        uint256 bps,
        uint64 current
    ) private returns (uint96 committedStake) {
        if (fault >= 8) revert StakingInvalidFault(fault);
        if (bps > _BPS) revert StakingInvalidBps(bps);
        uint256 window = _fraudWindowEpochs;
        if (epoch > current || current > epoch + window) revert StakingOutsideFraudWindow(epoch, current, window);
        uint256 key = _memberKey(epoch, index);
        uint256 packed = _members[key];
        if (address(uint160(packed)) != worker) revert StakingNotInEpoch(epoch, index, worker);
        address expected = signingKeyAt(worker, epoch);
        if (signer != expected || expected == address(0)) revert StakingWrongSigner(worker, epoch, signer, expected);
        committedStake = uint96((packed >> 160) & ((1 << _MEMBER_STAKE_BITS) - 1));
        if (key >> 32 == epoch) {
            uint256 bit = 1 << (_MEMBER_FAULTS_SHIFT + fault);
            if (packed & bit != 0) revert StakingAlreadyPunished(worker, epoch, fault);
            _members[key] = packed | bit;
        } else {
            // A carried epoch: the member slot is its predecessor's.
            uint256 carriedKey = (uint256(uint160(worker)) << 64) | epoch;
            uint256 faults = _carriedFaults[carriedKey];
            if ((faults >> fault) & 1 != 0) revert StakingAlreadyPunished(worker, epoch, fault);
            _carriedFaults[carriedKey] = faults | (1 << fault);
        }
    }

    /// @dev Takes `bps` of the committed stake (rounded up, capped at what is left), active stake
    /// first, then queued stake newest first; jails until `current + 1 + JAIL_EPOCHS`.
    function _slashStake(
        address worker,
        uint96 committedStake,
        uint256 bps,
        uint64 current
    ) private returns (uint256 amount, uint32 jailedUntil) {
        Worker storage w = _workers[worker];
        uint256 active = w.active;
        amount = Math.mulDiv(committedStake, bps, _BPS, Math.Rounding.Ceil);
        uint256 fromActive = amount;
        if (amount > active) {
            // Only now read the queue: stake queued to leave stays slashable.
            fromActive = active;
            amount = active + _slashQueue(worker, amount - active);
        }
        jailedUntil = w.jailedUntil;
        // Saturate, never wrap (the slot keeps epochs in 32 bits; JAIL_EPOCHS ≤ 10^6).
        uint32 until = uint32(Math.min(uint256(current) + 1 + _jailEpochs, type(uint32).max));
        if (until > jailedUntil) jailedUntil = until;
        // One write of the worker slot: active and jailedUntil share it.
        (w.active, w.jailedUntil) = (uint96(active - fromActive), jailedUntil);
    }

    /// @dev The reward (REWARD_BPS of the slash, rounded down; none when the reporter is absent or
    /// the worker itself) goes to the reporter's queue slot if it is a registered worker, else to
    /// its claimable balance; then the ledger and the event.
    function _settle(
        address worker,
        uint64 epoch,
        uint8 fault,
        address reporter,
        uint256 amount,
        uint32 jailedUntil
    ) private {
        uint256 reward = reporter == address(0) || reporter == worker ? 0 : Math.mulDiv(amount, _rewardBps, _BPS);
        if (reward != 0) {
            Queue storage q = _queues[reporter];
            if (q.registered)
                q.claimable += uint128(reward); // reward < 2^88
            else _claimable[reporter] += reward;
        }
        _totalStaked -= uint128(amount);
        _totalClaimable += uint128(reward);
        emit Slashed(worker, epoch, fault, amount, reward == 0 ? address(0) : reporter, reward, jailedUntil);
    }

    /// @notice Sets the contract allowed to punish (the FraudProofs contract). GOVERNANCE_ROLE.
    function setSlasher(address slasher_) external onlyRole(GOVERNANCE_ROLE) {
        _slasher = slasher_;
        emit SlasherSet(slasher_);
    }

    /// @notice The contract allowed to punish.
    function slasher() external view returns (address) {
        return _slasher;
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
        uint256 latest = _latestSigningKey[worker];
        if (latest >> 160 <= epoch) return address(uint160(latest)); // zero when never registered
        return address(uint160(_signingKeys[worker].upperLookupRecent(uint48(epoch))));
    }

    /// @inheritdoc IStaking
    function networkAddressOf(address worker) external view returns (bytes memory) {
        return _networkAddresses[worker];
    }

    /// @inheritdoc IStaking
    function claimableOf(address account) external view returns (uint256) {
        return _claimable[account] + _queues[account].claimable;
    }

    /// @inheritdoc IStaking
    function burnable() public view returns (uint256) {
        return _token.balanceOf(address(this)) - _totalStaked - _totalClaimable;
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

    function _pushSigningKey(uint64 fromEpoch, address signingKey) private {
        _signingKeys[msg.sender].push(uint48(fromEpoch), uint208(uint160(signingKey)));
        _latestSigningKey[msg.sender] = (uint256(fromEpoch) << 160) | uint160(signingKey);
    }

    function _checkNetworkAddress(bytes calldata networkAddress) private pure {
        require(
            networkAddress.length != 0 && networkAddress.length <= 256,
            StakingInvalidNetworkAddress(networkAddress.length)
        );
    }
}
