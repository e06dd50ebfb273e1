// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IFraudProofs} from "../interfaces/IFraudProofs.sol";
import {IEpochManager} from "../interfaces/IEpochManager.sol";
import {IOperatorRegistry} from "../interfaces/IOperatorRegistry.sol";
import {IBlockHashOracle} from "../interfaces/IBlockHashOracle.sol";
import {BatchHeaders, BatchHeader, AccumulatedProof} from "../libraries/BatchHeaders.sol";
import {DeltaMerkle, Delta} from "../libraries/DeltaMerkle.sol";
import {LtHash} from "../libraries/LtHash.sol";
import {Sharding} from "../libraries/Sharding.sol";
import {Shuffle} from "../libraries/Shuffle.sol";
import {ExecutionDisputes} from "./ExecutionDisputes.sol";
import {IExecutionDisputes} from "../interfaces/IExecutionDisputes.sol";

/**
 * @title FraudProofs
 * @notice Verifies the five provable kinds of evidence of docs/protocol.md §8 against signed batch
 * headers and accumulated proofs, then has the EpochManager punish the sender (slash the epoch's SLASH_BPS of the
 * stake it committed for the epoch, the epoch's REWARD_BPS of it to the reporter, eject, jail). The
 * rules every fault shares (fraud window, frozen membership, the signature against the signing key on
 * record, once per (sender, epoch, fault), the shares snapshotted at freeze) are enforced by
 * {IStaking-punish}; this contract proves the fault. It is the EpochManager's slasher
 * (`setSlasher`) and holds no role: nothing here can be changed after deployment.
 *
 * The reward is bound before the evidence is public (docs/protocol.md §13): a batch fault pays the
 * header's signed `receiver`; an accumulated proof, which names no receiver, pays the account that
 * committed to it ({commitReport}) in an earlier block, and nobody otherwise.
 * docs/contracts/fraud-proofs.md.
 *
 * The sixth fault, EXECUTION (a wrong output), is not provable by computation on chain: it is
 * decided by the execution-dispute court this contract creates ({disputes}), and slashed here,
 * because only the slasher may punish, when that court calls {punishExecution}.
 */
