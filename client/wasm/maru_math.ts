// Keccak-256 and the hot loops of the protocol math, compiled to WebAssembly
// with AssemblyScript (`npm run build:wasm`). Why this exists instead of a
// per-call hash library: an LtHash update needs 64 lane hashes per delta and a
// shard needs one hash plus a 256-bit reduction; doing each in a single call
// avoids the JS<->wasm crossings that dominate per-hash libraries (measured
// in bench/offchain.bench.ts, docs/PERFORMANCE.md).
//
// Memory: the runtime is "stub" and nothing here allocates. Fixed scratch
// regions come from memory.data; inputs of any length go to INPUT, which
// starts at __heap_base and which the host grows with memory.grow as needed.

// Keccak-f[1600] round constants.
const RC: usize = memory.data<u64>([
  0x0000000000000001, 0x0000000000008082, 0x800000000000808a, 0x8000000080008000,
  0x000000000000808b, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
  0x000000000000008a, 0x0000000000000088, 0x0000000080008009, 0x000000008000000a,
  0x000000008000808b, 0x800000000000008b, 0x8000000000008089, 0x8000000000008003,
  0x8000000000008002, 0x8000000000000080, 0x000000000000800a, 0x800000008000000a,
  0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
]);

const STATE: usize = memory.data(200, 8); // 25 lanes of the sponge
const PAD: usize = memory.data(136, 8); // last, padded block
export const OUT: usize = memory.data(32, 8); // 32-byte digest
export const R: usize = memory.data(32, 8); // the epoch randomness r
export const KEY: usize = memory.data(32, 8); // a 32-byte partition key
export const ELEMENT: usize = memory.data(32, 8); // an LtHash element e
export const LTHASH: usize = memory.data(2048, 8); // 1024 u16 lanes, native (little-endian) order
const LTBE: usize = memory.data(2048, 8); // big-endian copy for the digest
const PAIR_OUT: usize = memory.data(64, 16); // permutePair: words 0..3 of both states, interleaved
export const INPUT: usize = __heap_base; // variable-length input, grown by the host

const RATE: usize = 136;

// @ts-ignore: decorator
@inline function bswap16Lanes(x: u64): u64 {
  return ((x & 0x00ff00ff00ff00ff) << 8) | ((x >> 8) & 0x00ff00ff00ff00ff);
}

