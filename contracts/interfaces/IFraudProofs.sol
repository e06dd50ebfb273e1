// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {BatchHeader, AccumulatedProof} from "../libraries/BatchHeaders.sol";
import {Delta} from "../libraries/DeltaMerkle.sol";

/**
 * @title IFraudProofs
 * @notice One-transaction fraud proofs against a worker's signed batch headers and accumulated
 * proofs (docs/protocol.md §8). Anyone may submit while the fault's epoch is within FRAUD_WINDOW_EPOCHS;
 * everything is recomputed from signed data and the epoch's frozen n, k and r. A valid proof ends
 * in {IStaking-punish}, whose errors (StakingOutsideFraudWindow, StakingNotInEpoch,
 * StakingWrongSigner, StakingBadSignature, StakingAlreadyPunished) such a call may also revert with.
 * The reward goes to the header's signed receiver (batch faults, contradicted proof) or to a
 * reporter that committed to the evidence in an earlier block ({commitReport}; false block hash).
 */
interface IFraudProofs {
    /// @notice The faults of docs/protocol.md §8.
    enum Fault {
        MISROUTED_DELTA,
        EQUIVOCATION,
        BATCH_MISMATCH,
        BROKEN_CHAIN,
        INVALID_ACCUMULATED_PROOF,
        EXECUTION
    }

    /// @notice A batch header with the sender's EIP-712 signature and the sender's index in the epoch.
    struct SignedHeader {
        BatchHeader header;
        bytes signature;
        uint32 senderIndex;
    }

    /// @notice An accumulated proof with the sender's EIP-712 signature and the sender's index in the epoch.
    struct SignedAccumulatedProof {
        AccumulatedProof proof;
        bytes signature;
        uint32 senderIndex;
    }

    /// @notice Thrown when the receiver named is not at `index` of the epoch's set.
    error FraudNotAtIndex(uint64 epoch, uint32 index, address worker);
    /// @notice Thrown when the evidence is valid but shows no fault: honest data.
    error FraudNoFault(Fault fault);
    /// @notice Thrown when two signed items are not of one (epoch, stream, shard, sender) channel family,
    /// not consecutive (broken chain) or not of the same seq (equivocation, contradicted proof).
    error FraudUnrelatedHeaders();
    /// @notice Thrown when deltas do not hash to the header's root: they are not provably the batch.
    error FraudNotTheBatch(bytes32 deltasRoot, bytes32 computedRoot);
    /// @notice Thrown when a batch is larger than MAX_BATCH (honest senders never exceed it).
    error FraudBatchTooLarge(uint256 count, uint256 maxBatch);
    /// @notice Thrown when a false block hash is revealed without a commitment of the caller's to it
    /// in an earlier block ({commitReport}); `committedAt` is 0 (none) or this block.
    error FraudNotCommitted(bytes32 commitment, uint256 committedAt);
    /// @notice Thrown when an LtHash state does not match the digest it stands for.
    error FraudStateMismatch(bytes32 digest, bytes32 stateDigest);
    /// @notice Thrown when {punishExecution} is called by anyone but the execution-dispute court.
    error FraudNotTheCourt(address caller);
    /// @notice Emitted when a reporter commits to evidence before revealing it ({commitReport}).
    event ReportCommitted(bytes32 indexed commitment, uint256 blockNumber);

    /// @notice Two signed headers for one (epoch, stream, shard, sender, seq) with different content.
    function proveEquivocation(SignedHeader calldata a, SignedHeader calldata b) external;

    /// @notice A signed header, one of its deltas with its Merkle proof, and the receiver's index:
    /// faulty when the delta's shard is not the header's, or the receiver does not hold that shard.
    function proveMisroutedDelta(
        SignedHeader calldata h,
        bytes calldata data,
        uint64 time,
        int64 diff,
        bytes32[] calldata proof,
        uint32 receiverIndex
    ) external;

    /// @notice A signed header and all its deltas: faulty when the signed count or batchMsh contradicts them.
    function proveBatchMismatch(SignedHeader calldata h, Delta[] calldata deltas) external;

    /// @notice Two consecutive signed headers (or one, for seq 0) with the LtHash states they commit to.
    function proveBrokenChain(
        SignedHeader calldata prevHeader,
        SignedHeader calldata next,
        bytes calldata prevCumulativeState,
        bytes calldata nextBatchState
    ) external;

    /// @notice {proveBrokenChain} with the new batch given as its deltas instead of its LtHash state
    /// (cheaper for batches of a few deltas; ≤ MAX_BATCH).
    function proveBrokenChainWithDeltas(
        SignedHeader calldata prevHeader,
        SignedHeader calldata next,
        bytes calldata prevCumulativeState,
        Delta[] calldata nextDeltas
    ) external;

    /// @notice A signed accumulated proof that names another chain than the stream's source (this
    /// chain), a block other than the last of its epoch's window ({IEpochManager-windowLastBlock}),
    /// or a hash that is not the canonical hash of that block (per the block-hash oracle). Reverts
    /// with EpochWindowOpen before the window closes and OracleUnknownBlock when the oracle cannot
    /// establish the block: such evidence never slashes.
    function proveFalseBlockHash(SignedAccumulatedProof calldata p) external;

    /// @notice A signed accumulated proof and the sender's signed header of the same (epoch, stream,
    /// shard, seq) whose cumulative multiset hashes differ.
    function proveContradictedProof(SignedAccumulatedProof calldata p, SignedHeader calldata h) external;

    /// @notice Binds the reward of a {proveFalseBlockHash} to its reporter before the evidence is
    /// public: `commitment` is {reportCommitment}(reporter, {proofDigest}(evidence)); only that
    /// reporter may then submit the proof, in a later block, and it is paid. The first commitment's
    /// block counts.
    function commitReport(bytes32 commitment) external;

    /// @notice The commitment of `reporter` to the accumulated proof with EIP-712 digest `digest`.
    function reportCommitment(address reporter, bytes32 digest) external pure returns (bytes32);

    /// @notice The EIP-712 digest of a signed accumulated proof (what its sender signed).
    function proofDigest(SignedAccumulatedProof calldata p) external view returns (bytes32);

    /// @notice Slashes the sender of `h` for EXECUTION: called by the execution-dispute court alone,
    /// once a dispute's verdict against that header is final. The reward goes to the court.
    function punishExecution(SignedHeader calldata h) external;

    /// @notice The block `commitment` was committed in (0: never).
    function reportCommittedAt(bytes32 commitment) external view returns (uint256);
}
