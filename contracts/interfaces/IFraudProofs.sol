// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {BatchHeader} from "../libraries/BatchHeaders.sol";
import {Delta} from "../libraries/DeltaMerkle.sol";

/**
 * @title IFraudProofs
 * @notice One-transaction fraud proofs against a worker's signed batch headers (PROTOCOL.md §8).
 * Anyone may submit while the fault's epoch is within FRAUD_WINDOW_EPOCHS; everything is
 * recomputed from signed data and the epoch's frozen n, k and r.
 */
interface IFraudProofs {
    /// @notice The faults of PROTOCOL.md §8.
    enum Fault {
        MISROUTED_DELTA,
        EQUIVOCATION,
        BATCH_MISMATCH,
        BROKEN_CHAIN,
        INVALID_ACCUMULATED_PROOF
    }

    /// @notice A batch header with the sender's EIP-712 signature and the sender's index in the epoch.
    struct SignedHeader {
        BatchHeader header;
        bytes signature;
        uint32 senderIndex;
    }

    /// @notice Thrown when the evidence's epoch has no randomness yet or has left the fraud window.
    error FraudOutsideWindow(uint64 epoch, uint64 current, uint256 window);
    /// @notice Thrown when a signature is not by the sender's signing key for the header's epoch.
    error FraudBadSignature(address sender, address recovered, address expected);
    /// @notice Thrown when the sender is not at `index` of the epoch's set.
    error FraudNotAtIndex(uint64 epoch, uint32 index, address worker);
    /// @notice Thrown when the evidence is valid but shows no fault: honest data.
    error FraudNoFault(Fault fault);
    /// @notice Thrown when this (sender, epoch, fault) was punished already.
    error FraudAlreadyPunished(bytes32 evidenceId);
    /// @notice Thrown when two headers are not of one (epoch, stream, shard, sender) channel family, or not consecutive.
    error FraudUnrelatedHeaders();
    /// @notice Thrown when deltas do not hash to the header's root: they are not provably the batch.
    error FraudNotTheBatch(bytes32 deltasRoot, bytes32 computedRoot);
    /// @notice Thrown when a batch is larger than MAX_BATCH (honest senders never exceed it).
    error FraudBatchTooLarge(uint256 count, uint256 maxBatch);
    /// @notice Thrown when an LtHash state does not match the digest it stands for.
    error FraudStateMismatch(bytes32 digest, bytes32 stateDigest);
    /// @notice Thrown when a slash share is above 10,000 bps.
    error FraudInvalidBps(uint256 bps);

    /// @notice Emitted when a fault is proven and punished.
    event FraudProven(
        bytes32 indexed evidenceId,
        Fault indexed fault,
        address indexed sender,
        uint64 epoch,
        address reporter,
        uint256 slashed
    );

    /// @notice Emitted when governance sets a fault's slash share.
    event SlashBpsSet(Fault fault, uint256 bps);

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
}
