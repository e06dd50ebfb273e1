// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {IFraudProofs} from "./IFraudProofs.sol";

/**
 * @title IExecutionDisputes
 * @notice Execution disputes (docs/protocol.md §12, docs/design/execution-disputes.md): two holders
 * of one origin shard signed different content for one position, so at least one computed wrongly.
 * The conflict is objective and opens a dispute in one transaction; a jury of the disputed epoch's
 * members, drawn with randomness nobody knew at opening, re-executes and votes by commit-reveal; the
 * losing side may appeal to the arbitrator; a final verdict slashes the wrong holder(s) for fault
 * EXECUTION. Silence errs toward not slashing: an undecided dispute with no arbitration is a draw.
 *
 * Timeline in epochs, from `drawEpoch` = the epoch current at opening + 2 (its randomness is
 * requested only after the opening): commit while current ∈ [drawEpoch, drawEpoch + COMMIT);
 * reveal while current ∈ [revealFrom, revealFrom + REVEAL) with revealFrom = drawEpoch + COMMIT;
 * a decided verdict may be appealed while current ∈ [revealEnd, revealEnd + APPEAL); the arbitrator
 * may decide an appealed or undecided dispute while current < revealEnd + APPEAL + ARBITRATION.
 * The whole timeline ends within the disputed epoch's fraud window (checked at opening), so both
 * parties' stake is still slashable when it ends.
 */
interface IExecutionDisputes {
    /// @notice A vote, and a dispute's outcome. A juror votes A (A's content is right: B is slashed),
    /// B, or NEITHER (both are wrong: both are slashed). DRAW is only an outcome: nobody is slashed.
    enum Side {
        NONE,
        A,
        B,
        NEITHER,
        DRAW
    }

    /// @notice Where a dispute is. VOTING covers the commit, reveal and appeal windows and an
    /// undecided dispute waiting for the arbitrator; SETTLED is final and paid.
    enum Stage {
        NONE,
        VOTING,
        APPEALED,
        ARBITRATED,
        SETTLED
    }

    /// @notice The dispute rules, fixed at deployment (a new rule is a new slasher, scheduled).
    struct DisputeRules {
        uint16 jurySize; // expected number of jurors (all non-parties when the set is smaller)
        uint8 commitEpochs;
        uint8 revealEpochs;
        uint8 appealEpochs;
        uint8 arbitrationEpochs;
        uint16 openerShareBps; // of the slash reward, to the opener bound at opening; the rest to jurors
        uint96 jurorDeposit; // locked from a juror's bond at commit, lost unless it reveals the outcome
        uint96 appealBond; // paid by an appellant; back only if the arbitrator overturns the verdict
        address arbitrator; // decides appeals and undecided disputes, within the window (the governance multisig)
    }

    /// @notice A dispute as stored.
    struct Dispute {
        uint64 epoch; // the disputed epoch
        uint64 drawEpoch; // whose randomness draws the jury
        uint32 n; // the members of the epoch's set
        uint32 aIndex; // party A's index in the epoch's set (the lower address)
        uint32 bIndex;
        Stage stage;
        Side verdict; // the jury's (NONE: undecided or not tallied yet)
        Side outcome; // the final one, once arbitrated or settled
        Side appellant; // A or B when appealed
        Side beneficiaryOf; // whose header the beneficiary received (A or B; NONE: no beneficiary)
    }

