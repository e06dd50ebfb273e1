// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
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

    /// @notice Holds the governance parameters (the timelock, from the registry issue on).
    bytes32 public constant GOVERNANCE_ROLE = keccak256("GOVERNANCE_ROLE");

    /// @notice Where burned stake goes (tokens need not implement burn).
    address public constant BURN_ADDRESS = 0x000000000000000000000000000000000000dEaD;
    /// @notice The most pending unstake requests a worker may have (bounds every loop over them).
    uint256 public constant MAX_UNSTAKE_REQUESTS = 16;

    uint256 internal constant _BPS = 10_000;

    /// @dev One slot per worker, read and written once by a commit and once by a punishment.
    /// Registration lives in the queue slot (which every stake reads anyway).
    struct Worker {
        uint88 active; // active stake (queued stake excluded); active + queued < 2^88
        uint32 jailedUntil; // first epoch it may commit to again
        uint24 ejectSpan; // ejected from epoch jailedUntil - ejectSpan on (0: not by a jail)
        uint32 lastEpoch; // its last two commitments (epoch 0 = none; epoch 0 takes no commits)
        uint24 lastIndex; // indices < MAX_WORKERS ≤ 1,000,000 < 2^24
        uint32 prevEpoch;
        uint24 prevIndex;
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
    /// @dev The faults of docs/protocol.md §8 (IFraudProofs.Fault): 0..4.
    uint256 internal constant _FAULTS = 6;

    IERC20 private immutable _token;

    mapping(address worker => Worker) internal _workers;
    mapping(address worker => Queue) internal _queues;
    mapping(address worker => mapping(uint256 slot => UnstakeRequest)) private _requests;
    /// @dev The newest signing key and the epoch it signs from (fromEpoch << 160 | key): one read
    /// answers every epoch since its rotation, the common case of a fraud proof.
    mapping(address worker => uint256) private _latestSigningKey;
    /// @dev The key before it, packed the same way. Two keys cover the fraud window: a rotation
    /// waits until the older one's epochs have left it (rotateSigningKey).
    mapping(address worker => uint256) private _previousSigningKey;
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

    // One slot, read by every punishment: who may punish (faults of epochs whose assignment epoch
    // is _slasherFrom or later), and the current epoch.
    address private _slasher;
    uint64 internal _currentEpoch;
    uint32 private _slasherFrom;
    /// @dev Punishes faults of epochs assigned before _slasherFrom.
    address private _previousSlasher;
    // One slot: a scheduled slasher and when it may be installed (docs/protocol.md §10).
    address private _pendingSlasher;
    uint64 private _pendingSlasherAt;
    /// @dev (worker << 64 | assignment epoch) → 1 + the epoch in which the worker's active stake first
    /// dropped below MIN_STAKE by its own request while that assignment could hold it (§10).
    mapping(uint256 key => uint256 departedPlusOne) private _departures;

    // One slot: parameters that belong to staking and punishment (bounds in EpochManager.setParameter).
    uint96 internal _minStake;
    uint64 internal _unbondingPeriod;
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

    /// @dev As {_memberKey}, with the epoch's punishment shares snapshotted at freeze:
    /// REWARD_BPS in bits [0,16), SLASH_BPS of fault i in bits [16 + 16i, 32 + 16i).
    function _faultContext(uint64 epoch, uint32 index) internal view virtual returns (uint256 key, uint256 shares);

    /// @dev The first epoch in which the stake of a request made while `memberEpoch - 1` was current
    /// is no longer slashable through membership: FRAUD_WINDOW_EPOCHS after the last epoch carried
    /// with `memberEpoch`'s assignment, if `worker` (whose last commitment is `lastCommit`) may be in it.
    function _membershipUnlockEpoch(address worker, uint64 memberEpoch) internal view virtual returns (uint64);

    /// @dev The assignment epoch of a frozen `epoch`.
    function _assignmentOf(uint64 epoch) internal view virtual returns (uint64);

    /// @dev Whether epochs have stopped for so long that withdrawals no longer wait for them.
    function _halted() internal view virtual returns (bool);

    /// @dev How long a change to how workers are punished waits before it may take effect.
    function _ruleChangeDelay() internal view virtual returns (uint64);

    // ------------------------------------------------------------------ registration

    /// @inheritdoc IStaking
    function register(address signingKey, bytes calldata networkAddress) external {
        if (_queues[msg.sender].registered) revert StakingAlreadyRegistered(msg.sender);
        require(signingKey != address(0), StakingZeroSigningKey());
        _checkNetworkAddress(networkAddress);
        _pushSigningKey(_currentEpoch, signingKey);
        _networkAddresses[msg.sender] = networkAddress;
        _queues[msg.sender].registered = true;
        emit WorkerRegistered(msg.sender, signingKey, networkAddress);
    }

    /// @inheritdoc IStaking
    function rotateSigningKey(address signingKey) external {
        _checkRegistered(msg.sender);
        require(signingKey != address(0), StakingZeroSigningKey());
        uint64 current = _currentEpoch;
        uint64 fromEpoch = current + 1;
        uint256 latest = _latestSigningKey[msg.sender];
        uint64 latestFrom = uint64(latest >> 160);
        if (latestFrom != fromEpoch) {
            // The previous key is forgotten: every epoch it signed must be out of the fraud window
            // (a fault of epoch e is provable while current ≤ e + FRAUD_WINDOW_EPOCHS).
            uint64 allowedFrom = latestFrom + _fraudWindowEpochs;
            if (_previousSigningKey[msg.sender] != 0 && current < allowedFrom)
                revert StakingRotationTooSoon(current, allowedFrom);
            _previousSigningKey[msg.sender] = latest;
        }
        // else: a second rotation in the same epoch replaces the pending key.
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
        Queue storage q = _queues[msg.sender];
        if (!q.registered) revert StakingNotRegistered(msg.sender);
        Worker storage w = _workers[msg.sender];
        // active + queued must fit 88 bits: active is what a commit records (the member slot's
        // stake), and stake moves between the two.
        require(amount != 0 && w.active + q.queued + amount <= type(uint88).max, StakingInvalidAmount(amount));
        uint256 before = _token.balanceOf(address(this));
        _token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = _token.balanceOf(address(this)) - before;
        require(received == amount, StakingTokenShortfall(amount, received));
        uint88 active = w.active + uint88(amount);
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
        uint64 current = _currentEpoch;
        // The minimum in force now (a commit checks the window's snapshot of it).
        if (remaining != 0 && w.lastEpoch != 0 && w.lastEpoch >= current) {
            require(remaining >= _minStake, StakingBelowMinimum(remaining, _minStake));
        }
        Queue storage q = _queues[msg.sender];
        require(q.length < MAX_UNSTAKE_REQUESTS, StakingTooManyUnstakeRequests(q.length));
        w.active = uint88(remaining);
        q.queued += uint96(amount);
        uint64 unlockTime = uint64(block.timestamp) + _unbondingPeriod;
        uint64 unlockEpoch = _unlockEpochForRequestNow();
        // Commits record active stake only, so this stake is in commitments up to the next epoch.
        _requests[msg.sender][(uint256(q.head) + q.length) % MAX_UNSTAKE_REQUESTS] = UnstakeRequest(
            uint96(amount),
            unlockTime,
            uint32(unlockEpoch),
            uint32(current + 1)
        );
        ++q.length;
        emit UnstakeRequested(msg.sender, amount, unlockTime, unlockEpoch);
        if (remaining < _minStake) _depart(current);
    }

    /// @dev Records that the caller's active stake is below MIN_STAKE in epoch `current`: it is not a
    /// live holder of the epochs carried, from `current + 2` on, with the assignment in force now or
    /// with the next epoch's (the only assignments its stake can be committed to from here on, §10).
    /// The first departure for an assignment stays (a later one never rewrites its history).
    function _depart(uint64 current) private {
        uint256 worker = uint256(uint160(msg.sender)) << 64;
        bool recorded;
        for (uint256 i; i < 2; ++i) {
            uint256 key = worker | (i == 0 ? _assignmentOf(current) : current + 1);
            if (_departures[key] == 0) {
                _departures[key] = uint256(current) + 1;
                recorded = true;
            }
        }
        if (recorded) emit MemberDeparted(msg.sender, current);
    }

    /// @inheritdoc IStaking
    function departedAt(address worker, uint64 assignmentEpoch) public view returns (bool departed, uint64 epoch) {
        uint256 d = _departures[(uint256(uint160(worker)) << 64) | assignmentEpoch];
        return (d != 0, d == 0 ? 0 : uint64(d - 1));
    }

    /// @inheritdoc IStaking
    function withdraw() external nonReentrant returns (uint256 amount) {
        Queue storage q = _queues[msg.sender];
        uint64 current = _currentEpoch;
        uint256 head = q.head;
        uint256 length = q.length;
        // When epochs have stopped for a whole unbonding period, only time counts (§10).
        bool halted = _halted();
        // Oldest first; stops at the first request still locked (at most MAX_UNSTAKE_REQUESTS steps).
        while (length != 0) {
            UnstakeRequest memory r = _requests[msg.sender][head];
            if (r.unlockTime > block.timestamp) break;
            if (!halted && (r.unlockEpoch > current || _membershipUnlockEpoch(msg.sender, r.memberEpoch) > current))
                break;
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
    /// worker. The fault bits live in the member slot (read anyway), the shares in the epoch's
    /// frozen slot (read anyway), the ejection in the worker slot (written anyway), the reward in
    /// the reporter's queue slot; errors via if/revert (a custom error's arguments are evaluated
    /// even when `require` passes).
    function punish(
        address worker,
        uint64 epoch,
        uint32 index,
        uint8 fault,
        bytes32 digest,
        bytes calldata signature,
        address cosigner,
        address reporter
    ) external returns (uint256) {
        _checkSigner(worker, epoch, digest, signature, cosigner);
        return _punish(worker, epoch, index, fault, reporter);
    }

    function _punish(
        address worker,
        uint64 epoch,
        uint32 index,
        uint8 fault,
        address reporter
    ) private returns (uint256 amount) {
        uint64 current = _currentEpoch; // same slot as _slasher
        (uint96 committedStake, uint256 shares) = _recordFault(worker, epoch, index, fault, current);
        uint32 jailedUntil;
        uint256 bps = uint16(shares >> (16 + 16 * uint256(fault)));
        (amount, jailedUntil) = _slashStake(worker, committedStake, bps, epoch, current);
        _settle(worker, epoch, fault, reporter, amount, uint16(shares), jailedUntil);
    }

    /// @dev The signature must be by `worker`'s key for `epoch` in this contract's record.
    function _checkSigner(
        address worker,
        uint64 epoch,
        bytes32 digest,
        bytes calldata signature,
        address cosigner
    ) private view {
        (address signer, ECDSA.RecoverError err, ) = ECDSA.tryRecoverCalldata(digest, signature);
        if (err != ECDSA.RecoverError.NoError) revert StakingBadSignature();
        address expected = signingKeyAt(worker, epoch);
        if (signer != expected) revert StakingWrongSigner(worker, epoch, signer, expected);
        if (cosigner != address(0) && cosigner != expected)
            revert StakingWrongSigner(worker, epoch, cosigner, expected);
    }

    /// @dev The rules every fault shares, then sets the fault's bit; returns the stake `worker`
    /// committed for `epoch` and the epoch's shares.
    function _recordFault(
        address worker,
        uint64 epoch,
        uint32 index,
        uint8 fault,
        uint64 current
    ) private returns (uint96 committedStake, uint256 shares) {
        if (fault >= _FAULTS) revert StakingInvalidFault(fault);
        uint256 window = _fraudWindowEpochs;
        if (epoch > current || current > epoch + window) revert StakingOutsideFraudWindow(epoch, current, window);
        uint256 key;
        (key, shares) = _faultContext(epoch, index);
        // The slasher of the epoch's assignment: a new slasher never judges older commitments.
        if (msg.sender != (key >> 32 >= _slasherFrom ? _slasher : _previousSlasher))
            revert StakingNotSlasher(msg.sender);
        uint256 packed = _members[key];
        if (address(uint160(packed)) != worker) revert StakingNotInEpoch(epoch, index, worker);
        committedStake = uint96((packed >> 160) & ((1 << _MEMBER_STAKE_BITS) - 1));
        if (key >> 32 == epoch) {
            uint256 bit = 1 << (_MEMBER_FAULTS_SHIFT + fault);
            if (packed & bit != 0) revert StakingAlreadyPunished(worker, epoch, fault);
            _members[key] = packed | bit;
        } else {
            // A carried epoch: the member slot is its predecessor's. A member that departed before it
            // is not a live holder there (nothing it signs is used): not punishable, so that its
            // stake is free a fraud window after it left however long the set is carried (§10).
            (bool departed, uint64 d) = departedAt(worker, uint64(key >> 32));
            if (departed && epoch >= d + 2) revert StakingDepartedMember(worker, epoch, d);
            uint256 carriedKey = (uint256(uint160(worker)) << 64) | epoch;
            uint256 faults = _carriedFaults[carriedKey];
            if ((faults >> fault) & 1 != 0) revert StakingAlreadyPunished(worker, epoch, fault);
            _carriedFaults[carriedKey] = faults | (1 << fault);
        }
    }

    /// @dev Takes `bps` of the committed stake (rounded up, capped at what is left), active stake
    /// first, then queued stake newest first; jails until `current + 1 + JAIL_EPOCHS` and ejects
    /// from the fault's epoch on (from the earlier fault's if the worker is still jailed).
    function _slashStake(
        address worker,
        uint96 committedStake,
        uint256 bps,
        uint64 epoch,
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
        // An ejection this fault extends or touches (its epoch ≤ the old jail's end) keeps its start
        // if that is earlier; a later, separate one replaces it (the old range is past by then).
        uint256 from = epoch;
        if (epoch <= jailedUntil && w.ejectSpan != 0) from = Math.min(from, uint256(jailedUntil) - w.ejectSpan);
        // Saturate, never wrap (the slot keeps epochs in 32 bits; JAIL_EPOCHS ≤ 10^6).
        uint32 until = uint32(Math.min(uint256(current) + 1 + _jailEpochs, type(uint32).max));
        if (until > jailedUntil) jailedUntil = until;
        // The span fits 24 bits unless jail terms overlap for 2^24 epochs: then the ejection starts
        // 2^24 - 1 epochs before the jail ends (long out of every fraud window).
        uint256 span = Math.min(uint256(jailedUntil) - from, type(uint24).max);
        // One write of the worker slot: active, jailedUntil and the ejection share it.
        (w.active, w.jailedUntil, w.ejectSpan) = (uint88(active - fromActive), jailedUntil, uint24(span));
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
        uint256 rewardBps,
        uint32 jailedUntil
    ) private {
        uint256 reward = reporter == address(0) || reporter == worker ? 0 : Math.mulDiv(amount, rewardBps, _BPS);
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
    /// The first slasher is installed at once (deployment). A later one is scheduled: the first
    /// epoch frozen after `now + ruleChangeDelay()` installs it for faults of that epoch's
    /// assignment and later ones; the one it replaces keeps judging older epochs
    /// (docs/protocol.md §10). Scheduling again replaces the pending change and restarts its delay.
    function setSlasher(address slasher_) external onlyRole(GOVERNANCE_ROLE) {
        if (slasher_ == address(0)) revert StakingZeroSlasher();
        if (_slasher == address(0)) {
            _slasher = slasher_;
            emit SlasherSet(slasher_, 0);
            return;
        }
        uint64 at = uint64(block.timestamp) + _ruleChangeDelay();
        (_pendingSlasher, _pendingSlasherAt) = (slasher_, at);
        emit SlasherScheduled(slasher_, at);
    }

    /// @notice Cancels the scheduled slasher change. GOVERNANCE_ROLE.
    function cancelSlasherChange() external onlyRole(GOVERNANCE_ROLE) {
        address pending = _pendingSlasher;
        if (pending == address(0)) revert StakingNothingPending();
        (_pendingSlasher, _pendingSlasherAt) = (address(0), 0);
        emit SlasherChangeCancelled(pending);
    }

    /// @dev Called by freeze for an epoch with an assignment of its own whose commit window opened at
    /// `openedAt`: installs the scheduled slasher if it was due by then and no epoch still judged by
    /// the previous one is left in the fraud window.
    function _installPendingSlasher(uint64 epoch, uint64 openedAt) internal {
        address pending = _pendingSlasher;
        if (pending == address(0) || openedAt < _pendingSlasherAt) return;
        if (_previousSlasher != address(0) && uint256(_currentEpoch) < uint256(_slasherFrom) + _fraudWindowEpochs)
            return;
        _previousSlasher = _slasher;
        (_slasher, _slasherFrom) = (pending, uint32(epoch));
        (_pendingSlasher, _pendingSlasherAt) = (address(0), 0);
        emit SlasherSet(pending, epoch);
    }

    /// @notice The contract allowed to punish faults of epochs assigned from now on.
    function slasher() external view returns (address) {
        return _slasher;
    }

    /// @inheritdoc IStaking
    function slasherOf(uint64 epoch) external view returns (address) {
        return _assignmentOf(epoch) >= _slasherFrom ? _slasher : _previousSlasher;
    }

    function _pendingSlasherChange() internal view returns (address, uint64) {
        return (_pendingSlasher, _pendingSlasherAt);
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
        Queue storage q = _queues[worker];
        uint64 from = w.ejectSpan == 0 ? 0 : uint64(w.jailedUntil) - w.ejectSpan;
        return StakeInfo(w.active, q.queued, w.jailedUntil, q.registered, from);
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
        uint256 previous = _previousSigningKey[worker];
        if (previous >> 160 <= epoch) return address(uint160(previous)); // zero when none
        // Before both: the registration key when there was one rotation at most (previous is the
        // registration), else forgotten (its epochs are out of every fraud window).
        return address(0);
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
        if (!_queues[worker].registered) revert StakingNotRegistered(worker);
    }

    /// @dev Whether `worker`, a member of `epoch` whose assignment epoch is `assignmentEpoch`, is
    /// ejected there by a jail or, in a carried epoch, by its departure (docs/protocol.md §10). In a
    /// carried epoch a jail's ejection lasts as long as the set is carried: the member committed to
    /// it before the slash (a jailed worker cannot commit) and may have nothing left at stake.
    function _ejectedBeyondFaults(address worker, uint64 epoch, uint64 assignmentEpoch) internal view returns (bool) {
        Worker storage w = _workers[worker];
        uint256 span = w.ejectSpan;
        uint256 until = w.jailedUntil;
        bool carried = assignmentEpoch != epoch;
        if (span != 0 && epoch + span >= until && (epoch < until || (carried && assignmentEpoch < until))) return true;
        if (!carried) return false;
        (bool departed, uint64 d) = departedAt(worker, assignmentEpoch);
        return departed && epoch >= d + 2;
    }

    function _pushSigningKey(uint64 fromEpoch, address signingKey) private {
        _latestSigningKey[msg.sender] = (uint256(fromEpoch) << 160) | uint160(signingKey);
    }

    function _checkNetworkAddress(bytes calldata networkAddress) private pure {
        require(
            networkAddress.length != 0 && networkAddress.length <= 256,
            StakingInvalidNetworkAddress(networkAddress.length)
        );
    }
}
