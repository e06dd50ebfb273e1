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
contract EpochManager is IEpochManager, Staking {
    /// @notice Swap-or-not rounds for holder assignment (Shuffle.DEFAULT_ROUNDS).
    uint8 public constant SHUFFLE_ROUNDS = 90;
    /// @notice EIP-2935 block-hash history contract (prague): hashes of the last 8191 blocks.
    address public constant HISTORY_STORAGE = 0x0000F90827F1C53a10cb7A02335B175320002935;

    /// @dev Written by commits (one cold read, one warm write): the commit window of this epoch and
    /// the parameters it runs under, snapshotted when the window opened.
    struct CommitSlot {
        uint64 commitDeadline; // 0 = window not opened
        uint32 committed;
        uint32 maxWorkers;
        uint96 minStake;
        bool open; // set when the window opens; it closes by time (freeze needs now ≥ deadline)
    }

    /// @dev Slot 0 is written once, by freeze (one fresh slot); slot 1 by advance.
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
        // slot 1: timing
        uint64 start;
        uint64 end;
        // slots 2, 3, 4
        bytes32 randomness;
        bytes32 fallbackHash;
        bytes32 graphHash;
    }

    IRandomnessBeacon private immutable _beacon;
    IGraphVersionSource private _graphSource;

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

    /// @notice The initial parameters, checked against the same bounds as {setParameter}.
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
        _setParameter(Param.REWARD_BPS, p.rewardBps);
        _setParameter(Param.JAIL_EPOCHS, p.jailEpochs);
        // Genesis: epoch 0 is current with an empty set; commits to epoch 1 are open.
        EpochState storage g = _epochs[0];
        g.start = uint64(block.timestamp);
        g.end = uint64(block.timestamp) + _epochDuration;
        g.frozen = true;
        g.randomnessSet = true;
        g.k = _replication;
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
        // Worker: active [0,96) jailedUntil [96,128) lastEpoch [128,160) lastIndex [160,184)
        //         prevEpoch [184,216) prevIndex [216,240) registered [240]
        uint256 active = uint96(ww);
        if (uint32(ww >> 128) == epoch) revert EpochAlreadyCommitted(epoch, msg.sender);
        if (active < uint96(cw >> 128)) revert EpochStakeBelowMinimum(active, uint96(cw >> 128)); // implies registered
        if (uint32(ww >> 96) > epoch) revert EpochWorkerJailed(msg.sender, uint32(ww >> 96));
        if (committed >= uint32(cw >> 96)) revert EpochFull(uint32(cw >> 96));

        index = uint32(committed); // < maxWorkers ≤ 1,000,000: fits the worker slot's 24 bits
        uint256 total = active + _queues[msg.sender].queued; // ≤ 2^96 - 1, enforced by stake()
        _members[(uint256(epoch) << 32) | committed] = uint256(uint160(msg.sender)) | (total << 160);
        // Keep active, jailedUntil and registered; this commit becomes "last", the old last "prev".
        uint256 nextWorker =
            (ww & ((1 << 128) - 1)) |
                (uint256(epoch) << 128) |
                (committed << 160) |
                (((ww >> 128) & 0xFFFFFFFF) << 184) |
                (((ww >> 160) & 0xFFFFFF) << 216) |
                (1 << 240);
        assembly ("memory-safe") {
            sstore(c.slot, add(cw, shl(64, 1))) // committed + 1, no carry: committed < maxWorkers
            sstore(ws.slot, nextWorker)
        }
        emit Committed(epoch, msg.sender, index, total);
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
        if (carried) {
            // Too few workers: keep the previous assignment whole (set, k, graph, randomness).
            EpochState storage prev = _epochs[current];
            e.n = prev.n;
            e.k = prev.k;
            e.graphVersion = prev.graphVersion;
            e.graphHash = prev.graphHash;
            e.assignmentEpoch = prev.assignmentEpoch;
            e.randomness = prev.randomness;
            e.randomnessSet = true;
        } else {
            e.n = committed;
            e.k = _replication;
            if (address(_graphSource) != address(0)) (e.graphVersion, e.graphHash) = _graphSource.graphState();
            e.assignmentEpoch = uint32(epoch);
            // The fallback is the hash of the next block: unknown to everyone at freeze time.
            e.fallbackBlock = uint64(block.number + 1);
            requestId = _beacon.requestRandomness(epoch);
        }
        emit EpochFrozen(epoch, e.n, e.k, e.graphVersion, e.assignmentEpoch, carried, requestId, e.fallbackBlock);
    }

    /// @inheritdoc IEpochManager
    function recordFallback(uint64 epoch) external {
        EpochState storage e = _epochs[epoch];
        require(e.fallbackBlock != 0, EpochUnknown(epoch));
        if (e.fallbackHash != bytes32(0)) return;
        bytes32 h = _blockHash(e.fallbackBlock);
        require(h != bytes32(0), EpochFallbackUnavailable(epoch, e.fallbackBlock));
        e.fallbackHash = h;
        emit FallbackRecorded(epoch, e.fallbackBlock, h);
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
        _openCommits(next + 1, e.end);
        emit EpochAdvanced(next, e.randomness, e.usedFallback, e.start, e.end);
    }

    // ------------------------------------------------------------------ parameters

    /// @inheritdoc IEpochManager
    function setParameter(Param param, uint256 value) external onlyRole(GOVERNANCE_ROLE) {
        _setParameter(param, value);
    }

    /// @notice Sets the contract the graph version is read from at freeze (the registry).
    function setGraphSource(IGraphVersionSource source) external onlyRole(GOVERNANCE_ROLE) {
        _graphSource = source;
        emit GraphSourceSet(address(source));
    }

    function _setParameter(Param param, uint256 value) private {
        uint256 oldValue = parameter(param);
        (uint256 min, uint256 max) = _bounds(param);
        require(value >= min && value <= max, ParameterOutOfBounds(param, value, min, max));
        if (param == Param.MIN_STAKE) _minStake = uint96(value);
        else if (param == Param.UNBONDING_PERIOD) _unbondingPeriod = uint64(value);
        else if (param == Param.REWARD_BPS) _rewardBps = uint16(value);
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
        // At most half: a cheater and a colluding reporter still lose half of every slash.
        if (param == Param.REWARD_BPS) return (0, _BPS / 2);
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
        if (param == Param.FREEZE_LEAD) return (1, _epochDuration - 1);
        if (param == Param.RANDOMNESS_TIMEOUT) return (1, 1 days);
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
    function isEjected(uint64 epoch, address worker) external view returns (bool) {
        (bool member, uint32 index) = _findIndex(epoch, worker);
        return member && faultsAt(epoch, index) != 0;
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
        if (param == Param.REWARD_BPS) return _rewardBps;
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

    function _memberKey(uint64 epoch, uint32 index) internal view override returns (uint256) {
        EpochState storage e = _epochs[epoch];
        if (!e.frozen) revert EpochUnknown(epoch);
        uint32 n = e.n;
        if (index >= n) revert EpochIndexOutOfRange(epoch, index, n);
        return (uint256(e.assignmentEpoch) << 32) | index;
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