    /// @notice Thrown when the two headers are signed by one sender: that is equivocation (prove it).
    error DisputeSameSender(address sender);
    /// @notice Thrown when party A's address is not below party B's (one order, one dispute id).
    error DisputeUnordered(address a, address b);
    /// @notice Thrown when the headers are of different positions (epoch, stream, shard, origin shard, seq).
    error DisputeNotSamePosition();
    /// @notice Thrown when the two headers' replica content is the same: nothing to dispute.
    error DisputeNoConflict(bytes32 replicaHash);
    /// @notice Thrown when a header is not signed by its sender's key for the epoch.
    error DisputeWrongSigner(address sender, address signer, address expected);
    /// @notice Thrown when a sender is not the member at the index given with its header.
    error DisputeNotAtIndex(uint64 epoch, address sender, uint32 index);
    /// @notice Thrown when the dispute could not end within the epoch's fraud window: opened too late.
    error DisputeTooLate(uint64 epoch, uint64 current, uint64 lastOpenEpoch);
    /// @notice Thrown when the disputed epoch is not current or past.
    error DisputeFutureEpoch(uint64 epoch, uint64 current);
    /// @notice Thrown when a dispute with these two headers exists already.
    error DisputeExists(uint256 id);
    /// @notice Thrown when no dispute has this id.
    error DisputeUnknown(uint256 id);
    /// @notice Thrown when an action is outside its window: current epoch, and the window [from, to).
    error DisputeOutsideWindow(uint256 id, uint64 current, uint64 from, uint64 to);
    /// @notice Thrown when an action does not fit the dispute's stage.
    error DisputeWrongStage(uint256 id, Stage stage);
    /// @notice Thrown when the caller is not the member at `index`, or the member was not drawn.
    error DisputeNotAJuror(uint256 id, uint32 index, address caller);
    /// @notice Thrown when a juror commits twice, or claims twice.
    error DisputeAlreadyVoted(uint256 id, uint32 index);
    /// @notice Thrown when a reveal opens a commitment made in epoch `commitEpoch`, not before the
    /// reveal window (from `revealFrom`): a late commitment is void ({reclaimVoidCommit}).
    error DisputeLateCommit(uint256 id, uint32 index, uint64 commitEpoch, uint64 revealFrom);
    /// @notice Thrown when a commitment is too small to be a hash (it would read as a revealed vote).
    error DisputeBadCommitment(bytes32 commitment);
    /// @notice Thrown when a reveal does not open the juror's commitment, or names no side.
    error DisputeBadReveal(uint256 id, uint32 index);
    /// @notice Thrown when a juror's bond cannot cover the deposit, or a withdrawal exceeds the bond.
    error DisputeBondTooLow(address juror, uint256 bond, uint256 needed);
    /// @notice Thrown when the caller may not appeal: not the party the verdict goes against.
    error DisputeNotAppellant(uint256 id, address caller);
    /// @notice Thrown when the caller is not the arbitrator.
    error DisputeNotArbitrator(address caller);
    /// @notice Thrown when the arbitrator names NONE.
    error DisputeBadOutcome(Side outcome);
    /// @notice Thrown when a dispute is not final yet: what it waits for (its stage and window end).
    error DisputeNotFinal(uint256 id, Stage stage, uint64 until);
    /// @notice Thrown when the headers given are not the dispute's.
    error DisputeNotTheEvidence(uint256 id);
    /// @notice Thrown when a juror's vote earns nothing back (did not reveal, or not the outcome).
    error DisputeNothingToClaim(uint256 id, uint32 index);
    /// @notice Thrown by the constructor when a rule is out of bounds.
    error DisputeBadRules();

    /// @notice Emitted when a dispute opens. `beneficiary` gets the opener's share (zero: none).
    event DisputeOpened(
        uint256 indexed id,
        uint64 indexed epoch,
        address partyA,
        address partyB,
        uint32 aIndex,
        uint32 bIndex,
        address beneficiary,
        uint64 drawEpoch
    );
    /// @notice Emitted when a receiver of the evidence opens a dispute a non-receiver opened first:
    /// the receiver becomes the beneficiary of the opener's share.
    event DisputeBeneficiarySet(uint256 indexed id, address beneficiary);
    /// @notice Emitted when a drawn juror commits (its deposit locked).
    event VoteCommitted(uint256 indexed id, uint32 indexed jurorIndex, address juror);
    /// @notice Emitted when a juror reveals.
    event VoteRevealed(uint256 indexed id, uint32 indexed jurorIndex, Side side);
    /// @notice Emitted when a party appeals the jury's verdict.
    event DisputeAppealed(uint256 indexed id, Side verdict, address appellant);
    /// @notice Emitted when the arbitrator decides.
    event DisputeArbitrated(uint256 indexed id, Side outcome);
    /// @notice Emitted when a dispute is final and paid: the slash reward this contract received
    /// (the slashes are Staking's Slashed events, fault EXECUTION), the opener's share of it, and
    /// what each paid juror gets on top of its deposit.
    event DisputeSettled(
        uint256 indexed id,
        Side outcome,
        uint256 reward,
        uint256 openerShare,
        uint256 perJuror,
        uint32 paidJurors
    );
    /// @notice Emitted when a juror's deposit and share go back to its bond.
    event JurorPaid(uint256 indexed id, uint32 indexed jurorIndex, address juror, uint256 amount);
    /// @notice Emitted when the deposit of a commitment never revealed goes to the burn.
    event DepositForfeited(uint256 indexed id, uint32 indexed jurorIndex, address committer, uint256 amount);
    /// @notice Emitted when a juror's bond changes by a deposit or a withdrawal.
    event JurorBond(address indexed juror, int256 change, uint256 bond);

