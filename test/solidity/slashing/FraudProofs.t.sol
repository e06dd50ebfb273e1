// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {FraudBase} from "./FraudBase.sol";
import {IFraudProofs} from "../../../contracts/interfaces/IFraudProofs.sol";
import {IStaking} from "../../../contracts/interfaces/IStaking.sol";
import {IEpochManager} from "../../../contracts/interfaces/IEpochManager.sol";
import {BatchHeaders, BatchHeader, AccumulatedProof} from "../../../contracts/libraries/BatchHeaders.sol";
import {IBlockHashOracle} from "../../../contracts/interfaces/IBlockHashOracle.sol";
import {DeltaMerkle, Delta} from "../../../contracts/libraries/DeltaMerkle.sol";
import {LtHash} from "../../../contracts/libraries/LtHash.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

contract EquivocationTest is FraudBase {
    function _pair() internal view returns (IFraudProofs.SignedHeader memory a, IFraudProofs.SignedHeader memory b) {
        Delta[] memory d1 = _one(_deltaInShard(0, 1));
        Delta[] memory d2 = _one(_deltaInShard(0, 1000));
        uint32 s = _holder(0, 0);
        a = _signed(_header(s, 0, _holder(0, 1), 0, 0, d1, _msh(d1)));
        b = _signed(_header(s, 0, _holder(0, 1), 0, 0, d2, _msh(d2)));
    }

    function test_equivocation_slashesRewardsJailsEjects() public {
        (IFraudProofs.SignedHeader memory a, IFraudProofs.SignedHeader memory b) = _pair();
        address sender = a.header.sender;
        fraud.proveEquivocation(a, b);
        assertEq(em.stakeOf(sender).active, MIN_STAKE / 2, "half slashed");
        assertEq(em.claimableOf(a.header.receiver), (MIN_STAKE / 2) / 10, "10% reward to the signed receiver");
        assertEq(em.claimableOf(address(this)), 0, "not to whoever submits");
        assertTrue(em.isEjected(1, sender), "ejected");
        assertEq(em.stakeOf(sender).jailedUntil, 1 + 1 + 3, "jailed JAIL_EPOCHS after the next");
        assertTrue(fraud.punished(sender, 1, IFraudProofs.Fault.EQUIVOCATION), "recorded");
        vm.expectRevert(
            abi.encodeWithSelector(IStaking.StakingAlreadyPunished.selector, sender, 1, IFraudProofs.Fault.EQUIVOCATION)
        );
        fraud.proveEquivocation(b, a);
    }

    function test_equivocation_sameContentToOtherReceiversIsHonest() public {
        Delta[] memory d = _one(_deltaInShard(0, 1));
        uint32 s = _holder(0, 0);
        IFraudProofs.SignedHeader memory a = _signed(_header(s, 0, _holder(0, 0), 0, 0, d, _msh(d)));
        IFraudProofs.SignedHeader memory b = _signed(_header(s, 0, _holder(0, 1), 0, 0, d, _msh(d)));
        vm.expectRevert(abi.encodeWithSelector(IFraudProofs.FraudNoFault.selector, IFraudProofs.Fault.EQUIVOCATION));
        fraud.proveEquivocation(a, b);
    }

    /// @dev Dirty high-order bits in a header word (here `count`, word 9, never read as a value):
    /// the content hash differs, but the signature does not cover the dirty header, so no fault.
    function test_equivocation_dirtyPaddingProvesNothing() public {
        (IFraudProofs.SignedHeader memory a, ) = _pair();
        bytes memory data = abi.encodeCall(fraud.proveEquivocation, (a, a));
        uint256 offsetB;
        assembly ("memory-safe") {
            offsetB := mload(add(data, add(0x20, 0x24))) // the second argument's offset, after the selector
        }
        uint256 at = 4 + offsetB + 9 * 32; // header word 9: count
        assertEq(uint8(data[at + 31]), uint8(a.header.count), "found the count word");
        data[at] = 0x01; // a dirty high-order byte
        address sender = a.header.sender;
        (bool ok, ) = address(fraud).call(data);
        assertFalse(ok, "a dirty copy of one signed header is no equivocation");
        assertEq(em.stakeOf(sender).active, MIN_STAKE, "nothing slashed");
    }

    function test_equivocation_refusesUnrelatedHeaders() public {
        (IFraudProofs.SignedHeader memory a, IFraudProofs.SignedHeader memory b) = _pair();
        b.header.seq = 1;
        b = _signed(b.header);
        vm.expectRevert(IFraudProofs.FraudUnrelatedHeaders.selector);
        fraud.proveEquivocation(a, b);
    }

    function test_signature_byAnotherWorkerOrDomainIsRefused() public {
        (IFraudProofs.SignedHeader memory a, IFraudProofs.SignedHeader memory b) = _pair();
        address expected = vm.addr(_signingKeyOf(a.header.sender));
        // Another worker's key.
        uint256 other = _signingKeyOf(a.header.sender) == signingKeys[0] ? signingKeys[1] : signingKeys[0];
        b.signature = _sign(b.header, other, fraud.domainSeparator());
        vm.expectRevert(
            abi.encodeWithSelector(IStaking.StakingWrongSigner.selector, a.header.sender, 1, vm.addr(other), expected)
        );
        fraud.proveEquivocation(a, b);
        // Both by another worker's key: consistent, but not the sender's.
        a.signature = _sign(a.header, other, fraud.domainSeparator());
        vm.expectRevert(
            abi.encodeWithSelector(IStaking.StakingWrongSigner.selector, a.header.sender, 1, vm.addr(other), expected)
        );
        fraud.proveEquivocation(a, b);
        a.signature = _sign(a.header, _signingKeyOf(a.header.sender), fraud.domainSeparator());
        // Another chain id, and another verifying contract.
        for (uint256 i; i < 2; ++i) {
            bytes32 domain =
                i == 0
                    ? BatchHeaders.domainSeparator(block.chainid + 1, address(fraud))
                    : BatchHeaders.domainSeparator(block.chainid, address(0xDEAD));
            b.signature = _sign(b.header, _signingKeyOf(a.header.sender), domain);
            vm.expectRevert();
            fraud.proveEquivocation(a, b);
        }
    }

    function test_signature_malleatedIsRefused() public {
        (IFraudProofs.SignedHeader memory a, IFraudProofs.SignedHeader memory b) = _pair();
        bytes memory sig = b.signature;
        bytes32 rr;
        bytes32 ss;
        uint8 v;
        assembly {
            rr := mload(add(sig, 32))
            ss := mload(add(sig, 64))
            v := byte(0, mload(add(sig, 96)))
        }
        uint256 N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
        bytes32 s2 = bytes32(N - uint256(ss));
        b.signature = abi.encodePacked(rr, s2, v == 27 ? uint8(28) : uint8(27));
        vm.expectRevert(abi.encodeWithSelector(ECDSA.ECDSAInvalidSignatureS.selector, s2));
        fraud.proveEquivocation(a, b);
    }

    function test_senderIndex_mustBeTheSender() public {
        (IFraudProofs.SignedHeader memory a, IFraudProofs.SignedHeader memory b) = _pair();
        uint32 wrong = (a.senderIndex + 1) % n;
        a.senderIndex = wrong;
        b.senderIndex = wrong;
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingNotInEpoch.selector, 1, wrong, a.header.sender));
        fraud.proveEquivocation(a, b);
    }

    function test_selfReport_frontRunningPaysTheReceiverNotTheCheater() public {
        (IFraudProofs.SignedHeader memory a, IFraudProofs.SignedHeader memory b) = _pair();
        // The cheater (or a mempool copier) lands the evidence first: the reward is still the
        // receiver's, bound by the cheater's own signature before the evidence was public.
        vm.prank(a.header.sender);
        fraud.proveEquivocation(a, b);
        assertEq(em.claimableOf(a.header.sender), 0, "no reward for reporting oneself");
        assertEq(em.claimableOf(a.header.receiver), (MIN_STAKE / 2) / 10, "the receiver's");
        assertEq(em.stakeOf(a.header.sender).active, MIN_STAKE / 2, "slashed all the same");
    }

    function test_window_closesAfterFraudWindowEpochs() public {
        (IFraudProofs.SignedHeader memory a, IFraudProofs.SignedHeader memory b) = _pair();
        while (em.currentEpoch() <= 1 + WINDOW) _advanceAfterFulfil(); // carried epochs
        vm.expectRevert(
            abi.encodeWithSelector(IStaking.StakingOutsideFraudWindow.selector, 1, em.currentEpoch(), WINDOW)
        );
        fraud.proveEquivocation(a, b);
    }
}

