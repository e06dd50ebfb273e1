// A verdict anyone can reproduce (docs/protocol.md §12, docs/design/execution-disputes.md §4): the
// right content of a disputed position, computed from the chain and the registered bytecode alone,
// and compared with both parties' signed headers. A juror votes what this says; the arbitrator and
// anybody else run the same thing with `maru-worker verify-dispute <id>`.
//
// For a first-stage position: the epoch's source window is read from the inbox (checked against its
// digests), the origin shard's deltas are run in order through a fresh instance of the operator the
// epoch's graph pins (bytecode fetched from Arweave and checked against its hash), the outputs for
// the position's shard are cut into batches by the channel's batching rule (../exchange/packing.ts)
// and the batch at the position's seq is built with its input commitment, exactly as an honest
// holder's Outbox builds it. The side whose replica content (seven fields) equals it is right.
import { ZeroAddress, getAddress } from "ethers";
import { buildBatch, openChannel } from "../../client/batches/buildBatch.js";
import { MAX_BATCH } from "../../client/batches/types.js";
import { EpochMath } from "../../client/batches/verifyBatch.js";
import { getAssignment } from "../../client/actions/getAssignment.js";
import type { Protocol } from "../../client/contracts.js";
import { MaruError } from "../../client/errors/base.js";
import { DisputeSide, disputeId, type SignedHeaderArg } from "../../client/evidence/disputes.js";
import { inBlockRanges } from "../../client/events/logRanges.js";
import { protocolDomain, replicaHash, type BatchHeader } from "../../client/math/eip712.js";
import { LtHash16, type Delta } from "../../client/math/lthash.js";
import { syncGraph } from "../../client/registry/syncGraph.js";
import type { ExecutionDisputes } from "../../typechain-types/index.js";
import { readEpochWindow, type SourceDelta } from "../chain/source.js";
import { compileGraph, firstStageOf, sourcesKey } from "../engine/graph.js";
import { packChannel } from "../exchange/packing.js";
import { OperatorError, OperatorHost } from "../operators/host.js";

/** The dispute cannot be decided from what is public (exit 2 in verify-dispute): what is missing. */
export class UndecidableError extends MaruError {
  override name = "UndecidableError";
}

/** The fields of a header that two honest holders sign alike (the replica content). */
export const REPLICA_FIELDS = [
  "deltasRoot",
  "count",
  "batchMsh",
  "cumulativeMsh",
  "inputMsh",
  "firstTime",
  "lastTime",
] as const;

/** A dispute as the court holds it, with the two signed headers it was opened on. */
export type DisputeCase = {
  id: bigint;
  epoch: bigint;
  drawEpoch: bigint;
  stage: number;
  verdict: number;
  outcome: number;
  aIndex: number;
  bIndex: number;
  a: SignedHeaderArg;
  b: SignedHeaderArg;
  /** The block the dispute was opened in. */
  openedAt: number;
};

/** Which side is right, and why. */
export type Judgement = {
  side: typeof DisputeSide.A | typeof DisputeSide.B | typeof DisputeSide.NEITHER;
  why: string;
  /** The batch the position should hold; undefined when the channel has no batch at that seq. */
  truth?: BatchHeader;
  /** Per party: whether its replica content is the truth, and the fields that differ. */
  parties: Array<{ side: "A" | "B"; sender: string; right: boolean; differs: string[] }>;
};

const headerOf = (raw: SignedHeaderArg["header"]): BatchHeader => ({
  epoch: BigInt(raw.epoch),
  stream: String(raw.stream).toLowerCase(),
  shard: Number(raw.shard),
  originShard: Number(raw.originShard),
  sender: getAddress(String(raw.sender)),
  receiver: getAddress(String(raw.receiver)),
  seq: BigInt(raw.seq),
  prev: String(raw.prev),
  deltasRoot: String(raw.deltasRoot),
  count: Number(raw.count),
  batchMsh: String(raw.batchMsh),
  cumulativeMsh: String(raw.cumulativeMsh),
  inputMsh: String(raw.inputMsh),
  firstTime: BigInt(raw.firstTime),
  lastTime: BigInt(raw.lastTime),
});

/**
 * Reads dispute `id` and the headers it was opened on (from the `openDispute` transaction's
 * calldata). Throws a MaruError when there is no such dispute, or when it was opened through
 * another contract (the headers are then not in the transaction's own calldata).
 */
