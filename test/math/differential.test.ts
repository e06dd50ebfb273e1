// Differential property tests: random inputs through the Solidity libraries (MathHarness on the
// simulated network) and the TypeScript client must agree exactly, including which error each
// side raises. FAST_CHECK_RUNS (CI: 250) sets the runs per property; 6 properties here.
import { expect } from "chai";
import fc from "fast-check";
import { network } from "hardhat";
import { hexlify, Wallet, recoverAddress, Signature } from "ethers";
import {
  shard,
  keyOf,
  KeyKind,
  shuffledIndex,
  unshuffledIndex,
  Permutation,
  LtHash16,
  deltasRoot,
  deltaProof,
  deltaLeaf,
  hashBatchHeader,
  hashAccumulatedProof,
  contentHash,
  replicaHash,
  domainSeparator,
  batchHeaderDigest,
  protocolDomain,
  EIP712_TYPES,
  MaruError,
  type BatchHeader,
} from "../../client/index.js";
import { bytes32, bytesHex, delta, uint64, RUNS } from "./arbitraries.js";
import type { MathHarness } from "../../typechain-types/index.js";

const { ethers } = await network.create();

const address = fc.uint8Array({ minLength: 20, maxLength: 20 }).map((b) => ethers.getAddress(hexlify(b)));
const header: fc.Arbitrary<BatchHeader> = fc.record({
  epoch: uint64,
  stream: bytes32,
  shard: fc.nat({ max: 0xffffffff }),
  originShard: fc.nat({ max: 0xffffffff }),
  sender: address,
  receiver: address,
  seq: uint64,
  prev: bytes32,
  deltasRoot: bytes32,
  count: fc.nat({ max: 0xffffffff }),
  batchMsh: bytes32,
  cumulativeMsh: bytes32,
  inputMsh: bytes32,
  firstTime: uint64,
  lastTime: uint64,
});

/** The custom error name a harness call reverts with, or undefined if it returns. */
async function solidityError(harness: MathHarness, call: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await call();
    return undefined;
  } catch (e) {
    const data = (e as { data?: string }).data;
    const parsed = data ? harness.interface.parseError(data) : null;
    if (!parsed) throw e;
    return parsed.name;
  }
}

/** The same for a client call: the Solidity error name the client error stands for. */
function clientError(call: () => unknown): string | undefined {
  try {
    call();
    return undefined;
  } catch (e) {
    if (!(e instanceof MaruError)) throw e;
    return e.name.replace(/Error$/, "");
  }
}