contract MisroutedTest is FraudBase {
    function test_misrouted_wrongShardIsPunished() public {
        Delta memory wrong = _deltaInShard(1, 7);
        Delta[] memory ds = _one(wrong);
        uint32 recv = _holder(0, 1);
        IFraudProofs.SignedHeader memory h = _signed(_header(_holder(0, 0), 0, recv, 0, 0, ds, _msh(ds)));
        fraud.proveMisroutedDelta(h, wrong.data, wrong.time, wrong.diff, new bytes32[](0), recv);
        assertTrue(fraud.punished(h.header.sender, 1, IFraudProofs.Fault.MISROUTED_DELTA), "punished");
    }

    function test_misrouted_receiverNotHoldingIsPunished() public {
        Delta memory d = _deltaInShard(2, 7);
        Delta[] memory ds = _one(d);
        uint32 recv = _nonHolder(2);
        IFraudProofs.SignedHeader memory h = _signed(_header(_holder(2, 0), 2, recv, 0, 0, ds, _msh(ds)));
        fraud.proveMisroutedDelta(h, d.data, d.time, d.diff, new bytes32[](0), recv);
        assertTrue(em.isEjected(1, h.header.sender), "ejected");
    }

    function test_misrouted_honestRoutingIsNoFault() public {
        Delta[] memory ds = new Delta[](3);
        for (uint256 i; i < 3; ++i) ds[i] = _deltaInShard(3, 100 * i + 1);
        uint32 recv = _holder(3, 1);
        IFraudProofs.SignedHeader memory h = _signed(_header(_holder(3, 0), 3, recv, 0, 0, ds, _msh(ds)));
        bytes32[] memory proof = new bytes32[](2); // leaf 0 of 3: siblings l1, then l2 (promoted)
        proof[0] = DeltaMerkle.leaf(ds[1]);
        proof[1] = DeltaMerkle.leaf(ds[2]);
        vm.expectRevert(abi.encodeWithSelector(IFraudProofs.FraudNoFault.selector, IFraudProofs.Fault.MISROUTED_DELTA));
        fraud.proveMisroutedDelta(h, ds[0].data, ds[0].time, ds[0].diff, proof, recv);
        // A delta that is not in the batch.
        Delta memory other = _deltaInShard(1, 999);
        vm.expectRevert();
        fraud.proveMisroutedDelta(h, other.data, other.time, other.diff, proof, recv);
        // The wrong receiver index.
        uint32 wrongIndex = (recv + 1) % n;
        vm.expectRevert(
            abi.encodeWithSelector(IFraudProofs.FraudNotAtIndex.selector, 1, wrongIndex, h.header.receiver)
        );
        fraud.proveMisroutedDelta(h, ds[0].data, ds[0].time, ds[0].diff, proof, wrongIndex);
    }

    /// A state handoff batch (docs/protocol.md §9) is signed under the epoch it is routed by, on the
    /// stream's handoff id, which the registry partitions as the stream: honest routing is no fault,
    /// a delta of another shard is.
    function test_misrouted_handoffStreamIsJudgedLikeItsStream() public {
        bytes32 handoff = registry.handoffStreamOf(STREAM);
        Delta[] memory ds = _one(_deltaInShard(3, 11));
        uint32 recv = _holder(3, 1);
        BatchHeader memory hd = _header(_holder(0, 0), 3, recv, 0, 0, ds, _msh(ds));
        hd.stream = handoff;
        IFraudProofs.SignedHeader memory h = _signed(hd);
        vm.expectRevert(abi.encodeWithSelector(IFraudProofs.FraudNoFault.selector, IFraudProofs.Fault.MISROUTED_DELTA));
        fraud.proveMisroutedDelta(h, ds[0].data, ds[0].time, ds[0].diff, new bytes32[](0), recv);

        Delta[] memory wrong = _one(_deltaInShard(1, 12));
        recv = _holder(0, 1);
        hd = _header(_holder(2, 0), 0, recv, 0, 0, wrong, _msh(wrong));
        hd.stream = handoff;
        h = _signed(hd);
        fraud.proveMisroutedDelta(h, wrong[0].data, wrong[0].time, wrong[0].diff, new bytes32[](0), recv);
        assertTrue(fraud.punished(hd.sender, 1, IFraudProofs.Fault.MISROUTED_DELTA), "punished");
    }

    function test_misrouted_tamperedProofsAndEpochsAreRefused() public {
        // A batch of four wrong-shard deltas: any of them is provable with the right proof.
        Delta[] memory ds = new Delta[](4);
        for (uint256 i; i < 4; ++i) ds[i] = _deltaInShard(1, 50 * i + 3);
        uint32 recv = _holder(0, 1);
        IFraudProofs.SignedHeader memory h = _signed(_header(_holder(0, 0), 0, recv, 0, 0, ds, _msh(ds)));
        bytes32 n23 = _pair(DeltaMerkle.leaf(ds[2]), DeltaMerkle.leaf(ds[3]));
        bytes32[] memory good = new bytes32[](2);
        good[0] = DeltaMerkle.leaf(ds[1]);
        good[1] = n23;
        // One level short (the inner node n01 passed off as a leaf) and one level too long.
        bytes32[] memory short = new bytes32[](1);
        short[0] = n23;
        bytes32[] memory long = new bytes32[](3);
        (long[0], long[1], long[2]) = (good[0], good[1], bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(IFraudProofs.FraudNotTheBatch.selector, h.header.deltasRoot, 0));
        fraud.proveMisroutedDelta(h, ds[0].data, ds[0].time, ds[0].diff, short, recv);
        vm.expectRevert(abi.encodeWithSelector(DeltaMerkle.DeltaMerkleProofTooLong.selector, 3, 2));
        fraud.proveMisroutedDelta(h, ds[0].data, ds[0].time, ds[0].diff, long, recv);
        // A header of an epoch with no randomness yet cannot be judged (never by another epoch's r).
        BatchHeader memory future = abi.decode(abi.encode(h.header), (BatchHeader)); // a copy
        future.epoch = 2;
        IFraudProofs.SignedHeader memory f = IFraudProofs.SignedHeader(
            future,
            _sign(future, _signingKeyOf(future.sender), fraud.domainSeparator()),
            h.senderIndex
        );
        vm.expectRevert();
        fraud.proveMisroutedDelta(f, ds[0].data, ds[0].time, ds[0].diff, good, recv);
        fraud.proveMisroutedDelta(h, ds[0].data, ds[0].time, ds[0].diff, good, recv);
        assertTrue(fraud.punished(h.header.sender, 1, IFraudProofs.Fault.MISROUTED_DELTA), "the right proof works");
    }

    function _pair(bytes32 a, bytes32 b) internal pure returns (bytes32) {
        return a < b ? keccak256(abi.encode(a, b)) : keccak256(abi.encode(b, a));
    }
}