export async function readDispute(p: Protocol, court: ExecutionDisputes, id: bigint): Promise<DisputeCase> {
  const [d] = await court.disputeOf(id);
  if (Number(d.stage) === 0)
    throw new MaruError(`No dispute ${id} in the court at ${await court.getAddress()}`, {
      fix: "give the id of a DisputeOpened event of this deployment (maru-worker verify-dispute <id>)",
    });
  const provider = p.epochs.runner!.provider!;
  const head = await provider.getBlockNumber();
  const [opened] = await inBlockRanges(
    (from, to) => court.queryFilter(court.filters.DisputeOpened(id), from, to),
    p.book.startBlock,
    head,
  );
  if (!opened)
    throw new MaruError(`Dispute ${id} has no DisputeOpened event between blocks ${p.book.startBlock} and ${head}`);
  const tx = await provider.getTransaction(opened.transactionHash);
  const call = tx && court.interface.parseTransaction({ data: tx.data });
  if (!call || call.name !== "openDispute")
    throw new UndecidableError(
      `Dispute ${id} was opened through another contract (transaction ${opened.transactionHash})`,
      {
        fix: "read the two signed headers from that transaction's trace; this tool reads a direct openDispute call",
      },
    );
  const side = (s: { header: SignedHeaderArg["header"]; signature: string; senderIndex: bigint | number }) => ({
    header: headerOf(s.header),
    signature: String(s.signature),
    senderIndex: Number(s.senderIndex),
  });
  const [a, b] = [side(call.args[0]), side(call.args[1])];
  // The id is the hash of the two headers' EIP-712 digests: headers that do not hash to it are not
  // the dispute's (a contract can emit the event's transaction with any calldata it likes).
  const domain = protocolDomain((await provider.getNetwork()).chainId, p.book.contracts.fraudProofs);
  if (disputeId(domain, a.header, b.header) !== id)
    throw new UndecidableError(
      `The calldata of transaction ${opened.transactionHash} does not hold dispute ${id}'s headers`,
      { fix: "the dispute was opened through another contract: its headers must come from that contract's trace" },
    );
  return {
    id,
    epoch: BigInt(d.epoch),
    drawEpoch: BigInt(d.drawEpoch),
    stage: Number(d.stage),
    verdict: Number(d.verdict),
    outcome: Number(d.outcome),
    aIndex: Number(d.aIndex),
    bIndex: Number(d.bIndex),
    a,
    b,
    openedAt: opened.blockNumber,
  };
}

/**
 * The inputs a position's first stage took: the window's deltas of `stream` (the source stream the
 * emitting operator reads; a graph may read several) whose shard is `originShard`, in order, each
 * with its source index as time. Deltas that cannot be keyed (`shardOf` undefined) are skipped, as
 * every holder skips them.
 */
export function originInputs(
  window: SourceDelta[],
  stream: string,
  shardOf: (data: Delta["data"]) => number | undefined,
  originShard: number,
): Delta[] {
  return window
    .filter((d) => d.stream === stream && shardOf(d.data) === originShard)
    .map((d) => ({ data: d.data, time: d.index, diff: d.diff }));
}

/**
 * The batch an honest holder signs at `position`: `inputs` (the origin shard's source deltas of the
 * epoch's window, in order, each with its source index as time) run through a fresh instance of
 * `bytecode`, the outputs whose shard is `position.shard` cut by the batching rule, the batch at
 * `position.seq` built with the origin shard's input commitment at its last time. Undefined when
 * the channel has fewer batches.
 */
export async function batchAt(o: {
  bytecode: Uint8Array;
  perDeltaMs: number;
  inputs: Delta[];
  /** The shard of an output delta (undefined: unkeyable, skipped as every holder skips it). */
  shardOf(data: Delta["data"]): number | undefined;
  position: { epoch: bigint; stream: string; shard: number; originShard: number; seq: bigint };
}): Promise<BatchHeader | undefined> {
  const { position } = o;
  const lane: Delta[] = [];
  // In a thread of its own: a juror's recomputation must not stop, or be stopped by, live operators.
  const host = await OperatorHost.start(o.bytecode, { perDeltaMs: o.perDeltaMs, ownThread: true });
  try {
    for (let i = 0; i < o.inputs.length; i += MAX_BATCH) {
      const outs = await host.process(o.inputs.slice(i, i + MAX_BATCH));
      for (const d of outs.flat()) if (o.shardOf(d.data) === position.shard) lane.push(d);
    }
  } finally {
    await host.close();
  }
  const batches = packChannel(lane);
  if (position.seq >= BigInt(batches.length)) return undefined;
  // The input commitment at each source time: the multiset hash of the origin shard's inputs up to it.
  const inputAt = new Map<bigint, string>();
  const state = new LtHash16();
  for (const d of o.inputs) {
    state.add(d.data, d.time, d.diff);
    inputAt.set(BigInt(d.time), state.digest());
  }
  const ch = openChannel(position.epoch, position.stream, position.shard, position.originShard, ZeroAddress);
  let header: BatchHeader | undefined;
  for (let seq = 0; seq <= Number(position.seq); ++seq) {
    const last = BigInt(batches[seq][batches[seq].length - 1].time);
    [header] = buildBatch(ch, batches[seq], [ZeroAddress], inputAt.get(last));
  }
  return header;
}

