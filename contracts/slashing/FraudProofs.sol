// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IFraudProofs} from "../interfaces/IFraudProofs.sol";
import {IEpochManager} from "../interfaces/IEpochManager.sol";
import {IOperatorRegistry} from "../interfaces/IOperatorRegistry.sol";
import {BatchHeaders, BatchHeader} from "../libraries/BatchHeaders.sol";
import {DeltaMerkle, Delta} from "../libraries/DeltaMerkle.sol";
import {LtHash} from "../libraries/LtHash.sol";
import {Sharding} from "../libraries/Sharding.sol";
import {Shuffle} from "../libraries/Shuffle.sol";

/**
 * @title FraudProofs
 * @notice Verifies evidence against signed batch headers and punishes the sender: slash
 * (SLASH_BPS[fault] of the stake it committed for the epoch; REWARD_BPS of it to the submitter),
 * jail for JAIL_EPOCHS, eject from the epoch. Holds the EpochManager's SLASHER_ROLE.
 * docs/contracts/fraud-proofs.md. Work in progress: accumulated proofs (with the block-hash oracle)
 * are not here yet.
 */
contract FraudProofs is IFraudProofs, AccessControl, EIP712 {
    /// @notice Holds the slash shares (the timelock).
    bytes32 public constant GOVERNANCE_ROLE = keccak256("GOVERNANCE_ROLE");
    /// @notice The largest batch a proof must handle; honest senders never exceed it.
    uint256 public constant MAX_BATCH = 256;

    IEpochManager private immutable _epochs;
    IOperatorRegistry private immutable _registry;

    mapping(Fault => uint256) private _slashBps;
    mapping(bytes32 evidenceId => bool) private _punished;

    constructor(
        IEpochManager epochs,
        IOperatorRegistry registry,
        address admin,
        uint256[5] memory initialSlashBps
    ) EIP712(BatchHeaders.DOMAIN_NAME, BatchHeaders.DOMAIN_VERSION) {
        _epochs = epochs;
        _registry = registry;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(GOVERNANCE_ROLE, admin);
        for (uint256 i; i < 5; ++i) _setSlashBps(Fault(i), initialSlashBps[i]);
    }

    // ------------------------------------------------------------------ evidence

    /// @inheritdoc IFraudProofs
    function proveEquivocation(SignedHeader calldata a, SignedHeader calldata b) external {
        BatchHeader calldata x = a.header;
        BatchHeader calldata y = b.header;
        if (
            x.epoch != y.epoch ||
            x.stream != y.stream ||
            x.shard != y.shard ||
            x.sender != y.sender ||
            x.seq != y.seq ||
            a.senderIndex != b.senderIndex
        ) revert FraudUnrelatedHeaders();
        _checkSigned(a);
        _checkSigned(b);
        // Content, not receivers: one content per (epoch, stream, shard, sender, seq).
        if (BatchHeaders.contentHash(x) == BatchHeaders.contentHash(y)) revert FraudNoFault(Fault.EQUIVOCATION);
        _punish(Fault.EQUIVOCATION, x.sender, x.epoch, a.senderIndex);
    }

    /// @inheritdoc IFraudProofs
    function proveMisroutedDelta(
        SignedHeader calldata h,
        bytes calldata data,
        uint64 time,
        int64 diff,
        bytes32[] calldata proof,
        uint32 receiverIndex
    ) external {
        _checkSigned(h);
        _checkInBatch(h.header, data, time, diff, proof);
        if (!_misrouted(h.header, data, receiverIndex)) revert FraudNoFault(Fault.MISROUTED_DELTA);
        _punish(Fault.MISROUTED_DELTA, h.header.sender, h.header.epoch, h.senderIndex);
    }

    /// @inheritdoc IFraudProofs
    /// @dev The deltas must hash to the header's `deltasRoot`; a root that does not match is not
    /// provable, since deltas are signed only through the root (docs/contracts/fraud-proofs.md).
    function proveBatchMismatch(SignedHeader calldata h, Delta[] calldata deltas) external {
        BatchHeader calldata hd = h.header;
        if (deltas.length > MAX_BATCH) revert FraudBatchTooLarge(deltas.length, MAX_BATCH);
        _checkSigned(h);
        Delta[] memory ds = deltas;
        bytes32 root = DeltaMerkle.root(ds);
        if (root != hd.deltasRoot) revert FraudNotTheBatch(hd.deltasRoot, root);
        uint256[64] memory state;
        for (uint256 i; i < ds.length; ++i) LtHash.add(state, ds[i].data, ds[i].time, ds[i].diff);
        if (ds.length == hd.count && LtHash.digest(state) == hd.batchMsh) revert FraudNoFault(Fault.BATCH_MISMATCH);
        _punish(Fault.BATCH_MISMATCH, hd.sender, hd.epoch, h.senderIndex);
    }

    /// @inheritdoc IFraudProofs
    /// @dev A broken chain on one sender's channels. With `prevHeader.seq + 1 == next.seq`:
    /// faulty when `next.prev` is not the content hash of `prevHeader`, or when
    /// `prevCumulative + nextBatch ≠ next.cumulativeMsh` (the full LtHash states are given and must
    /// match the signed digests). For seq 0 pass the header twice and empty states: faulty when
    /// `prev ≠ 0` or `cumulativeMsh ≠ batchMsh`.
    function proveBrokenChain(
        SignedHeader calldata prevHeader,
        SignedHeader calldata next,
        bytes calldata prevCumulativeState,
        bytes calldata nextBatchState
    ) external {
        BatchHeader calldata p = prevHeader.header;
        BatchHeader calldata n = next.header;
        _checkSigned(next);
        bool broken;
        if (n.seq == 0) {
            broken = n.prev != bytes32(0) || n.cumulativeMsh != n.batchMsh;
        } else {
            if (
                p.epoch != n.epoch ||
                p.stream != n.stream ||
                p.shard != n.shard ||
                p.sender != n.sender ||
                p.seq + 1 != n.seq
            ) revert FraudUnrelatedHeaders();
            _checkSigned(prevHeader);
            if (n.prev != BatchHeaders.contentHash(p)) {
                broken = true;
            } else {
                uint256[64] memory cumulative = _state(prevCumulativeState, p.cumulativeMsh);
                LtHash.combine(cumulative, _state(nextBatchState, n.batchMsh));
                broken = LtHash.digest(cumulative) != n.cumulativeMsh;
            }
        }
        if (!broken) revert FraudNoFault(Fault.BROKEN_CHAIN);
        _punish(Fault.BROKEN_CHAIN, n.sender, n.epoch, next.senderIndex);
    }

    // ------------------------------------------------------------------ governance and views

    /// @notice Sets the share of the committed stake a fault costs (GOVERNANCE_ROLE).
    function setSlashBps(Fault fault, uint256 bps) external onlyRole(GOVERNANCE_ROLE) {
        _setSlashBps(fault, bps);
    }

    /// @notice The share of the committed stake `fault` costs, in basis points.
    function slashBps(Fault fault) external view returns (uint256) {
        return _slashBps[fault];
    }

    /// @notice The id of the evidence for (sender, epoch, fault): canonical fields, no signature bytes.
    function evidenceId(address sender, uint64 epoch, Fault fault) public pure returns (bytes32) {
        return keccak256(abi.encode(sender, epoch, fault));
    }

    /// @notice Whether (sender, epoch, fault) was punished.
    function punished(address sender, uint64 epoch, Fault fault) external view returns (bool) {
        return _punished[evidenceId(sender, epoch, fault)];
    }

    /// @notice The EIP-712 domain separator (name "Maru", version "1", this chain, this contract).
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ------------------------------------------------------------------ internals

    /// @dev The signature is the sender's signing key's for the header's epoch (OpenZeppelin ECDSA:
    /// malleable s and bad v revert), and the sender is at `senderIndex` of the epoch's frozen set.
    function _checkSigned(SignedHeader calldata s) private view {
        BatchHeader calldata h = s.header;
        address recovered = ECDSA.recover(_hashTypedDataV4(BatchHeaders.hash(h)), s.signature);
        address expected = _epochs.signingKeyAt(h.sender, h.epoch);
        if (expected == address(0) || recovered != expected) revert FraudBadSignature(h.sender, recovered, expected);
        if (_epochs.workerAt(h.epoch, s.senderIndex) != h.sender)
            revert FraudNotAtIndex(h.epoch, s.senderIndex, h.sender);
    }

    function _checkInBatch(
        BatchHeader calldata hd,
        bytes calldata data,
        uint64 time,
        int64 diff,
        bytes32[] calldata proof
    ) private pure {
        if (!DeltaMerkle.verify(proof, hd.deltasRoot, hd.count, Delta(data, time, diff))) {
            revert FraudNotTheBatch(hd.deltasRoot, bytes32(0));
        }
    }

    /// @dev The delta's shard (the stream's partition key, the epoch's r and n) is not the header's,
    /// or the receiver (at `receiverIndex` of the frozen set) does not hold the header's shard.
    function _misrouted(
        BatchHeader calldata hd,
        bytes calldata data,
        uint32 receiverIndex
    ) private view returns (bool) {
        IEpochManager.EpochInfo memory info = _epochs.epochInfo(hd.epoch);
        if (_epochs.workerAt(hd.epoch, receiverIndex) != hd.receiver) {
            revert FraudNotAtIndex(hd.epoch, receiverIndex, hd.receiver);
        }
        if (hd.shard >= info.n) return true;
        uint32 actual = Sharding.shardOf(_registry.stream(hd.stream).spec.partition, data, info.randomness, info.n);
        return
            actual != hd.shard ||
            !Shuffle.holds(receiverIndex, hd.shard, info.n, info.k, info.randomness, Shuffle.DEFAULT_ROUNDS);
    }

    function _punish(Fault fault, address sender, uint64 epoch, uint32 senderIndex) private {
        uint64 current = _epochs.currentEpoch();
        uint256 window = _epochs.parameter(IEpochManager.Param.FRAUD_WINDOW_EPOCHS);
        if (epoch > current || current > epoch + window) revert FraudOutsideWindow(epoch, current, window);
        bytes32 id = evidenceId(sender, epoch, fault);
        if (_punished[id]) revert FraudAlreadyPunished(id);
        _punished[id] = true;
        // A sender reporting itself is slashed in full and rewarded nothing.
        address reporter = msg.sender == sender ? address(0) : msg.sender;
        uint256 amount = _epochs.slash(sender, epoch, senderIndex, _slashBps[fault], reporter);
        _epochs.jail(sender, uint64(current + 1 + _epochs.parameter(IEpochManager.Param.JAIL_EPOCHS))); // JAIL_EPOCHS ≤ 10^6
        _epochs.eject(epoch, sender);
        emit FraudProven(id, fault, sender, epoch, reporter, amount);
    }

    function _state(bytes calldata encoded, bytes32 digest) private pure returns (uint256[64] memory state) {
        state = LtHash.decode(encoded);
        bytes32 d = LtHash.digest(state);
        if (d != digest) revert FraudStateMismatch(digest, d);
    }

    function _setSlashBps(Fault fault, uint256 bps) private {
        if (bps > 10_000) revert FraudInvalidBps(bps);
        _slashBps[fault] = bps;
        emit SlashBpsSet(fault, bps);
    }
}