contract BatchMismatchTest is FraudBase {
    function _batch() internal pure returns (Delta[] memory ds) {
        ds = new Delta[](5);
        for (uint256 i; i < 5; ++i) ds[i] = _delta(i + 1);
    }

    function test_batchMismatch_countLieIsPunished() public {
        Delta[] memory ds = _batch();
        BatchHeader memory hd = _header(0, 0, 1, 0, 0, ds, _msh(ds));
        hd.count = 6;
        // The root of 5 leaves also verifies against count 6 (depth 3): the signed count lies.
        fraud.proveBatchMismatch(_signed(hd), ds);
        assertTrue(fraud.punished(hd.sender, 1, IFraudProofs.Fault.BATCH_MISMATCH), "punished");
    }

    function test_batchMismatch_mshLieIsPunished() public {
        Delta[] memory ds = _batch();
        BatchHeader memory hd = _header(0, 0, 1, 0, 0, ds, _msh(ds));
        hd.batchMsh = keccak256("not the multiset");
        fraud.proveBatchMismatch(_signed(hd), ds);
        assertTrue(fraud.punished(hd.sender, 1, IFraudProofs.Fault.BATCH_MISMATCH), "punished");
    }

    function test_batchMismatch_honestAndUnprovable() public {
        Delta[] memory ds = _batch();
        IFraudProofs.SignedHeader memory h = _signed(_header(0, 0, 1, 0, 0, ds, _msh(ds)));
        vm.expectRevert(abi.encodeWithSelector(IFraudProofs.FraudNoFault.selector, IFraudProofs.Fault.BATCH_MISMATCH));
        fraud.proveBatchMismatch(h, ds);
        // Made-up deltas under an honest header: not the batch, never a fault.
        Delta[] memory forged = _batch();
        forged[2].diff = -7;
        vm.expectRevert(
            abi.encodeWithSelector(
                IFraudProofs.FraudNotTheBatch.selector,
                h.header.deltasRoot,
                DeltaMerkle.root(_copy(forged))
            )
        );
        fraud.proveBatchMismatch(h, forged);
        vm.expectRevert(abi.encodeWithSelector(IFraudProofs.FraudBatchTooLarge.selector, 257, 256));
        fraud.proveBatchMismatch(h, new Delta[](257));
    }
}

