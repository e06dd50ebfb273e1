// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

/**
 * @title IStaking
 * @notice Worker stake in an ERC-20 token: staking, the unbonding queue, signing keys and network
 * addresses, and punishment for proven faults: slash, reward, jail, eject (docs/protocol.md §2, §8).
 * Implemented by the EpochManager, which keeps stake and commitments in the same storage so that
 * a commit reads one slot.
 */
interface IStaking {
    // ------------------------------------------------------------------ errors

    /// @notice Thrown when an amount is zero or would take active + queued stake past 2^88 - 1.
    /// @param amount The amount given.
    error StakingInvalidAmount(uint256 amount);

    /// @notice Thrown when the token delivered less than asked (a fee-on-transfer or rebasing token).
    /// @param asked The amount transferred.
    /// @param received The balance increase observed.
    error StakingTokenShortfall(uint256 asked, uint256 received);

    /// @notice Thrown when a worker acts before registering a signing key.
    /// @param worker The worker.
    error StakingNotRegistered(address worker);

    /// @notice Thrown when a worker registers twice (rotate the key instead).
    /// @param worker The worker.
    error StakingAlreadyRegistered(address worker);

    /// @notice Thrown when a signing key is the zero address.
    error StakingZeroSigningKey();

    /// @notice Thrown when a network address is empty or longer than 256 bytes.
    /// @param length Its length.
    error StakingInvalidNetworkAddress(uint256 length);

    /// @notice Thrown when an unstake asks for more than the active stake.
    /// @param requested The amount asked.
    /// @param active The active stake.
    error StakingInsufficientStake(uint256 requested, uint256 active);

    /// @notice Thrown when a partial unstake by a committed worker would leave 0 < stake < minimum.
    /// @param remaining The active stake that would remain.
    /// @param minimum The minimum stake.
    error StakingBelowMinimum(uint256 remaining, uint256 minimum);

    /// @notice Thrown when a worker already has the maximum number of pending unstake requests.
    /// @param pending The pending requests.
    error StakingTooManyUnstakeRequests(uint256 pending);

    /// @notice Thrown when nothing is ready to withdraw.
    /// @param worker The worker.
    error StakingNothingToWithdraw(address worker);

    /// @notice Thrown when there is no reward to claim.
    /// @param account The account.
    error StakingNothingToClaim(address account);

    /// @notice Thrown when a slash names a worker that is not at `index` of `epoch`'s set.
    /// @param epoch The epoch.
    /// @param index The index given.
    /// @param worker The worker named.
    error StakingNotInEpoch(uint64 epoch, uint32 index, address worker);

    /// @notice Thrown when basis points exceed 10,000.
    /// @param bps The value given.
    error StakingInvalidBps(uint256 bps);

    /// @notice Thrown when a fault id is not below 5 (the faults of docs/protocol.md §8).
    /// @param fault The fault id given.
    error StakingInvalidFault(uint256 fault);

    /// @notice Thrown when a fault's epoch is not current or within FRAUD_WINDOW_EPOCHS before it.
    /// @param epoch The fault's epoch.
    /// @param current The current epoch.
    /// @param window FRAUD_WINDOW_EPOCHS.
    error StakingOutsideFraudWindow(uint64 epoch, uint64 current, uint256 window);

    /// @notice Thrown when the evidence was not signed by the worker's signing key for the epoch.
    /// @param worker The worker.
    /// @param epoch The epoch.
    /// @param signer The key that signed the evidence.
    /// @param expected The worker's signing key for the epoch (zero: none).
    error StakingWrongSigner(address worker, uint64 epoch, address signer, address expected);

    /// @notice Thrown when (worker, epoch, fault) was punished already.
    /// @param worker The worker.
    /// @param epoch The epoch.
    /// @param fault The fault id.
    error StakingAlreadyPunished(address worker, uint64 epoch, uint256 fault);

    /// @notice Thrown when there is nothing to burn.
    error StakingNothingToBurn();

    /// @notice Thrown when `caller` punishes but is not the slasher of the fault's epoch.
    error StakingNotSlasher(address caller);

    /// @notice Thrown when a worker rotates its signing key again before the key it would forget
    /// has left the fraud window: it may from epoch `allowedFrom`.
    error StakingRotationTooSoon(uint64 current, uint64 allowedFrom);

