// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {IStaking} from "./IStaking.sol";

/**
 * @title IEpochManager
 * @notice Epochs, commitments and the frozen active set (docs/protocol.md §2–§3). During epoch `e`
 * eligible workers `commit(e+1)`; at `end(e) - FREEZE_LEAD` anyone may `freeze(e+1)`, which fixes
 * the set, `n`, `k` and the graph version and requests randomness; `advance()` makes `e+1` current
 * once its time has come and its randomness is set. No function loops over workers.
 */
interface IEpochManager is IStaking {
    // ------------------------------------------------------------------ errors

    /// @notice Thrown when a commit names another epoch than the one open for commits.
    /// @param epoch The epoch named.
    /// @param open The epoch open for commits (current + 1).
    error EpochNotOpen(uint64 epoch, uint64 open);

    /// @notice Thrown when a commit arrives after the commit window of `epoch` closed.
    /// @param epoch The epoch.
    /// @param deadline When the window closed.
    error EpochCommitWindowClosed(uint64 epoch, uint64 deadline);

    /// @notice Thrown when a worker commits twice to one epoch.
    /// @param epoch The epoch.
    /// @param worker The worker.
    error EpochAlreadyCommitted(uint64 epoch, address worker);

    /// @notice Thrown when a worker's active stake (net of queued stake) is below the minimum.
    /// @param active The active stake.
    /// @param minimum The minimum.
    error EpochStakeBelowMinimum(uint256 active, uint256 minimum);

    /// @notice Thrown when a jailed worker commits.
    /// @param worker The worker.
    /// @param untilEpoch The first epoch it may commit to.
    error EpochWorkerJailed(address worker, uint64 untilEpoch);

    /// @notice Thrown when an epoch already has `MAX_WORKERS` commitments.
    /// @param maxWorkers The limit.
    error EpochFull(uint256 maxWorkers);

    /// @notice Thrown when `freeze` is called before the commit window closed.
    /// @param epoch The epoch.
    /// @param notBefore When it may be frozen.
    error EpochFreezeTooEarly(uint64 epoch, uint64 notBefore);

    /// @notice Thrown when `freeze` names an epoch that is not the next one or is frozen already.
    /// @param epoch The epoch named.
    /// @param next The next epoch (current + 1).
    error EpochNotFreezable(uint64 epoch, uint64 next);

    /// @notice Thrown when `advance` is called before the next epoch is frozen.
    /// @param next The next epoch.
    error EpochNotFrozen(uint64 next);

    /// @notice Thrown when `advance` is called before the next epoch's start.
    /// @param next The next epoch.
    /// @param start Its start.
    error EpochNotStarted(uint64 next, uint64 start);

    /// @notice Thrown when `advance` is called while the randomness is neither fulfilled nor timed out.
    /// @param next The next epoch.
    /// @param fallbackAt When the fallback becomes usable.
    error EpochRandomnessPending(uint64 next, uint64 fallbackAt);

    /// @notice Thrown when the fallback block's hash is not available (not mined yet, or older than
    /// the EIP-2935 history window and never recorded).
    /// @param epoch The epoch.
    /// @param fallbackBlock The block whose hash is the fallback.
    error EpochFallbackUnavailable(uint64 epoch, uint256 fallbackBlock);

    /// @notice Thrown when a query names an epoch that has no data yet.
    /// @param epoch The epoch named.
    error EpochUnknown(uint64 epoch);

    /// @notice Thrown when an index is not below the epoch's number of workers.
    /// @param epoch The epoch.
    /// @param index The index.
    /// @param n The number of workers.
    error EpochIndexOutOfRange(uint64 epoch, uint256 index, uint256 n);

    /// @notice Thrown when `indexOf` is asked about an epoch its O(1) record does not cover any more
    /// (older than the worker's last two commitments): use `workerAt` with an index from events.
    /// @param epoch The epoch.
    /// @param worker The worker.
    error EpochIndexUnavailable(uint64 epoch, address worker);

    /// @notice Thrown when a worker is not in an epoch's set.
    /// @param epoch The epoch.
    /// @param worker The worker.
    error EpochNotAMember(uint64 epoch, address worker);