contract BrokenChainTest is FraudBase {
    function _stateOf(Delta[] memory ds) internal pure returns (uint256[64] memory st) {
        for (uint256 i; i < ds.length; ++i) LtHash.add(st, ds[i].data, ds[i].time, ds[i].diff);
    }

    function _cumulative(Delta[] memory a, Delta[] memory b) internal pure returns (bytes32) {
        uint256[64] memory st = _stateOf(a);
        LtHash.combine(st, _stateOf(b));
        return LtHash.digest(st);
    }

    /// Batches 0 and 1 of worker 0 on shard 0; `cumulativeOverride` replaces the honest cumulative of batch 1.
    function _chain(
        bytes32 cumulativeOverride
    )
        internal
        view
        returns (
            IFraudProofs.SignedHeader memory h0,
            IFraudProofs.SignedHeader memory h1,
            bytes memory c0,
            bytes memory b1
        )
    {
        Delta[] memory d0 = _one(_delta(1));
        Delta[] memory d1 = _one(_delta(2));
        BatchHeader memory x = _header(0, 0, 1, 0, 0, d0, _msh(d0));
        bytes32 cum = cumulativeOverride == 0 ? _cumulative(d0, d1) : cumulativeOverride;
        h1 = _signed(_header(0, 0, 2, 1, BatchHeaders.contentHash(x), d1, cum));
        h0 = _signed(x);
        c0 = LtHash.encode(_stateOf(d0));
        b1 = LtHash.encode(_stateOf(d1));
    }

    function test_brokenChain_honestIsNoFault() public {
        (
            IFraudProofs.SignedHeader memory h0,
            IFraudProofs.SignedHeader memory h1,
            bytes memory c0,
            bytes memory b1
        ) = _chain(0);
        vm.expectRevert(abi.encodeWithSelector(IFraudProofs.FraudNoFault.selector, IFraudProofs.Fault.BROKEN_CHAIN));
        fraud.proveBrokenChain(h0, h1, c0, b1);
        vm.expectRevert(abi.encodeWithSelector(IFraudProofs.FraudNoFault.selector, IFraudProofs.Fault.BROKEN_CHAIN));
        fraud.proveBrokenChain(h0, h0, "", ""); // seq 0 consistent
    }

    function test_brokenChain_wrongCumulativeIsPunished() public {
        (
            IFraudProofs.SignedHeader memory h0,
            IFraudProofs.SignedHeader memory h1,
            bytes memory c0,
            bytes memory b1
        ) = _chain(keccak256("wrong"));
        fraud.proveBrokenChain(h0, h1, c0, b1);
        assertTrue(fraud.punished(h1.header.sender, 1, IFraudProofs.Fault.BROKEN_CHAIN), "punished");
    }

    function test_brokenChain_prevNotLinkingIsPunished() public {
        (
            IFraudProofs.SignedHeader memory h0,
            IFraudProofs.SignedHeader memory h1,
            bytes memory c0,
            bytes memory b1
        ) = _chain(0);
        h1.header.prev = keccak256("another history");
        h1 = _signed(h1.header);
        fraud.proveBrokenChain(h0, h1, c0, b1);
        assertTrue(fraud.punished(h1.header.sender, 1, IFraudProofs.Fault.BROKEN_CHAIN), "punished");
    }

    function test_brokenChain_seqZeroInconsistentIsPunished() public {
        (IFraudProofs.SignedHeader memory h0, , , ) = _chain(0);
        h0.header.prev = keccak256("x");
        h0 = _signed(h0.header);
        fraud.proveBrokenChain(h0, h0, "", "");
        assertTrue(fraud.punished(h0.header.sender, 1, IFraudProofs.Fault.BROKEN_CHAIN), "punished");
    }

    function test_brokenChain_statesMustMatchTheirDigests() public {
        (IFraudProofs.SignedHeader memory h0, IFraudProofs.SignedHeader memory h1, , bytes memory b1) = _chain(0);
        bytes memory fake = new bytes(2048);
        vm.expectRevert(
            abi.encodeWithSelector(IFraudProofs.FraudStateMismatch.selector, h0.header.cumulativeMsh, keccak256(fake))
        );
        fraud.proveBrokenChain(h0, h1, fake, b1);
    }

    function test_brokenChain_linkedPrevNeedsNoSignature() public {
        (
            IFraudProofs.SignedHeader memory h0,
            IFraudProofs.SignedHeader memory h1,
            bytes memory c0,
            bytes memory b1
        ) = _chain(keccak256("wrong"));
        h0.signature = ""; // h1's prev commits to h0's content
        fraud.proveBrokenChain(h0, h1, c0, b1);
        assertTrue(fraud.punished(h1.header.sender, 1, IFraudProofs.Fault.BROKEN_CHAIN), "punished");
    }

    function test_brokenChain_unlinkedPrevMustBeTheSendersOwn() public {
        (
            IFraudProofs.SignedHeader memory h0,
            IFraudProofs.SignedHeader memory h1,
            bytes memory c0,
            bytes memory b1
        ) = _chain(0);
        h1.header.prev = keccak256("another history");
        h1 = _signed(h1.header);
        uint256 other = _signingKeyOf(h0.header.sender) == signingKeys[0] ? signingKeys[1] : signingKeys[0];
        h0.signature = _sign(h0.header, other, fraud.domainSeparator()); // a made-up previous header
        vm.expectRevert(
            abi.encodeWithSelector(
                IStaking.StakingWrongSigner.selector,
                h1.header.sender,
                1,
                vm.addr(other),
                vm.addr(_signingKeyOf(h1.header.sender))
            )
        );
        fraud.proveBrokenChain(h0, h1, c0, b1);
    }

    function test_brokenChainWithDeltas_punishesAndRefuses() public {
        (IFraudProofs.SignedHeader memory h0, IFraudProofs.SignedHeader memory honest, bytes memory c0, ) = _chain(0);
        Delta[] memory d1 = _one(_delta(2)); // batch 1's deltas (see _chain)
        vm.expectRevert(abi.encodeWithSelector(IFraudProofs.FraudNoFault.selector, IFraudProofs.Fault.BROKEN_CHAIN));
        fraud.proveBrokenChainWithDeltas(h0, honest, c0, d1);
        (, IFraudProofs.SignedHeader memory h1, , ) = _chain(keccak256("wrong"));
        // Deltas that are not the batch, and a batchMsh its deltas contradict, prove nothing here.
        Delta[] memory other = _one(_delta(3));
        vm.expectRevert(
            abi.encodeWithSelector(
                IFraudProofs.FraudNotTheBatch.selector,
                h1.header.deltasRoot,
                DeltaMerkle.root(_copy(other))
            )
        );
        fraud.proveBrokenChainWithDeltas(h0, h1, c0, other);
        IFraudProofs.SignedHeader memory lying = h1;
        lying.header.batchMsh = keccak256("lie");
        lying = _signed(lying.header);
        vm.expectRevert(abi.encodeWithSelector(IFraudProofs.FraudStateMismatch.selector, keccak256("lie"), _msh(d1)));
        fraud.proveBrokenChainWithDeltas(h0, lying, c0, d1);
        (, h1, , ) = _chain(keccak256("wrong"));
        fraud.proveBrokenChainWithDeltas(h0, h1, c0, d1);
        assertTrue(fraud.punished(h1.header.sender, 1, IFraudProofs.Fault.BROKEN_CHAIN), "punished");
    }
}