function permute(): void {
  let a0 = load<u64>(STATE, 0), a1 = load<u64>(STATE, 8), a2 = load<u64>(STATE, 16), a3 = load<u64>(STATE, 24), a4 = load<u64>(STATE, 32);
  let a5 = load<u64>(STATE, 40), a6 = load<u64>(STATE, 48), a7 = load<u64>(STATE, 56), a8 = load<u64>(STATE, 64), a9 = load<u64>(STATE, 72);
  let a10 = load<u64>(STATE, 80), a11 = load<u64>(STATE, 88), a12 = load<u64>(STATE, 96), a13 = load<u64>(STATE, 104), a14 = load<u64>(STATE, 112);
  let a15 = load<u64>(STATE, 120), a16 = load<u64>(STATE, 128), a17 = load<u64>(STATE, 136), a18 = load<u64>(STATE, 144), a19 = load<u64>(STATE, 152);
  let a20 = load<u64>(STATE, 160), a21 = load<u64>(STATE, 168), a22 = load<u64>(STATE, 176), a23 = load<u64>(STATE, 184), a24 = load<u64>(STATE, 192);
  let b0: u64, b1: u64, b2: u64, b3: u64, b4: u64, b5: u64, b6: u64, b7: u64, b8: u64, b9: u64, b10: u64, b11: u64, b12: u64;
  let b13: u64, b14: u64, b15: u64, b16: u64, b17: u64, b18: u64, b19: u64, b20: u64, b21: u64, b22: u64, b23: u64, b24: u64;
  let c0: u64, c1: u64, c2: u64, c3: u64, c4: u64, d: u64;
  for (let round: usize = 0; round < 24; round++) {
    c0 = a0 ^ a5 ^ a10 ^ a15 ^ a20;
    c1 = a1 ^ a6 ^ a11 ^ a16 ^ a21;
    c2 = a2 ^ a7 ^ a12 ^ a17 ^ a22;
    c3 = a3 ^ a8 ^ a13 ^ a18 ^ a23;
    c4 = a4 ^ a9 ^ a14 ^ a19 ^ a24;
    d = c4 ^ rotl<u64>(c1, 1); a0 ^= d; a5 ^= d; a10 ^= d; a15 ^= d; a20 ^= d;
    d = c0 ^ rotl<u64>(c2, 1); a1 ^= d; a6 ^= d; a11 ^= d; a16 ^= d; a21 ^= d;
    d = c1 ^ rotl<u64>(c3, 1); a2 ^= d; a7 ^= d; a12 ^= d; a17 ^= d; a22 ^= d;
    d = c2 ^ rotl<u64>(c4, 1); a3 ^= d; a8 ^= d; a13 ^= d; a18 ^= d; a23 ^= d;
    d = c3 ^ rotl<u64>(c0, 1); a4 ^= d; a9 ^= d; a14 ^= d; a19 ^= d; a24 ^= d;
    b0 = a0;
    b16 = rotl<u64>(a5, 36);
    b7 = rotl<u64>(a10, 3);
    b23 = rotl<u64>(a15, 41);
    b14 = rotl<u64>(a20, 18);
    b10 = rotl<u64>(a1, 1);
    b1 = rotl<u64>(a6, 44);
    b17 = rotl<u64>(a11, 10);
    b8 = rotl<u64>(a16, 45);
    b24 = rotl<u64>(a21, 2);
    b20 = rotl<u64>(a2, 62);
    b11 = rotl<u64>(a7, 6);
    b2 = rotl<u64>(a12, 43);
    b18 = rotl<u64>(a17, 15);
    b9 = rotl<u64>(a22, 61);
    b5 = rotl<u64>(a3, 28);
    b21 = rotl<u64>(a8, 55);
    b12 = rotl<u64>(a13, 25);
    b3 = rotl<u64>(a18, 21);
    b19 = rotl<u64>(a23, 56);
    b15 = rotl<u64>(a4, 27);
    b6 = rotl<u64>(a9, 20);
    b22 = rotl<u64>(a14, 39);
    b13 = rotl<u64>(a19, 8);
    b4 = rotl<u64>(a24, 14);
    a0 = b0 ^ (~b1 & b2);
    a1 = b1 ^ (~b2 & b3);
    a2 = b2 ^ (~b3 & b4);
    a3 = b3 ^ (~b4 & b0);
    a4 = b4 ^ (~b0 & b1);
    a5 = b5 ^ (~b6 & b7);
    a6 = b6 ^ (~b7 & b8);
    a7 = b7 ^ (~b8 & b9);
    a8 = b8 ^ (~b9 & b5);
    a9 = b9 ^ (~b5 & b6);
    a10 = b10 ^ (~b11 & b12);
    a11 = b11 ^ (~b12 & b13);
    a12 = b12 ^ (~b13 & b14);
    a13 = b13 ^ (~b14 & b10);
    a14 = b14 ^ (~b10 & b11);
    a15 = b15 ^ (~b16 & b17);
    a16 = b16 ^ (~b17 & b18);
    a17 = b17 ^ (~b18 & b19);
    a18 = b18 ^ (~b19 & b15);
    a19 = b19 ^ (~b15 & b16);
    a20 = b20 ^ (~b21 & b22);
    a21 = b21 ^ (~b22 & b23);
    a22 = b22 ^ (~b23 & b24);
    a23 = b23 ^ (~b24 & b20);
    a24 = b24 ^ (~b20 & b21);
    a0 ^= load<u64>(RC + (round << 3));
  }
  store<u64>(STATE, a0, 0); store<u64>(STATE, a1, 8); store<u64>(STATE, a2, 16); store<u64>(STATE, a3, 24); store<u64>(STATE, a4, 32);
  store<u64>(STATE, a5, 40); store<u64>(STATE, a6, 48); store<u64>(STATE, a7, 56); store<u64>(STATE, a8, 64); store<u64>(STATE, a9, 72);
  store<u64>(STATE, a10, 80); store<u64>(STATE, a11, 88); store<u64>(STATE, a12, 96); store<u64>(STATE, a13, 104); store<u64>(STATE, a14, 112);
  store<u64>(STATE, a15, 120); store<u64>(STATE, a16, 128); store<u64>(STATE, a17, 136); store<u64>(STATE, a18, 144); store<u64>(STATE, a19, 152);
  store<u64>(STATE, a20, 160); store<u64>(STATE, a21, 168); store<u64>(STATE, a22, 176); store<u64>(STATE, a23, 184); store<u64>(STATE, a24, 192);
}

