// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

/**
 * @title LtHash
 * @notice LtHash16 over keccak256, the protocol's multiset hash (docs/protocol.md §7): 1024 lanes
 * of 16 bits with wrapping arithmetic. The state is a `uint256[64]` whose word `i` holds lanes
 * `16i … 16i+15`, lane `16i` in the most significant bits, so the state's 2048 bytes in memory
 * are exactly its big-endian encoding and the digest hashes them in place.
 *
 * Lane arithmetic is word-wide (SWAR): 16 lanes per 256-bit word, carries masked at lane
 * boundaries. The TypeScript twin is `client/math/lthash.ts`.
 */
library LtHash {
    /// @notice Bytes in an encoded state.
    uint256 internal constant STATE_BYTES = 2048;

    /// @notice Thrown when an encoded state is not exactly 2048 bytes.
    /// @param length The length given.
    error LtHashInvalidLength(uint256 length);

    // The top bit of every lane, the low 15 bits of every lane, and even lanes in 32-bit slots.
    uint256 private constant _H = 0x8000800080008000800080008000800080008000800080008000800080008000;
    uint256 private constant _L = 0x7fff7fff7fff7fff7fff7fff7fff7fff7fff7fff7fff7fff7fff7fff7fff7fff;
    uint256 private constant _E = 0x0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff;

    /// @notice The element of a delta: `keccak256(abi.encode(data, time))`.
    function element(bytes memory data, uint64 time) internal pure returns (bytes32) {
        return keccak256(abi.encode(data, time));
    }

    /// @notice Adds the delta `(data, time, diff)` to `state` in place: every lane
    /// `+= diff * laneOf(element) (mod 2^16)`.
    function add(uint256[64] memory state, bytes memory data, uint64 time, int64 diff) internal pure {
        addElement(state, element(data, time), diff);
    }

    /// @notice Adds `mult` copies (mod 2^16, negative allowed) of element `e` to `state` in place.
    /// Lane word `i` of `e` is `keccak256(e ‖ uint8(i))`, read as 16 big-endian u16 lanes.
    function addElement(uint256[64] memory state, bytes32 e, int64 mult) internal pure {
        // Two's complement: the low 16 bits of mult are mult mod 2^16.
        uint256 m = uint256(uint64(mult)) & 0xffff;
        if (m == 0) return;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, e)
            let end := add(state, 0x800)
            for {
                let slot := state
                let i := 0
            } lt(slot, end) {
                slot := add(slot, 0x20)
                i := add(i, 1)
            } {
                mstore8(add(ptr, 0x20), i)
                let v := keccak256(ptr, 0x21)
                if iszero(eq(m, 1)) {
                    // Even and odd lanes each sit in the low half of a 32-bit slot, so a lane
                    // times m (< 2^32) cannot carry into its neighbour.
                    v := or(and(mul(and(v, _E), m), _E), shl(16, and(mul(and(shr(16, v), _E), m), _E)))
                }
                let a := mload(slot)
                mstore(slot, xor(add(and(a, _L), and(v, _L)), and(xor(a, v), _H)))
            }
        }
    }

    /// @notice `a += b` lane-wise, in place (multiset union).
    function combine(uint256[64] memory a, uint256[64] memory b) internal pure {
        for (uint256 i; i < 64; ++i) {
            uint256 x = a[i];
            uint256 y = b[i];
            a[i] = ((x & _L) + (y & _L)) ^ ((x ^ y) & _H);
        }
    }

    /// @notice `a -= b` lane-wise, in place (multiset difference).
    function subtract(uint256[64] memory a, uint256[64] memory b) internal pure {
        for (uint256 i; i < 64; ++i) {
            uint256 x = a[i];
            uint256 y = b[i];
            // Borrow-free per lane: set each minuend lane's top bit, clear the subtrahend's, fix up.
            a[i] = ((x | _H) - (y & _L)) ^ ((x ^ ~y) & _H);
        }
    }

    /// @notice The digest headers carry: keccak256 of the 2048-byte big-endian state.
    function digest(uint256[64] memory state) internal pure returns (bytes32 d) {
        assembly ("memory-safe") {
            d := keccak256(state, 0x800)
        }
    }

    /// @notice Whether `state` is the empty multiset (all lanes zero).
    function isEmpty(uint256[64] memory state) internal pure returns (bool) {
        for (uint256 i; i < 64; ++i) {
            if (state[i] != 0) return false;
        }
        return true;
    }

    /// @notice Decodes a 2048-byte big-endian state (as fraud proofs carry it).
    function decode(bytes memory encoded) internal pure returns (uint256[64] memory state) {
        require(encoded.length == STATE_BYTES, LtHashInvalidLength(encoded.length));
        assembly ("memory-safe") {
            mcopy(state, add(encoded, 0x20), 0x800)
        }
    }

    /// @notice Encodes a state as its 2048 big-endian bytes.
    function encode(uint256[64] memory state) internal pure returns (bytes memory encoded) {
        encoded = new bytes(STATE_BYTES);
        assembly ("memory-safe") {
            mcopy(add(encoded, 0x20), state, 0x800)
        }
    }
}
