// Differential property test of the fraud proofs (issue: "honest channels never yield accepted
// evidence; single mutations always do"). The TypeScript side (client/math) builds random honest
// channels: deltas of one shard, split into batches, headers linked by `prev`, cumulative LtHash
// states, one header per holder. Every kind of evidence built from honest data must be refused
// with FraudNoFault; each single mutation the protocol calls a fault must be accepted. Evidence is
// tried with eth_call (staticCall), so one epoch serves every case.
import { expect } from "chai";
import fc from "fast-check";
import { network } from "hardhat";
import { getBytes, hexlify, keccak256, ZeroHash, solidityPacked } from "ethers";
import {
  contentHash,
  deltaProof,
  deltasRoot,
  LtHash16,
  Permutation,
  Sharder,
  type AccumulatedProof,
  type BatchHeader,
  type Delta,
} from "../../client/index.js";
import { deployFraudEpoch, type FraudEpoch } from "./fixture.js";

const { ethers, networkHelpers } = await network.create();
const RUNS = Math.min(Number(process.env.FAST_CHECK_RUNS ?? 40), 120);

type Channel = {
  sender: number;
  shard: number;
  batches: Delta[][];
  /** headers[i][h]: batch i to the h-th holder. */
  headers: BatchHeader[][];
  /** Cumulative state after batch i, and the state of batch i alone. */
  cumulative: LtHash16[];
  batchStates: LtHash16[];
  holders: number[];
  nonHolders: number[];
};

/** Deltas of shard `shard`, found by hashing `seed` forward (the stream is keyed by the whole data). */
function deltasInShard(sharder: Sharder, shard: number, seed: string, count: number, other = false): Delta[] {
  const out: Delta[] = [];
  for (let i = 0; out.length < count; ++i) {
    const h = keccak256(solidityPacked(["bytes32", "uint256"], [seed, i]));
    const data = hexlify(getBytes(h).slice(0, 4 + (i % 29)));
    if ((sharder.shard(getBytes(data)) === shard) !== other)
      out.push({ data, time: BigInt(i), diff: BigInt((i % 5) - 2) || 1n });
  }
  return out;
}

function honestChannel(
  s: FraudEpoch,
  k: number,
  sender: number,
  shard: number,
  sizes: number[],
  seed: string,
): Channel {
  const sharder = new Sharder(s.r, s.n);
  const perm = new Permutation(s.r, s.n);
  const holders = perm.holders(shard, k);
  const nonHolders = [...Array(s.n).keys()].filter((w) => !holders.includes(w));
  const all = deltasInShard(
    sharder,
    shard,
    seed,
    sizes.reduce((a, b) => a + b, 0),
  );
  const batches: Delta[][] = [];
  for (let at = 0, i = 0; i < sizes.length; at += sizes[i++]) batches.push(all.slice(at, at + sizes[i]));
  const headers: BatchHeader[][] = [];
  const cumulative: LtHash16[] = [];
  const batchStates: LtHash16[] = [];
  let running = new LtHash16();
  let prev = ZeroHash;
  batches.forEach((deltas, seq) => {
    const batch = new LtHash16().addAll(deltas);
    running = running.clone().combine(batch);
    batchStates.push(batch);
    cumulative.push(running);
    const content = {
      epoch: 1n,
      stream: s.stream,
      shard,
      originShard: 0,
      sender: s.workers[sender].address,
      seq: BigInt(seq),
      prev,
      deltasRoot: deltasRoot(deltas),
      count: deltas.length,
      batchMsh: batch.digest(),
      cumulativeMsh: running.digest(),
      inputMsh: ZeroHash,
      firstTime: BigInt(deltas[0].time),
      lastTime: BigInt(deltas[deltas.length - 1].time),
    };
    headers.push(holders.map((h) => ({ ...content, receiver: s.workers[h].address })));
    prev = contentHash(headers[seq][0]);
  });
  return { sender, shard, batches, headers, cumulative, batchStates, holders, nonHolders };
}

