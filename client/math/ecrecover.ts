// Who signed a digest, through libsecp256k1 compiled to WebAssembly (tiny-secp256k1). ethers'
// recoverAddress runs noble's JavaScript curve arithmetic: about 2 ms a signature on this machine,
// 7% of a busy worker's main thread and a sixth of what it allocated (a BigInt per field
// operation). This is five times faster and allocates almost nothing. ethers parses the signature
// (v, lengths, the top bit of s), libsecp256k1 refuses r or s of zero or past the group order and
// an r that is no curve point, as noble does; and an s above n/2 is refused here, as OpenZeppelin's
// ECDSA (the contracts) refuses it, although both libraries would recover it: no signature the
// contracts would refuse can pass a worker's check (test/math/ecrecover.test.ts).
import { Signature, getBytes, keccak256, type BytesLike, type SignatureLike } from "ethers";
import { recover } from "tiny-secp256k1";

/** Half the order of secp256k1: OpenZeppelin's ECDSA refuses an s above it. */
const HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;

/**
 * The lower-case address whose key signed `digest` (32 bytes); throws when the signature is
 * malformed or recovers to no key, as ethers' `recoverAddress` does, and when its s is above n/2,
 * which the contracts refuse.
 * @example
 * ```ts
 * recoverSigner(batchHeaderDigest(domain, header), signature); // "0xab…"
 * ```
 */
export function recoverSigner(digest: BytesLike, signature: SignatureLike): string {
  const sig = Signature.from(signature);
  if (BigInt(sig.s) > HALF_N) throw new Error("the signature's s is above n/2 (a malleable signature)");
  const rs = new Uint8Array(64);
  rs.set(getBytes(sig.r), 0);
  rs.set(getBytes(sig.s), 32);
  const key = recover(getBytes(digest), rs, sig.yParity, false);
  if (!key) throw new Error("the signature recovers to no public key");
  return "0x" + keccak256(key.subarray(1)).slice(26);
}
