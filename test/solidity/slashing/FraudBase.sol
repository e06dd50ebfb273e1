// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {EpochsBase} from "../epochs/EpochsBase.sol";
import {FraudProofs} from "../../../contracts/slashing/FraudProofs.sol";
import {BlockHashOracle} from "../../../contracts/oracle/BlockHashOracle.sol";
import {IBlockHashOracle} from "../../../contracts/interfaces/IBlockHashOracle.sol";
import {IFraudProofs} from "../../../contracts/interfaces/IFraudProofs.sol";
import {IExecutionDisputes} from "../../../contracts/interfaces/IExecutionDisputes.sol";
import {OperatorRegistry} from "../../../contracts/registry/OperatorRegistry.sol";
import {IOperatorRegistry} from "../../../contracts/interfaces/IOperatorRegistry.sol";
import {IEpochManager} from "../../../contracts/interfaces/IEpochManager.sol";
import {BatchHeaders, BatchHeader} from "../../../contracts/libraries/BatchHeaders.sol";
import {DeltaMerkle, Delta} from "../../../contracts/libraries/DeltaMerkle.sol";
import {LtHash} from "../../../contracts/libraries/LtHash.sol";
import {Sharding, PartitionSpec, KeyKind} from "../../../contracts/libraries/Sharding.sol";
import {Shuffle} from "../../../contracts/libraries/Shuffle.sol";

/// @notice Epoch 1 current with four workers whose signing keys the test holds; a WHOLE-keyed
/// stream; the fraud-proof contract holding the slasher role.
abstract contract FraudBase is EpochsBase {
    FraudProofs internal fraud;
    BlockHashOracle internal oracle;
    OperatorRegistry internal registry;
    bytes32 internal constant STREAM = keccak256("transfers");
    uint256[4] internal workerKeys = [uint256(0xA1), 0xA2, 0xA3, 0xA4];
    uint256[4] internal signingKeys = [uint256(0x51), 0x52, 0x53, 0x54];
    address[4] internal ws;
    uint32 internal n;
    uint16 internal k;
    bytes32 internal r;

    function setUp() public virtual override {
        installTestSlasher = false;
        super.setUp();
        registry = new OperatorRegistry(address(this));
        IOperatorRegistry.StreamSpec memory s;
        s.id = STREAM;
        s.schemaHash = keccak256("schema");
        s.partition = PartitionSpec(KeyKind.WHOLE, 0, 0);
        registry.registerStream(s);
        oracle = new BlockHashOracle(governance);
        fraud = new FraudProofs(
            IEpochManager(address(em)),
            IOperatorRegistry(address(registry)),
            IBlockHashOracle(address(oracle)),
            _disputeRules()
        );
        vm.prank(governance);
        em.setSlasher(address(fraud)); // the first slasher: installed at once
        for (uint256 i; i < 4; ++i) {
            ws[i] = vm.addr(workerKeys[i]);
            token.mint(ws[i], MIN_STAKE);
            vm.startPrank(ws[i]);
            token.approve(address(em), MIN_STAKE);
            em.register(vm.addr(signingKeys[i]), "/ip4/127.0.0.1/tcp/1");
            em.stake(MIN_STAKE);
            em.commit(1);
            vm.stopPrank();
        }
        _advanceAfterFulfil();
        n = em.numWorkers(1);
        k = em.replication(1);
        r = em.randomness(1);
    }

    /// Short windows (one epoch each, two to arbitrate), the governance address as the arbitrator.
    function _disputeRules() internal view virtual returns (IExecutionDisputes.DisputeRules memory) {
        return
            IExecutionDisputes.DisputeRules({
                jurySize: 41,
                commitEpochs: 1,
                revealEpochs: 1,
                appealEpochs: 1,
                arbitrationEpochs: 2,
                openerShareBps: 5_000,
                jurorDeposit: 1 ether,
                appealBond: 10 ether,
                arbitrator: governance
            });
    }

    function _delta(uint256 salt) internal pure returns (Delta memory) {
        return Delta(abi.encode("transfer", salt), uint64(salt), 1);
    }

    /// A delta whose shard is `shard` (searching data).
    function _deltaInShard(uint32 shard, uint256 salt) internal view returns (Delta memory d) {
        for (uint256 i = salt; ; ++i) {
            d = _delta(i);
            if (Sharding.shard(d.data, r, n) == shard) return d;
        }
    }

    function _holder(uint32 shard, uint256 replica) internal view returns (uint32) {
        return Shuffle.holders(shard, n, k, r, 90)[replica];
    }

    /// A non-holder of `shard`.
    function _nonHolder(uint32 shard) internal view returns (uint32 w) {
        while (Shuffle.holds(w, shard, n, k, r, 90)) ++w;
    }

    function _msh(Delta[] memory ds) internal pure returns (bytes32) {
        uint256[64] memory st;
        for (uint256 i; i < ds.length; ++i) LtHash.add(st, ds[i].data, ds[i].time, ds[i].diff);
        return LtHash.digest(st);
    }

    /// An honest header of worker `s` (index) for `deltas` on `shard` to receiver index `recv`.
    function _header(
        uint32 s,
        uint32 shard,
        uint32 recv,
        uint64 seq,
        bytes32 prev,
        Delta[] memory ds,
        bytes32 cumulative
    ) internal view returns (BatchHeader memory h) {
        h = BatchHeader({
            epoch: 1,
            stream: STREAM,
            shard: shard,
            originShard: 0,
            sender: em.workerAt(1, s),
            receiver: em.workerAt(1, recv),
            seq: seq,
            prev: prev,
            deltasRoot: DeltaMerkle.root(_copy(ds)),
            count: uint32(ds.length),
            batchMsh: _msh(ds),
            cumulativeMsh: cumulative,
            inputMsh: bytes32(0),
            firstTime: 0,
            lastTime: 0
        });
    }

    function _copy(Delta[] memory ds) internal pure returns (Delta[] memory out) {
        out = new Delta[](ds.length);
        for (uint256 i; i < ds.length; ++i) out[i] = ds[i];
    }

    function _signingKeyOf(address worker) internal view returns (uint256) {
        for (uint256 i; i < 4; ++i) if (ws[i] == worker) return signingKeys[i];
        revert("unknown worker");
    }

    function _sign(BatchHeader memory h, uint256 key, bytes32 domain) internal pure returns (bytes memory) {
        bytes32 digest = BatchHeaders.typedDataHash(domain, BatchHeaders.hash(h));
        (uint8 v, bytes32 rr, bytes32 ss) = vm.sign(key, digest);
        return abi.encodePacked(rr, ss, v);
    }

    function _signed(BatchHeader memory h) internal view returns (IFraudProofs.SignedHeader memory) {
        return
            IFraudProofs.SignedHeader(
                h,
                _sign(h, _signingKeyOf(h.sender), fraud.domainSeparator()),
                em.indexOf(1, h.sender)
            );
    }

    function _one(Delta memory d) internal pure returns (Delta[] memory ds) {
        ds = new Delta[](1);
        ds[0] = d;
    }
}