describe("fraud proofs: honest channels vs single mutations (differential)", function () {
  this.timeout(600_000);
  let s: FraudEpoch;
  let k: number;

  before(async function () {
    s = await deployFraudEpoch(ethers, networkHelpers, 4);
    k = Number(await s.fx.epochs.replication(1));
  });

  /** The sender's accumulated proof for batch `seq` of its channel on `shard`, repeating `cumulativeMsh`. */
  function accumulatedProof(sender: number, shard: number, seq: number, cumulativeMsh: string): AccumulatedProof {
    return {
      epoch: 1n,
      stream: s.stream,
      shard,
      originShard: 0,
      sender: s.workers[sender].address,
      seq: BigInt(seq),
      sourceChainId: 1n,
      blockNumber: 1n,
      blockHash: ZeroHash,
      cumulativeMsh,
    };
  }

  /** Resolves with "accepted", or the custom error's name when the call reverts. */
  async function verdict(call: Promise<unknown>): Promise<string> {
    try {
      await call;
      return "accepted";
    } catch (e) {
      const data = (e as { data?: string }).data;
      const parsed = data ? (s.fraud.interface.parseError(data) ?? s.fx.epochs.interface.parseError(data)) : null;
      return parsed?.name ?? `unparsed: ${(e as Error).message.slice(0, 120)}`;
    }
  }

  const channelArb = fc.record({
    sender: fc.integer({ min: 0, max: 3 }),
    shard: fc.integer({ min: 0, max: 3 }),
    sizes: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }),
    seed: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => hexlify(b)),
  });

  it("never accepts evidence built from an honest channel", async function () {
    await fc.assert(
      fc.asyncProperty(channelArb, fc.nat(), async (c, pick) => {
        const ch = honestChannel(s, k, c.sender, c.shard, c.sizes, c.seed);
        const fraud = s.byWorker(c.sender);
        const i = pick % ch.batches.length;
        const h = await s.sign(ch.headers[i][0], c.sender);
        const checks: Array<[string, Promise<unknown>]> = [
          ["batch", fraud.proveBatchMismatch.staticCall(h, ch.batches[i])],
          [
            "chain",
            i === 0
              ? fraud.proveBrokenChain.staticCall(h, h, "0x", "0x")
              : fraud.proveBrokenChain.staticCall(
                  await s.sign(ch.headers[i - 1][0], c.sender),
                  h,
                  hexlify(ch.cumulative[i - 1].toBytes()),
                  hexlify(ch.batchStates[i].toBytes()),
                ),
          ],
          ["equivocation", fraud.proveEquivocation.staticCall(h, await s.sign(ch.headers[i][1], c.sender))],
        ];
        const d = pick % ch.batches[i].length;
        const delta = ch.batches[i][d];
        for (const [r, recv] of ch.holders.entries()) {
          const hr = await s.sign(ch.headers[i][r], c.sender);
          checks.push([
            `misrouted to holder ${recv}`,
            fraud.proveMisroutedDelta.staticCall(
              hr,
              delta.data,
              delta.time,
              delta.diff,
              deltaProof(ch.batches[i], d),
              recv,
            ),
          ]);
        }
        const proof = accumulatedProof(c.sender, c.shard, i, ch.cumulative[i].digest());
        checks.push(["accumulated", fraud.proveContradictedProof.staticCall(await s.signProof(proof, c.sender), h)]);
        for (const [name, call] of checks) expect(await verdict(call), name).to.equal("FraudNoFault");
      }),
      { numRuns: RUNS },
    );
  });

  const mutations = [
    "count",
    "batchMsh",
    "cumulativeMsh",
    "prev",
    "equivocate",
    "nonHolder",
    "wrongShardDelta",
    "accumulated",
  ] as const;

  it("accepts every single mutation the protocol calls a fault", async function () {
    await fc.assert(
      fc.asyncProperty(channelArb, fc.constantFrom(...mutations), fc.nat(), async (c, mutation, pick) => {
        const ch = honestChannel(s, k, c.sender, c.shard, c.sizes, c.seed);
        const fraud = s.byWorker(c.sender);
        const i = pick % ch.batches.length;
        const honest = ch.headers[i][0];
        const lie = keccak256(solidityPacked(["string", "uint256"], ["lie", pick]));
        let call: Promise<unknown>;
        switch (mutation) {
          case "count":
          case "batchMsh": {
            const bad = { ...honest, ...(mutation === "count" ? { count: honest.count + 1 } : { batchMsh: lie }) };
            call = fraud.proveBatchMismatch.staticCall(await s.sign(bad, c.sender), ch.batches[i]);
            break;
          }
          case "cumulativeMsh":
          case "prev": {
            const bad = { ...honest, ...(mutation === "prev" ? { prev: lie } : { cumulativeMsh: lie }) };
            call =
              i === 0
                ? fraud.proveBrokenChain.staticCall(
                    await s.sign(bad, c.sender),
                    await s.sign(bad, c.sender),
                    "0x",
                    "0x",
                  )
                : fraud.proveBrokenChain.staticCall(
                    await s.sign(ch.headers[i - 1][0], c.sender),
                    await s.sign(bad, c.sender),
                    hexlify(ch.cumulative[i - 1].toBytes()),
                    hexlify(ch.batchStates[i].toBytes()),
                  );
            break;
          }
          case "equivocate": {
            const other = { ...ch.headers[i][1], deltasRoot: lie };
            call = fraud.proveEquivocation.staticCall(await s.sign(honest, c.sender), await s.sign(other, c.sender));
            break;
          }
          case "nonHolder": {
            const recv = ch.nonHolders[pick % ch.nonHolders.length];
            const bad = { ...honest, receiver: s.workers[recv].address };
            const d = ch.batches[i][0];
            call = fraud.proveMisroutedDelta.staticCall(
              await s.sign(bad, c.sender),
              d.data,
              d.time,
              d.diff,
              deltaProof(ch.batches[i], 0),
              recv,
            );
            break;
          }
          case "wrongShardDelta": {
            // The sender slips a delta of another shard into the batch (and signs it honestly otherwise).
            const stray = deltasInShard(new Sharder(s.r, s.n), c.shard, lie, 1, true)[0];
            const deltas = [...ch.batches[i], stray];
            const msh = new LtHash16().addAll(deltas).digest();
            const bad = { ...honest, deltasRoot: deltasRoot(deltas), count: deltas.length, batchMsh: msh };
            call = fraud.proveMisroutedDelta.staticCall(
              await s.sign(bad, c.sender),
              stray.data,
              stray.time,
              stray.diff,
              deltaProof(deltas, deltas.length - 1),
              ch.holders[0],
            );
            break;
          }
          case "accumulated": {
            const proof = accumulatedProof(c.sender, c.shard, i, lie);
            call = fraud.proveContradictedProof.staticCall(
              await s.signProof(proof, c.sender),
              await s.sign(honest, c.sender),
            );
            break;
          }
        }
        expect(await verdict(call), mutation).to.equal("accepted");
      }),
      { numRuns: RUNS },
    );
  });
});
