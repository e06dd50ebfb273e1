// Gas of fraud proofs (receipt gasUsed of the prove* transaction), for bench/gas.bench.ts.
import type { HardhatEthers } from "@nomicfoundation/hardhat-ethers/types";
import type { NetworkHelpers } from "@nomicfoundation/hardhat-network-helpers/types";
import { getBytes, hexlify, id, toBeHex, ZeroHash } from "ethers";
import {
  deltaProof,
  deltasRoot,
  LtHash16,
  Permutation,
  Sharder,
  contentHash,
  type AccumulatedProof,
  type BatchHeader,
  type Delta,
} from "../client/index.js";
import { deployFraudEpoch, type FraudEpoch } from "../test/slashing/fixture.js";
import { streamSpec } from "../test/registry/fixture.js";

type Tx = Promise<{ wait(): Promise<{ gasUsed: bigint; hash: string } | null> }>;
/** Called with each measured transaction's name and hash (bench/fraud.trace.ts breaks them down). */
export type OnTx = (name: string, hash: string) => Promise<void>;

function header(
  s: FraudEpoch,
  sender: number,
  shard: number,
  receiver: string,
  seq: bigint,
  deltas: Delta[],
  extra: Partial<BatchHeader> = {},
): BatchHeader {
  const msh = new LtHash16().addAll(deltas).digest();
  return {
    epoch: 1n,
    stream: streamSpec("transfers").id,
    shard,
    originShard: 0,
    sender: s.workers[sender].address,
    receiver,
    seq,
    prev: ZeroHash,
    deltasRoot: deltasRoot(deltas),
    count: deltas.length,
    batchMsh: msh,
    cumulativeMsh: msh,
    inputMsh: ZeroHash,
    firstTime: BigInt(deltas[0]?.time ?? 0),
    lastTime: BigInt(deltas[deltas.length - 1]?.time ?? 0),
    ...extra,
  };
}