    /// @notice Thrown when a parameter is set outside its bounds.
    /// @param param The parameter.
    /// @param value The value given.
    /// @param min The lowest allowed value.
    /// @param max The highest allowed value.
    error ParameterOutOfBounds(Param param, uint256 value, uint256 min, uint256 max);

    /// @notice Thrown by setParameter(REWARD_BPS): a punishment share changes through
    /// `scheduleShares`, with a delay (docs/protocol.md §10).
    error EpochUseScheduleShares();

    /// @notice Thrown when the window of `epoch` is asked for before `epoch + 1` has started.
    error EpochWindowOpen(uint64 epoch);

    /// @notice Thrown when freeze has less gas left than the beacon's request must be given, so
    /// that a starved call cannot force the fallback value.
    error EpochFreezeGasTooLow(uint256 left, uint256 needed);

    // ------------------------------------------------------------------ events

    /// @notice Emitted when `worker` commits to `epoch` at `index`.
    event Committed(uint64 indexed epoch, address indexed worker, uint32 index, uint256 stake);

    /// @notice Emitted when `epoch` is frozen. `carried` means it keeps `assignmentEpoch`'s set
    /// because fewer than `MIN_WORKERS` committed.
    event EpochFrozen(
        uint64 indexed epoch,
        uint32 n,
        uint16 k,
        uint64 graphVersion,
        uint64 assignmentEpoch,
        bool carried,
        uint256 requestId,
        uint256 fallbackBlock
    );

    /// @notice Emitted when `epoch` becomes current with randomness `r`.
    event EpochAdvanced(uint64 indexed epoch, bytes32 randomness, bool usedFallback, uint64 start, uint64 end);

    /// @notice Emitted when the hash of an epoch's fallback block is recorded.
    event FallbackRecorded(uint64 indexed epoch, uint256 fallbackBlock, bytes32 blockHash);

    /// @notice Emitted when a governance parameter changes.
    event ParameterSet(Param indexed param, uint256 oldValue, uint256 newValue);

    /// @notice Emitted when the contract the graph version is read from changes.
    event GraphSourceSet(address graphSource);

    /// @notice Emitted when a graph source is scheduled; a freeze at or after `effectiveAt` installs it.
    event GraphSourceScheduled(address graphSource, uint64 effectiveAt);

    /// @notice Emitted when the graph source reverted at freeze: the epoch keeps the previous graph.
    event GraphSourceFailed(address graphSource);

    /// @notice Emitted when punishment shares are scheduled (version 1: the initial ones).
    event SharesScheduled(uint16 version, uint256 rewardBps, uint256[6] slashBps, uint64 effectiveAt);

    /// @notice Emitted when shares `version` apply from `fromEpoch` (frozen with them) on.
    event SharesInstalled(uint16 version, uint64 fromEpoch);

    /// @notice Emitted when governance cancels the scheduled shares and graph source.
    event RuleChangesCancelled();

    /// @notice Emitted when the beacon's request failed at freeze: the epoch will use its fallback.
    event BeaconRequestFailed(uint64 indexed epoch);

    /// @notice Emitted when the fallback block's hash was no longer readable and nobody had recorded
    /// it: the fallback moves to `newBlock`.
    event FallbackRearmed(uint64 indexed epoch, uint64 oldBlock, uint64 newBlock);

    // ------------------------------------------------------------------ types

    /// @notice The governance parameters (docs/protocol.md's CAPS).
    enum Param {
        MIN_STAKE,
        UNBONDING_PERIOD,
        REWARD_BPS,
        JAIL_EPOCHS,
        EPOCH_DURATION,
        FREEZE_LEAD,
        RANDOMNESS_TIMEOUT,
        REPLICATION,
        MIN_WORKERS,
        MAX_WORKERS,
        FRAUD_WINDOW_EPOCHS
    }

    /// @notice An epoch's frozen inputs and timing.
    struct EpochInfo {
        uint64 start; // when it became current (0: not yet)
        uint64 end; // nominal start of the next epoch
        uint64 commitDeadline; // end - FREEZE_LEAD, for commits to the next epoch
        uint32 committed; // commitments to this epoch so far
        uint32 n; // workers in its assignment (after freeze)
        uint16 k; // replication
        bool frozen;
        bool randomnessSet;
        bool usedFallback;
        uint64 graphVersion;
        bytes32 graphHash; // the registry's running hash at graphVersion: proves a synced graph whole
        uint64 assignmentEpoch; // whose commitments form the set (itself unless carried)
        uint64 fallbackBlock;
        bytes32 randomness;
    }

