// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";

/**
 * @notice The header of a batch on channel `(epoch, stream, shard, sender, receiver)`,
 * signed with EIP-712 by the sender's signing key (docs/protocol.md §6).
 * @param epoch The epoch whose assignment the channel belongs to.
 * @param stream The stream id.
 * @param shard The shard of the stream the batch's deltas belong to.
 * @param sender The sending worker (its staking address).
 * @param receiver The receiving worker (a holder of `shard`).
 * @param seq The batch number on the channel, from 0.
 * @param prev {BatchHeaders-contentHash} of the previous header on the channel; zero for seq 0.
 * @param deltasRoot {DeltaMerkle-root} of the batch's deltas.
 * @param count The number of deltas.
 * @param batchMsh The LtHash digest of the batch's deltas.
 * @param cumulativeMsh The LtHash digest of all deltas of the channel up to and including this batch.
 */
struct BatchHeader {
    uint64 epoch;
    bytes32 stream;
    uint32 shard;
    address sender;
    address receiver;
    uint64 seq;
    bytes32 prev;
    bytes32 deltasRoot;
    uint32 count;
    bytes32 batchMsh;
    bytes32 cumulativeMsh;
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
        "BatchHeader(uint64 epoch,bytes32 stream,uint32 shard,address sender,address receiver,uint64 seq,"
        "bytes32 prev,bytes32 deltasRoot,uint32 count,bytes32 batchMsh,bytes32 cumulativeMsh)"
    );

    bytes32 internal constant ACCUMULATED_PROOF_TYPEHASH = keccak256(
        "AccumulatedProof(uint64 epoch,bytes32 stream,uint32 shard,address sender,uint64 seq,"
        "uint256 sourceChainId,uint64 blockNumber,bytes32 blockHash,bytes32 cumulativeMsh)"
    );

    bytes32 private constant _DOMAIN_TYPEHASH = keccak256(
        "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    );

    /// @notice The EIP-712 struct hash of a batch header.
    function hash(BatchHeader memory h) internal pure returns (bytes32) {
        return
            keccak256(
                abi.encode(
                    BATCH_HEADER_TYPEHASH,
                    h.epoch,
                    h.stream,
                    h.shard,
                    h.sender,
                    h.receiver,
                    h.seq,
                    h.prev,
                    h.deltasRoot,
                    h.count,
                    h.batchMsh,
                    h.cumulativeMsh
                )
            );
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
     * `(epoch, stream, shard, sender, seq)` equivocate exactly when their content hashes differ.
     * Leaving the receiver out keeps the chain identical on every holder's channel.
     */
    function contentHash(BatchHeader memory h) internal pure returns (bytes32) {
        return
            keccak256(
                abi.encode(
                    h.epoch,
                    h.stream,
                    h.shard,
                    h.sender,
                    h.seq,
                    h.prev,
                    h.deltasRoot,
                    h.count,
                    h.batchMsh,
                    h.cumulativeMsh
                )
            );
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
        return _hashWords(BATCH_HEADER_TYPEHASH, at, 11);
    }

    /// @notice {hash} of an accumulated proof in calldata, hashed in place (see {hashCalldata}).
    function hashCalldata(AccumulatedProof calldata p) internal pure returns (bytes32 digest) {
        uint256 at;
        assembly ("memory-safe") {
            at := p
        }
        return _hashWords(ACCUMULATED_PROOF_TYPEHASH, at, 9);
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

    /// @notice {contentHash} of a header in calldata: words 0–3 and 5–10 (all but the receiver).
    function contentHashCalldata(BatchHeader calldata h) internal pure returns (bytes32 digest) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            calldatacopy(ptr, h, 0x80) // epoch, stream, shard, sender
            calldatacopy(add(ptr, 0x80), add(h, 0xa0), 0xc0) // seq .. cumulativeMsh
            digest := keccak256(ptr, 0x140)
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
