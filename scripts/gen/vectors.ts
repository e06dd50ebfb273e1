/**
 * Writes the shared test vectors in test/vectors/*.json, read by both the Solidity tests
 * (test/solidity/*Vectors.t.sol) and the TypeScript tests (test/math/vectors.test.ts).
 *
 *   npm run vectors            # rewrite the files
 *   npm run vectors -- --check # exit 1 if the files differ from what the code produces now
 *
 * Deterministic: a seeded PRNG, so the same code always writes the same files. Expected
 * failures are stored as the exact ABI-encoded custom error ("revert"), so each side checks
 * the error's name and values.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { AbiCoder, hexlify, id } from "ethers";
import {
  KeyKind,
  keyOf,
  shard,
  shuffledIndex,
  unshuffledIndex,
  Permutation,
  LtHash16,
  element,
  deltaLeaf,
  deltasRoot,
  deltaProof,
  hashBatchHeader,
  hashAccumulatedProof,
  contentHash,
  replicaHash,
  domainSeparator,
  batchHeaderDigest,
  accumulatedProofDigest,
  protocolDomain,
  BATCH_HEADER_TYPEHASH,
  ACCUMULATED_PROOF_TYPEHASH,
  type PartitionSpec,
  type Delta,
  type BatchHeader,
  type AccumulatedProof,
} from "../../client/index.js";

// ---- deterministic randomness (splitmix32) ----
let seed = 0x6d617275; // "maru"
function next(): number {
  seed = (seed + 0x9e3779b9) | 0;
  let z = seed;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}
const int = (lo: number, hi: number) => lo + (next() % (hi - lo + 1));
const bytes = (n: number) => Uint8Array.from({ length: n }, () => next() & 0xff);
const hex = (n: number) => hexlify(bytes(n));
const u64 = () => (BigInt(next()) << 32n) | BigInt(next());
const addr = () => hexlify(bytes(20));

const R_ZERO = "0x" + "00".repeat(32);
const R_MAX = "0x" + "ff".repeat(32);
const coder = AbiCoder.defaultAbiCoder();
const revert = (sig: string, types: string[] = [], values: unknown[] = []) =>
  id(sig).slice(0, 10) + coder.encode(types, values).slice(2);

// ---- sharding ----
function shardingVectors() {
  const shardCases: object[] = [];
  const push = (key: string, r: string, n: number) => shardCases.push({ key, r, n, expected: shard(key, r, n) });
  for (const r of [R_ZERO, R_MAX, hex(32)]) {
    push("0x", r, 1); // n = 1, empty key
    push(hex(32), r, 1);
    push(hex(32), r, 16);
    push("0x", r, 7);
    push(hex(1024), r, 10_000); // 1 KiB key
    push(hex(32), r, 0xffffffff);
  }
  for (let i = 0; i < 40; i++) push(hex(int(0, 80)), hex(32), int(1, 20_000));

  const keyCases: object[] = [];
  const pushKey = (spec: PartitionSpec, data: string) => {
    const base = { kind: spec.kind, offset: spec.offset, length: spec.length, data };
    try {
      keyCases.push({ ...base, key: hexlify(keyOf(spec, data)), revert: "0x" });
    } catch (e) {
      const err = e as { offset?: number; length?: number; dataLength?: number; kind?: number; name: string };
      keyCases.push({
        ...base,
        key: "0x",
        revert:
          err.name === "ShardingSliceOutOfRangeError"
            ? revert(
                "ShardingSliceOutOfRange(uint256,uint256,uint256)",
                ["uint256", "uint256", "uint256"],
                [err.offset, err.length, err.dataLength],
              )
            : revert(
                "ShardingInvalidSpec(uint8,uint256,uint256)",
                ["uint8", "uint256", "uint256"],
                [spec.kind, spec.offset, spec.length],
              ),
      });
    }
  };
  const d40 = hex(40);
  pushKey({ kind: KeyKind.WHOLE, offset: 0, length: 0 }, d40);
  pushKey({ kind: KeyKind.WHOLE, offset: 0, length: 0 }, "0x"); // empty data
  pushKey({ kind: KeyKind.SLICE, offset: 0, length: 20 }, d40);
  pushKey({ kind: KeyKind.SLICE, offset: 32, length: 8 }, d40); // slice at the very end
  pushKey({ kind: KeyKind.SLICE, offset: 33, length: 8 }, d40); // one past the end
  pushKey({ kind: KeyKind.SLICE, offset: 0, length: 1 }, "0x"); // slice of empty data
  pushKey({ kind: KeyKind.SLICE, offset: 0xffffffff, length: 0xffffffff }, d40); // no overflow
  pushKey({ kind: KeyKind.SLICE, offset: 0, length: 0 }, d40); // invalid: empty slice
  pushKey({ kind: KeyKind.WHOLE, offset: 1, length: 0 }, d40); // invalid: WHOLE with offset
  pushKey({ kind: KeyKind.SLICE, offset: 1000, length: 24 }, hex(1024)); // 1 KiB data, end
  return { shard: shardCases, keyOf: keyCases, zeroWorkersRevert: revert("ShardingZeroWorkers()") };
}

// ---- shuffle ----
function shuffleVectors() {
  const index: object[] = [];
  const pushIndex = (i: number, n: number, r: string, rounds: number) =>
    index.push({
      index: i,
      n,
      r,
      rounds,
      shuffled: shuffledIndex(i, n, r, rounds),
      unshuffled: unshuffledIndex(i, n, r, rounds),
    });
  for (const r of [R_ZERO, R_MAX, hex(32)]) {
    pushIndex(0, 1, r, 90); // n = 1
    pushIndex(0, 2, r, 90);
    pushIndex(1, 2, r, 90);
    pushIndex(9_999, 10_000, r, 90);
    pushIndex(int(0, 999), 1_000, r, 1);
    pushIndex(int(0, 299), 300, r, 255);
    // Large n: position / 256 needs all four bytes of its uint32.
    pushIndex(0xfffffffe, 0xffffffff, r, 90);
    pushIndex(next() % 0xffffffff, 0xffffffff, r, 90);
    pushIndex(next() % 16_777_217, 16_777_217, r, 90);
  }
  for (let c = 0; c < 30; c++) {
    const n = int(1, 5_000);
    pushIndex(int(0, n - 1), n, hex(32), int(1, 120));
  }
  // Whole permutations and holders of small sets, incl. k = n.
  const perms: object[] = [];
  for (const [n, k, r] of [
    [1, 1, R_ZERO],
    [5, 5, R_MAX],
    [7, 3, hex(32)],
    [16, 2, hex(32)],
    [257, 4, hex(32)], // crosses a 256-position chunk
  ] as [number, number, string][]) {
    const p = new Permutation(r, n, 90);
    perms.push({
      n,
      k,
      r,
      rounds: 90,
      workerAt: Array.from(p.workerAt),
      holders: Array.from({ length: n }, (_, j) => p.holders(j, k)),
    });
  }
  return {
    index,
    permutations: perms,
    reverts: {
      indexOutOfRange: {
        index: 5,
        n: 5,
        revert: revert("ShuffleIndexOutOfRange(uint256,uint256)", ["uint256", "uint256"], [5, 5]),
      },
      zeroRounds: revert("ShuffleZeroRounds()"),
      invalidReplication: {
        k: 6,
        n: 5,
        revert: revert("ShuffleInvalidReplication(uint256,uint256)", ["uint256", "uint256"], [6, 5]),
      },
    },
  };
}

// ---- deltas for LtHash and Merkle ----
const EDGE_DIFFS = [0n, -1n, 1n, 1n << 15n, 1n << 16n, -(1n << 63n), (1n << 63n) - 1n, 65537n, -65536n];
function delta(dataLen: number, diff?: bigint): Delta {
  return { data: hex(dataLen), time: BigInt(int(0, 1000)), diff: diff ?? BigInt(int(-3, 3)) };
}
const jsonDelta = (d: Delta) => ({ data: d.data, time: d.time.toString(), diff: d.diff.toString() });

function ltHashVectors() {
  const cases: object[] = [];
  const push = (name: string, deltas: Delta[]) => {
    const h = new LtHash16().addAll(deltas);
    cases.push({
      name,
      deltas: deltas.map((d) => ({ ...jsonDelta(d), element: element(d.data, d.time) })),
      digest: h.digest(),
      state: hexlify(h.toBytes()),
    });
  };
  push("empty multiset", []);
  for (const diff of EDGE_DIFFS) push(`single delta, diff ${diff}`, [delta(32, diff)]);
  push("empty data", [{ data: "0x", time: 0n, diff: 1n }]);
  push("1 KiB data", [delta(1024, 1n)]);
  push("max time", [{ data: hex(32), time: (1n << 64n) - 1n, diff: 1n }]);
  const d = delta(32, 1n);
  push("add then remove", [d, { ...d, diff: -1n }]);
  push("2^16 copies wrap to empty", [{ ...d, diff: 1n << 16n }]);
  for (let c = 0; c < 8; c++)
    push(
      `random ${c}`,
      Array.from({ length: int(1, 12) }, () => delta(int(0, 100))),
    );
  return { cases, invalidLengthRevert: revert("LtHashInvalidLength(uint256)", ["uint256"], [10]) };
}

function merkleVectors() {
  const cases: object[] = [];
  for (const count of [1, 2, 3, 4, 5, 7, 8, 9, 16, 33]) {
    const deltas = Array.from({ length: count }, () => delta(int(0, 64)));
    if (count === 5) deltas[2] = { data: "0x", time: 0n, diff: -(1n << 63n) };
    if (count === 9) deltas[8] = { data: hex(1024), time: (1n << 64n) - 1n, diff: (1n << 63n) - 1n };
    cases.push({
      count,
      deltas: deltas.map(jsonDelta),
      leaves: deltas.map(deltaLeaf),
      root: deltasRoot(deltas),
      proofs: deltas.map((_, i) => deltaProof(deltas, i)),
    });
  }
  return { emptyRoot: deltasRoot([]), cases };
}

function eip712Vectors() {
  const headers: object[] = [];
  const proofs: object[] = [];
  for (let c = 0; c < 6; c++) {
    const chainId = c === 0 ? 1n : c === 1 ? 31337n : BigInt(next());
    const verifyingContract = addr();
    const domain = protocolDomain(chainId, verifyingContract);
    const h: BatchHeader = {
      epoch: c === 2 ? (1n << 64n) - 1n : u64(),
      stream: hex(32),
      shard: c === 2 ? 0xffffffff : next(),
      originShard: c === 2 ? 0xffffffff : c === 0 ? 0 : next(),
      sender: addr(),
      receiver: addr(),
      seq: c === 0 ? 0n : u64(),
      prev: c === 0 ? R_ZERO : hex(32),
      deltasRoot: hex(32),
      count: next(),
      batchMsh: hex(32),
      cumulativeMsh: hex(32),
      inputMsh: c === 0 ? R_ZERO : hex(32),
      firstTime: c === 2 ? (1n << 64n) - 1n : u64(),
      lastTime: c === 2 ? (1n << 64n) - 1n : u64(),
    };
    headers.push({
      chainId: chainId.toString(),
      verifyingContract,
      header: {
        ...h,
        epoch: h.epoch.toString(),
        seq: h.seq.toString(),
        firstTime: h.firstTime.toString(),
        lastTime: h.lastTime.toString(),
      },
      structHash: hashBatchHeader(h),
      contentHash: contentHash(h),
      replicaHash: replicaHash(h),
      domainSeparator: domainSeparator(chainId, verifyingContract),
      digest: batchHeaderDigest(domain, h),
    });
    const p: AccumulatedProof = {
      epoch: u64(),
      stream: hex(32),
      shard: next(),
      originShard: next(),
      sender: addr(),
      seq: u64(),
      sourceChainId: c === 3 ? (1n << 256n) - 1n : BigInt(next()),
      blockNumber: u64(),
      blockHash: hex(32),
      cumulativeMsh: hex(32),
    };
    proofs.push({
      chainId: chainId.toString(),
      verifyingContract,
      proof: {
        ...p,
        epoch: p.epoch.toString(),
        seq: p.seq.toString(),
        sourceChainId: p.sourceChainId.toString(),
        blockNumber: p.blockNumber.toString(),
      },
      structHash: hashAccumulatedProof(p),
      digest: accumulatedProofDigest(domain, p),
    });
  }
  return {
    batchHeaderTypehash: BATCH_HEADER_TYPEHASH,
    accumulatedProofTypehash: ACCUMULATED_PROOF_TYPEHASH,
    headers,
    proofs,
  };
}

const files: Record<string, unknown> = {
  "sharding.json": shardingVectors(),
  "shuffle.json": shuffleVectors(),
  "lthash.json": ltHashVectors(),
  "merkle.json": merkleVectors(),
  "eip712.json": eip712Vectors(),
};

const check = process.argv.includes("--check");
let stale = 0;
for (const [name, content] of Object.entries(files)) {
  const path = new URL(`../../test/vectors/${name}`, import.meta.url);
  const text = JSON.stringify(content, null, 1) + "\n";
  if (check) {
    let old = "";
    try {
      old = readFileSync(path, "utf8");
    } catch {
      /* missing counts as stale */
    }
    if (old !== text) {
      console.error(`test/vectors/${name} is stale: run \`npm run vectors\` and review the diff.`);
      stale++;
    }
  } else {
    writeFileSync(path, text);
    console.log(`wrote test/vectors/${name}`);
  }
}
process.exit(stale ? 1 : 0);