describe("differential: Solidity libraries vs TypeScript client", function () {
  let harness: MathHarness;
  before(async function () {
    harness = (await ethers.deployContract("MathHarness")) as unknown as MathHarness;
  });

  it("partition keys and shards agree, errors included", async function () {
    const spec = fc.record({
      kind: fc.constantFrom(KeyKind.WHOLE, KeyKind.SLICE),
      offset: fc.oneof(fc.constant(0), fc.nat({ max: 70 }), fc.constant(0xffffffff)),
      length: fc.oneof(fc.constant(0), fc.nat({ max: 70 })),
    });
    await fc.assert(
      fc.asyncProperty(
        spec,
        bytesHex(80),
        bytes32,
        fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 0xffffffff })),
        async (sp, data, r, n) => {
          const expectedError = clientError(() => shard(keyOf(sp, data), r, n));
          const gotError = await solidityError(harness, () => harness.shardOf(sp, data, r, n));
          expect(gotError).to.equal(expectedError);
          if (!expectedError)
            expect(Number(await harness.shardOf(sp, data, r, n))).to.equal(shard(keyOf(sp, data), r, n));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("the permutation, its inverse, holders and holds agree", async function () {
    await fc.assert(
      fc.asyncProperty(
        bytes32,
        fc.integer({ min: 1, max: 10_000 }),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 1, max: 90 }),
        async (r, n, x, kx, rounds) => {
          const i = x % n;
          const k = 1 + (kx % Math.min(n, 8));
          expect(Number(await harness.shuffledIndex(i, n, r, rounds))).to.equal(shuffledIndex(i, n, r, rounds));
          expect(Number(await harness.unshuffledIndex(i, n, r, rounds))).to.equal(unshuffledIndex(i, n, r, rounds));
          const perm = new Permutation(r, n, rounds);
          expect((await harness.holders(i, n, k, r, rounds)).map(Number)).to.deep.equal(perm.holders(i, k));
          expect(await harness.holds(i, (x >> 3) % n, n, k, r, rounds)).to.equal(perm.holds(i, (x >> 3) % n, k));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("the shuffle raises the same errors", async function () {
    await fc.assert(
      fc.asyncProperty(
        bytes32,
        fc.nat({ max: 20 }),
        fc.nat({ max: 25 }),
        fc.nat({ max: 25 }),
        fc.nat({ max: 3 }),
        async (r, n, i, k, rounds) => {
          const expected = clientError(() => shuffledIndex(i, n, r, rounds));
          expect(await solidityError(harness, () => harness.shuffledIndex(i, n, r, rounds))).to.equal(expected);
          if (n > 0 && rounds > 0 && i < n) {
            const e2 = clientError(() => new Permutation(r, n, rounds).holders(i, k));
            expect(await solidityError(harness, () => harness.holders(i, n, k, r, rounds))).to.equal(e2);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("LtHash states, digests, combine and subtract agree", async function () {
    await fc.assert(
      fc.asyncProperty(fc.array(delta, { maxLength: 5 }), fc.array(delta, { maxLength: 3 }), async (a, b) => {
        const A = new LtHash16().addAll(a);
        const B = new LtHash16().addAll(b);
        const [encoded, digest] = await harness.ltHashAddAll("0x", a);
        expect(encoded).to.equal(hexlify(A.toBytes()));
        expect(digest).to.equal(A.digest());
        const [continued] = await harness.ltHashAddAll(encoded, b);
        expect(continued).to.equal(hexlify(A.clone().combine(B).toBytes()));
        expect(await harness.ltHashCombine(A.toBytes(), B.toBytes())).to.equal(hexlify(A.clone().combine(B).toBytes()));
        expect(await harness.ltHashSubtract(A.toBytes(), B.toBytes())).to.equal(
          hexlify(A.clone().subtract(B).toBytes()),
        );
      }),
      { numRuns: RUNS },
    );
  });

  it("delta leaves, roots and proofs agree", async function () {
    await fc.assert(
      fc.asyncProperty(fc.array(delta, { minLength: 0, maxLength: 20 }), fc.nat(), async (ds, x) => {
        expect(await harness.deltasRoot(ds)).to.equal(deltasRoot(ds));
        if (ds.length === 0) return;
        const i = x % ds.length;
        expect(await harness.leaf(ds[i])).to.equal(deltaLeaf(ds[i]));
        expect(await harness.verifyDelta(deltaProof(ds, i), deltasRoot(ds), ds.length, ds[i])).to.equal(true);
      }),
      { numRuns: RUNS },
    );
  });

  it("EIP-712 hashes agree and a signed header recovers to its signer", async function () {
    const wallet = Wallet.createRandom();
    await fc.assert(
      fc.asyncProperty(header, fc.bigInt({ min: 1n, max: (1n << 64n) - 1n }), address, async (h, chainId, verifier) => {
        const structHash = hashBatchHeader(h);
        expect(await harness.hashBatchHeader(h)).to.equal(structHash);
        expect(await harness.contentHash(h)).to.equal(contentHash(h));
        expect(await harness.replicaHash(h)).to.equal(replicaHash(h));
        const ds = domainSeparator(chainId, verifier);
        expect(await harness.domainSeparator(chainId, verifier)).to.equal(ds);
        const digest = await harness.typedDataHash(ds, structHash);
        const domain = protocolDomain(chainId, verifier);
        expect(digest).to.equal(batchHeaderDigest(domain, h));
        const sig = await wallet.signTypedData(domain, { BatchHeader: [...EIP712_TYPES.BatchHeader] }, h);
        expect(recoverAddress(digest, Signature.from(sig))).to.equal(wallet.address);
        const p = { ...h, sourceChainId: chainId, blockNumber: h.seq, blockHash: h.prev };
        expect(await harness.hashAccumulatedProof(p)).to.equal(hashAccumulatedProof(p));
      }),
      { numRuns: RUNS },
    );
  });
});
