import { expect } from "chai";
import fc from "fast-check";
import { keccak256, toBeHex, getBytes, hexlify } from "ethers";
import {
  Permutation,
  shuffledIndex,
  unshuffledIndex,
  Sharder,
  shard,
  keyOf,
  KeyKind,
  LtHash16,
  deltasRoot,
  deltaProof,
  verifyDeltaProof,
  deltaLeaf,
  keccakBytes,
  MaruError,
  ShardingZeroWorkersError,
  ShardingSliceOutOfRangeError,
  ShardingInvalidSpecError,
  ShuffleIndexOutOfRangeError,
  ShuffleZeroRoundsError,
  ShuffleInvalidReplicationError,
  LtHashInvalidLengthError,
  DeltaMerkleProofTooLongError,
  ValueOutOfRangeError,
} from "../../client/index.js";
import { toBytes } from "../../client/math/values.js";
import { bytes32, bytesHex, delta, RUNS } from "./arbitraries.js";
import { refShuffledIndex } from "./reference.js";

describe("protocol math properties (TypeScript)", function () {
  describe("keccak core", function () {
    it("matches ethers' keccak256 for every length 0..600 (crosses the 136-byte rate)", function () {
      for (let len = 0; len <= 600; len++) {
        const data = Uint8Array.from({ length: len }, (_, i) => (i * 31 + len) & 0xff);
        expect(hexlify(keccakBytes(data)), `length ${len}`).to.equal(keccak256(data));
      }
    });
  });

  describe("hex decoding (toBytes)", function () {
    it("accepts and decodes exactly what ethers' getBytes does, refusing the rest with a typed error", function () {
      const hexChar = fc.constantFrom(..."0123456789abcdefABCDEF");
      const anyChar = fc.constantFrom(..."0123456789abcdefABCDEFxXg z-\u00e9");
      const candidate = fc.oneof(
        fc.array(hexChar, { maxLength: 40 }).map((cs) => `0x${cs.join("")}`),
        fc.array(anyChar, { maxLength: 40 }).map((cs) => `0x${cs.join("")}`),
        fc.array(anyChar, { maxLength: 40 }).map((cs) => cs.join("")),
      );
      fc.assert(
        fc.property(candidate, (s) => {
          let want: string | undefined;
          try {
            want = hexlify(getBytes(s));
          } catch {
            want = undefined;
          }
          if (want === undefined) expect(() => toBytes(s, "x"), s).to.throw(ValueOutOfRangeError);
          else expect(hexlify(toBytes(s, "x")), s).to.equal(want);
        }),
        { numRuns: RUNS * 4 },
      );
    });
  });

  describe("swap-or-not permutation", function () {
    it("is a bijection with an exact inverse for n = 10,000", function () {
      const r = keccak256("0x01");
      const p = new Permutation(r, 10_000);
      const seen = new Uint8Array(10_000);
      for (const w of p.workerAt) seen[w]++;
      expect(seen.every((x) => x === 1)).to.equal(true);
      for (let w = 0; w < 10_000; w++) expect(p.workerAt[p.positionOf[w]]).to.equal(w);
      for (const i of [0, 1, 255, 256, 5_000, 9_999]) {
        expect(shuffledIndex(i, 10_000, r)).to.equal(p.workerAt[i]);
        expect(unshuffledIndex(p.workerAt[i], 10_000, r)).to.equal(i);
      }
    });

    it("is a bijection and agrees with single-index evaluation for random n ≤ 10,000", function () {
      fc.assert(
        fc.property(
          bytes32,
          fc.integer({ min: 1, max: 10_000 }),
          fc.integer({ min: 1, max: 40 }),
          fc.nat(),
          (r, n, rounds, x) => {
            const p = new Permutation(r, n, rounds);
            const sorted = Array.from(p.workerAt).sort((a, b) => a - b);
            expect(sorted.every((w, i) => w === i)).to.equal(true);
            const i = x % n;
            expect(shuffledIndex(i, n, r, rounds)).to.equal(p.workerAt[i]);
            expect(unshuffledIndex(p.workerAt[i], n, r, rounds)).to.equal(i);
            expect(refShuffledIndex(i, n, r, rounds)).to.equal(p.workerAt[i]);
          },
        ),
        { numRuns: Math.max(20, RUNS / 5) },
      );
    });

    it("gives each shard k distinct holders and each worker exactly k shards", function () {
      fc.assert(
        fc.property(bytes32, fc.integer({ min: 1, max: 300 }), fc.nat(), (r, n, kx) => {
          const k = 1 + (kx % n);
          const p = new Permutation(r, n);
          const held = new Array<number>(n).fill(0);
          let distinct = true;
          let consistent = true;
          for (let j = 0; j < n; j++) {
            const hs = p.holders(j, k);
            distinct &&= new Set(hs).size === k;
            for (const w of hs) {
              held[w]++;
              consistent &&= p.holds(w, j, k);
            }
          }
          for (let w = 0; w < n; w++) consistent &&= p.shardsOf(w, k).every((j) => p.holds(w, j, k));
          expect(distinct, "holders of a shard are distinct").to.equal(true);
          expect(consistent, "holders, holds and shardsOf agree").to.equal(true);
          expect(
            held.every((c) => c === k),
            "every worker holds exactly k shards",
          ).to.equal(true);
        }),
        { numRuns: Math.max(20, RUNS / 5) },
      );
    });
  });

  describe("shard", function () {
    it("spreads keys uniformly at n = 16 (chi-square, 15 degrees of freedom)", function () {
      // Fixed keys and r, so the test is deterministic; a broken reduction (e.g. reading the
      // wrong bytes, or i32 overflow) gives a statistic in the thousands.
      const n = 16;
      const sharder = new Sharder(keccak256("0x72"), n);
      const counts = new Array<number>(n).fill(0);
      const N = 32_000;
      for (let i = 0; i < N; i++) counts[sharder.shard32(getBytes(keccak256(toBeHex(i, 32))))]++;
      const expected = N / n;
      const chi2 = counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
      expect(chi2, `chi-square ${chi2.toFixed(1)} for counts ${counts}`).to.be.lessThan(37.7); // p = 0.001
    });

    it("is below n for every n up to 2^32 - 1", function () {
      fc.assert(
        fc.property(bytesHex(64), bytes32, fc.integer({ min: 1, max: 0xffffffff }), (key, r, n) => {
          const s = shard(key, r, n);
          expect(s).to.be.within(0, n - 1);
        }),
        { numRuns: RUNS },
      );
    });
  });

  describe("LtHash16", function () {
    it("is order-independent", function () {
      fc.assert(
        fc.property(fc.array(delta, { maxLength: 8 }), fc.nat(), (ds, seed) => {
          const shuffled = [...ds].sort((a, b) => ((a.data.length * 7 + seed) % 5) - ((b.data.length * 7 + seed) % 5));
          expect(new LtHash16().addAll(ds).digest()).to.equal(new LtHash16().addAll(shuffled.reverse()).digest());
        }),
        { numRuns: RUNS },
      );
    });

    it("returns to the start state after adding then removing", function () {
      fc.assert(
        fc.property(fc.array(delta, { maxLength: 6 }), fc.array(delta, { maxLength: 6 }), (base, extra) => {
          const start = new LtHash16().addAll(base);
          // -(-2^63) is not an int64; -2^63 ≡ 2^63 (mod 2^16), so removing it is adding it again.
          const negate = (x: bigint) => (x === -(1n << 63n) ? x : -x);
          const h = start
            .clone()
            .addAll(extra)
            .addAll(extra.map((d) => ({ ...d, diff: negate(d.diff) })));
          expect(h.equals(start)).to.equal(true);
        }),
        { numRuns: RUNS },
      );
    });

    it("combine is commutative and associative, and subtract undoes it", function () {
      fc.assert(
        fc.property(
          fc.array(delta, { maxLength: 4 }),
          fc.array(delta, { maxLength: 4 }),
          fc.array(delta, { maxLength: 4 }),
          (a, b, c) => {
            const [A, B, C] = [a, b, c].map((x) => new LtHash16().addAll(x));
            expect(A.clone().combine(B).equals(B.clone().combine(A))).to.equal(true);
            expect(
              A.clone()
                .combine(B)
                .combine(C)
                .equals(A.clone().combine(B.clone().combine(C))),
            ).to.equal(true);
            expect(A.clone().combine(B).subtract(B).equals(A)).to.equal(true);
            expect(
              A.clone()
                .combine(B)
                .equals(new LtHash16().addAll([...a, ...b])),
            ).to.equal(true);
          },
        ),
        { numRuns: RUNS },
      );
    });

    it("round-trips its 2048-byte encoding and leaves the state untouched on a bad delta", function () {
      const h = new LtHash16().add("0x01", 1n, 3n);
      expect(LtHash16.fromBytes(h.toBytes()).equals(h)).to.equal(true);
      const before = h.digest();
      expect(() =>
        h.addAll([
          { data: "0x02", time: 1n, diff: 1n },
          { data: "0x03", time: -1n, diff: 1n },
        ]),
      ).to.throw(ValueOutOfRangeError);
      expect(h.digest()).to.equal(before);
    });

    it("counts multiplicities modulo 2^16 (the documented limit)", function () {
      expect(new LtHash16().add("0x01", 0n, 65536n).isEmpty()).to.equal(true);
      expect(new LtHash16().add("0x01", 0n, 65537n).equals(new LtHash16().add("0x01", 0n, 1n))).to.equal(true);
    });
  });

  describe("delta Merkle tree", function () {
    it("proves every delta and rejects foreign deltas", function () {
      fc.assert(
        fc.property(fc.array(delta, { minLength: 1, maxLength: 40 }), delta, (ds, other) => {
          const root = deltasRoot(ds);
          ds.forEach((d, i) => expect(verifyDeltaProof(deltaProof(ds, i), root, ds.length, d)).to.equal(true));
          fc.pre(!ds.some((d) => deltaLeaf(d) === deltaLeaf(other)));
          expect(verifyDeltaProof(deltaProof(ds, 0), root, ds.length, other)).to.equal(false);
        }),
        { numRuns: RUNS },
      );
    });

    it("cannot pass an inner node off as a leaf", function () {
      // Four deltas: the root is H(H(l0,l1), H(l2,l3)). Presenting n01 = H(l0,l1) as a "leaf" with
      // proof [n23] works for a bare OpenZeppelin leaf check, but our leaves are derived from a
      // delta: n01 would have to be keccak(keccak(abi.encode(delta))) for some delta.
      const ds = [1, 2, 3, 4].map((i) => ({ data: toBeHex(i, 1), time: 1n, diff: 1n }));
      const proof = deltaProof(ds, 0); // [l1, n23]
      const root = deltasRoot(ds);
      // Any 64-byte "data" (such as l0 ‖ l1) is a different delta whose leaf is not n01.
      const forged = { data: proof[0], time: 0n, diff: 0n };
      expect(verifyDeltaProof([proof[1]], root, 4, forged)).to.equal(false);
    });

    it("refuses a proof longer than the tree is deep", function () {
      const ds = [1, 2, 3].map((i) => ({ data: toBeHex(i, 1), time: 1n, diff: 1n }));
      const proof = [...deltaProof(ds, 0), keccak256("0x")];
      expect(() => verifyDeltaProof(proof, deltasRoot(ds), 3, ds[0])).to.throw(DeltaMerkleProofTooLongError);
    });
  });

  describe("errors", function () {
    it("are typed MaruErrors with messages that say what to fix", function () {
      const r = keccak256("0x");
      const cases: [() => unknown, new (...a: never[]) => Error][] = [
        [() => shard("0x01", r, 0), ShardingZeroWorkersError],
        [() => keyOf({ kind: KeyKind.SLICE, offset: 4, length: 8 }, "0x0102"), ShardingSliceOutOfRangeError],
        [() => keyOf({ kind: KeyKind.SLICE, offset: 0, length: 0 }, "0x0102"), ShardingInvalidSpecError],
        [() => shuffledIndex(5, 5, r), ShuffleIndexOutOfRangeError],
        [() => shuffledIndex(0, 5, r, 0), ShuffleZeroRoundsError],
        [() => new Permutation(r, 3).holders(0, 4), ShuffleInvalidReplicationError],
        [() => LtHash16.fromBytes("0x00"), LtHashInvalidLengthError],
        [() => shard("0x01", "0x1234", 3), ValueOutOfRangeError],
        [() => new LtHash16().add("0x", 0n, 1n << 63n), ValueOutOfRangeError],
      ];
      for (const [f, cls] of cases) {
        expect(f).to.throw(cls);
        try {
          f();
        } catch (e) {
          expect(e).to.be.instanceOf(MaruError);
          expect((e as MaruError).shortMessage.length).to.be.greaterThan(10);
        }
      }
    });
  });
});
