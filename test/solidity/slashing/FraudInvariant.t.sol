// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {FraudBase} from "./FraudBase.sol";
import {Vm} from "../utils/Vm.sol";
import {FraudProofs} from "../../../contracts/slashing/FraudProofs.sol";
import {IFraudProofs} from "../../../contracts/interfaces/IFraudProofs.sol";
import {EpochManager} from "../../../contracts/epochs/EpochManager.sol";
import {IStaking} from "../../../contracts/interfaces/IStaking.sol";
import {TestToken} from "../../../contracts/mocks/TestToken.sol";
import {BatchHeaders, BatchHeader} from "../../../contracts/libraries/BatchHeaders.sol";
import {DeltaMerkle, Delta} from "../../../contracts/libraries/DeltaMerkle.sol";
import {LtHash} from "../../../contracts/libraries/LtHash.sol";
import {Sharding} from "../../../contracts/libraries/Sharding.sol";
import {Shuffle} from "../../../contracts/libraries/Shuffle.sol";

/// @notice Submits evidence of two kinds at random: real faults by the two cheaters (set indices 0
/// and 1), and honest data of the two honest workers (2 and 3) dressed up as evidence. Keeps the
/// ghosts the slashing invariants compare against.
contract FraudHandler {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    EpochManager public em;
    FraudProofs public fraud;
    TestToken public token;
    bytes32 public stream;
    mapping(address worker => uint256 key) public keyOf;
    mapping(address worker => uint256) public slashedOf; // ghost: Σ stake lost per worker
    mapping(address worker => uint256) public stakeAtFault; // the stake it committed for epoch 1
    address[4] public members;
    uint256 public slashed; // Σ over workers
    uint256 public burned;
    uint256 public paid;
    uint256 public punishments;
    bool public honestSlashed; // honest evidence accepted
    bool public doublePunished; // the same (sender, epoch, fault) accepted twice
    uint256 public calls;

    constructor(EpochManager em_, FraudProofs fraud_, TestToken token_, bytes32 stream_, uint256[4] memory keys) {
        em = em_;
        fraud = fraud_;
        token = token_;
        stream = stream_;
        for (uint32 i; i < 4; ++i) {
            address w = em.workerAt(1, i);
            members[i] = w;
            stakeAtFault[w] = em.committedStakeAt(1, i);
            for (uint256 j; j < 4; ++j) if (vm.addr(keys[j]) == em.signingKeyAt(w, 1)) keyOf[w] = keys[j];
        }
    }

    // ------------------------------------------------------------------ actions

    /// A cheater sends two contents for one seq; the evidence is submitted (maybe again).
    function equivocate(uint256 seed) external {
        ++calls;
        uint32 s = uint32(seed % 2);
        uint64 seq = uint64((seed >> 8) % 3);
        IFraudProofs.SignedHeader memory a = _signed(_header(s, 0, 2, seq, _one(seed)), s);
        IFraudProofs.SignedHeader memory b = _signed(_header(s, 0, 3, seq, _one(seed + 1)), s);
        _submit(abi.encodeCall(fraud.proveEquivocation, (a, b)), members[s], IFraudProofs.Fault.EQUIVOCATION, seed);
    }

    /// A cheater signs a count that its deltas contradict.
    function lieAboutCount(uint256 seed) external {
        ++calls;
        uint32 s = uint32(seed % 2);
        Delta[] memory ds = _one(seed);
        BatchHeader memory h = _header(s, 0, 2, 0, ds);
        h.count += 1;
        _submit(
            abi.encodeCall(fraud.proveBatchMismatch, (_signed(h, s), ds)),
            members[s],
            IFraudProofs.Fault.BATCH_MISMATCH,
            seed
        );
    }

    /// Honest data of an honest worker, dressed up as each kind of evidence: never accepted.
    function accuseHonest(uint256 seed) external {
        ++calls;
        uint32 s = 2 + uint32(seed % 2);
        Delta[] memory ds = _inShard(0, seed, 1 + ((seed >> 8) % 3));
        uint32 recv = Shuffle.holders(0, 4, em.replication(1), em.randomness(1), 90)[0];
        IFraudProofs.SignedHeader memory a = _signed(_header(s, 0, recv, 0, ds), s);
        IFraudProofs.SignedHeader memory b = _signed(_header(s, 0, (recv + 1) % 4, 0, ds), s);
        bytes32[] memory proof = _proofOfFirst(ds);
        uint256 kind = (seed >> 16) % 4;
        bytes memory call =
            kind == 0
                ? abi.encodeCall(fraud.proveEquivocation, (a, b))
                : kind == 1
                    ? abi.encodeCall(fraud.proveBatchMismatch, (a, ds))
                    : kind == 2
                        ? abi.encodeCall(fraud.proveBrokenChain, (a, a, "", ""))
                        : abi.encodeCall(
                            fraud.proveMisroutedDelta,
                            (a, ds[0].data, ds[0].time, ds[0].diff, proof, recv)
                        );
        uint256 before = _stake(members[s]);
        (bool ok, ) = address(fraud).call(call);
        if (ok || _stake(members[s]) != before) honestSlashed = true;
    }

    function claim(uint256 seed) external {
        ++calls;
        // Batch faults pay the header's receiver (any member), false block hashes a committed reporter.
        address who = seed % 5 == 4 ? address(this) : members[seed % 4];
        vm.prank(who);
        try em.claimRewards() returns (uint256 amount) {
            paid += amount;
        } catch {}
    }

    function burn() external {
        ++calls;
        try em.burnSlashed() returns (uint256 amount) {
            burned += amount;
        } catch {}
    }

    // ------------------------------------------------------------------ helpers

    /// Submits valid evidence, from this contract or an honest worker. The first submission per
    /// (sender, epoch, fault) must succeed; every later one must fail.
    function _submit(bytes memory call, address sender, IFraudProofs.Fault fault, uint256 seed) internal {
        bool first = !fraud.punished(sender, 1, fault);
        uint256 before = _stake(sender);
        if (seed % 3 == 0) vm.prank(members[2 + ((seed >> 4) % 2)]); // an honest worker reports
        (bool ok, ) = address(fraud).call(call);
        if (ok && !first) doublePunished = true;
        if (!ok && first) revert("valid first evidence refused");
        if (ok) {
            ++punishments;
            slashedOf[sender] += before - _stake(sender);
            slashed += before - _stake(sender);
        }
    }

    function _stake(address w) internal view returns (uint256) {
        IStaking.StakeInfo memory s = em.stakeOf(w);
        return s.active + s.queued;
    }

    function _header(
        uint32 s,
        uint32 shard,
        uint32 recv,
        uint64 seq,
        Delta[] memory ds
    ) internal view returns (BatchHeader memory h) {
        uint256[64] memory st;
        for (uint256 i; i < ds.length; ++i) LtHash.add(st, ds[i].data, ds[i].time, ds[i].diff);
        bytes32 msh = LtHash.digest(st);
        h = BatchHeader(
            1,
            stream,
            shard,
            0,
            members[s],
            members[recv],
            seq,
            0,
            DeltaMerkle.root(_copy(ds)),
            uint32(ds.length),
            msh,
            msh,
            bytes32(0),
            0,
            0
        );
    }

    function _signed(BatchHeader memory h, uint32 s) internal view returns (IFraudProofs.SignedHeader memory) {
        bytes32 digest = BatchHeaders.typedDataHash(fraud.domainSeparator(), BatchHeaders.hash(h));
        (uint8 v, bytes32 r, bytes32 sig) = vm.sign(keyOf[members[s]], digest);
        return IFraudProofs.SignedHeader(h, abi.encodePacked(r, sig, v), s);
    }

    function _one(uint256 salt) internal pure returns (Delta[] memory ds) {
        ds = new Delta[](1);
        ds[0] = Delta(abi.encode("x", salt), uint64(salt), 1);
    }

    function _inShard(uint32 shard, uint256 salt, uint256 count) internal view returns (Delta[] memory ds) {
        ds = new Delta[](count);
        bytes32 r = em.randomness(1);
        uint256 found;
        for (uint256 i = salt; found < count; ++i) {
            Delta memory d = Delta(abi.encode("y", i), uint64(i), 1);
            if (Sharding.shard(d.data, r, 4) == shard) ds[found++] = d;
        }
    }

    /// The Merkle proof of leaf 0 in a batch of 1 to 3 (odd nodes promoted): the later leaves.
    function _proofOfFirst(Delta[] memory ds) internal pure returns (bytes32[] memory proof) {
        proof = new bytes32[](ds.length - 1);
        for (uint256 i = 1; i < ds.length; ++i) proof[i - 1] = DeltaMerkle.leaf(ds[i]);
    }

    function _copy(Delta[] memory ds) internal pure returns (Delta[] memory out) {
        out = new Delta[](ds.length);
        for (uint256 i; i < ds.length; ++i) out[i] = ds[i];
    }

    function member(uint256 i) external view returns (address) {
        return members[i];
    }
}

