// recoverSigner (libsecp256k1 in WebAssembly) against ethers' recoverAddress (noble, JavaScript):
// the same signatures accepted, recovering to the same address, and the same ones refused, except
// an s above n/2, which ethers accepts when its top bit is clear and the contracts (OpenZeppelin's
// ECDSA) refuse: recoverSigner refuses it too.
import { expect } from "chai";
import fc from "fast-check";
import {
  Signature,
  SigningKey,
  computeAddress,
  concat,
  getBytes,
  hexlify,
  keccak256,
  recoverAddress,
  toBeHex,
} from "ethers";
import { recoverSigner } from "../../client/math/ecrecover.js";

const N = BigInt("0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141");
const HALF_N = N / 2n;
const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const key = bytes32.filter((k) => {
  const x = BigInt(hexlify(k));
  return x > 0n && x < N;
});

/** What each side gives: an address, or "throws". */
function both(digest: string, sig: string): [string, string] {
  const a = (() => {
    try {
      return recoverAddress(digest, sig).toLowerCase();
    } catch {
      return "throws";
    }
  })();
  const b = (() => {
    try {
      return recoverSigner(digest, sig);
    } catch {
      return "throws";
    }
  })();
  return [a, b];
}

describe("recoverSigner: WebAssembly libsecp256k1 against ethers", function () {
  this.timeout(120_000);

  it("recovers the signer of any digest, as ethers does", function () {
    fc.assert(
      fc.property(key, bytes32, (k, d) => {
        const sk = new SigningKey(hexlify(k));
        const digest = hexlify(d);
        const sig = sk.sign(digest).serialized;
        const [a, b] = both(digest, sig);
        expect(b).to.equal(a);
        expect(b).to.equal(computeAddress(sk.publicKey).toLowerCase());
      }),
      { numRuns: 200 },
    );
  });

  it("accepts and refuses the same altered signatures (bytes flipped, high s, v out of range, r or s zero or past n), and refuses an s above n/2 as the contracts do", function () {
    const sk = new SigningKey("0x" + "11".repeat(32));
    fc.assert(
      fc.property(
        bytes32,
        fc.nat({ max: 64 }),
        fc.integer({ min: 1, max: 255 }),
        fc.constantFrom("flip", "high-s", "mid-s", "v", "r0", "s0", "rn", "sn", "random"),
        (d, at, x, how) => {
          const digest = hexlify(d);
          const sig = Signature.from(sk.sign(digest));
          const raw = getBytes(sig.serialized);
          let altered: string;
          if (how === "flip") {
            raw[at] ^= x;
            altered = hexlify(raw);
          } else if (how === "high-s") {
            altered = concat([sig.r, toBeHex(N - BigInt(sig.s), 32), toBeHex(sig.v === 27 ? 28 : 27, 1)]);
          } else if (how === "mid-s") {
            // Above n/2 with the top bit clear: past ethers' parser, refused by the contracts.
            altered = concat([sig.r, toBeHex(HALF_N + 1n + BigInt(x), 32), toBeHex(sig.v, 1)]);
          } else if (how === "v") altered = concat([sig.r, sig.s, toBeHex(x, 1)]);
          else if (how === "r0") altered = concat([toBeHex(0, 32), sig.s, toBeHex(sig.v, 1)]);
          else if (how === "s0") altered = concat([sig.r, toBeHex(0, 32), toBeHex(sig.v, 1)]);
          else if (how === "rn") altered = concat([toBeHex(N + BigInt(x), 32), sig.s, toBeHex(sig.v, 1)]);
          else if (how === "sn") altered = concat([sig.r, toBeHex(N + BigInt(x), 32), toBeHex(sig.v, 1)]);
          else altered = keccak256(raw) + keccak256(digest).slice(2) + "1b";
          const [a, b] = both(digest, altered);
          if (how === "mid-s") {
            expect(a, "ethers recovers it").to.not.equal("throws");
            expect(b, "recoverSigner refuses it").to.equal("throws");
          } else expect(b, `${how} ${altered}`).to.equal(a);
          // Whatever the case: never an address ethers would not give, and a refusal of something
          // ethers accepts only for an s above n/2.
          if (b !== "throws") expect(b).to.equal(a);
          if (b === "throws" && a !== "throws") expect(BigInt("0x" + altered.slice(66, 130))).to.be.above(HALF_N);
        },
      ),
      { numRuns: 400 },
    );
  });

  it("refuses a digest that is not 32 bytes, as ethers does", function () {
    const sk = new SigningKey("0x" + "22".repeat(32));
    const sig = sk.sign("0x" + "33".repeat(32)).serialized;
    for (const digest of ["0x", "0x" + "33".repeat(31), "0x" + "33".repeat(33)])
      expect(both(digest, sig)).to.deep.equal(["throws", "throws"]);
  });
});