    /// @notice Opens a dispute on two holders' signed headers for one position with different
    /// replica content (`a.header.sender` < `b.header.sender`). The caller is bound as the
    /// beneficiary of the opener's share when it is either header's signed receiver (it held the
    /// evidence: a copier of the transaction gets nothing, and a receiver opening a dispute a
    /// copier opened first becomes its beneficiary). Returns the dispute id, the hash of the two
    /// EIP-712 digests.
    function openDispute(
        IFraudProofs.SignedHeader calldata a,
        IFraudProofs.SignedHeader calldata b
    ) external returns (uint256 id);

    /// @notice A drawn juror (the member at `jurorIndex` of the disputed epoch, calling from its
    /// worker address) commits `commitment` = {voteCommitment}(id, jurorIndex, side, salt), locking
    /// DisputeRules.jurorDeposit of its bond. A commitment counts if made before the reveal window
    /// (a late one, or one to no dispute, is void: {reclaimVoidCommit}); that the caller is that
    /// drawn member is checked when it reveals.
    function commitVote(uint256 id, uint32 jurorIndex, bytes32 commitment) external;

    /// @notice Gives the caller's deposit back for a void commitment: to no dispute, or made too late.
    function reclaimVoidCommit(uint256 id, uint32 jurorIndex) external;

    /// @notice The juror reveals its committed vote; it counts if the caller is the drawn member at
    /// `jurorIndex`.
    function revealVote(uint256 id, uint32 jurorIndex, Side side, bytes32 salt) external;

    /// @notice The party a decided verdict goes against appeals within the appeal window, paying
    /// DisputeRules.appealBond; the arbitrator then decides.
    function appeal(uint256 id) external;

    /// @notice The arbitrator decides an appealed dispute, or one the jury left undecided.
    function arbitrate(uint256 id, Side outcome) external;

    /// @notice Once final, slashes the losing party or parties for EXECUTION and pays the opener's
    /// share; jurors then {claimJuror}. Anyone may call, with the dispute's two signed headers.
    function settle(uint256 id, IFraudProofs.SignedHeader calldata a, IFraudProofs.SignedHeader calldata b) external;

    /// @notice Credits the calling juror, if it revealed the outcome (or revealed at all, in a
    /// draw), with its deposit and its share, to its bond.
    function claimJuror(uint256 id, uint32 jurorIndex) external;

    /// @notice Once settled, sends the deposit of a commitment never revealed to the staking
    /// contract, which burns it. Anyone may call.
    function forfeitUnrevealed(uint256 id, uint32 jurorIndex, address committer) external;

    /// @notice Adds stake tokens to the caller's juror bond (deposits are locked from it).
    function depositJurorBond(uint256 amount) external;

    /// @notice Withdraws stake tokens from the caller's juror bond.
    function withdrawJurorBond(uint256 amount) external;

    /// @notice The commitment a juror commits for `side` with `salt`.
    function voteCommitment(uint256 id, uint32 jurorIndex, Side side, bytes32 salt) external pure returns (bytes32);

    /// @notice A dispute, its vote counts (A, B, NEITHER) and what each paid juror gets on top of its deposit.
    function disputeOf(uint256 id) external view returns (Dispute memory d, uint32[3] memory votes, uint256 perJuror);

    /// @notice Whether the member at `jurorIndex` is drawn for dispute `id` (reverts until the
    /// draw epoch's randomness is set).
    function isJuror(uint256 id, uint32 jurorIndex) external view returns (bool);

    /// @notice A committer's record under `jurorIndex`: 0 none; a commitment (its top 192 bits,
    /// and the epoch it was made in, in the low 64 bits); the revealed side (1..3); or 255
    /// claimed, reclaimed or forfeited.
    function voteOf(uint256 id, uint32 jurorIndex, address juror) external view returns (bytes32);

    /// @notice The caller-independent juror bond of `juror`.
    function jurorBondOf(address juror) external view returns (uint256);

    /// @notice The dispute rules.
    function disputeRules() external view returns (DisputeRules memory);
}