    // ------------------------------------------------------------------ actions

    /// @notice Commits the caller to `epoch`, which must be `currentEpoch() + 1`, before its commit
    /// window closes. Requires active stake ≥ MIN_STAKE and no jail. O(1).
    /// @return index The caller's index in the epoch.
    function commit(uint64 epoch) external returns (uint32 index);

    /// @notice Freezes `epoch` (= current + 1) once its commit window has closed: fixes n, k, the
    /// graph version and the fallback block, and requests randomness. Anyone may call.
    function freeze(uint64 epoch) external;

    /// @notice Records the hash of `epoch`'s fallback block while it is still readable. Anyone may call.
    function recordFallback(uint64 epoch) external;

    /// @notice Makes the next epoch current once its start has come and its randomness is set (the
    /// beacon's, or the fallback after RANDOMNESS_TIMEOUT). Anyone may call.
    function advance() external;

    /// @notice Sets a governance parameter, within its bounds. Governance role only.
    function setParameter(Param param, uint256 value) external;

    // ------------------------------------------------------------------ views

    /// @notice The epoch whose assignment is in force.
    function currentEpoch() external view returns (uint64);

    /// @notice Everything about `epoch` (commit counter, frozen inputs, timing, randomness).
    function epochInfo(uint64 epoch) external view returns (EpochInfo memory);

    /// @notice The number of workers in `epoch`'s assignment (0 until frozen).
    function numWorkers(uint64 epoch) external view returns (uint32);

    /// @notice The worker at `index` of `epoch`'s assignment.
    function workerAt(uint64 epoch, uint32 index) external view returns (address);

    /// @notice The total stake (active + queued) `epoch`'s worker at `index` had when it committed.
    function committedStakeAt(uint64 epoch, uint32 index) external view returns (uint256);

    /// @notice The index of `worker` in `epoch`'s assignment (covers the worker's last two commitments).
    function indexOf(uint64 epoch, address worker) external view returns (uint32);

    /// @notice The randomness of `epoch` (reverts until set).
    function randomness(uint64 epoch) external view returns (bytes32);

    /// @notice The replication factor of `epoch` (after freeze).
    function replication(uint64 epoch) external view returns (uint16);

    /// @notice The operator-graph version pinned for `epoch` (after freeze).
    function graphVersion(uint64 epoch) external view returns (uint64);

    /// @notice Whether `worker`, a member of `epoch`, is not a live holder there (docs/protocol.md
    /// §10): punished for a fault in `epoch`; or jailed for a fault of `epoch` or of an earlier
    /// epoch (for as long as the jail lasts, in every epoch frozen or carried with it); or, in a
    /// carried epoch, its stake dropped below MIN_STAKE by its own request two epochs or more
    /// before. False for a worker that is not a member or whose index the O(1) record no longer
    /// covers (use {faultsAt} with its index and {IStaking-stakeOf}'s `ejectedFrom`).
    function isEjected(uint64 epoch, address worker) external view returns (bool);

    /// @notice The faults (bit i = fault id i) the worker at `index` of `epoch` was punished for in
    /// `epoch`; non-zero means ejected (and {isEjected} says whether an earlier fault ejects it).
    function faultsAt(uint64 epoch, uint32 index) external view returns (uint8);

    /// @notice {faultsAt} by worker, through {indexOf} (reverts as it does).
    function faultsOf(address worker, uint64 epoch) external view returns (uint8);

    /// @notice What assigns shards in `epoch`: its n, k and randomness (two storage reads, for fraud
    /// proofs). Reverts with EpochUnknown until the randomness is set.
    function assignment(uint64 epoch) external view returns (uint32 n, uint16 k, bytes32 r);

    /// @notice The value of a governance parameter.
    function parameter(Param param) external view returns (uint256);

    /// @notice The last inbox block of `epoch`'s window (the block before `epoch + 1`'s
    /// EpochAdvanced); reverts with EpochWindowOpen while `epoch + 1` has not started.
    function windowLastBlock(uint64 epoch) external view returns (uint64);

    /// @notice The randomness beacon.
    function beacon() external view returns (address);
}
