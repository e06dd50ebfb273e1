// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {Staking} from "../staking/Staking.sol";
import {IEpochManager} from "../interfaces/IEpochManager.sol";
import {IRandomnessBeacon} from "../interfaces/IRandomnessBeacon.sol";

/// @notice What the epoch manager reads the operator graph from at freeze (the OperatorRegistry).
interface IGraphVersionSource {
    /// @notice The current graph version.
    function graphVersion() external view returns (uint64);

    /// @notice The current graph version and the running hash of all changes up to it.
    function graphState() external view returns (uint64 version, bytes32 hash);
}

/**
 * @title EpochManager
 * @notice Epochs, commitments, the frozen active set and worker stake (docs/protocol.md §2–§3; staking
 * in {Staking}). See docs/contracts/epoch-manager.md for the state machine.
 *
 * Timing is relative to when an epoch actually became current: epoch e ends (and e+1 may start)
 * at `start(e) + EPOCH_DURATION`; commits to e+1 close at `end(e) - FREEZE_LEAD`. A late `advance`
 * therefore never leaves past-due epochs behind.
 */
// Packed state variables on purpose: each hot path reads few slots (as in Staking).
// solhint-disable-next-line max-states-count
contract EpochManager is IEpochManager, Staking {
    /// @notice Swap-or-not rounds for holder assignment (Shuffle.DEFAULT_ROUNDS).
    uint8 public constant SHUFFLE_ROUNDS = 90;
    /// @notice EIP-2935 block-hash history contract (prague): hashes of the last 8191 blocks.
    address public constant HISTORY_STORAGE = 0x0000F90827F1C53a10cb7A02335B175320002935;
    /// @notice Gas the beacon's request gets at freeze; freeze refuses to start it with less, so
    /// that a freezer cannot make the request fail (and force the fallback) by starving it.
    uint256 internal constant _BEACON_REQUEST_GAS = 500_000;
    /// @notice Bound on FREEZE_LEAD + RANDOMNESS_TIMEOUT: the fallback block's hash must still be
    /// readable (EIP-2935: 8,191 blocks, 2 h at 0.88 s a block) when the fallback is due.
    uint256 internal constant _MAX_FALLBACK_DELAY = 2 hours;
    /// @dev The shortest wait of a change to how workers are punished, whatever the parameters.
    uint256 internal constant _MIN_RULE_DELAY = 7 days;
    /// @dev Gas the graph source's answer gets at freeze.
    uint256 internal constant _GRAPH_SOURCE_GAS = 100_000;

    /// @dev Written by commits (one cold read, one warm write): the commit window of this epoch and
    /// the parameters it runs under, snapshotted when the window opened.
    struct CommitSlot {
        uint64 commitDeadline; // 0 = window not opened
        uint32 committed;
        uint32 maxWorkers;
        uint96 minStake;
        bool open; // set when the window opens; it closes by time (freeze needs now ≥ deadline)
    }

    /// @dev Slot 0 is written once, by freeze (one fresh slot); slot 1 by advance (and, for an
    /// assignment carried on, by the freeze that carries it).
    struct EpochState {
        // slot 0: the frozen inputs
        uint32 n;
        uint16 k;
        bool frozen;
        bool randomnessSet;
        bool usedFallback;
        uint32 assignmentEpoch;
        uint64 graphVersion;
        uint64 fallbackBlock;
        uint16 sharesVersion; // the punishment shares in force for the epoch (_sharesOf)
        // slot 1: timing
        uint64 start;
        uint64 end;
        uint64 startBlock; // the block of its EpochAdvanced: its inbox window starts there
        uint32 carriedThrough; // for an assignment epoch: the last epoch carried with it (0: none)
        // slots 2, 3, 4
        bytes32 randomness;
        bytes32 fallbackHash;
        bytes32 graphHash;
    }

    IRandomnessBeacon private immutable _beacon;
    IGraphVersionSource private _graphSource;
    // One slot: a scheduled graph source and when it may be installed.
    IGraphVersionSource private _pendingGraphSource;
    uint64 private _pendingGraphSourceAt;
    // One slot: the punishment shares (REWARD_BPS and SLASH_BPS, packed as in _faultContext) in
    // force, the newest version, and a scheduled version with the time it may be installed.
    uint16 private _sharesVersion;
    uint16 private _sharesCount;
    uint16 private _pendingSharesVersion;
    uint64 private _pendingSharesAt;
    mapping(uint256 version => uint256 shares) private _sharesOf;

    mapping(uint64 epoch => CommitSlot) private _commits;
    mapping(uint64 epoch => EpochState) private _epochs;
    /// @dev (epoch << 32 | index) → address | committed stake << 160: one fresh slot per commit.

    // Epoch parameters.
    uint64 private _epochDuration;
    uint64 private _freezeLead;
    uint64 private _randomnessTimeout;
    uint16 private _replication;
    uint32 private _minWorkers;
    uint32 private _maxWorkers;

    /// @notice The initial parameters, checked against the same bounds as {setParameter} (and the
    /// slash shares as {scheduleShares}).
    struct InitialParameters {
        uint256 minStake;
        uint256 unbondingPeriod;
        uint256 rewardBps;
        uint256 jailEpochs;
        uint256 epochDuration;
        uint256 freezeLead;
        uint256 randomnessTimeout;
        uint256 replication;
        uint256 minWorkers;
        uint256 maxWorkers;
        uint256 fraudWindowEpochs;
        uint256[6] slashBps;
    }

    /**
     * @param token The stake token.
     * @param beacon_ The randomness beacon (its requester must be this contract).
     * @param admin Gets the admin, governance and no slasher role (grant it to the slashing contract).
     * @param p The initial parameters.
     */
    constructor(IERC20 token, IRandomnessBeacon beacon_, address admin, InitialParameters memory p) Staking(token) {
        _beacon = beacon_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(GOVERNANCE_ROLE, admin);
        // Order matters: each bound may depend on parameters set before it.
        _setParameter(Param.MAX_WORKERS, p.maxWorkers);
        _setParameter(Param.MIN_WORKERS, p.minWorkers);
        _setParameter(Param.REPLICATION, p.replication);
        _setParameter(Param.EPOCH_DURATION, p.epochDuration);
        _setParameter(Param.FREEZE_LEAD, p.freezeLead);
        _setParameter(Param.RANDOMNESS_TIMEOUT, p.randomnessTimeout);
        _setParameter(Param.FRAUD_WINDOW_EPOCHS, p.fraudWindowEpochs);
        _setParameter(Param.UNBONDING_PERIOD, p.unbondingPeriod);
        _setParameter(Param.MIN_STAKE, p.minStake);
        _setParameter(Param.JAIL_EPOCHS, p.jailEpochs);
        _sharesOf[1] = _packShares(p.rewardBps, p.slashBps);
        (_sharesVersion, _sharesCount) = (1, 1);
        emit SharesScheduled(1, p.rewardBps, p.slashBps, uint64(block.timestamp));
        emit SharesInstalled(1, 0);
        // Genesis: epoch 0 is current with an empty set; commits to epoch 1 are open.
        EpochState storage g = _epochs[0];
        g.start = uint64(block.timestamp);
        g.end = uint64(block.timestamp) + _epochDuration;
        g.frozen = true;
        g.randomnessSet = true;
        g.k = _replication;
        g.sharesVersion = 1;
        g.startBlock = uint64(block.number);
        _openCommits(1, g.end);
        emit EpochAdvanced(0, bytes32(0), false, g.start, g.end);
    }

    // ------------------------------------------------------------------ epochs

    /// @inheritdoc IEpochManager
    /// @dev The hot path of the protocol (every worker, every epoch): it reads three slots (the
    /// commit window, the worker, its queue), writes two of them back as whole words and writes one
    /// fresh member slot. Whole-word writes because a struct assignment stores field by field.
    function commit(uint64 epoch) external returns (uint32 index) {
        CommitSlot storage c = _commits[epoch];
        Worker storage ws = _workers[msg.sender];
        uint256 cw;
        uint256 ww;
        assembly ("memory-safe") {
            cw := sload(c.slot)
            ww := sload(ws.slot)
        }
        // CommitSlot: commitDeadline [0,64) committed [64,96) maxWorkers [96,128) minStake [128,224) open [224]
        uint256 deadline = uint64(cw);
        uint256 committed = uint32(cw >> 64);
        // if/revert, not require: solc evaluates a custom error's arguments even when the
        // condition holds, and this one reads storage.
        if ((cw >> 224) & 1 == 0) revert EpochNotOpen(epoch, _currentEpoch + 1); // never opened
        if (block.timestamp >= deadline) revert EpochCommitWindowClosed(epoch, uint64(deadline));
        // Worker: active [0,88) jailedUntil [88,120) ejectSpan [120,144) lastEpoch [144,176)
        //         lastIndex [176,200) prevEpoch [200,232) prevIndex [232,256)
        uint256 active = uint88(ww);
        if (uint32(ww >> 144) == epoch) revert EpochAlreadyCommitted(epoch, msg.sender);
        if (active < uint96(cw >> 128)) revert EpochStakeBelowMinimum(active, uint96(cw >> 128)); // implies registered
        if (uint32(ww >> 88) > epoch) revert EpochWorkerJailed(msg.sender, uint32(ww >> 88));
        if (committed >= uint32(cw >> 96)) revert EpochFull(uint32(cw >> 96));

        index = uint32(committed); // < maxWorkers ≤ 1,000,000: fits the worker slot's 24 bits
        // Active stake only: stake queued to leave is not at stake for an epoch committed after
        // the request (docs/protocol.md §2); it stays slashable for the epochs before.
        _members[(uint256(epoch) << 32) | committed] = uint256(uint160(msg.sender)) | (active << 160);
        // Keep active, jailedUntil and ejectSpan; this commit becomes "last", the old last "prev".
        uint256 nextWorker =
            (ww & ((1 << 144) - 1)) |
                (uint256(epoch) << 144) |
                (committed << 176) |
                (((ww >> 144) & 0xFFFFFFFF) << 200) |
                (((ww >> 176) & 0xFFFFFF) << 232);
        assembly ("memory-safe") {
            sstore(c.slot, add(cw, shl(64, 1))) // committed + 1, no carry: committed < maxWorkers
            sstore(ws.slot, nextWorker)
        }
        emit Committed(epoch, msg.sender, index, active);
    }

    /// @inheritdoc IEpochManager
    function freeze(uint64 epoch) external {
        uint64 current = _currentEpoch;
        EpochState storage e = _epochs[epoch];
        require(epoch == current + 1 && !e.frozen, EpochNotFreezable(epoch, current + 1));
        // No write to the commit slot: commits need now < deadline, freeze needs now ≥ deadline.
        CommitSlot memory c = _commits[epoch];
        if (block.timestamp < c.commitDeadline) revert EpochFreezeTooEarly(epoch, c.commitDeadline);

        uint32 committed = c.committed;
        e.frozen = true;
        uint256 requestId;
        bool carried = committed < _minWorkers;
        EpochState storage prev = _epochs[current];
        if (carried) {
            // Too few workers: keep the previous assignment whole (set, k, graph, randomness) and
            // the rules its members committed under; its members stay locked through this epoch.
            e.n = prev.n;
            e.k = prev.k;
            e.graphVersion = prev.graphVersion;
            e.graphHash = prev.graphHash;
            e.assignmentEpoch = prev.assignmentEpoch;
            e.randomness = prev.randomness;
            e.randomnessSet = true;
            e.sharesVersion = prev.sharesVersion;
            _epochs[prev.assignmentEpoch].carriedThrough = uint32(epoch);
        } else {
            // Scheduled changes to how workers are punished take effect here, for an epoch whose
            // commit window opened (when `current` began) after they became due: every member
            // committed knowing them.
            uint64 openedAt = prev.start;
            _installPendingSlasher(epoch, openedAt);
            _installPendingRules(epoch, openedAt);
            e.n = committed;
            e.k = _replication;
            e.sharesVersion = _sharesVersion;
            e.assignmentEpoch = uint32(epoch);
            _freezeGraph(e, prev);
            // The fallback is the hash of the next block: unknown to everyone at freeze time.
            e.fallbackBlock = uint64(block.number + 1);
            requestId = _requestRandomness(epoch);
        }
        emit EpochFrozen(epoch, e.n, e.k, e.graphVersion, e.assignmentEpoch, carried, requestId, e.fallbackBlock);
    }

    /// @inheritdoc IEpochManager
    /// @dev When nobody recorded the hash while it was readable (8,191 blocks with EIP-2935,
    /// else 256), the fallback moves to the next block instead of halting the epochs for good
    /// (docs/protocol.md §10: this is the one case of a second candidate value).
    function recordFallback(uint64 epoch) external {
        EpochState storage e = _epochs[epoch];
        uint256 b = e.fallbackBlock;
        require(b != 0, EpochUnknown(epoch));
        if (e.fallbackHash != bytes32(0) || e.randomnessSet) return;
        bytes32 h = _blockHash(b);
        if (h == bytes32(0)) {
            require(b < block.number, EpochFallbackUnavailable(epoch, uint64(b)));
            e.fallbackBlock = uint64(block.number + 1);
            emit FallbackRearmed(epoch, uint64(b), uint64(block.number + 1));
            return;
        }
        e.fallbackHash = h;
        emit FallbackRecorded(epoch, uint64(b), h);
    }

    /// @inheritdoc IEpochManager
    function advance() external {
        uint64 current = _currentEpoch;
        uint64 next = current + 1;
        EpochState storage e = _epochs[next];
        require(e.frozen, EpochNotFrozen(next));
        uint64 nominalStart = _epochs[current].end;
        require(block.timestamp >= nominalStart, EpochNotStarted(next, nominalStart));

        if (!e.randomnessSet) {
            uint64 fallbackAt = nominalStart + _randomnessTimeout;
            (bool fulfilled, bytes32 value, uint64 fulfilledAt) = _beacon.randomnessOf(next);
            if (fulfilled && fulfilledAt < fallbackAt) {
                e.randomness = value;
            } else {
                require(block.timestamp >= fallbackAt, EpochRandomnessPending(next, fallbackAt));
                bytes32 h = e.fallbackHash;
                if (h == bytes32(0)) h = _blockHash(e.fallbackBlock);
                require(h != bytes32(0), EpochFallbackUnavailable(next, e.fallbackBlock));
                e.fallbackHash = h;
                e.randomness = h;
                e.usedFallback = true;
            }
            e.randomnessSet = true;
        }

        _currentEpoch = next;
        e.start = uint64(block.timestamp);
        e.end = uint64(block.timestamp) + _epochDuration;
        e.startBlock = uint64(block.number);
        _openCommits(next + 1, e.end);
        emit EpochAdvanced(next, e.randomness, e.usedFallback, e.start, e.end);
    }

    // ------------------------------------------------------------------ parameters

    /// @inheritdoc IEpochManager
    function setParameter(Param param, uint256 value) external onlyRole(GOVERNANCE_ROLE) {
        _setParameter(param, value);
    }

    /// @notice Sets the contract the graph version is read from at freeze (the registry). The first
    /// one is set at once (deployment); a later one is scheduled like every change to how workers
    /// are punished: the first epoch frozen with an assignment of its own after
    /// `now + ruleChangeDelay()` reads it (docs/protocol.md §10).
    function setGraphSource(IGraphVersionSource source) external onlyRole(GOVERNANCE_ROLE) {
        if (address(_graphSource) == address(0)) {
            _graphSource = source;
            emit GraphSourceSet(address(source));
            return;
        }
        uint64 at = uint64(block.timestamp) + _ruleChangeDelay();
        (_pendingGraphSource, _pendingGraphSourceAt) = (source, at);
        emit GraphSourceScheduled(address(source), at);
    }

    /// @notice Schedules new punishment shares: REWARD_BPS (≤ 5,000) and the SLASH_BPS of each
    /// fault (≤ 10,000; the order of IFraudProofs.Fault). They apply to epochs frozen with an
    /// assignment of their own after `now + ruleChangeDelay()`, never to an epoch frozen before
    /// (docs/protocol.md §10). Scheduling again replaces the pending change and restarts its delay.
    function scheduleShares(uint256 rewardBps, uint256[6] calldata slashBps) external onlyRole(GOVERNANCE_ROLE) {
        uint256 packed = _packShares(rewardBps, slashBps);
        uint16 version = _sharesCount + 1;
        _sharesOf[version] = packed;
        uint64 at = uint64(block.timestamp) + _ruleChangeDelay();
        (_sharesCount, _pendingSharesVersion, _pendingSharesAt) = (version, version, at);
        emit SharesScheduled(version, rewardBps, slashBps, at);
    }

    /// @notice Cancels the scheduled shares and graph source (GOVERNANCE_ROLE).
    function cancelRuleChanges() external onlyRole(GOVERNANCE_ROLE) {
        require(_pendingSharesVersion != 0 || _pendingGraphSourceAt != 0, StakingNothingPending());
        (_pendingSharesVersion, _pendingSharesAt) = (0, 0);
        (_pendingGraphSource, _pendingGraphSourceAt) = (IGraphVersionSource(address(0)), 0);
        emit RuleChangesCancelled();
    }

    /// @notice How long a change to how workers are punished waits: longer than a worker who
    /// disagrees needs to leave (UNBONDING_PERIOD plus the lock of FRAUD_WINDOW_EPOCHS + 2 epochs).
    function ruleChangeDelay() external view returns (uint64) {
        return _ruleChangeDelay();
    }

    function _ruleChangeDelay() internal view override returns (uint64) {
        // A floor: parameters that shorten the computed delay change at once.
        return uint64(Math.max(_unbondingPeriod + (uint64(_fraudWindowEpochs) + 2) * _epochDuration, _MIN_RULE_DELAY));
    }

    function _setParameter(Param param, uint256 value) private {
        // REWARD_BPS is a punishment share: scheduleShares changes it, with a delay.
        require(param != Param.REWARD_BPS, EpochUseScheduleShares());
        uint256 oldValue = parameter(param);
        (uint256 min, uint256 max) = _bounds(param);
        require(value >= min && value <= max, ParameterOutOfBounds(param, value, min, max));
        if (param == Param.MIN_STAKE) _minStake = uint96(value);
        else if (param == Param.UNBONDING_PERIOD) _unbondingPeriod = uint64(value);
        else if (param == Param.JAIL_EPOCHS) _jailEpochs = uint32(value);
        else if (param == Param.EPOCH_DURATION) _epochDuration = uint64(value);
        else if (param == Param.FREEZE_LEAD) _freezeLead = uint64(value);
        else if (param == Param.RANDOMNESS_TIMEOUT) _randomnessTimeout = uint64(value);
        else if (param == Param.REPLICATION) _replication = uint16(value);
        else if (param == Param.MIN_WORKERS) _minWorkers = uint32(value);
        else if (param == Param.MAX_WORKERS) _maxWorkers = uint32(value);
        else _fraudWindowEpochs = uint32(value);
        emit ParameterSet(param, oldValue, value);
    }

    /// @dev Bounds of each parameter given the others: k ≤ MIN_WORKERS ≤ MAX_WORKERS,
    /// FREEZE_LEAD < EPOCH_DURATION, UNBONDING_PERIOD > FRAUD_WINDOW_EPOCHS × EPOCH_DURATION.
    /// (Withdrawals also wait for the fraud window in epochs, whatever epochs last.)
    function _bounds(Param param) private view returns (uint256 min, uint256 max) {
        if (param == Param.MIN_STAKE) return (1, type(uint88).max); // stake itself stays below 2^88
        if (param == Param.UNBONDING_PERIOD) return (uint256(_fraudWindowEpochs) * _epochDuration + 1, 365 days);
        if (param == Param.JAIL_EPOCHS) return (1, 1_000_000);
        if (param == Param.EPOCH_DURATION) {
            // Keep FREEZE_LEAD < duration and the unbonding bound intact.
            uint256 lo = Math.max(60, uint256(_freezeLead) + 1);
            uint256 hi = 30 days;
            if (_fraudWindowEpochs != 0 && _unbondingPeriod != 0) {
                uint256 cap = (uint256(_unbondingPeriod) - 1) / _fraudWindowEpochs;
                if (cap < hi) hi = cap;
            }
            return (lo, hi);
        }
        // The fallback block's hash must still be readable when the fallback is due.
        if (param == Param.FREEZE_LEAD)
            return (1, Math.min(_epochDuration - 1, _MAX_FALLBACK_DELAY - _randomnessTimeout));
        if (param == Param.RANDOMNESS_TIMEOUT) return (1, _MAX_FALLBACK_DELAY - _freezeLead);
        if (param == Param.REPLICATION) return (1, _minWorkers == 0 ? 64 : Math.min(_minWorkers, 64));
        if (param == Param.MIN_WORKERS) return (Math.max(1, _replication), _maxWorkers);
        if (param == Param.MAX_WORKERS) return (Math.max(10_000, _minWorkers), 1_000_000);
        // FRAUD_WINDOW_EPOCHS
        uint256 maxWindow = 1_000;
        if (_unbondingPeriod != 0) maxWindow = Math.min(maxWindow, (uint256(_unbondingPeriod) - 1) / _epochDuration);
        return (1, maxWindow);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IEpochManager
    function currentEpoch() external view returns (uint64) {
        return _currentEpoch;
    }

    /// @inheritdoc IEpochManager
    function epochInfo(uint64 epoch) external view returns (EpochInfo memory info) {
        EpochState storage e = _epochs[epoch];
        CommitSlot storage c = _commits[epoch];
        info = EpochInfo({
            start: e.start,
            end: e.end,
            commitDeadline: _commits[epoch + 1].commitDeadline,
            committed: c.committed,
            n: e.n,
            k: e.k,
            frozen: e.frozen,
            randomnessSet: e.randomnessSet,
            usedFallback: e.usedFallback,
            graphVersion: e.graphVersion,
            graphHash: e.graphHash,
            assignmentEpoch: e.assignmentEpoch,
            fallbackBlock: e.fallbackBlock,
            randomness: e.randomness
        });
    }

    /// @inheritdoc IEpochManager
    function numWorkers(uint64 epoch) external view returns (uint32) {
        return _epochs[epoch].n;
    }

    /// @inheritdoc IEpochManager
    function workerAt(uint64 epoch, uint32 index) external view returns (address worker) {
        (worker, ) = _memberAt(epoch, index);
    }

    /// @inheritdoc IEpochManager
    function committedStakeAt(uint64 epoch, uint32 index) external view returns (uint256 stake_) {
        (, stake_) = _memberAt(epoch, index);
    }

    /// @inheritdoc IEpochManager
    function indexOf(uint64 epoch, address worker) public view returns (uint32 index) {
        bool member;
        (member, index) = _findIndex(epoch, worker);
        if (member) return index;
        // Commit epochs only grow: an epoch after the older of the two records was never committed.
        Worker storage w = _workers[worker];
        EpochState storage e = _epochs[epoch];
        uint64 a = e.frozen ? e.assignmentEpoch : epoch;
        require(w.prevEpoch > a, EpochNotAMember(epoch, worker));
        revert EpochIndexUnavailable(epoch, worker);
    }

    /// @inheritdoc IEpochManager
    function randomness(uint64 epoch) external view returns (bytes32) {
        EpochState storage e = _epochs[epoch];
        require(e.randomnessSet, EpochUnknown(epoch));
        return e.randomness;
    }

    /// @inheritdoc IEpochManager
    function replication(uint64 epoch) external view returns (uint16) {
        return _epochs[epoch].k;
    }

    /// @inheritdoc IEpochManager
    function graphVersion(uint64 epoch) external view returns (uint64) {
        return _epochs[epoch].graphVersion;
    }

    /// @inheritdoc IEpochManager
    /// @dev Ejected: a fault in `epoch`; or jailed for a fault of `epoch` or an earlier epoch (while
    /// the jail lasts); or, in a carried epoch, departed (stake below MIN_STAKE) before it froze.
    function isEjected(uint64 epoch, address worker) external view returns (bool) {
        (bool member, uint32 index) = _findIndex(epoch, worker);
        if (!member) return false;
        return faultsAt(epoch, index) != 0 || _ejectedBeyondFaults(worker, epoch, _epochs[epoch].assignmentEpoch);
    }

    /// @notice The punishment shares of `epoch` (snapshotted when it froze; 0 for an epoch not
    /// frozen), packed: REWARD_BPS in bits [0,16), the SLASH_BPS of fault i in [16 + 16i, 32 + 16i).
    function sharesOf(uint64 epoch) external view returns (uint256) {
        EpochState storage e = _epochs[epoch];
        return _sharesOf[e.sharesVersion];
    }

    /// @notice The changes to how workers are punished that are scheduled, each with the time
    /// from which the next freeze with an assignment of its own installs it (zero: none): the
    /// slasher, the graph source, and the shares (packed as in {sharesOf}; the ones in force now
    /// are `current`).
    function ruleChanges()
        external
        view
        returns (
            address slasher_,
            uint64 slasherAt,
            address graphSource_,
            uint64 graphSourceAt,
            uint256 current,
            uint256 pending,
            uint64 sharesAt
        )
    {
        (slasher_, slasherAt) = _pendingSlasherChange();
        (graphSource_, graphSourceAt) = (address(_pendingGraphSource), _pendingGraphSourceAt);
        current = _sharesOf[_sharesVersion];
        if (_pendingSharesVersion != 0) (pending, sharesAt) = (_sharesOf[_pendingSharesVersion], _pendingSharesAt);
    }

    /// @notice The last inbox block of `epoch`'s window: the block before `epoch + 1`'s
    /// EpochAdvanced. Reverts while `epoch + 1` has not started (the window is still open).
    function windowLastBlock(uint64 epoch) external view returns (uint64) {
        uint64 next = _epochs[epoch + 1].startBlock;
        if (next == 0 || epoch + 1 > _currentEpoch) revert EpochWindowOpen(epoch);
        return next - 1;
    }

    /// @inheritdoc IEpochManager
    function faultsAt(uint64 epoch, uint32 index) public view returns (uint8) {
        uint256 key = _memberKey(epoch, index);
        if (key >> 32 == epoch) return uint8(_members[key] >> _MEMBER_FAULTS_SHIFT);
        return uint8(_carriedFaults[(uint256(uint160(_members[key])) << 64) | epoch]);
    }

    /// @inheritdoc IEpochManager
    function faultsOf(address worker, uint64 epoch) external view returns (uint8) {
        return faultsAt(epoch, indexOf(epoch, worker));
    }

    /// @inheritdoc IEpochManager
    function assignment(uint64 epoch) external view returns (uint32 n, uint16 k, bytes32 r) {
        EpochState storage e = _epochs[epoch];
        if (!e.randomnessSet) revert EpochUnknown(epoch);
        return (e.n, e.k, e.randomness);
    }

    /// @inheritdoc IEpochManager
    function parameter(Param param) public view returns (uint256) {
        if (param == Param.MIN_STAKE) return _minStake;
        if (param == Param.UNBONDING_PERIOD) return _unbondingPeriod;
        if (param == Param.REWARD_BPS) return uint16(_sharesOf[_sharesVersion]);
        if (param == Param.JAIL_EPOCHS) return _jailEpochs;
        if (param == Param.EPOCH_DURATION) return _epochDuration;
        if (param == Param.FREEZE_LEAD) return _freezeLead;
        if (param == Param.RANDOMNESS_TIMEOUT) return _randomnessTimeout;
        if (param == Param.REPLICATION) return _replication;
        if (param == Param.MIN_WORKERS) return _minWorkers;
        if (param == Param.MAX_WORKERS) return _maxWorkers;
        return _fraudWindowEpochs;
    }

    /// @inheritdoc IEpochManager
    function beacon() external view returns (address) {
        return address(_beacon);
    }

    /// @notice The contract the graph version is read from (zero: version 0).
    function graphSource() external view returns (address) {
        return address(_graphSource);
    }

    // ------------------------------------------------------------------ internals

    /// @dev `worker`'s index in `epoch` (before freeze: among the commitments to `epoch`; after: in
    /// its assignment) from the worker's last two commitments; (false, 0) if they do not cover it.
    function _findIndex(uint64 epoch, address worker) private view returns (bool, uint32) {
        EpochState storage e = _epochs[epoch];
        uint64 a = e.frozen ? e.assignmentEpoch : epoch;
        Worker storage w = _workers[worker];
        if (a == 0) return (false, 0);
        if (w.lastEpoch == a) return (true, w.lastIndex);
        if (w.prevEpoch == a) return (true, w.prevIndex);
        return (false, 0);
    }

    /// @dev A worker may have committed up to current + 1, and faults in epoch e are provable
    /// while current ≤ e + FRAUD_WINDOW_EPOCHS.
    function _unlockEpochForRequestNow() internal view override returns (uint64) {
        return _currentEpoch + 2 + _fraudWindowEpochs;
    }

    /// @dev The stake of a request made while `memberEpoch - 1` was current is in commitments up to
    /// `memberEpoch`, whose assignment `a` may be carried on: it waits FRAUD_WINDOW_EPOCHS after the
    /// last epoch carried with `a` in which `worker` is a live holder (a departed member is not,
    /// from two epochs after it left). A worker whose last two commitments show it never committed
    /// to `a` is not in it; one whose record no longer reaches `a` is treated as a member.
    function _membershipUnlockEpoch(address worker, uint64 memberEpoch) internal view override returns (uint64) {
        EpochState storage e = _epochs[memberEpoch];
        if (!e.frozen) return memberEpoch; // not frozen yet: unlockEpoch (later) decides
        uint64 a = e.assignmentEpoch;
        Worker storage w = _workers[worker];
        (uint64 last, uint64 prev) = (w.lastEpoch, w.prevEpoch);
        if (a == 0 || last < a || (last != a && prev != a && prev < a)) return 0;
        uint64 carried = _epochs[a].carriedThrough;
        uint64 through = carried == 0 ? a : carried;
        (bool departed, uint64 d) = departedAt(worker, a);
        if (departed && d + 1 < through) through = d + 1;
        return through + 1 + _fraudWindowEpochs;
    }

    function _assignmentOf(uint64 epoch) internal view override returns (uint64) {
        return _epochs[epoch].assignmentEpoch;
    }

    /// @dev No epoch has advanced for a whole unbonding period past the moment the next one could
    /// have (the current epoch's end plus the randomness timeout).
    function _halted() internal view override returns (bool) {
        return block.timestamp >= uint256(_epochs[_currentEpoch].end) + _randomnessTimeout + _unbondingPeriod;
    }

    function _memberKey(uint64 epoch, uint32 index) internal view override returns (uint256) {
        EpochState storage e = _epochs[epoch];
        if (!e.frozen) revert EpochUnknown(epoch);
        uint32 n = e.n;
        if (index >= n) revert EpochIndexOutOfRange(epoch, index, n);
        return (uint256(e.assignmentEpoch) << 32) | index;
    }

    function _faultContext(uint64 epoch, uint32 index) internal view override returns (uint256 key, uint256 shares) {
        EpochState storage e = _epochs[epoch];
        if (!e.frozen) revert EpochUnknown(epoch);
        uint32 n = e.n;
        if (index >= n) revert EpochIndexOutOfRange(epoch, index, n);
        return ((uint256(e.assignmentEpoch) << 32) | index, _sharesOf[e.sharesVersion]);
    }

    /// @dev Installs the scheduled shares and graph source whose delay has passed.
    function _installPendingRules(uint64 epoch, uint64 openedAt) private {
        uint16 pending = _pendingSharesVersion;
        if (pending != 0 && openedAt >= _pendingSharesAt) {
            (_sharesVersion, _pendingSharesVersion, _pendingSharesAt) = (pending, 0, 0);
            emit SharesInstalled(pending, epoch);
        }
        uint64 graphAt = _pendingGraphSourceAt;
        if (graphAt != 0 && openedAt >= graphAt) {
            IGraphVersionSource source = _pendingGraphSource;
            _graphSource = source;
            (_pendingGraphSource, _pendingGraphSourceAt) = (IGraphVersionSource(address(0)), 0);
            emit GraphSourceSet(address(source));
        }
    }

    /// @dev The graph version and hash from the source, with _GRAPH_SOURCE_GAS; a source that
    /// reverts, burns its gas, has no code or answers malformed data cannot stop the epochs: the
    /// epoch keeps the previous epoch's graph.
    function _freezeGraph(EpochState storage e, EpochState storage prev) private {
        address source = address(_graphSource);
        if (source == address(0)) return;
        bool ok;
        uint256 size;
        uint256 version;
        bytes32 hash;
        bytes4 selector = IGraphVersionSource.graphState.selector;
        assembly ("memory-safe") {
            mstore(0, selector)
            ok := staticcall(_GRAPH_SOURCE_GAS, source, 0, 4, 0, 0x40)
            size := returndatasize()
            version := mload(0)
            hash := mload(0x20)
        }
        if (ok && size >= 64 && version <= type(uint64).max) {
            (e.graphVersion, e.graphHash) = (uint64(version), hash);
        } else {
            (e.graphVersion, e.graphHash) = (prev.graphVersion, prev.graphHash);
            emit GraphSourceFailed(source);
        }
    }

    /// @dev Requests the epoch's randomness with _BEACON_REQUEST_GAS; a request that fails with that
    /// much gas (a beacon or coordinator that reverts) leaves the epoch to its fallback value.
    function _requestRandomness(uint64 epoch) private returns (uint256 requestId) {
        // 63/64 of what is left is forwarded: refuse to start unless the beacon can get it all.
        uint256 needed = _BEACON_REQUEST_GAS + _BEACON_REQUEST_GAS / 63 + 5_000;
        if (gasleft() < needed) revert EpochFreezeGasTooLow(gasleft(), needed);
        bytes memory data = abi.encodeCall(IRandomnessBeacon.requestRandomness, (epoch));
        address beacon_ = address(_beacon);
        bool ok;
        uint256 size;
        assembly ("memory-safe") {
            // Copy at most one word back: the beacon's answer cannot cost this call memory.
            ok := call(_BEACON_REQUEST_GAS, beacon_, 0, add(data, 0x20), mload(data), 0, 0x20)
            size := returndatasize()
            requestId := mload(0)
        }
        if (!ok || size < 32) {
            requestId = 0;
            emit BeaconRequestFailed(epoch);
        }
    }

    function _packShares(uint256 rewardBps, uint256[6] memory slashBps) private pure returns (uint256 packed) {
        require(rewardBps <= _BPS / 2, StakingInvalidBps(rewardBps));
        packed = rewardBps;
        for (uint256 i; i < _FAULTS; ++i) {
            require(slashBps[i] <= _BPS, StakingInvalidBps(slashBps[i]));
            packed |= slashBps[i] << (16 + 16 * i);
        }
    }

    function _memberAt(uint64 epoch, uint32 index) private view returns (address, uint96) {
        uint256 packed = _members[_memberKey(epoch, index)];
        return (address(uint160(packed)), uint96((packed >> 160) & ((1 << _MEMBER_STAKE_BITS) - 1)));
    }

    /// @dev Opens commits to `epoch` until `end - FREEZE_LEAD`, snapshotting the parameters a
    /// commit checks, so that the commit path reads one slot and rules never change mid-window.
    function _openCommits(uint64 epoch, uint64 end) private {
        _commits[epoch] = CommitSlot({
            commitDeadline: end - _freezeLead,
            committed: 0,
            maxWorkers: _maxWorkers,
            minStake: _minStake,
            open: true
        });
    }

    /// @dev The hash of block `b` from BLOCKHASH (256 blocks) or EIP-2935 history (8191), else 0.
    function _blockHash(uint256 b) private view returns (bytes32 h) {
        if (b >= block.number) return bytes32(0);
        if (block.number - b <= 256) return blockhash(b);
        if (block.number - b > 8191) return bytes32(0);
        (bool ok, bytes memory ret) = HISTORY_STORAGE.staticcall(abi.encode(b));
        if (ok && ret.length == 32) h = abi.decode(ret, (bytes32));
    }
}