// Two Keccak-f[1600] permutations at once, one in each 64-bit half of 128-bit SIMD values: the 64
// words of an LtHash element's lanes are independent, so they go two by two. Generated from
// permute() above, round for round; the results are compared with it in the tests (shared vectors).
// @ts-ignore: decorator
@inline function rot(x: v128, n: i32): v128 {
  return v128.or(i64x2.shl(x, n), i64x2.shr_u(x, 64 - n));
}

/** The first 32 bytes of keccak256(e ‖ uint8(i)) and of keccak256(e ‖ uint8(i + 1)) -> PAIR_OUT (4 + 4 words). */
function permutePair(e0: u64, e1: u64, e2: u64, e3: u64, i: u64): void {
  let a0 = i64x2.splat(e0), a1 = i64x2.splat(e1), a2 = i64x2.splat(e2), a3 = i64x2.splat(e3);
  let a4 = i64x2(i | 0x100, (i + 1) | 0x100);
  const z = i64x2.splat(0);
  let a5 = z, a6 = z, a7 = z, a8 = z, a9 = z, a10 = z, a11 = z, a12 = z, a13 = z, a14 = z, a15 = z;
  let a16 = i64x2.splat(0x8000000000000000);
  let a17 = z, a18 = z, a19 = z, a20 = z, a21 = z, a22 = z, a23 = z, a24 = z;
  let b0: v128, b1: v128, b2: v128, b3: v128, b4: v128, b5: v128, b6: v128, b7: v128, b8: v128, b9: v128, b10: v128, b11: v128, b12: v128;
  let b13: v128, b14: v128, b15: v128, b16: v128, b17: v128, b18: v128, b19: v128, b20: v128, b21: v128, b22: v128, b23: v128, b24: v128;
  let c0: v128, c1: v128, c2: v128, c3: v128, c4: v128, d: v128;
  for (let round: usize = 0; round < 24; round++) {
    c0 = v128.xor(v128.xor(v128.xor(v128.xor(a0, a5), a10), a15), a20);
    c1 = v128.xor(v128.xor(v128.xor(v128.xor(a1, a6), a11), a16), a21);
    c2 = v128.xor(v128.xor(v128.xor(v128.xor(a2, a7), a12), a17), a22);
    c3 = v128.xor(v128.xor(v128.xor(v128.xor(a3, a8), a13), a18), a23);
    c4 = v128.xor(v128.xor(v128.xor(v128.xor(a4, a9), a14), a19), a24);
    d = v128.xor(c4, rot(c1, 1));
    a0 = v128.xor(a0, d);
    a5 = v128.xor(a5, d);
    a10 = v128.xor(a10, d);
    a15 = v128.xor(a15, d);
    a20 = v128.xor(a20, d);
    d = v128.xor(c0, rot(c2, 1));
    a1 = v128.xor(a1, d);
    a6 = v128.xor(a6, d);
    a11 = v128.xor(a11, d);
    a16 = v128.xor(a16, d);
    a21 = v128.xor(a21, d);
    d = v128.xor(c1, rot(c3, 1));
    a2 = v128.xor(a2, d);
    a7 = v128.xor(a7, d);
    a12 = v128.xor(a12, d);
    a17 = v128.xor(a17, d);
    a22 = v128.xor(a22, d);
    d = v128.xor(c2, rot(c4, 1));
    a3 = v128.xor(a3, d);
    a8 = v128.xor(a8, d);
    a13 = v128.xor(a13, d);
    a18 = v128.xor(a18, d);
    a23 = v128.xor(a23, d);
    d = v128.xor(c3, rot(c0, 1));
    a4 = v128.xor(a4, d);
    a9 = v128.xor(a9, d);
    a14 = v128.xor(a14, d);
    a19 = v128.xor(a19, d);
    a24 = v128.xor(a24, d);
    b0 = a0;
    b16 = rot(a5, 36);
    b7 = rot(a10, 3);
    b23 = rot(a15, 41);
    b14 = rot(a20, 18);
    b10 = rot(a1, 1);
    b1 = rot(a6, 44);
    b17 = rot(a11, 10);
    b8 = rot(a16, 45);
    b24 = rot(a21, 2);
    b20 = rot(a2, 62);
    b11 = rot(a7, 6);
    b2 = rot(a12, 43);
    b18 = rot(a17, 15);
    b9 = rot(a22, 61);
    b5 = rot(a3, 28);
    b21 = rot(a8, 55);
    b12 = rot(a13, 25);
    b3 = rot(a18, 21);
    b19 = rot(a23, 56);
    b15 = rot(a4, 27);
    b6 = rot(a9, 20);
    b22 = rot(a14, 39);
    b13 = rot(a19, 8);
    b4 = rot(a24, 14);
    a0 = v128.xor(b0, v128.andnot(b2, b1));
    a1 = v128.xor(b1, v128.andnot(b3, b2));
    a2 = v128.xor(b2, v128.andnot(b4, b3));
    a3 = v128.xor(b3, v128.andnot(b0, b4));
    a4 = v128.xor(b4, v128.andnot(b1, b0));
    a5 = v128.xor(b5, v128.andnot(b7, b6));
    a6 = v128.xor(b6, v128.andnot(b8, b7));
    a7 = v128.xor(b7, v128.andnot(b9, b8));
    a8 = v128.xor(b8, v128.andnot(b5, b9));
    a9 = v128.xor(b9, v128.andnot(b6, b5));
    a10 = v128.xor(b10, v128.andnot(b12, b11));
    a11 = v128.xor(b11, v128.andnot(b13, b12));
    a12 = v128.xor(b12, v128.andnot(b14, b13));
    a13 = v128.xor(b13, v128.andnot(b10, b14));
    a14 = v128.xor(b14, v128.andnot(b11, b10));
    a15 = v128.xor(b15, v128.andnot(b17, b16));
    a16 = v128.xor(b16, v128.andnot(b18, b17));
    a17 = v128.xor(b17, v128.andnot(b19, b18));
    a18 = v128.xor(b18, v128.andnot(b15, b19));
    a19 = v128.xor(b19, v128.andnot(b16, b15));
    a20 = v128.xor(b20, v128.andnot(b22, b21));
    a21 = v128.xor(b21, v128.andnot(b23, b22));
    a22 = v128.xor(b22, v128.andnot(b24, b23));
    a23 = v128.xor(b23, v128.andnot(b20, b24));
    a24 = v128.xor(b24, v128.andnot(b21, b20));
    a0 = v128.xor(a0, i64x2.splat(load<u64>(RC + (round << 3))));
  }
  v128.store(PAIR_OUT, a0, 0);
  v128.store(PAIR_OUT, a1, 16);
  v128.store(PAIR_OUT, a2, 32);
  v128.store(PAIR_OUT, a3, 48);
}