contract AccumulatedProofTest is FraudBase {
    uint256 internal constant FOREIGN = 8453;

    function _proof(
        uint32 s,
        uint64 seq,
        uint256 chainId,
        uint64 number,
        bytes32 blockHash,
        bytes32 cumulative
    ) internal view returns (AccumulatedProof memory) {
        return AccumulatedProof(1, STREAM, 0, 0, em.workerAt(1, s), seq, chainId, number, blockHash, cumulative);
    }

    function _signedProof(
        AccumulatedProof memory p,
        uint256 key
    ) internal view returns (IFraudProofs.SignedAccumulatedProof memory) {
        bytes32 digest = BatchHeaders.typedDataHash(fraud.domainSeparator(), BatchHeaders.hash(p));
        (uint8 v, bytes32 rr, bytes32 ss) = vm.sign(key, digest);
        return IFraudProofs.SignedAccumulatedProof(p, abi.encodePacked(rr, ss, v), em.indexOf(1, p.sender));
    }

    function _signedProof(
        AccumulatedProof memory p
    ) internal view returns (IFraudProofs.SignedAccumulatedProof memory) {
        return _signedProof(p, _signingKeyOf(p.sender));
    }

    /// Commits (as this contract) to `p` and moves to the next block: the reveal may follow.
    function _commit(IFraudProofs.SignedAccumulatedProof memory p) internal {
        fraud.commitReport(fraud.reportCommitment(address(this), fraud.proofDigest(p)));
        vm.roll(block.number + 1);
    }

    function _reveal(IFraudProofs.SignedAccumulatedProof memory p) internal {
        _commit(p);
        fraud.proveFalseBlockHash(p);
    }

    function test_falseBlockHash_anotherChain_isPunishedOnce_evenAnchored() public {
        // Every stream's source is this chain's inbox: a proof naming another chain is a lie,
        // whatever the oracle knows of that chain (governance's anchors cannot matter).
        vm.prank(governance);
        oracle.setAnchor(FOREIGN, 500, keccak256("lie"));
        IFraudProofs.SignedAccumulatedProof memory p = _signedProof(_proof(1, 3, FOREIGN, 500, keccak256("lie"), 0));
        address sender = p.proof.sender;
        _reveal(p);
        assertEq(em.stakeOf(sender).active, MIN_STAKE / 2, "half slashed");
        assertEq(em.claimableOf(address(this)), (MIN_STAKE / 2) / 10, "10% to the committed reporter");
        assertTrue(fraud.punished(sender, 1, IFraudProofs.Fault.INVALID_ACCUMULATED_PROOF), "recorded");
        assertTrue(em.isEjected(1, sender), "ejected");
        vm.expectRevert(
            abi.encodeWithSelector(
                IStaking.StakingAlreadyPunished.selector,
                sender,
                1,
                IFraudProofs.Fault.INVALID_ACCUMULATED_PROOF
            )
        );
        fraud.proveFalseBlockHash(p);
    }

    /// Ends epoch 1 (epoch 2 carries its set) and returns the last block of epoch 1's window.
    function _closeWindowOne() internal returns (uint64 last) {
        vm.roll(block.number + 5);
        _advanceAfterFulfil();
        last = em.windowLastBlock(1);
        assertEq(last, block.number - 1, "the block before epoch 2's EpochAdvanced");
        vm.roll(block.number + 3);
    }

    function test_localProof_waitsForTheWindowToClose() public {
        IFraudProofs.SignedAccumulatedProof memory p = _signedProof(
            _proof(1, 0, block.chainid, uint64(block.number - 1), keccak256("x"), 0)
        );
        _commit(p);
        vm.expectRevert(abi.encodeWithSelector(IEpochManager.EpochWindowOpen.selector, 1));
        fraud.proveFalseBlockHash(p);
    }

    function test_trueBlockHash_ofTheWindowsLastBlock_isNoFault() public {
        uint64 last = _closeWindowOne();
        vm.setBlockhash(last, keccak256("real"));
        IFraudProofs.SignedAccumulatedProof memory honest = _signedProof(
            _proof(1, 0, block.chainid, last, keccak256("real"), 0)
        );
        _commit(honest);
        vm.expectRevert(
            abi.encodeWithSelector(IFraudProofs.FraudNoFault.selector, IFraudProofs.Fault.INVALID_ACCUMULATED_PROOF)
        );
        fraud.proveFalseBlockHash(honest);
        _reveal(_signedProof(_proof(1, 0, block.chainid, last, keccak256("fake"), 0)));
        assertTrue(fraud.punished(em.workerAt(1, 1), 1, IFraudProofs.Fault.INVALID_ACCUMULATED_PROOF), "false hash");
    }

    function test_aBlockOutsideTheWindowsEnd_isAFault_pastOrFuture() public {
        uint64 last = _closeWindowOne();
        vm.setBlockhash(last - 1, keccak256("real"));
        // A true hash, but of another block than the window's last: provable without the oracle.
        _reveal(_signedProof(_proof(1, 0, block.chainid, last - 1, keccak256("real"), 0)));
        // A far-future block (the escape the review found): a fault too, not OracleUnknownBlock.
        _reveal(_signedProof(_proof(2, 0, block.chainid, last + 1_000_000, keccak256("x"), 0)));
        assertTrue(fraud.punished(em.workerAt(1, 1), 1, IFraudProofs.Fault.INVALID_ACCUMULATED_PROOF), "past");
        assertTrue(fraud.punished(em.workerAt(1, 2), 1, IFraudProofs.Fault.INVALID_ACCUMULATED_PROOF), "future");
    }

    function test_unknownBlock_reverts_neverSlashes() public {
        uint64 last = _closeWindowOne();
        vm.roll(block.number + 300); // past BLOCKHASH; no EIP-2935 history here, no anchor
        address sender = em.workerAt(1, 2);
        uint256 before = em.stakeOf(sender).active;
        IFraudProofs.SignedAccumulatedProof memory p = _signedProof(
            _proof(2, 0, block.chainid, last, keccak256("x"), 0)
        );
        _commit(p);
        vm.expectRevert(abi.encodeWithSelector(IBlockHashOracle.OracleUnknownBlock.selector, block.chainid, last));
        fraud.proveFalseBlockHash(p);
        assertEq(em.stakeOf(sender).active, before, "nothing slashed");
    }

    function test_reveal_onlyByTheCommittedReporter_fromTheNextBlock() public {
        IFraudProofs.SignedAccumulatedProof memory p = _signedProof(_proof(1, 3, FOREIGN, 500, keccak256("lie"), 0));
        address finder = address(0xF1D);
        address copier = address(0xC0C);
        bytes32 c = fraud.reportCommitment(finder, fraud.proofDigest(p));
        vm.prank(finder);
        fraud.commitReport(c);
        assertEq(fraud.reportCommittedAt(c), block.number, "recorded");
        // The commitment's own block: not yet (a copier could commit and reveal in one block).
        vm.prank(finder);
        vm.expectRevert(abi.encodeWithSelector(IFraudProofs.FraudNotCommitted.selector, c, block.number));
        fraud.proveFalseBlockHash(p);
        vm.roll(block.number + 1);
        // A copier of the reveal has no commitment: refused, and the fault stays the finder's.
        bytes32 theirs = fraud.reportCommitment(copier, fraud.proofDigest(p));
        vm.prank(copier);
        vm.expectRevert(abi.encodeWithSelector(IFraudProofs.FraudNotCommitted.selector, theirs, 0));
        fraud.proveFalseBlockHash(p);
        vm.prank(address(0xBAD));
        fraud.commitReport(c); // a later commit of the same value changes nothing
        assertEq(fraud.reportCommittedAt(c), block.number - 1, "the first block counts");
        vm.prank(finder);
        fraud.proveFalseBlockHash(p);
        assertEq(em.claimableOf(finder), (MIN_STAKE / 2) / 10, "10% to the committed reporter");
        assertEq(em.claimableOf(copier), 0, "nothing to the copier");
    }

    function test_falseBlockHash_refusesAnotherWorkersKeyOrDomain() public {
        AccumulatedProof memory p = _proof(1, 0, FOREIGN, 500, keccak256("lie"), 0);
        uint256 other = _signingKeyOf(p.sender) == signingKeys[0] ? signingKeys[1] : signingKeys[0];
        IFraudProofs.SignedAccumulatedProof memory byOther = _signedProof(p, other); // before expectRevert
        _commit(byOther);
        vm.expectRevert(
            abi.encodeWithSelector(
                IStaking.StakingWrongSigner.selector,
                p.sender,
                1,
                vm.addr(other),
                vm.addr(_signingKeyOf(p.sender))
            )
        );
        fraud.proveFalseBlockHash(byOther);
        IFraudProofs.SignedAccumulatedProof memory s = _signedProof(p);
        s.proof.epoch = 2; // not what was signed: recovers to some other key
        _commit(s);
        vm.expectRevert();
        fraud.proveFalseBlockHash(s);
    }

    function test_contradictedProof_isPunished_consistentIsNoFault() public {
        Delta[] memory d = _one(_deltaInShard(0, 1));
        uint32 s = _holder(0, 0);
        IFraudProofs.SignedHeader memory h = _signed(_header(s, 0, _holder(0, 1), 0, 0, d, _msh(d)));
        IFraudProofs.SignedAccumulatedProof memory same = _signedProof(_proof(s, 0, FOREIGN, 1, 0, _msh(d)));
        vm.expectRevert(
            abi.encodeWithSelector(IFraudProofs.FraudNoFault.selector, IFraudProofs.Fault.INVALID_ACCUMULATED_PROOF)
        );
        fraud.proveContradictedProof(same, h);
        IFraudProofs.SignedAccumulatedProof memory otherSeq = _signedProof(_proof(s, 1, FOREIGN, 1, 0, 0));
        vm.expectRevert(IFraudProofs.FraudUnrelatedHeaders.selector);
        fraud.proveContradictedProof(otherSeq, h);
        IFraudProofs.SignedAccumulatedProof memory lie = _signedProof(_proof(s, 0, FOREIGN, 1, 0, keccak256("other")));
        // The header signed by another worker: the two items must share a signer.
        uint256 other = _signingKeyOf(h.header.sender) == signingKeys[0] ? signingKeys[1] : signingKeys[0];
        IFraudProofs.SignedHeader memory forged = IFraudProofs.SignedHeader(
            h.header,
            _sign(h.header, other, fraud.domainSeparator()),
            h.senderIndex
        );
        vm.expectRevert(
            abi.encodeWithSelector(
                IStaking.StakingWrongSigner.selector,
                h.header.sender,
                1,
                vm.addr(other),
                vm.addr(_signingKeyOf(h.header.sender))
            )
        );
        fraud.proveContradictedProof(lie, forged);
        fraud.proveContradictedProof(lie, h);
        assertEq(em.stakeOf(h.header.sender).active, MIN_STAKE / 2, "slashed");
    }
}