    /// @notice Thrown when a fault is of a carried epoch in which the worker was no longer a live
    /// holder: it departed in epoch `departedAt` (nothing it signs there is used).
    error StakingDepartedMember(address worker, uint64 epoch, uint64 departedAt);

    /// @notice Thrown when the signature given to {punish} does not recover (malformed, malleable).
    error StakingBadSignature();

    /// @notice Thrown when a slasher change is scheduled to zero.
    error StakingZeroSlasher();

    /// @notice Thrown when there is no pending change to cancel.
    error StakingNothingPending();

    // ------------------------------------------------------------------ events

    /// @notice Emitted when a worker registers its signing key and network address.
    event WorkerRegistered(address indexed worker, address signingKey, bytes networkAddress);

    /// @notice Emitted when a worker rotates its signing key; `fromEpoch` is the first epoch it signs for.
    event SigningKeyRotated(address indexed worker, address signingKey, uint64 indexed fromEpoch);

    /// @notice Emitted when a worker changes its network address.
    event NetworkAddressSet(address indexed worker, bytes networkAddress);

    /// @notice Emitted when stake is added (first stake or increase).
    event Staked(address indexed worker, uint256 amount, uint256 activeStake);

    /// @notice Emitted when stake is queued to leave; it unlocks at `unlockTime` and after `unlockEpoch`.
    event UnstakeRequested(address indexed worker, uint256 amount, uint64 unlockTime, uint64 unlockEpoch);

    /// @notice Emitted when unlocked stake is withdrawn.
    event Withdrawn(address indexed worker, uint256 amount);

    /// @notice Emitted when a worker is punished for `fault` in `epoch`: `amount` slashed, `reward`
    /// of it claimable by `reporter`, the rest burnable; ejected from `epoch` and jailed: it cannot
    /// commit to an epoch before `jailedUntil`.
    event Slashed(
        address indexed worker,
        uint64 indexed epoch,
        uint8 indexed fault,
        uint256 amount,
        address reporter,
        uint256 reward,
        uint64 jailedUntil
    );

    /// @notice Emitted when the slashed stake not paid as rewards is sent to BURN_ADDRESS.
    event Burned(uint256 amount);

    /// @notice Emitted when the contract allowed to punish changes: it punishes faults of epochs whose
    /// assignment epoch is `fromEpoch` or later (the previous one keeps the older epochs).
    event SlasherSet(address slasher, uint64 fromEpoch);

    /// @notice Emitted when governance schedules a new slasher: it takes over at the first epoch
    /// frozen at or after `effectiveAt` (docs/protocol.md §10).
    event SlasherScheduled(address slasher, uint64 effectiveAt);

    /// @notice Emitted when a scheduled slasher change is cancelled.
    event SlasherChangeCancelled(address slasher);

    /// @notice Emitted when a worker's active stake drops below MIN_STAKE by its own request in
    /// epoch `epoch`: from `epoch + 2` on it is not a live holder of the epochs carried with the
    /// set of epoch `epoch` or of epoch `epoch + 1` ({departedAt}).
    event MemberDeparted(address indexed worker, uint64 epoch);

    /// @notice Emitted when a reporter claims its rewards.
    event RewardsClaimed(address indexed account, uint256 amount);

    // ------------------------------------------------------------------ types

    /// @notice A worker's stake as the client sees it.
    struct StakeInfo {
        uint256 active;
        uint256 queued;
        uint64 jailedUntil;
        bool registered;
        // First epoch of the current or last jail term's ejection (0: never ejected by a fault).
        uint64 ejectedFrom;
    }

    /// @notice One pending unstake request. It unlocks at `unlockTime`, once `unlockEpoch` is
    /// current, and once FRAUD_WINDOW_EPOCHS have passed after the last epoch carried with the
    /// assignment of `memberEpoch` (the last epoch whose commitments may hold this stake).
    struct UnstakeRequest {
        uint96 amount;
        uint64 unlockTime;
        uint32 unlockEpoch;
        uint32 memberEpoch;
    }

    // ------------------------------------------------------------------ actions

    /// @notice Registers the caller as a worker: the hot key that signs its batch headers and the
    /// libp2p multiaddr peers dial. Takes effect in the current epoch.
    function register(address signingKey, bytes calldata networkAddress) external;