/** Compares both parties' headers with the truth: which side is right, and the fields that differ. */
export function compare(c: Pick<DisputeCase, "a" | "b">, truth: BatchHeader | undefined): Judgement {
  const parties = (["A", "B"] as const).map((side) => {
    const h = (side === "A" ? c.a : c.b).header;
    const differs = truth
      ? REPLICA_FIELDS.filter((f) => String(h[f]).toLowerCase() !== String(truth[f]).toLowerCase())
      : ["seq"];
    return {
      side,
      sender: String(h.sender).toLowerCase(),
      right: truth !== undefined && replicaHash(h) === replicaHash(truth),
      differs,
    };
  });
  const [a, b] = parties;
  const why = (p: (typeof parties)[number]) =>
    p.right
      ? `${p.side} (${p.sender}) signed the right content`
      : `${p.side} (${p.sender}) differs in ${p.differs.join(", ")}`;
  if (!truth)
    return {
      side: DisputeSide.NEITHER,
      why: `the channel has no batch at seq ${c.a.header.seq}: both headers claim one`,
      parties,
    };
  const side = a.right ? DisputeSide.A : b.right ? DisputeSide.B : DisputeSide.NEITHER;
  return { side, why: `${why(a)}; ${why(b)}`, truth, parties };
}

/**
 * Judges dispute `c`: reads the epoch's graph, window and assignment, recomputes the disputed
 * position and compares. Throws {@link UndecidableError} for what cannot be recomputed from public
 * data (a later-stage position: its inputs are the signed batches the parties received).
 */
export async function judge(
  p: Protocol,
  c: DisputeCase,
  o: {
    gateway: string;
    cacheDir?: string;
    perDeltaMs: number;
    /** Epoch windows already read, by `streams|epoch` (a juror judging several disputes reads each once). */
    windows?: Map<string, Promise<Awaited<ReturnType<typeof readEpochWindow>>>>;
  },
): Promise<Judgement> {
  const h = c.a.header;
  const provider = p.epochs.runner!.provider!;
  const synced = await syncGraph({
    provider,
    epochManager: p.book.contracts.epochManager,
    registry: p.book.contracts.registry,
    epoch: c.epoch,
    gateway: o.gateway,
    cacheDir: o.cacheDir,
    fromBlock: p.book.startBlock,
  });
  const graph = compileGraph(synced, (await provider.getNetwork()).chainId);
  const stream = String(h.stream).toLowerCase();
  const op = firstStageOf(graph).find((x) => x.output === stream);
  if (!op)
    throw new UndecidableError(
      `Dispute ${c.id} is about stream ${stream}, which no first-stage operator of epoch ${c.epoch}'s graph emits`,
      {
        fix: "a later-stage position is judged on the signed batches the parties received, which the court cannot take yet (submitInputs is not built): the arbitrator decides it",
      },
    );
  const a = await getAssignment(p, c.epoch);
  const math = new EpochMath(a.view);
  const sourceSpec = graph.partitions.get(op.input)!;
  const outSpec = graph.partitions.get(stream)!;
  const shardOf = (spec: typeof outSpec, data: Delta["data"]) => {
    try {
      return math.sharder.shardOfDelta(spec, data);
    } catch {
      return undefined;
    }
  };
  const key = `${sourcesKey(graph)}|${c.epoch}`;
  let window = o.windows?.get(key);
  if (!window) {
    window = readEpochWindow(p, graph, c.epoch);
    o.windows?.set(key, window);
    window.catch(() => o.windows?.delete(key)); // a failed read is read again next time
  }
  const { deltas } = await window;
  const inputs = originInputs(deltas, op.input, (data) => shardOf(sourceSpec, data), Number(h.originShard));
  let truth: BatchHeader | undefined;
  try {
    truth = await batchAt({
      bytecode: op.bytecode,
      perDeltaMs: o.perDeltaMs,
      inputs,
      shardOf: (data) => shardOf(outSpec, data),
      position: {
        epoch: c.epoch,
        stream,
        shard: Number(h.shard),
        originShard: Number(h.originShard),
        seq: BigInt(h.seq),
      },
    });
  } catch (e) {
    // A trap or an overrun of this machine's time budget: no verdict from here (a juror does not vote).
    if (!(e instanceof OperatorError)) throw e;
    throw new UndecidableError(`The operator failed while recomputing dispute ${c.id}: ${e.message}`, {
      fix: "run it again with a larger --per-delta-ms; if it still fails, the arbitrator decides",
    });
  }
  return compare(c, truth);
}