export async function measureFraudGas(
  ethers: HardhatEthers,
  helpers: NetworkHelpers,
  onTx?: OnTx,
): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const gasOf = async (name: string, tx: Tx) => {
    const receipt = (await (await tx).wait())!;
    if (onTx) await onTx(name, receipt.hash);
    out[name] = Number(receipt.gasUsed);
  };
  for (const n of [4, 10_000]) {
    const s = await deployFraudEpoch(ethers, helpers, n);
    const sharder = new Sharder(s.r, n);
    const perm = new Permutation(s.r, n);
    // A depth-16 batch (2^15 + 1 deltas) whose first delta belongs to another shard than the header's.
    const deltas: Delta[] = Array.from({ length: 32_769 }, (_, i) => ({
      data: toBeHex(i + 1, 32),
      time: 1n,
      diff: 1n,
    }));
    const target = (sharder.shard(getBytes(deltas[0].data)) + 1) % n;
    const receiverIndex = perm.holders(target, 2)[0];
    const h = header(s, 0, target, await s.fx.epochs.workerAt(1, receiverIndex), 0n, deltas);
    const proof = deltaProof(deltas, 0);
    if (proof.length !== 16) throw new Error(`expected a depth-16 proof, got ${proof.length}`);
    await gasOf(
      `fraud.misroutedDelta.n${n}`,
      s.byWorker(0).proveMisroutedDelta(await s.sign(h, 0), deltas[0].data, 1n, 1n, proof, receiverIndex),
    );
  }
  const s = await deployFraudEpoch(ethers, helpers, 4);
  const d1 = [{ data: "0x01", time: 1n, diff: 1n }];
  const d2 = [{ data: "0x02", time: 1n, diff: 1n }];
  const recv = s.workers[1].address;
  await gasOf(
    "fraud.equivocation",
    s
      .byWorker(0)
      .proveEquivocation(
        await s.sign(header(s, 0, 0, recv, 0n, d1), 0),
        await s.sign(header(s, 0, 0, recv, 0n, d2), 0),
      ),
  );
  // An outside reporter (not a registered worker) pays for its reward's new storage slot: not budgeted.
  await gasOf(
    "fraud.equivocation.outsideReporter",
    s.fraud.proveEquivocation(
      await s.sign(header(s, 2, 0, recv, 0n, d1), 2),
      await s.sign(header(s, 2, 0, recv, 0n, d2), 2),
    ),
  );
  // Broken chain: the cumulative of batch 1 is not batch 0 + batch 1. `prev` links, so batch 0's
  // header goes unsigned (batch 1's signature covers its content).
  const brokenChain = async (w: number) => {
    const h0 = header(s, w, 0, recv, 0n, d1);
    const h1 = header(s, w, 0, recv, 1n, d2, { prev: contentHash(h0), cumulativeMsh: ZeroHash.replace(/0$/, "1") });
    return { h0: { ...(await s.sign(h0, w)), signature: "0x" }, h1: await s.sign(h1, w) };
  };
  const chain1 = await brokenChain(1);
  // The batch as its deltas (one here): what a small batch costs.
  await gasOf(
    "fraud.brokenChain",
    s.byWorker(1).proveBrokenChainWithDeltas(chain1.h0, chain1.h1, hexlify(new LtHash16().addAll(d1).toBytes()), d2),
  );
  // Where the deltas form stops paying off: a batch of four.
  {
    const four: Delta[] = Array.from({ length: 4 }, (_, i) => ({ data: toBeHex(i + 100, 32), time: 3n, diff: 1n }));
    const h0 = header(s, 0, 0, recv, 0n, d1);
    const h1 = header(s, 0, 0, recv, 1n, four, { prev: contentHash(h0), cumulativeMsh: ZeroHash.replace(/0$/, "1") });
    await gasOf(
      "fraud.brokenChain.deltas4",
      s
        .byWorker(0)
        .proveBrokenChainWithDeltas(
          { ...(await s.sign(h0, 0)), signature: "0x" },
          await s.sign(h1, 0),
          hexlify(new LtHash16().addAll(d1).toBytes()),
          four,
        ),
    );
  }
  // The batch as its full LtHash state: any batch size, on the EIP-7623 calldata floor.
  const chain3 = await brokenChain(3);
  await gasOf(
    "fraud.brokenChain.fullStates",
    s
      .byWorker(3)
      .proveBrokenChain(
        chain3.h0,
        chain3.h1,
        hexlify(new LtHash16().addAll(d1).toBytes()),
        hexlify(new LtHash16().addAll(d2).toBytes()),
      ),
  );
  // Batch mismatch with 64 deltas: the signed batchMsh is wrong.
  const d64: Delta[] = Array.from({ length: 64 }, (_, i) => ({ data: toBeHex(i + 1, 32), time: 2n, diff: 1n }));
  const hb = header(s, 2, 0, recv, 0n, d64, { batchMsh: ZeroHash.replace(/0$/, "2") });
  await gasOf("fraud.batchMismatch.64", s.byWorker(2).proveBatchMismatch(await s.sign(hb, 2), d64));
  // Accumulated proof naming the last block of epoch 1's window with a false hash (BLOCKHASH path of
  // the oracle), revealed by a reporter that committed to it a block before (§13). Epoch 2 (carried)
  // must have begun for the window to be closed.
  await helpers.time.increaseTo((await s.fx.epochs.epochInfo(1)).commitDeadline);
  await (await s.fx.epochs.freeze(2)).wait();
  await helpers.time.increaseTo((await s.fx.epochs.epochInfo(1)).end);
  await (await s.fx.epochs.advance()).wait();
  const last = await s.fx.epochs.windowLastBlock(1);
  const proof: AccumulatedProof = {
    epoch: 1n,
    stream: streamSpec("transfers").id,
    shard: 0,
    originShard: 0,
    sender: s.workers[3].address,
    seq: 0n,
    sourceChainId: (await ethers.provider.getNetwork()).chainId,
    blockNumber: last,
    blockHash: id("not the canonical hash"),
    cumulativeMsh: new LtHash16().addAll(d1).digest(),
  };
  const signed = await s.signProof(proof, 3);
  const reporter = s.byWorker(3); // worker 2 reports worker 3
  const commitment = await s.fraud.reportCommitment(s.workers[2].address, await s.fraud.proofDigest(signed));
  await gasOf("fraud.commitReport", reporter.commitReport(commitment));
  await gasOf("fraud.accumulatedProof", reporter.proveFalseBlockHash(signed));
  return out;
}