contract FraudProofs is IFraudProofs, EIP712 {
    /// @notice The largest batch a proof must handle; honest senders never exceed it.
    uint256 public constant MAX_BATCH = 256;

    IEpochManager private immutable _epochs;
    IOperatorRegistry private immutable _registry;
    ExecutionDisputes private immutable _disputes;
    IBlockHashOracle private immutable _oracle;

    /// @dev reportCommitment(reporter, digest) → the block it was committed in.
    mapping(bytes32 commitment => uint256 blockNumber) private _reportCommitments;

    constructor(
        IEpochManager epochs,
        IOperatorRegistry registry,
        IBlockHashOracle oracle_,
        IExecutionDisputes.DisputeRules memory rules
    ) EIP712(BatchHeaders.DOMAIN_NAME, BatchHeaders.DOMAIN_VERSION) {
        _epochs = epochs;
        _registry = registry;
        _disputes = new ExecutionDisputes(epochs, rules, _domainSeparatorV4());
        _oracle = oracle_;
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
            x.originShard != y.originShard ||
            x.sender != y.sender ||
            x.seq != y.seq ||
            a.senderIndex != b.senderIndex
        ) revert FraudUnrelatedHeaders();
        // Content, not receivers: one content per (epoch, stream, shard, originShard, sender, seq).
        if (BatchHeaders.contentHashCalldata(x) == BatchHeaders.contentHashCalldata(y))
            revert FraudNoFault(Fault.EQUIVOCATION);
        // Both must be the sender's: `a` is checked by punish, `b` as its cosigner.
        _punishHeader(Fault.EQUIVOCATION, a, _signer(b));
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
        BatchHeader calldata hd = h.header;
        if (!DeltaMerkle.verify(proof, hd.deltasRoot, hd.count, Delta(data, time, diff))) {
            revert FraudNotTheBatch(hd.deltasRoot, bytes32(0));
        }
        if (!_misrouted(hd, data, receiverIndex)) revert FraudNoFault(Fault.MISROUTED_DELTA);
        _punishHeader(Fault.MISROUTED_DELTA, h, address(0));
    }

    /// @inheritdoc IFraudProofs
    /// @dev The deltas must hash to the header's `deltasRoot`; a root that does not match is not
    /// provable, since deltas are signed only through the root (docs/contracts/fraud-proofs.md).
    function proveBatchMismatch(SignedHeader calldata h, Delta[] calldata deltas) external {
        BatchHeader calldata hd = h.header;
        if (deltas.length > MAX_BATCH) revert FraudBatchTooLarge(deltas.length, MAX_BATCH);
        Delta[] memory ds = deltas;
        bytes32 root = DeltaMerkle.root(ds);
        if (root != hd.deltasRoot) revert FraudNotTheBatch(hd.deltasRoot, root);
        uint256[64] memory state;
        for (uint256 i; i < ds.length; ++i) LtHash.add(state, ds[i].data, ds[i].time, ds[i].diff);
        if (ds.length == hd.count && LtHash.digest(state) == hd.batchMsh) revert FraudNoFault(Fault.BATCH_MISMATCH);
        _punishHeader(Fault.BATCH_MISMATCH, h, address(0));
    }

    /// @inheritdoc IFraudProofs
    /// @dev A broken chain on one sender's channels. With `prevHeader.seq + 1 == next.seq`:
    /// faulty when `next.prev` is not the content hash of `prevHeader`, or when
    /// `prevCumulative + nextBatch ≠ next.cumulativeMsh` (the full LtHash states are given and must
    /// match the signed digests). For seq 0 pass the header twice and empty states: faulty when
    /// `prev ≠ 0` or `cumulativeMsh ≠ batchMsh`. While `prev` links, `next`'s signature covers
    /// the previous header's content, so `prevHeader.signature` is checked only when it does not.
    function proveBrokenChain(
        SignedHeader calldata prevHeader,
        SignedHeader calldata next,
        bytes calldata prevCumulativeState,
        bytes calldata nextBatchState
    ) external {
        (bool linked, bool broken) = _chainLink(prevHeader.header, next.header);
        if (linked) {
            uint256[64] memory cumulative = _state(prevCumulativeState, prevHeader.header.cumulativeMsh);
            LtHash.combine(cumulative, _state(nextBatchState, next.header.batchMsh));
            broken = LtHash.digest(cumulative) != next.header.cumulativeMsh;
        }
        _judgeChain(broken, linked, prevHeader, next);
    }

    /// @inheritdoc IFraudProofs
    /// @dev As {proveBrokenChain}, with the new batch given as its deltas (checked against
    /// `deltasRoot` and `batchMsh`) instead of its 2,048-byte state: cheaper for small batches.
    function proveBrokenChainWithDeltas(
        SignedHeader calldata prevHeader,
        SignedHeader calldata next,
        bytes calldata prevCumulativeState,
        Delta[] calldata nextDeltas
    ) external {
        (bool linked, bool broken) = _chainLink(prevHeader.header, next.header);
        if (linked) {
            uint256[64] memory cumulative = _state(prevCumulativeState, prevHeader.header.cumulativeMsh);
            LtHash.combine(cumulative, _batchState(next.header, nextDeltas));
            broken = LtHash.digest(cumulative) != next.header.cumulativeMsh;
        }
        _judgeChain(broken, linked, prevHeader, next);
    }

    /// @inheritdoc IFraudProofs
    /// @dev Faulty when the proof names another chain than the source's (every stream's source is
    /// this chain's inbox), a block other than the last of the epoch's window, or a hash that is not
    /// that block's. Reverts with EpochWindowOpen before the window has closed, and with
    /// OracleUnknownBlock when the block's hash cannot be established: never a slash on doubt.
    function proveFalseBlockHash(SignedAccumulatedProof calldata p) external {
        AccumulatedProof calldata ap = p.proof;
        if (ap.sourceChainId == block.chainid && ap.blockNumber == _epochs.windowLastBlock(ap.epoch)) {
            bytes32 canonical = _oracle.blockHash(ap.sourceChainId, ap.blockNumber);
            if (canonical == ap.blockHash) revert FraudNoFault(Fault.INVALID_ACCUMULATED_PROOF);
        }
        // Only the reporter that committed to this evidence in an earlier block may reveal it: a
        // copier of the reveal can neither take the reward nor spend the fault before its finder.
        bytes32 digest = _proofDigest(p);
        bytes32 commitment = reportCommitment(msg.sender, digest);
        uint256 committedAt = _reportCommitments[commitment];
        if (committedAt == 0 || committedAt >= block.number) revert FraudNotCommitted(commitment, committedAt);
        _epochs.punish(
            ap.sender,
            ap.epoch,
            p.senderIndex,
            uint8(Fault.INVALID_ACCUMULATED_PROOF),
            digest,
            p.signature,
            address(0),
            msg.sender
        );
    }

    /// @inheritdoc IFraudProofs
    function commitReport(bytes32 commitment) external {
        if (_reportCommitments[commitment] != 0) return; // the first block counts
        _reportCommitments[commitment] = block.number;
        emit ReportCommitted(commitment, block.number);
    }

    /// @inheritdoc IFraudProofs
    function reportCommitment(address reporter, bytes32 digest) public pure returns (bytes32) {
        return keccak256(abi.encode(reporter, digest));
    }

    /// @inheritdoc IFraudProofs
    function proofDigest(SignedAccumulatedProof calldata p) external view returns (bytes32) {
        return _proofDigest(p);
    }

    /// @inheritdoc IFraudProofs
    function reportCommittedAt(bytes32 commitment) external view returns (uint256) {
        return _reportCommitments[commitment];
    }

    /// @inheritdoc IFraudProofs
    function proveContradictedProof(SignedAccumulatedProof calldata p, SignedHeader calldata h) external {
        AccumulatedProof calldata ap = p.proof;
        BatchHeader calldata hd = h.header;
        if (
            ap.epoch != hd.epoch ||
            ap.stream != hd.stream ||
            ap.shard != hd.shard ||
            ap.originShard != hd.originShard ||
            ap.sender != hd.sender ||
            ap.seq != hd.seq ||
            p.senderIndex != h.senderIndex
        ) revert FraudUnrelatedHeaders();
        if (ap.cumulativeMsh == hd.cumulativeMsh) revert FraudNoFault(Fault.INVALID_ACCUMULATED_PROOF);
        // The header's receiver holds the evidence: it is paid (§13).
        _epochs.punish(
            ap.sender,
            ap.epoch,
            p.senderIndex,
            uint8(Fault.INVALID_ACCUMULATED_PROOF),
            _proofDigest(p),
            p.signature,
            _signer(h),
            hd.receiver
        );
    }

    /// @inheritdoc IFraudProofs
    /// @dev The verdict is the court's; the rules every fault shares are {IStaking-punish}'s. The
    /// reward goes to the court, which pays the opener and the jurors.
    function punishExecution(SignedHeader calldata h) external {
        if (msg.sender != address(_disputes)) revert FraudNotTheCourt(msg.sender);
        _punishHeader(Fault.EXECUTION, h, address(0), msg.sender);
    }

    // ------------------------------------------------------------------ views

    /// @notice The execution-dispute court this contract created.
    function disputes() external view returns (IExecutionDisputes) {
        return _disputes;
    }

    /// @notice The id of the evidence for (sender, epoch, fault): canonical fields, no signature bytes.
    /// The EpochManager keeps it as bit `fault` of the (sender, epoch) fault record ({IStaking-faultsOf}).
    function evidenceId(address sender, uint64 epoch, Fault fault) external pure returns (bytes32) {
        return keccak256(abi.encode(sender, epoch, fault));
    }

    /// @notice Whether (sender, epoch, fault) was punished.
    function punished(address sender, uint64 epoch, Fault fault) external view returns (bool) {
        return (_epochs.faultsOf(sender, epoch) >> uint8(fault)) & 1 == 1;
    }

    /// @notice The EIP-712 domain separator (name "Maru", version "1", this chain, this contract).
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @notice The block-hash oracle accumulated proofs are judged by.
    function oracle() external view returns (address) {
        return address(_oracle);
    }

    // ------------------------------------------------------------------ internals

    /// @dev The key that signed the header under this contract's EIP-712 domain (OpenZeppelin ECDSA:
    /// malleable s and bad v revert). Whose key it is, {IStaking-punish} checks.
    function _signer(SignedHeader calldata s) private view returns (address) {
        return ECDSA.recoverCalldata(_headerDigest(s), s.signature);
    }

    function _headerDigest(SignedHeader calldata s) private view returns (bytes32) {
        return _hashTypedDataV4(BatchHeaders.hashCalldata(s.header));
    }

    function _proofDigest(SignedAccumulatedProof calldata s) private view returns (bytes32) {
        return _hashTypedDataV4(BatchHeaders.hashCalldata(s.proof));
    }

    /// @dev The delta's shard (the stream's partition key, the epoch's r and n) is not the header's,
    /// or the receiver (at `receiverIndex` of the frozen set) does not hold the header's shard.
    function _misrouted(
        BatchHeader calldata hd,
        bytes calldata data,
        uint32 receiverIndex
    ) private view returns (bool) {
        if (_epochs.workerAt(hd.epoch, receiverIndex) != hd.receiver) {
            revert FraudNotAtIndex(hd.epoch, receiverIndex, hd.receiver);
        }
        (uint32 n, uint16 k, bytes32 r) = _epochs.assignment(hd.epoch);
        if (hd.shard >= n) return true;
        uint32 actual = Sharding.shardOf(_registry.partitionOf(hd.stream), data, r, n);
        return actual != hd.shard || !Shuffle.holds(receiverIndex, hd.shard, n, k, r, Shuffle.DEFAULT_ROUNDS);
    }

    /// @dev Punishes the sender of a signed header; Staking checks the signature against its record
    /// (and `cosigner`, the signer of the other piece of evidence, if any). The reward goes to the
    /// header's signed receiver, whoever submits (§13); none when that is the sender itself.
    function _punishHeader(Fault fault, SignedHeader calldata h, address cosigner) private {
        _punishHeader(fault, h, cosigner, h.header.receiver);
    }

    function _punishHeader(Fault fault, SignedHeader calldata h, address cosigner, address reporter) private {
        BatchHeader calldata hd = h.header;
        _epochs.punish(
            hd.sender,
            hd.epoch,
            h.senderIndex,
            uint8(fault),
            _headerDigest(h),
            h.signature,
            cosigner,
            reporter
        );
    }

    /// @dev The chain rule's cheap part: seq 0 decides alone; otherwise the headers must be
    /// consecutive on one channel family, and a `prev` that does not link decides. `linked` means
    /// the cumulative hashes must be compared.
    function _chainLink(
        BatchHeader calldata p,
        BatchHeader calldata n
    ) private pure returns (bool linked, bool broken) {
        if (n.seq == 0) return (false, n.prev != bytes32(0) || n.cumulativeMsh != n.batchMsh);
        if (
            p.epoch != n.epoch ||
            p.stream != n.stream ||
            p.shard != n.shard ||
            p.originShard != n.originShard ||
            p.sender != n.sender ||
            p.seq + 1 != n.seq
        ) {
            revert FraudUnrelatedHeaders();
        }
        if (n.prev != BatchHeaders.contentHashCalldata(p)) return (false, true);
        return (true, false);
    }

    /// @dev The LtHash state of a batch given as its deltas, which must be the signed batch
    /// (`deltasRoot`) and agree with its `batchMsh` (else it is a batch mismatch: prove that instead).
    function _batchState(
        BatchHeader calldata n,
        Delta[] calldata deltas
    ) private pure returns (uint256[64] memory batch) {
        if (deltas.length > MAX_BATCH) revert FraudBatchTooLarge(deltas.length, MAX_BATCH);
        Delta[] memory ds = deltas;
        bytes32 root = DeltaMerkle.root(ds);
        if (root != n.deltasRoot) revert FraudNotTheBatch(n.deltasRoot, root);
        for (uint256 i; i < ds.length; ++i) LtHash.add(batch, ds[i].data, ds[i].time, ds[i].diff);
        bytes32 d = LtHash.digest(batch);
        if (d != n.batchMsh) revert FraudStateMismatch(n.batchMsh, d);
    }

    function _judgeChain(
        bool broken,
        bool linked,
        SignedHeader calldata prevHeader,
        SignedHeader calldata next
    ) private {
        if (!broken) revert FraudNoFault(Fault.BROKEN_CHAIN);
        // A previous header that `next` does not link must be shown signed by the same key, or a
        // made-up one would count: it is the cosigner.
        address cosigner = next.header.seq != 0 && !linked ? _signer(prevHeader) : address(0);
        _punishHeader(Fault.BROKEN_CHAIN, next, cosigner);
    }

    function _state(bytes calldata encoded, bytes32 digest) private pure returns (uint256[64] memory state) {
        state = LtHash.decode(encoded);
        bytes32 d = LtHash.digest(state);
        if (d != digest) revert FraudStateMismatch(digest, d);
    }
}
