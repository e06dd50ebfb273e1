// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";

/**
 * @notice The header of a batch on channel `(epoch, stream, shard, originShard, sender, receiver)`,
 * signed with EIP-712 by the sender's signing key (docs/protocol.md §6, §12).
 * @param epoch The epoch whose assignment the channel belongs to.
 * @param stream The stream id.
 * @param shard The shard of the stream the batch's deltas belong to.
 * @param originShard The shard of the upstream stream whose inputs produced the deltas: the `k`
 * holders of that shard sign the same replica content at the same position.
 * @param sender The sending worker (its staking address).
 * @param receiver The receiving worker (a holder of `shard`).
 * @param seq The batch number on the channel, from 0.
 * @param prev {BatchHeaders-contentHash} of the previous header on the channel; zero for seq 0.
 * @param deltasRoot {DeltaMerkle-root} of the batch's deltas.
 * @param count The number of deltas.
 * @param batchMsh The LtHash digest of the batch's deltas.
 * @param cumulativeMsh The LtHash digest of all deltas of the channel up to and including this batch.
 * @param inputMsh The LtHash digest of the origin shard's inputs up to `lastTime` (the input commitment).
 * @param firstTime The time of the batch's first delta.
 * @param lastTime The time of the batch's last delta.
 */
struct BatchHeader {
    uint64 epoch;
    bytes32 stream;
    uint32 shard;
    uint32 originShard;
    address sender;
    address receiver;
    uint64 seq;
    bytes32 prev;
    bytes32 deltasRoot;
    uint32 count;
    bytes32 batchMsh;
    bytes32 cumulativeMsh;
    bytes32 inputMsh;
    uint64 firstTime;
    uint64 lastTime;
}

/**
 * @notice "The deltas of this channel up to `seq` are what I produced from source chain
 * `sourceChainId` up to block `blockNumber` with hash `blockHash`" (docs/protocol.md §6). It names no
 * receiver: a sender sends the same content to every holder of the shard.
 */
struct AccumulatedProof {
    uint64 epoch;
    bytes32 stream;
    uint32 shard;
    uint32 originShard;
    address sender;
    uint64 seq;
    uint256 sourceChainId;
    uint64 blockNumber;
    bytes32 blockHash;
    bytes32 cumulativeMsh;
}

/**
 * @title BatchHeaders
 * @notice EIP-712 type hashes and struct hashes for {BatchHeader} and {AccumulatedProof}, the
 * receiver-independent content hash that `prev` links and equivocation compares, and the
 * protocol's EIP-712 domain. The TypeScript twin is `client/math/eip712.ts`.
 */
