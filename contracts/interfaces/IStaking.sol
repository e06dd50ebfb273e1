// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

/**
 * @title IStaking
 * @notice Worker stake in an ERC-20 token: staking, the unbonding queue, signing keys and network
 * addresses, slashing and jailing (PROTOCOL.md §2, §8). Implemented by the EpochManager, which
 * keeps stake and commitments in the same storage so that a commit reads one slot.
 */
interface IStaking {
    // ------------------------------------------------------------------ errors

    /// @notice Thrown when an amount is zero or does not fit 96 bits.
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

    /// @notice Emitted when a worker is slashed for a fault in `epoch`.
    event Slashed(
        address indexed worker,
        uint64 indexed epoch,
        uint256 amount,
        address indexed reporter,
        uint256 reward,
        uint256 burned
    );

    /// @notice Emitted when a worker is jailed: it cannot commit before `untilEpoch`.
    event Jailed(address indexed worker, uint64 untilEpoch);

    /// @notice Emitted when a reporter claims its rewards.
    event RewardsClaimed(address indexed account, uint256 amount);

    // ------------------------------------------------------------------ types

    /// @notice A worker's stake as the client sees it.
    struct StakeInfo {
        uint256 active;
        uint256 queued;
        uint64 jailedUntil;
        bool registered;
    }

    /// @notice One pending unstake request.
    struct UnstakeRequest {
        uint96 amount;
        uint64 unlockTime;
        uint32 unlockEpoch;
    }

    // ------------------------------------------------------------------ actions

    /// @notice Registers the caller as a worker: the hot key that signs its batch headers and the
    /// libp2p multiaddr peers dial. Takes effect in the current epoch.
    function register(address signingKey, bytes calldata networkAddress) external;

    /// @notice Rotates the signing key from the next epoch on; evidence signed by the old key stays
    /// attributable for the epochs it was active.
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

    /// @notice Transfers the caller's claimable rewards.
    /// @return amount The amount transferred.
    function claimRewards() external returns (uint256 amount);

    /// @notice Slashes `bps` of the stake `worker` had committed for `epoch` (capped at its current
    /// stake), taking queued stake first (newest request first), then active stake; pays
    /// `REWARD_BPS` of it to `reporter` as a claimable balance and burns the rest. Slasher role only.
    /// @return amount The amount slashed.
    function slash(
        address worker,
        uint64 epoch,
        uint32 index,
        uint256 bps,
        address reporter
    ) external returns (uint256 amount);

    /// @notice Jails `worker` until `untilEpoch` (it cannot commit before). Slasher role only.
    function jail(address worker, uint64 untilEpoch) external;

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

    /// @notice Rewards `account` can claim.
    function claimableOf(address account) external view returns (uint256);

    /// @notice Σ active + Σ queued stake: everything that is slashable.
    function totalStaked() external view returns (uint256);

    /// @notice Σ claimable rewards.
    function totalClaimable() external view returns (uint256);
}
