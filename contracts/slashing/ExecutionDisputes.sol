// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IExecutionDisputes} from "../interfaces/IExecutionDisputes.sol";
import {IFraudProofs} from "../interfaces/IFraudProofs.sol";
import {IEpochManager} from "../interfaces/IEpochManager.sol";
import {IStaking} from "../interfaces/IStaking.sol";
import {BatchHeaders, BatchHeader} from "../libraries/BatchHeaders.sol";

/**
 * @title ExecutionDisputes
 * @notice The execution-dispute court. The FraudProofs contract creates it in its constructor and
 * is its only way to slash: a final verdict calls {IFraudProofs-punishExecution}, which accepts
 * calls from this contract alone. It judges headers signed under the FraudProofs' EIP-712 domain.
 * See {IExecutionDisputes} for the rules and docs/contracts/execution-disputes.md for the security
 * argument behind the jury size and the supermajority. Nothing here can be changed after
 * deployment: new rules are a new FraudProofs, installed as a scheduled slasher change.
 *
 * No loop over jurors anywhere: each juror's commit, reveal and claim is its own transaction, and
 * the verdict is a comparison of three counters. A juror is drawn by an O(1) check.
 */
contract ExecutionDisputes is IExecutionDisputes, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    uint256 private constant _BPS = 10_000;
    /// @dev A juror record that is a revealed side is 1..3; a claimed one is this.
    uint256 private constant _CLAIMED = 255;

    IEpochManager private immutable _epochs;
    IFraudProofs private immutable _slasher;
    bytes32 private immutable _domainSeparator;
    IERC20 private immutable _token;
    uint16 private immutable _jurySize;
    uint8 private immutable _commitEpochs;
    uint8 private immutable _revealEpochs;
    uint8 private immutable _appealEpochs;
    uint8 private immutable _arbitrationEpochs;
    uint16 private immutable _openerShareBps;
    uint96 private immutable _jurorDeposit;
    uint96 private immutable _appealBond;
    address private immutable _arbitrator;

    /// @dev A dispute's state in one slot (the draw epoch as an offset from the epoch, so that the
    /// set size fits too).
    struct State {
        uint64 epoch;
        uint32 drawOffset; // drawEpoch - epoch (at most the fraud window)
        uint32 n; // the members of the epoch's set (the draw needs it)
        uint32 aIndex;
        uint32 bIndex;
        Stage stage;
        Side verdict;
        Side outcome;
        Side appellant;
        Side beneficiaryOf; // whose header the beneficiary received (A or B; NONE: no beneficiary)
    }

    /// @dev One dispute in two slots, both written at opening so that no vote pays for a fresh slot.
    /// The dispute's id is the hash of the two header digests: it is the evidence commitment.
    struct Record {
        State d;
        // Before settlement, the beneficiary of the opener's share (an address, zero for none);
        // after it (the beneficiary paid), what each paid juror gets on top of its deposit.
        uint160 payee;
        uint24 votesA;
        uint24 votesB;
        uint24 votesNeither;
        bool opened; // keeps the slot non-zero
    }

    mapping(uint256 id => Record) private _disputes;
    /// @dev (id, jurorIndex, juror address) → the commitment's top 192 bits and the epoch it was
    /// committed in (the low 64 bits); then the revealed side (1..3); then _CLAIMED.
    /// The committer's address is in the key: a commitment under another member's index is never
    /// revealable (the reveal checks the index) and cannot block that member's own.
    mapping(bytes32 key => bytes32 vote) private _votes;
    mapping(address juror => uint256 amount) private _bonds;

    /// @param domainSeparator The creating FraudProofs' EIP-712 domain separator (what headers are signed under).
    constructor(IEpochManager epochs, DisputeRules memory rules, bytes32 domainSeparator) {
        if (
            rules.jurySize == 0 ||
            rules.commitEpochs == 0 ||
            rules.revealEpochs == 0 ||
            rules.appealEpochs == 0 ||
            rules.arbitrationEpochs == 0 ||
            rules.openerShareBps > _BPS ||
            rules.arbitrator == address(0)
        ) revert DisputeBadRules();
        _epochs = epochs;
        _slasher = IFraudProofs(msg.sender);
        _domainSeparator = domainSeparator;
        _token = IERC20(epochs.stakeToken());
        _jurySize = rules.jurySize;
        _commitEpochs = rules.commitEpochs;
        _revealEpochs = rules.revealEpochs;
        _appealEpochs = rules.appealEpochs;
        _arbitrationEpochs = rules.arbitrationEpochs;
        _openerShareBps = rules.openerShareBps;
        _jurorDeposit = rules.jurorDeposit;
        _appealBond = rules.appealBond;
        _arbitrator = rules.arbitrator;
    }

    /// @dev The EIP-712 digest of a signed header, under the FraudProofs' domain.
    function _headerDigest(IFraudProofs.SignedHeader calldata s) private view returns (bytes32) {
        return BatchHeaders.typedDataHash(_domainSeparator, BatchHeaders.hashCalldata(s.header));
    }

    // ------------------------------------------------------------------ opening

    /// @inheritdoc IExecutionDisputes
    function openDispute(
        IFraudProofs.SignedHeader calldata a,
        IFraudProofs.SignedHeader calldata b
    ) external returns (uint256 id) {
        (uint64 epoch, uint64 drawEpoch, uint32 n, bytes32 digestA, bytes32 digestB) = _checkConflict(a, b);
        id = uint256(keccak256(abi.encode(digestA, digestB)));
        Record storage rec = _disputes[id];
        // The opener's share is bound now to a receiver of the evidence, never a party: a copier
        // gets nothing. It is paid only if the header it received is the right one.
        Side beneficiaryOf = _receiverSide(a, b);
        address beneficiary = beneficiaryOf == Side.NONE ? address(0) : msg.sender;
        if (rec.d.stage != Stage.NONE) {
            // A copier that opened first (front-running a receiver's transaction) took no share:
            // the first receiver to open it still does.
            if (beneficiary == address(0) || rec.payee != 0 || rec.d.stage == Stage.SETTLED) revert DisputeExists(id);
            (rec.payee, rec.d.beneficiaryOf) = (uint160(beneficiary), beneficiaryOf);
            emit DisputeBeneficiarySet(id, beneficiary);
            return id;
        }
        rec.d = State({
            epoch: epoch,
            drawOffset: SafeCast.toUint32(drawEpoch - epoch),
            n: n,
            aIndex: a.senderIndex,
            bIndex: b.senderIndex,
            stage: Stage.VOTING,
            verdict: Side.NONE,
            outcome: Side.NONE,
            appellant: Side.NONE,
            beneficiaryOf: beneficiaryOf
        });
        (rec.payee, rec.opened) = (uint160(beneficiary), true);
        emit DisputeOpened(
            id,
            epoch,
            a.header.sender,
            b.header.sender,
            a.senderIndex,
            b.senderIndex,
            beneficiary,
            drawEpoch
        );
    }

    /// @dev Which header the caller is the signed receiver of (A first), NONE for a party or anyone else.
    function _receiverSide(
        IFraudProofs.SignedHeader calldata a,
        IFraudProofs.SignedHeader calldata b
    ) private view returns (Side) {
        if (msg.sender == a.header.sender || msg.sender == b.header.sender) return Side.NONE;
        if (msg.sender == a.header.receiver) return Side.A;
        if (msg.sender == b.header.receiver) return Side.B;
        return Side.NONE;
    }

    /// @dev Two members' signed headers of one position whose replica content differs, opened in
    /// time: returns the epoch, the draw epoch, the set's size and the two digests. Whether the
    /// senders hold the origin shard is not checked (two Shuffle.holds, ~60,000 gas): the right
    /// content of a position does not depend on who signs it, an honest worker signs only positions
    /// of shards it holds, and a non-holder that signs a wrong one has signed a wrong output.
    function _checkConflict(
        IFraudProofs.SignedHeader calldata a,
        IFraudProofs.SignedHeader calldata b
    ) private view returns (uint64 epoch, uint64 drawEpoch, uint32 n, bytes32 digestA, bytes32 digestB) {
        BatchHeader calldata x = a.header;
        BatchHeader calldata y = b.header;
        if (x.sender == y.sender) revert DisputeSameSender(x.sender);
        if (x.sender > y.sender) revert DisputeUnordered(x.sender, y.sender);
        if (
            x.epoch != y.epoch ||
            x.stream != y.stream ||
            x.shard != y.shard ||
            x.originShard != y.originShard ||
            x.seq != y.seq
        ) revert DisputeNotSamePosition();
        bytes32 replica = BatchHeaders.replicaHashCalldata(x);
        if (replica == BatchHeaders.replicaHashCalldata(y)) revert DisputeNoConflict(replica);

        epoch = x.epoch;
        uint64 current = _epochs.currentEpoch();
        if (epoch > current) revert DisputeFutureEpoch(epoch, current);
        // Everything, arbitration included, ends within the epoch's fraud window: the parties'
        // stake is slashable until then, and a dispute needs no lock of its own.
        uint256 span = 2 + uint256(_commitEpochs) + _revealEpochs + _appealEpochs + _arbitrationEpochs;
        uint256 window = _epochs.parameter(IEpochManager.Param.FRAUD_WINDOW_EPOCHS);
        if (current + span > epoch + window) {
            revert DisputeTooLate(epoch, current, epoch + window >= span ? uint64(epoch + window - span) : 0);
        }
        drawEpoch = current + 2;

        n = _epochs.numWorkers(epoch);
        digestA = _checkSigned(a, n);
        digestB = _checkSigned(b, n);
    }

    /// @dev The header is signed by its sender's key for the epoch, and the sender is at its index
    /// (the jury excludes the parties by index). Returns the header's EIP-712 digest.
    function _checkSigned(IFraudProofs.SignedHeader calldata s, uint32 n) private view returns (bytes32 digest) {
        BatchHeader calldata h = s.header;
        digest = _headerDigest(s);
        address signer = ECDSA.recoverCalldata(digest, s.signature);
        address expected = _epochs.signingKeyAt(h.sender, h.epoch);
        if (signer != expected || expected == address(0)) revert DisputeWrongSigner(h.sender, signer, expected);
        if (s.senderIndex >= n || _epochs.workerAt(h.epoch, s.senderIndex) != h.sender) {
            revert DisputeNotAtIndex(h.epoch, h.sender, s.senderIndex);
        }
    }

    // ------------------------------------------------------------------ the jury

    /// @inheritdoc IExecutionDisputes
    /// @dev The commit does not read the dispute, to keep within its gas budget: it records the
    /// epoch it was made in, and the reveal counts it only if that epoch is before the reveal
    /// window. A commitment to no dispute, or made too late, is void and its deposit goes back
    /// ({reclaimVoidCommit}). Whether the caller is the drawn member at `jurorIndex` is checked at
    /// the reveal: a commitment that is not a drawn juror's is never revealed, and its deposit is
    /// forfeited ({forfeitUnrevealed}).
    function commitVote(uint256 id, uint32 jurorIndex, bytes32 commitment) external {
        if (uint256(commitment) >> 64 == 0) revert DisputeBadCommitment(commitment);
        bytes32 key = _voteKey(id, jurorIndex, msg.sender);
        if (_votes[key] != bytes32(0)) revert DisputeAlreadyVoted(id, jurorIndex);
        uint256 bond = _bonds[msg.sender];
        if (bond < _jurorDeposit) revert DisputeBondTooLow(msg.sender, bond, _jurorDeposit);
        unchecked {
            _bonds[msg.sender] = bond - _jurorDeposit;
        }
        _votes[key] = bytes32(((uint256(commitment) >> 64) << 64) | _epochs.currentEpoch());
        emit VoteCommitted(id, jurorIndex, msg.sender);
    }

    /// @inheritdoc IExecutionDisputes
    function revealVote(uint256 id, uint32 jurorIndex, Side side, bytes32 salt) external {
        Record storage rec = _disputes[id];
        State storage d = rec.d;
        (Stage stage, uint64 drawEpoch) = (d.stage, d.epoch + d.drawOffset); // one read of the slot
        if (stage != Stage.VOTING) revert DisputeWrongStage(id, stage);
        uint64 from = drawEpoch + _commitEpochs;
        _inWindow(id, from, from + _revealEpochs);
        bytes32 key = _voteKey(id, jurorIndex, msg.sender);
        uint256 committed = uint256(_votes[key]);
        if (
            side == Side.NONE ||
            side == Side.DRAW ||
            committed >> 64 == 0 ||
            committed >> 64 != uint256(voteCommitment(id, jurorIndex, side, salt)) >> 64
        ) revert DisputeBadReveal(id, jurorIndex);
        // Committed before the reveal window, or void (a commit made once reveals could be seen).
        if (uint64(committed) >= from) revert DisputeLateCommit(id, jurorIndex, uint64(committed), from);
        if (
            _epochs.workerAt(d.epoch, jurorIndex) != msg.sender || !_drawn(d, _epochs.randomness(drawEpoch), jurorIndex)
        ) revert DisputeNotAJuror(id, jurorIndex, msg.sender);
        _votes[key] = bytes32(uint256(side));
        if (side == Side.A) ++rec.votesA;
        else if (side == Side.B) ++rec.votesB;
        else ++rec.votesNeither;
        emit VoteRevealed(id, jurorIndex, side);
    }

    /// @inheritdoc IExecutionDisputes
    function appeal(uint256 id) external nonReentrant {
        Record storage rec = _disputes[id];
        State memory d = rec.d;
        if (d.stage != Stage.VOTING) revert DisputeWrongStage(id, d.stage);
        uint64 revealEnd = _revealEnd(d);
        _inWindow(id, revealEnd, revealEnd + _appealEpochs);
        Side verdict = _tally(rec);
        Side appellant;
        if ((verdict == Side.B || verdict == Side.NEITHER) && msg.sender == _epochs.workerAt(d.epoch, d.aIndex)) {
            appellant = Side.A;
        } else if (
            (verdict == Side.A || verdict == Side.NEITHER) && msg.sender == _epochs.workerAt(d.epoch, d.bIndex)
        ) {
            appellant = Side.B;
        } else {
            revert DisputeNotAppellant(id, msg.sender);
        }
        (rec.d.stage, rec.d.verdict, rec.d.appellant) = (Stage.APPEALED, verdict, appellant);
        emit DisputeAppealed(id, verdict, msg.sender);
        _token.safeTransferFrom(msg.sender, address(this), _appealBond);
    }

    /// @inheritdoc IExecutionDisputes
    function arbitrate(uint256 id, Side outcome) external {
        if (msg.sender != _arbitrator) revert DisputeNotArbitrator(msg.sender);
        if (outcome == Side.NONE) revert DisputeBadOutcome(outcome);
        Record storage rec = _disputes[id];
        State memory d = rec.d;
        uint64 revealEnd = _revealEnd(d);
        if (d.stage == Stage.VOTING) {
            // The jury left it undecided: the arbitrator decides from the end of the reveals.
            _inWindow(id, revealEnd, revealEnd + _appealEpochs + _arbitrationEpochs);
            if (_tally(rec) != Side.NONE) revert DisputeWrongStage(id, d.stage);
        } else if (d.stage == Stage.APPEALED) {
            _inWindow(id, revealEnd, revealEnd + _appealEpochs + _arbitrationEpochs);
        } else {
            revert DisputeWrongStage(id, d.stage);
        }
        (rec.d.stage, rec.d.outcome) = (Stage.ARBITRATED, outcome);
        emit DisputeArbitrated(id, outcome);
    }

    // ------------------------------------------------------------------ settlement

    /// @inheritdoc IExecutionDisputes
    function settle(
        uint256 id,
        IFraudProofs.SignedHeader calldata a,
        IFraudProofs.SignedHeader calldata b
    ) external nonReentrant {
        Record storage rec = _disputes[id];
        State memory d = rec.d;
        if (uint256(keccak256(abi.encode(_headerDigest(a), _headerDigest(b)))) != id) revert DisputeNotTheEvidence(id);
        Side outcome = _finalOutcome(id, rec, d);
        _payOut(id, rec, d, outcome, _slashLosers(outcome, a, b));
    }

    /// @dev Marks the dispute settled and pays: the opener's share of the slash reward, an appeal
    /// bond back, and what nobody earned to the burn.
    function _payOut(uint256 id, Record storage rec, State memory d, Side outcome, uint256 reward) private {
        // The beneficiary is paid when the header it received is the right one (not on NEITHER).
        address beneficiary = address(rec.payee);
        uint256 openerShare =
            beneficiary != address(0) && outcome == d.beneficiaryOf ? Math.mulDiv(reward, _openerShareBps, _BPS) : 0;
        // To the burn (the staking contract burns what it holds beyond stakes and rewards): the
        // pool's rounding dust or a pool nobody earned, a bond left to time out, and anything the
        // court was credited before (a header naming it as receiver) that is not this reward.
        uint256 burn = _settleTally(id, rec, d, outcome, reward, openerShare);
        if (_epochs.claimableOf(address(this)) != 0) burn += _epochs.claimRewards() - reward;
        if (openerShare != 0) _token.safeTransfer(beneficiary, openerShare);
        if (d.appellant != Side.NONE && d.stage == Stage.ARBITRATED && outcome != d.verdict) {
            // Overturned: the appellant's bond goes back.
            _token.safeTransfer(_epochs.workerAt(d.epoch, d.appellant == Side.A ? d.aIndex : d.bIndex), _appealBond);
        }
        if (burn != 0) _token.safeTransfer(address(_epochs), burn);
    }

    /// @dev Records the outcome and what each paid juror gets on top of its deposit; returns what
    /// of the pool burns (rounding dust, a pool nobody earned, a bond left to time out).
    function _settleTally(
        uint256 id,
        Record storage rec,
        State memory d,
        Side outcome,
        uint256 reward,
        uint256 openerShare
    ) private returns (uint256 burn) {
        uint256 pool;
        uint32 paid;
        (pool, paid, burn) = _pool(rec, d, outcome, reward - openerShare);
        uint256 perJuror = paid == 0 ? 0 : pool / paid;
        burn += pool - perJuror * paid;
        rec.d.stage = Stage.SETTLED;
        rec.d.outcome = outcome;
        rec.payee = uint160(perJuror); // the beneficiary is read before, and paid after
        emit DisputeSettled(id, outcome, reward, openerShare, perJuror, paid);
    }

    /// @dev Slashes the losing party or parties (Staking emits Slashed with the amounts) and
    /// returns the reward this contract was credited. A refused punishment (the fault already
    /// punished in this epoch, a window shortened by governance, a slasher replaced) slashes
    /// nothing, and the dispute still settles.
    function _slashLosers(
        Side outcome,
        IFraudProofs.SignedHeader calldata a,
        IFraudProofs.SignedHeader calldata b
    ) private returns (uint256 reward) {
        uint256 before = _epochs.claimableOf(address(this));
        if (outcome == Side.B || outcome == Side.NEITHER) _punishExecution(a);
        if (outcome == Side.A || outcome == Side.NEITHER) _punishExecution(b);
        reward = _epochs.claimableOf(address(this)) - before;
    }

    /// @dev What the paid jurors share: their part of the reward, the deposits of the jurors that
    /// revealed another side, and an appeal bond the arbitrator upheld the verdict against.
    function _pool(
        Record storage rec,
        State memory d,
        Side outcome,
        uint256 jurorsReward
    ) private view returns (uint256 pool, uint32 paid, uint256 bondBurned) {
        pool = jurorsReward;
        // The bond comes back only when the arbitrator overturned the verdict (_payOut); upheld,
        // it is the jurors'; left to time out as a draw, it is burned (an appeal is never free for
        // a cheater, and never pays a jury whose verdict was appealed against).
        if (d.appellant != Side.NONE) {
            if (d.stage != Stage.ARBITRATED) bondBurned = _appealBond;
            else if (outcome == d.verdict) pool += _appealBond;
        }
        // Jurors that revealed another side lose their deposits to the pool; those that never
        // revealed lose theirs to the burn ({forfeitUnrevealed}).
        paid = _paidJurors(rec, outcome);
        pool += uint256(uint32(rec.votesA) + rec.votesB + rec.votesNeither - paid) * _jurorDeposit;
    }

    /// @inheritdoc IExecutionDisputes
    function claimJuror(uint256 id, uint32 jurorIndex) external {
        Record storage rec = _disputes[id];
        State storage d = rec.d;
        if (d.stage != Stage.SETTLED) revert DisputeWrongStage(id, d.stage);
        bytes32 key = _voteKey(id, jurorIndex, msg.sender);
        uint256 vote = uint256(_votes[key]);
        bool earned = d.outcome == Side.DRAW ? vote >= 1 && vote <= 3 : vote == uint256(d.outcome);
        if (!earned) {
            if (vote == _CLAIMED) revert DisputeAlreadyVoted(id, jurorIndex);
            revert DisputeNothingToClaim(id, jurorIndex);
        }
        _votes[key] = bytes32(_CLAIMED);
        uint256 amount = uint256(_jurorDeposit) + rec.payee;
        _bonds[msg.sender] += amount;
        emit JurorPaid(id, jurorIndex, msg.sender, amount);
    }

    /// @inheritdoc IExecutionDisputes
    function forfeitUnrevealed(uint256 id, uint32 jurorIndex, address committer) external nonReentrant {
        State storage d = _disputes[id].d;
        if (d.stage != Stage.SETTLED) revert DisputeWrongStage(id, d.stage);
        bytes32 key = _voteKey(id, jurorIndex, committer);
        uint256 committed = uint256(_votes[key]);
        // A commitment made in time and never revealed (a void one is its committer's to reclaim).
        if (committed >> 64 == 0 || uint64(committed) >= _drawEpoch(d) + _commitEpochs) {
            revert DisputeNothingToClaim(id, jurorIndex);
        }
        _votes[key] = bytes32(_CLAIMED);
        emit DepositForfeited(id, jurorIndex, committer, _jurorDeposit);
        _token.safeTransfer(address(_epochs), _jurorDeposit);
    }

    /// @inheritdoc IExecutionDisputes
    function depositJurorBond(uint256 amount) external nonReentrant {
        uint256 bond = _bonds[msg.sender] + amount;
        _bonds[msg.sender] = bond;
        emit JurorBond(msg.sender, int256(amount), bond);
        _token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IExecutionDisputes
    function withdrawJurorBond(uint256 amount) external nonReentrant {
        uint256 bond = _bonds[msg.sender];
        if (amount > bond) revert DisputeBondTooLow(msg.sender, bond, amount);
        _bonds[msg.sender] = bond - amount;
        emit JurorBond(msg.sender, -int256(amount), bond - amount);
        _token.safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc IExecutionDisputes
    function reclaimVoidCommit(uint256 id, uint32 jurorIndex) external {
        State storage d = _disputes[id].d;
        bytes32 key = _voteKey(id, jurorIndex, msg.sender);
        uint256 committed = uint256(_votes[key]);
        bool void = d.stage == Stage.NONE || uint64(committed) >= _drawEpoch(d) + _commitEpochs;
        if (committed >> 64 == 0 || !void) revert DisputeNothingToClaim(id, jurorIndex);
        _votes[key] = bytes32(_CLAIMED);
        _bonds[msg.sender] += _jurorDeposit;
        emit JurorPaid(id, jurorIndex, msg.sender, _jurorDeposit);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IExecutionDisputes
    function voteCommitment(uint256 id, uint32 jurorIndex, Side side, bytes32 salt) public pure returns (bytes32) {
        return keccak256(abi.encode(id, jurorIndex, side, salt));
    }

    /// @inheritdoc IExecutionDisputes
    function disputeOf(uint256 id) external view returns (Dispute memory d, uint32[3] memory votes, uint256 perJuror) {
        Record storage rec = _disputes[id];
        State memory s = rec.d;
        if (s.stage == Stage.NONE) revert DisputeUnknown(id);
        d = Dispute({
            epoch: s.epoch,
            drawEpoch: _drawEpoch(s),
            n: s.n,
            aIndex: s.aIndex,
            bIndex: s.bIndex,
            stage: s.stage,
            verdict: s.verdict,
            outcome: s.outcome,
            appellant: s.appellant,
            beneficiaryOf: s.beneficiaryOf
        });
        return (d, [uint32(rec.votesA), rec.votesB, rec.votesNeither], s.stage == Stage.SETTLED ? rec.payee : 0);
    }

    /// @inheritdoc IExecutionDisputes
    function isJuror(uint256 id, uint32 jurorIndex) external view returns (bool) {
        State storage d = _disputes[id].d;
        if (d.stage == Stage.NONE) revert DisputeUnknown(id);
        return _drawn(d, _epochs.randomness(_drawEpoch(d)), jurorIndex);
    }

    /// @inheritdoc IExecutionDisputes
    function voteOf(uint256 id, uint32 jurorIndex, address juror) external view returns (bytes32) {
        return _votes[_voteKey(id, jurorIndex, juror)];
    }

    /// @inheritdoc IExecutionDisputes
    function jurorBondOf(address juror) external view returns (uint256) {
        return _bonds[juror];
    }

    /// @inheritdoc IExecutionDisputes
    function disputeRules() external view returns (DisputeRules memory) {
        return
            DisputeRules({
                jurySize: _jurySize,
                commitEpochs: _commitEpochs,
                revealEpochs: _revealEpochs,
                appealEpochs: _appealEpochs,
                arbitrationEpochs: _arbitrationEpochs,
                openerShareBps: _openerShareBps,
                jurorDeposit: _jurorDeposit,
                appealBond: _appealBond,
                arbitrator: _arbitrator
            });
    }

    // ------------------------------------------------------------------ internals

    function _voteKey(uint256 id, uint32 jurorIndex, address juror) private pure returns (bytes32) {
        return keccak256(abi.encode(id, jurorIndex, juror));
    }

    function _drawEpoch(State memory d) private pure returns (uint64) {
        return d.epoch + d.drawOffset;
    }

    function _revealEnd(State memory d) private view returns (uint64) {
        return _drawEpoch(d) + _commitEpochs + _revealEpochs;
    }

    /// @dev Reverts unless the current epoch is in [from, to).
    function _inWindow(uint256 id, uint64 from, uint64 to) private view {
        uint64 current = _epochs.currentEpoch();
        if (current < from || current >= to) revert DisputeOutsideWindow(id, current, from, to);
    }

    /// @dev Whether member `j` is a juror: not a party, and below the draw's threshold. With
    /// `seats` = n - 2 non-parties and J the jury size, each is drawn with probability J / seats
    /// (every one when seats ≤ J), independently, by keccak256(r, epoch, aIndex, bIndex, j). The
    /// seed names the parties, not the dispute: a cheater that signs many wrong contents opens
    /// many disputes, but gets the same jury for all those drawn in one epoch.
    function _drawn(State storage d, bytes32 r, uint32 j) private view returns (bool) {
        uint256 n = d.n;
        if (j >= n || j == d.aIndex || j == d.bIndex) return false;
        uint256 seats = n - 2;
        if (_jurySize >= seats) return true;
        return
            uint256(keccak256(abi.encode(r, d.epoch, d.aIndex, d.bIndex, j))) < (type(uint256).max / seats) * _jurySize;
    }

    /// @dev The jury's verdict: a side with at least ¾ of the expected seats (min(J, n - 2),
    /// rounded up, at least 1) of revealed votes; NONE otherwise, or when the draw epoch's
    /// randomness was carried from the epoch before (known at opening: the draw is void).
    function _tally(Record storage rec) private view returns (Side) {
        uint64 drawEpoch = _drawEpoch(rec.d);
        if (_epochs.randomness(drawEpoch) == _epochs.randomness(drawEpoch - 1)) return Side.NONE;
        uint256 seats = Math.min(_jurySize, uint256(rec.d.n) - 2);
        uint256 need = Math.max(1, Math.ceilDiv(3 * seats, 4));
        // A side needs `need` votes and more than the other two together: a split never goes to
        // whichever side is counted first.
        uint256 total = uint256(rec.votesA) + rec.votesB + rec.votesNeither;
        if (rec.votesA >= need && 2 * uint256(rec.votesA) > total) return Side.A;
        if (rec.votesB >= need && 2 * uint256(rec.votesB) > total) return Side.B;
        if (rec.votesNeither >= need && 2 * uint256(rec.votesNeither) > total) return Side.NEITHER;
        return Side.NONE;
    }

    /// @dev The outcome once final; reverts with what the dispute still waits for.
    function _finalOutcome(uint256 id, Record storage rec, State memory d) private view returns (Side) {
        if (d.stage == Stage.ARBITRATED) return d.outcome;
        if (d.stage != Stage.VOTING && d.stage != Stage.APPEALED) revert DisputeWrongStage(id, d.stage);
        uint64 revealEnd = _revealEnd(d);
        uint64 arbitrationEnd = revealEnd + _appealEpochs + _arbitrationEpochs;
        uint64 current = _epochs.currentEpoch();
        if (current < revealEnd) revert DisputeNotFinal(id, d.stage, revealEnd);
        if (d.stage == Stage.VOTING) {
            Side verdict = _tally(rec);
            if (verdict != Side.NONE) {
                uint64 appealEnd = revealEnd + _appealEpochs;
                if (current < appealEnd) revert DisputeNotFinal(id, d.stage, appealEnd);
                return verdict;
            }
        }
        // Appealed, or undecided, and the arbitrator has not decided: a draw once its time is up.
        if (current < arbitrationEnd) revert DisputeNotFinal(id, d.stage, arbitrationEnd);
        return Side.DRAW;
    }

    /// @dev The jurors paid: those that revealed the outcome, or in a draw every one that revealed.
    function _paidJurors(Record storage rec, Side outcome) private view returns (uint32) {
        if (outcome == Side.A) return rec.votesA;
        if (outcome == Side.B) return rec.votesB;
        if (outcome == Side.NEITHER) return rec.votesNeither;
        return uint32(rec.votesA) + rec.votesB + rec.votesNeither;
    }

    /// @dev Slashes a losing party for EXECUTION with its signed header as the evidence, through
    /// the FraudProofs (the slasher); the reward comes to this contract (it pays the opener and the
    /// jurors). Only the refusals that no caller can avoid are ignored: the fault already punished
    /// in the epoch, the fraud window passed or shortened, the slasher replaced, or a member that
    /// departed. Anything else (a signature or index the caller changed, out of gas) reverts, so
    /// that nobody settles a verdict into nothing with made-up evidence.
    function _punishExecution(IFraudProofs.SignedHeader calldata s) private {
        try _slasher.punishExecution(s) {
            return;
        } catch (bytes memory reason) {
            bytes4 selector = reason.length >= 4 ? bytes4(reason) : bytes4(0);
            if (
                selector != IStaking.StakingAlreadyPunished.selector &&
                selector != IStaking.StakingOutsideFraudWindow.selector &&
                selector != IStaking.StakingNotSlasher.selector &&
                selector != IStaking.StakingDepartedMember.selector
            ) {
                assembly ("memory-safe") {
                    revert(add(reason, 0x20), mload(reason))
                }
            }
        }
    }
}