library BatchHeaders {
    /// @notice The EIP-712 domain name.
    string internal constant DOMAIN_NAME = "Maru";
    /// @notice The EIP-712 domain version.
    string internal constant DOMAIN_VERSION = "1";

    bytes32 internal constant BATCH_HEADER_TYPEHASH = keccak256(
        "BatchHeader(uint64 epoch,bytes32 stream,uint32 shard,uint32 originShard,address sender,address receiver,"
        "uint64 seq,bytes32 prev,bytes32 deltasRoot,uint32 count,bytes32 batchMsh,bytes32 cumulativeMsh,"
        "bytes32 inputMsh,uint64 firstTime,uint64 lastTime)"
    );

    bytes32 internal constant ACCUMULATED_PROOF_TYPEHASH = keccak256(
        "AccumulatedProof(uint64 epoch,bytes32 stream,uint32 shard,uint32 originShard,address sender,uint64 seq,"
        "uint256 sourceChainId,uint64 blockNumber,bytes32 blockHash,bytes32 cumulativeMsh)"
    );

    bytes32 private constant _DOMAIN_TYPEHASH = keccak256(
        "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    );

    /// @notice The EIP-712 struct hash of a batch header.
    function hash(BatchHeader memory h) internal pure returns (bytes32 digest) {
        bytes32 typeHash = BATCH_HEADER_TYPEHASH;
        // A static struct in memory is its 15 words in order: keccak256(typeHash ‖ words).
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, typeHash)
            for {
                let i := 0
            } lt(i, 15) {
                i := add(i, 1)
            } {
                mstore(add(ptr, mul(add(i, 1), 0x20)), mload(add(h, mul(i, 0x20))))
            }
            digest := keccak256(ptr, 0x200)
        }
    }

    /// @notice The EIP-712 struct hash of an accumulated proof.
    function hash(AccumulatedProof memory p) internal pure returns (bytes32) {
        return
            keccak256(
                abi.encode(
                    ACCUMULATED_PROOF_TYPEHASH,
                    p.epoch,
                    p.stream,
                    p.shard,
                    p.originShard,
                    p.sender,
                    p.seq,
                    p.sourceChainId,
                    p.blockNumber,
                    p.blockHash,
                    p.cumulativeMsh
                )
            );
    }

    /**
     * @notice The content hash of a header: every field but `receiver`. `prev` is the content
     * hash of the previous header on the channel, and two headers of one
     * `(epoch, stream, shard, originShard, sender, seq)` equivocate exactly when their content
     * hashes differ. Leaving the receiver out keeps the chain identical on every holder's channel.
     */
    function contentHash(BatchHeader memory h) internal pure returns (bytes32 digest) {
        // abi.encode of the 14 fields but the receiver (word 5): the words before it and after it.
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            for {
                let i := 0
            } lt(i, 15) {
                i := add(i, 1)
            } {
                if iszero(eq(i, 5)) {
                    mstore(add(ptr, mul(sub(i, gt(i, 5)), 0x20)), mload(add(h, mul(i, 0x20))))
                }
            }
            digest := keccak256(ptr, 0x1c0)
        }
    }

    /**
     * @notice The replica content of a header: what every honest holder of the origin shard signs
     * alike at one position `(epoch, stream, shard, originShard, seq)`, that is `deltasRoot`,
     * `count`, `batchMsh`, `cumulativeMsh`, `inputMsh`, `firstTime`, `lastTime` (words 8–14,
     * abi-encoded). The TypeScript twin is `replicaHash` in `client/math/eip712.ts`.
     */
    function replicaHashCalldata(BatchHeader calldata h) internal pure returns (bytes32 digest) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            calldatacopy(ptr, add(h, 0x100), 0xe0)
            digest := keccak256(ptr, 0xe0)
        }
    }

    /**
     * @notice {hash} of a header in calldata, hashed in place (no copy field by field). The words
     * are hashed as given: a header with dirty padding hashes differently from what anyone signed,
     * so a signature over it never recovers to a worker's key (fraud proofs rely on that).
     */
    function hashCalldata(BatchHeader calldata h) internal pure returns (bytes32 digest) {
        uint256 at;
        assembly ("memory-safe") {
            at := h
        }
        return _hashWords(BATCH_HEADER_TYPEHASH, at, 15);
    }

    /// @notice {hash} of an accumulated proof in calldata, hashed in place (see {hashCalldata}).
    function hashCalldata(AccumulatedProof calldata p) internal pure returns (bytes32 digest) {
        uint256 at;
        assembly ("memory-safe") {
            at := p
        }
        return _hashWords(ACCUMULATED_PROOF_TYPEHASH, at, 10);
    }

    /// @dev keccak256(typeHash ‖ the `words` calldata words at `at`): an EIP-712 struct hash of a
    /// static struct, whose ABI encoding is its words in order.
    function _hashWords(bytes32 typeHash, uint256 at, uint256 words) private pure returns (bytes32 digest) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, typeHash)
            calldatacopy(add(ptr, 0x20), at, mul(words, 0x20))
            digest := keccak256(ptr, add(0x20, mul(words, 0x20)))
        }
    }

    /// @notice {contentHash} of a header in calldata: words 0–4 and 6–14 (all but the receiver).
    function contentHashCalldata(BatchHeader calldata h) internal pure returns (bytes32 digest) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            calldatacopy(ptr, h, 0xa0) // epoch, stream, shard, originShard, sender
            calldatacopy(add(ptr, 0xa0), add(h, 0xc0), 0x120) // seq .. lastTime
            digest := keccak256(ptr, 0x1c0)
        }
    }

    /// @notice The protocol's EIP-712 domain separator for a chain and verifying contract.
    function domainSeparator(uint256 chainId, address verifyingContract) internal pure returns (bytes32) {
        return
            keccak256(
                abi.encode(
                    _DOMAIN_TYPEHASH,
                    keccak256(bytes(DOMAIN_NAME)),
                    keccak256(bytes(DOMAIN_VERSION)),
                    chainId,
                    verifyingContract
                )
            );
    }

    /// @notice The digest a signer signs: `keccak256("\x19\x01" ‖ domainSeparator ‖ structHash)`.
    function typedDataHash(bytes32 domainSeparator_, bytes32 structHash) internal pure returns (bytes32) {
        return MessageHashUtils.toTypedDataHash(domainSeparator_, structHash);
    }
}