contract FraudInvariantTest is FraudBase {
    FraudHandler internal handler;

    function setUp() public override {
        super.setUp();
        handler = new FraudHandler(em, fraud, token, STREAM, signingKeys);
        targetContract(address(handler));
    }

    /// Honest workers never lose stake, and no honest data is accepted as evidence.
    function invariant_honestWorkersNeverLoseStake() public view {
        assertFalse(handler.honestSlashed(), "honest evidence accepted");
        for (uint256 i = 2; i < 4; ++i) {
            IStaking.StakeInfo memory s = em.stakeOf(handler.member(i));
            assertEq(s.active + s.queued, MIN_STAKE, "honest stake intact");
        }
    }

    /// A worker loses at most the stake it had committed for the fault's epoch.
    function invariant_slashedAtMostStakeAtFaultTime() public view {
        for (uint256 i; i < 4; ++i) {
            address w = handler.member(i);
            assertLe(handler.slashedOf(w), handler.stakeAtFault(w), "slashed <= stake at fault time");
        }
    }

    /// Every slashed token is a reward (owed or paid) or burned (burnable or burned).
    function invariant_rewardPlusBurnedIsSlashed() public view {
        assertEq(
            handler.slashed(),
            em.totalClaimable() + handler.paid() + em.burnable() + handler.burned(),
            "reward + burned = slashed"
        );
        assertGe(token.balanceOf(address(em)), em.totalStaked() + em.totalClaimable(), "solvent");
    }

    /// No (sender, epoch, fault) is punished twice.
    function invariant_noEvidenceConsumedTwice() public view {
        assertFalse(handler.doublePunished(), "punished twice");
        assertLe(handler.punishments(), 4, "at most two faults for each of two cheaters");
    }
}

/// @notice The handler is not vacuous: a scripted run punishes both cheaters for both faults,
/// refuses repeats, and refuses honest evidence of every kind.
contract FraudHandlerReachTest is FraudBase {
    function test_handler_punishesCheatersOnly() public {
        FraudHandler h = new FraudHandler(em, fraud, token, STREAM, signingKeys);
        for (uint256 seed; seed < 4; ++seed) {
            h.equivocate(seed);
            h.lieAboutCount(seed);
            h.accuseHonest(seed << 16);
            h.accuseHonest((seed << 16) + 1);
        }
        h.claim(2); // members[2]: the receiver the cheaters' headers name
        h.burn();
        assertEq(h.punishments(), 4, "two faults each for two cheaters, once");
        assertFalse(h.doublePunished() || h.honestSlashed(), "no violation");
        assertGt(h.slashed(), 0, "slashed");
        assertGt(h.burned(), 0, "burned");
        assertGt(h.paid(), 0, "paid");
    }
}