// Keccak-256 (the original padding 0x01..0x80, as the EVM's KECCAK256) of
// len bytes at ptr, written to out.
function keccakInto(ptr: usize, len: usize, out: usize): void {
  memory.fill(STATE, 0, 200);
  while (len >= RATE) {
    for (let i: usize = 0; i < 17; i++) store<u64>(STATE + (i << 3), load<u64>(STATE + (i << 3)) ^ load<u64>(ptr + (i << 3)));
    permute();
    ptr += RATE;
    len -= RATE;
  }
  memory.fill(PAD, 0, RATE);
  memory.copy(PAD, ptr, len);
  store<u8>(PAD + len, load<u8>(PAD + len) | 0x01);
  store<u8>(PAD + RATE - 1, load<u8>(PAD + RATE - 1) | 0x80);
  for (let i: usize = 0; i < 17; i++) store<u64>(STATE + (i << 3), load<u64>(STATE + (i << 3)) ^ load<u64>(PAD + (i << 3)));
  permute();
  memory.copy(out, STATE, 32);
}

/** keccak256(INPUT[0..len)) -> OUT. */
export function keccak(len: usize): void {
  keccakInto(INPUT, len, OUT);
}

// 256-bit big-endian digest at OUT reduced mod n (1 <= n < 2^32).
function outModN(n: u32): u32 {
  let acc: u64 = 0;
  const m = <u64>n;
  for (let i: usize = 0; i < 32; i += 4) {
    acc = ((acc << 32) | <u64>bswap<u32>(load<u32>(OUT + i))) % m;
  }
  return <u32>acc;
}

