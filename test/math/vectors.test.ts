import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { hexlify } from "ethers";
import {
  shard,
  keyOf,
  Sharder,
  shuffledIndex,
  unshuffledIndex,
  Permutation,
  LtHash16,
  element,
  deltaLeaf,
  deltasRoot,
  deltaProof,
  verifyDeltaProof,
  hashBatchHeader,
  hashAccumulatedProof,
  contentHash,
  domainSeparator,
  batchHeaderDigest,
  accumulatedProofDigest,
  protocolDomain,
  BATCH_HEADER_TYPEHASH,
  ACCUMULATED_PROOF_TYPEHASH,
  type PartitionSpec,
  type KeyKind,
} from "../../client/index.js";
import { refShard, refShuffledIndex, refElement, refLtHash, refEncode, refLeaf, refRoot } from "./reference.js";

type J = any; // eslint-disable-line @typescript-eslint/no-explicit-any
const load = (name: string): J => JSON.parse(readFileSync(new URL(`../vectors/${name}`, import.meta.url), "utf8"));
const toDelta = (d: J) => ({ data: d.data as string, time: BigInt(d.time), diff: BigInt(d.diff) });

describe("shared test vectors (TypeScript side)", function () {
  it("are what the current code generates (npm run vectors -- --check)", function () {
    execFileSync("npx", ["tsx", "scripts/gen/vectors.ts", "--check"], { stdio: "pipe" });
  });

  it("sharding: client and reference model give every expected shard", function () {
    const v = load("sharding.json");
    expect(v.shard.length).to.be.greaterThanOrEqual(50);
    for (const c of v.shard) {
      expect(shard(c.key, c.r, c.n), JSON.stringify(c)).to.equal(c.expected);
      expect(refShard(c.key, c.r, c.n)).to.equal(c.expected);
      if ((c.key.length - 2) / 2 === 32)
        expect(new Sharder(c.r, c.n).shard32(Buffer.from(c.key.slice(2), "hex"))).to.equal(c.expected);
    }
  });

  it("partition keys: slices and their errors", function () {
    const v = load("sharding.json");
    for (const c of v.keyOf) {
      const spec: PartitionSpec = { kind: c.kind as KeyKind, offset: c.offset, length: c.length };
      if (c.revert === "0x") expect(hexlify(keyOf(spec, c.data))).to.equal(c.key);
      else expect(() => keyOf(spec, c.data)).to.throw(/Invalid partition spec|reaches past the end/);
    }
  });

  it("shuffle: indices, inverses, whole permutations and holders", function () {
    const v = load("shuffle.json");
    for (const c of v.index) {
      expect(shuffledIndex(c.index, c.n, c.r, c.rounds)).to.equal(c.shuffled);
      expect(unshuffledIndex(c.index, c.n, c.r, c.rounds)).to.equal(c.unshuffled);
      expect(refShuffledIndex(c.index, c.n, c.r, c.rounds)).to.equal(c.shuffled);
      expect(refShuffledIndex(c.index, c.n, c.r, c.rounds, true)).to.equal(c.unshuffled);
    }
    for (const c of v.permutations) {
      const p = new Permutation(c.r, c.n, c.rounds);
      expect(Array.from(p.workerAt)).to.deep.equal(c.workerAt);
      c.holders.forEach((hs: number[], j: number) => expect(p.holders(j, c.k)).to.deep.equal(hs));
    }
  });

  it("LtHash: elements, states and digests", function () {
    const v = load("lthash.json");
    for (const c of v.cases) {
      const deltas = c.deltas.map(toDelta);
      for (const [i, d] of deltas.entries()) {
        expect(element(d.data, d.time)).to.equal(c.deltas[i].element);
        expect(refElement(d.data, d.time)).to.equal(c.deltas[i].element);
      }
      const h = new LtHash16().addAll(deltas);
      expect(hexlify(h.toBytes()), c.name).to.equal(c.state);
      expect(h.digest(), c.name).to.equal(c.digest);
      expect(refEncode(refLtHash(deltas)), c.name).to.equal(c.state);
    }
  });

  it("Merkle: leaves, roots and proofs", function () {
    const v = load("merkle.json");
    expect(deltasRoot([])).to.equal(v.emptyRoot);
    for (const c of v.cases) {
      const deltas = c.deltas.map(toDelta);
      expect(deltas.map(deltaLeaf)).to.deep.equal(c.leaves);
      expect(deltas.map(refLeaf)).to.deep.equal(c.leaves);
      expect(deltasRoot(deltas)).to.equal(c.root);
      expect(refRoot(deltas)).to.equal(c.root);
      deltas.forEach((d: ReturnType<typeof toDelta>, i: number) => {
        expect(deltaProof(deltas, i)).to.deep.equal(c.proofs[i]);
        expect(verifyDeltaProof(c.proofs[i], c.root, c.count, d)).to.equal(true);
      });
    }
  });

  it("EIP-712: struct hashes, content hashes, domain separators and digests", function () {
    const v = load("eip712.json");
    expect(BATCH_HEADER_TYPEHASH).to.equal(v.batchHeaderTypehash);
    expect(ACCUMULATED_PROOF_TYPEHASH).to.equal(v.accumulatedProofTypehash);
    for (const c of v.headers) {
      const h = { ...c.header, epoch: BigInt(c.header.epoch), seq: BigInt(c.header.seq) };
      expect(hashBatchHeader(h)).to.equal(c.structHash);
      expect(contentHash(h)).to.equal(c.contentHash);
      expect(domainSeparator(BigInt(c.chainId), c.verifyingContract)).to.equal(c.domainSeparator);
      expect(batchHeaderDigest(protocolDomain(BigInt(c.chainId), c.verifyingContract), h)).to.equal(c.digest);
    }
    for (const c of v.proofs) {
      const p = {
        ...c.proof,
        epoch: BigInt(c.proof.epoch),
        seq: BigInt(c.proof.seq),
        sourceChainId: BigInt(c.proof.sourceChainId),
        blockNumber: BigInt(c.proof.blockNumber),
      };
      expect(hashAccumulatedProof(p)).to.equal(c.structHash);
      expect(accumulatedProofDigest(protocolDomain(BigInt(c.chainId), c.verifyingContract), p)).to.equal(c.digest);
    }
  });
});