    /// @notice Rotates the signing key from the next epoch on; evidence signed by the old key stays
    /// attributable for the epochs it was active. Two keys are kept: a second rotation (in a later
    /// epoch) waits until the oldest key's epochs are out of the fraud window; within one epoch the
    /// pending key may be replaced at will.
    function rotateSigningKey(address signingKey) external;

    /// @notice Sets the network address peers dial.
    function setNetworkAddress(bytes calldata networkAddress) external;

    /// @notice Adds `amount` of the stake token (transferred from the caller) to the caller's active stake.
    function stake(uint256 amount) external;

    /// @notice The same as {stake}: adds `amount` to the caller's active stake (named for workers
    /// that top up).
    function increaseStake(uint256 amount) external;

    /// @notice Queues `amount` of active stake to leave. It stays slashable until withdrawn.
    function requestUnstake(uint256 amount) external;

    /// @notice Withdraws every unstake request that has unlocked.
    /// @return amount The amount transferred.
    function withdraw() external returns (uint256 amount);

    /// @notice Transfers the caller's rewards as a reporter.
    /// @return amount The amount transferred.
    function claimRewards() external returns (uint256 amount);

    /// @notice Sends everything the contract holds beyond Σ stake and Σ unclaimed rewards (the burned
    /// part of slashes, and any tokens sent here directly) to BURN_ADDRESS. Anyone may call.
    /// @return amount The amount burned.
    function burnSlashed() external returns (uint256 amount);

    /// @notice Punishes `worker` for fault `fault` (< 6) in `epoch`. The slasher of `epoch` only
    /// (the FraudProofs contract; see {slasherOf}): it proves the fault, this function enforces the
    /// rules every fault shares:
    /// - `epoch` is current or within FRAUD_WINDOW_EPOCHS before it;
    /// - `worker` is at `index` of `epoch`'s frozen set;
    /// - `signature` over `digest` recovers to `worker`'s signing key for `epoch` (checked here
    ///   against this contract's record, not a value the slasher supplies), and so does
    ///   `cosigner` unless it is zero (the signer of a second piece of evidence);
    /// - each (worker, epoch, fault) is punished once;
    /// - the slash is the epoch's SLASH_BPS for `fault` (snapshotted when the epoch froze) of the
    ///   stake it committed for `epoch` (rounded up), capped at its stake now, active stake first,
    ///   then queued stake (newest request first); the epoch's REWARD_BPS of it (rounded down) goes
    ///   to `reporter` (none if zero or the worker itself), the rest is burned; it is ejected from
    ///   `epoch` on and jailed until `current + 1 + JAIL_EPOCHS`.
    /// @return amount The amount slashed.
    function punish(
        address worker,
        uint64 epoch,
        uint32 index,
        uint8 fault,
        bytes32 digest,
        bytes calldata signature,
        address cosigner,
        address reporter
    ) external returns (uint256 amount);

    // ------------------------------------------------------------------ views

    /// @notice The stake token.
    function stakeToken() external view returns (address);

    /// @notice Stake, queued stake and jail status of `worker`.
    function stakeOf(address worker) external view returns (StakeInfo memory);

    /// @notice The pending unstake requests of `worker`, oldest first.
    function unstakeRequestsOf(address worker) external view returns (UnstakeRequest[] memory);

    /// @notice The key that signs `worker`'s headers in `epoch` (zero if none).
    function signingKeyAt(address worker, uint64 epoch) external view returns (address);

    /// @notice The network address of `worker`.
    function networkAddressOf(address worker) external view returns (bytes memory);

    /// @notice Rewards `account` can claim with {claimRewards}.
    function claimableOf(address account) external view returns (uint256);

    /// @notice What {burnSlashed} would burn now.
    function burnable() external view returns (uint256);

    /// @notice Σ active + Σ queued stake: everything that is slashable.
    function totalStaked() external view returns (uint256);

    /// @notice Σ unclaimed rewards.
    function totalClaimable() external view returns (uint256);

    /// @notice Whether `worker` departed (active stake below MIN_STAKE by its own request) while
    /// `assignmentEpoch`'s set could hold it, and in which epoch: it is not a live holder of the
    /// epochs carried with that set from two epochs later (§10).
    function departedAt(address worker, uint64 assignmentEpoch) external view returns (bool departed, uint64 epoch);

    /// @notice The contract allowed to punish faults of `epoch` (by the epoch's assignment epoch).
    function slasherOf(uint64 epoch) external view returns (address);
}