/** shard = uint256(keccak256(INPUT[0..keyLen) ‖ R)) mod n; the host writes the key at INPUT. */
export function shard(keyLen: usize, n: u32): u32 {
  memory.copy(INPUT + keyLen, R, 32);
  keccakInto(INPUT, keyLen + 32, OUT);
  return outModN(n);
}

/** shard of the 32-byte key at KEY: one permutation, no copies. */
export function shard32(n: u32): u32 {
  memory.fill(STATE + 64, 0, 136);
  memory.copy(STATE, KEY, 32);
  memory.copy(STATE + 32, R, 32);
  store<u64>(STATE, 0x01, 64);
  store<u64>(STATE, 0x8000000000000000, 128);
  permute();
  memory.copy(OUT, STATE, 32);
  return outModN(n);
}

/**
 * e = keccak256(abi.encode(bytes data, uint64 time)) -> ELEMENT. The host
 * writes the data at INPUT + 96; this writes the ABI head and the padding.
 */
export function elementHash(dataLen: u32, timeHi: u32, timeLo: u32): void {
  memory.fill(INPUT, 0, 96);
  store<u8>(INPUT + 31, 0x40);
  store<u32>(INPUT + 56, bswap<u32>(timeHi));
  store<u32>(INPUT + 60, bswap<u32>(timeLo));
  store<u32>(INPUT + 92, bswap<u32>(dataLen));
  const padded = (<usize>dataLen + 31) & ~(<usize>31);
  memory.fill(INPUT + 96 + <usize>dataLen, 0, padded - <usize>dataLen);
  keccakInto(INPUT, 96 + padded, ELEMENT);
}

/**
 * LTHASH += mult * lanes(ELEMENT) (mod 2^16, lane-wise), mult already reduced
 * to [0, 2^16). Word i of the lanes is keccak256(e ‖ uint8(i)), 33 bytes, so
 * each is one permutation with the padding written in place.
 */
export function ltHashAddElement(mult: u32): void {
  const e0 = load<u64>(ELEMENT, 0), e1 = load<u64>(ELEMENT, 8), e2 = load<u64>(ELEMENT, 16), e3 = load<u64>(ELEMENT, 24);
  const m = <u64>(mult & 0xffff);
  const H: u64 = 0x8000800080008000;
  const L: u64 = 0x7fff7fff7fff7fff;
  const E: u64 = 0x0000ffff0000ffff;
  for (let i: usize = 0; i < 64; i += 2) {
    permutePair(e0, e1, e2, e3, <u64>i);
    // PAIR_OUT holds word j of word i's state at 16j and of word i+1's at 16j + 8.
    for (let k: usize = 0; k < 2; k++) {
      const base = LTHASH + ((i + k) << 5);
      for (let j: usize = 0; j < 4; j++) {
        let v = bswap16Lanes(load<u64>(PAIR_OUT + (j << 4) + (k << 3)));
        if (m != 1) v = (((v & E) * m) & E) | (((((v >> 16) & E) * m) & E) << 16);
        const a = load<u64>(base + (j << 3));
        store<u64>(base + (j << 3), ((a & L) + (v & L)) ^ ((a ^ v) & H));
      }
    }
  }
}

/** keccak256 of the 2048-byte big-endian encoding of LTHASH -> OUT. */
export function ltHashDigest(): void {
  for (let i: usize = 0; i < 2048; i += 8) store<u64>(LTBE + i, bswap16Lanes(load<u64>(LTHASH + i)));
  keccakInto(LTBE, 2048, OUT);
}
