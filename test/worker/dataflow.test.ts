// Dataflow paths the devnet covers end to end, tested here alone: a proof that comes after its
// epoch closed on this worker is still taken for judgement (from members only); an epoch whose
// graph differs from the one before takes over no state and waits for none; a burst of final
// blocks is read in chunks that take turns with the open epochs; an epoch whose graph it cannot run
// is sat out, not waited on.
import { expect } from "chai";
import { ZeroAddress, ZeroHash, keccak256, toUtf8Bytes } from "ethers";
import { encodeMessage, type Message } from "../../worker/transport/codec.js";
import { Dataflow, READ_BLOCKS, READ_TURN_MS } from "../../worker/engine/dataflow.js";
import type { Protocol } from "../../client/contracts.js";

const member = "0x" + "aa".repeat(20);
const stranger = "0x" + "bb".repeat(20);

function dataflow(epochInfo?: (e: bigint) => Promise<{ graphHash: string }>) {
  const p = {
    book: { startBlock: 0, contracts: { fraudProofs: ZeroAddress } },
    fraud: {},
    epochs: { interface: undefined, epochInfo },
  } as unknown as Protocol;
  const log = { info: () => undefined, warn: () => undefined, error: () => undefined };
  return new Dataflow({ p, me: "0x" + "ee".repeat(20), chainId: 31337, log } as never);
}

const proof = (epoch: bigint, sender: string): Message => ({
  kind: "proof",
  proof: {
    proof: {
      epoch,
      stream: keccak256("0x01"),
      shard: 1,
      originShard: 0,
      sender,
      seq: 3n,
      sourceChainId: 31337n,
      blockNumber: 77n,
      blockHash: keccak256("0x02"),
      cumulativeMsh: keccak256("0x03"),
    },
    signature: "0x" + "11".repeat(65),
  },
});

type Internals = {
  lateProofs: Map<bigint, { inbox: { onProof(p: unknown): void }; members: ReadonlyMap<string, number> }>;
  lastFinished: bigint;
  current: bigint;
  previousEpoch(epoch: bigint, graphHash: string, graph: { handoffs: Map<string, unknown> }): Promise<unknown>;
  handOver(run: unknown): void;
  handoffs: Map<bigint, { graphHash: string; epoch: string }>;
  runs: Map<bigint, unknown>;
};

describe("Dataflow", function () {
  it("takes a proof that comes after its epoch closed here, for judgement, from members only", function () {
    const df = dataflow();
    const inner = df as unknown as Internals;
    const taken: unknown[] = [];
    inner.lateProofs.set(4n, { inbox: { onProof: (p) => taken.push(p) }, members: new Map([[member, 0]]) });
    inner.lastFinished = 4n;
    inner.current = 5n;
    expect(df.onWire(encodeMessage(proof(4n, member)), member)).to.equal(undefined);
    expect(taken).to.have.length(1);
    expect((taken[0] as { proof: { seq: bigint } }).proof.seq).to.equal(3n);
    // A peer that was not a member of the epoch: refused as abuse, nothing judged.
    expect(df.onWire(encodeMessage(proof(4n, stranger)), stranger)).to.deep.include({ abusive: true });
    expect(taken).to.have.length(1);
    // An epoch no longer kept: dropped quietly (not abuse: an honest peer may just be slow).
    expect(df.onWire(encodeMessage(proof(2n, member)), member)).to.deep.include({ abusive: false });
    expect(taken).to.have.length(1);
  });

  it("takes over no state when the graph changed at the epoch boundary", async function () {
    const asked: bigint[] = [];
    const df = dataflow(async (e) => (asked.push(e), { graphHash: keccak256("0x0a") }));
    const inner = df as unknown as Internals;
    const stateful = { handoffs: new Map([["s", {}]]) };
    expect(await inner.previousEpoch(5n, keccak256("0x0b"), stateful)).to.equal(undefined);
    expect(asked).to.deep.equal([4n]);
    // A graph without state asks nothing of the chain.
    expect(await inner.previousEpoch(5n, keccak256("0x0b"), { handoffs: new Map() })).to.equal(undefined);
    expect(asked).to.deep.equal([4n]);
  });

  it("reads a burst of final blocks in chunks, taking turns with the open epochs, and reads again what failed", async function () {
    this.timeout(20_000);
    const df = dataflow();
    const inner = df as unknown as Record<string, unknown>;
    const FINAL = 30 * READ_BLOCKS; // one block a log: a burst of 240 blocks at once
    const reads: Array<[number, number]> = [];
    const processed: number[] = [];
    const source = {
      streams: "s",
      readTo: 0,
      async read(to: number) {
        const from = source.readTo + 1;
        reads.push([from, to]);
        await new Promise((r) => setTimeout(r, READ_TURN_MS / 16)); // an RPC round trip
        const deltas = Array.from({ length: to - from + 1 }, (_, i) => ({ blockNumber: from + i }));
        return { deltas, commit: () => void (source.readTo = to) };
      },
    };
    let failAt: number | undefined;
    const run = {
      epoch: 1n,
      windowEnd: undefined as number | undefined,
      async processSource(ds: Array<{ blockNumber: number }>) {
        if (ds.some((d) => d.blockNumber === failAt)) {
          failAt = undefined;
          throw new Error("an operator failed");
        }
        for (const d of ds) processed.push(d.blockNumber);
      },
    };
    // What a turn of the open epochs saw: how far the source was read, and when.
    const turns: Array<{ readTo: number; at: number }> = [];
    Object.assign(inner, {
      source,
      follow: () => undefined,
      refreshEvents: async () => FINAL,
      epochOfBlock: () => 1n,
      advanceRuns: async () => void turns.push({ readTo: source.readTo, at: Date.now() }),
      o: { ...(inner.o as object), membership: { refresh: async () => undefined } },
    });
    (inner.runs as Map<bigint, unknown>).set(1n, run);

    // The newest epoch's window ends at block 40: nothing past it is read yet.
    run.windowEnd = 40;
    await df.tick(1n);
    expect(source.readTo).to.equal(40);
    run.windowEnd = undefined;

    // A failure in the middle: the tick fails, and the blocks it did not process are read again.
    failAt = 100;
    const failed = await df.tick(1n).then(
      () => undefined,
      (e: Error) => e.message,
    );
    expect(failed).to.equal("an operator failed");
    expect(source.readTo).to.be.below(100);
    const t0 = Date.now();
    await df.tick(1n);
    expect(source.readTo).to.equal(FINAL);
    expect(processed, "every block once, in order").to.deep.equal(Array.from({ length: FINAL }, (_, i) => i + 1));

    // Chunks of at most READ_BLOCKS blocks, each from where the last committed read ended.
    for (const [from, to] of reads) expect(to - from + 1).to.be.within(1, READ_BLOCKS);
    const again = reads.filter(([from], i) => i > 0 && from <= reads[i - 1][1]);
    expect(again, "the failed chunk, read again").to.have.length(1);
    // The open epochs took turns while the burst was read, not only after it.
    const during = turns.filter((t) => t.at >= t0);
    expect(during.length, JSON.stringify(during)).to.be.at.least(2);
    expect(during.some((t) => t.readTo < FINAL)).to.equal(true);
    expect(during[during.length - 1].readTo).to.equal(FINAL);
  });

  it("sits out an epoch whose graph it cannot run, signing nothing, and starts later epochs as usual", async function () {
    const errors: Array<{ fields: Record<string, unknown>; msg: string }> = [];
    const p = {
      book: { startBlock: 0, contracts: { fraudProofs: ZeroAddress } },
      fraud: {},
      epochs: { interface: undefined, epochInfo: async () => ({ graphHash: keccak256("0x0c") }) },
    } as unknown as Protocol;
    const log = {
      info: () => undefined,
      warn: () => undefined,
      error: (fields: Record<string, unknown>, msg: string) => void errors.push({ fields, msg }),
    };
    const record = { hasEpoch: () => true, epochs: () => [] };
    const df = new Dataflow({ p, me: "0x" + "ee".repeat(20), chainId: 31337, log, record } as never);
    const inner = df as unknown as Record<string, unknown> & {
      advancedAt: Map<bigint, number>;
      runs: Map<bigint, unknown>;
    };
    // A graph of three exchanges (the reference worker runs two): valid on chain, refused here.
    const s = (name: string, sourceKind: number) => ({
      id: keccak256(toUtf8Bytes(name)),
      partition: { kind: 0, offset: 0, length: 0 },
      sourceKind,
      sourceChainId: 0n,
      sourceDescriptor: ZeroHash,
    });
    const o = (i: number, input: string, output: string) => ({
      id: i,
      name: `op${i}`,
      inputs: [keccak256(toUtf8Bytes(input))],
      outputs: [keccak256(toUtf8Bytes(output))],
      status: "ACTIVE",
      bytecode: new Uint8Array([0]),
    });
    const threeStages = {
      epoch: 5n,
      version: 1n,
      streams: [s("src", 0), s("b", 2), s("c", 2), s("d", 2), s("e", 2)],
      operators: [o(0, "src", "b"), o(1, "b", "c"), o(2, "c", "d"), o(3, "d", "e")],
    };
    let syncs = 0;
    Object.assign(inner, {
      refreshEvents: async () => 100,
      syncEpochGraph: async () => (syncs++, threeStages),
    });
    const a = { index: 0, shards: [0], members: [] } as never;
    for (const epoch of [5n, 6n]) {
      inner.advancedAt.set(epoch, 10 * Number(epoch));
      expect(await df.startEpoch(epoch, a)).to.equal(true);
      expect(df.lastFinished).to.equal(epoch);
      expect(inner.runs.size, "no run started").to.equal(0);
    }
    // Synced and compiled once: the graph pinned to a hash never changes, nor does the refusal.
    expect(syncs).to.equal(1);
    expect(errors.map((e) => e.msg)).to.deep.equal([
      "the epoch's graph is one this worker cannot run: sitting the epoch out (it signs nothing in it)",
      "the epoch's graph is one this worker cannot run: sitting the epoch out (it signs nothing in it)",
    ]);
    expect(errors[0].fields.reason).to.match(/is after the second exchange and feeds another operator/);
    expect(errors[0].fields.fix).to.match(/at most two stages/);
  });

  it("does not hand a state of another graph to the next epoch, nor wait for one that will not come", function () {
    const df = dataflow();
    const inner = df as unknown as Internals;
    let sent = 0;
    const run = {
      epoch: 5n,
      graphHash: keccak256("0x0b"),
      handoffDue: true,
      handoffTaken: false,
      handoffPending: true,
      handoffStats: { sentDeltas: 0 },
      sendHandoff: () => (sent += 1),
    };
    inner.handoffs.set(4n, { graphHash: keccak256("0x0a"), epoch: "4" });
    inner.handOver(run);
    expect(sent).to.equal(0);
    // Epoch 4 is not running here any more: nothing will come, so sending does not wait.
    expect(run.handoffPending).to.equal(false);
    // While epoch 4 still runs here, its state may yet come: sending waits for it.
    inner.runs.set(4n, {});
    inner.handOver(run);
    expect(run.handoffPending).to.equal(true);
    // The state of the same graph is handed over, once.
    inner.handoffs.set(4n, { graphHash: keccak256("0x0b"), epoch: "4" });
    inner.handOver(run);
    expect(sent).to.equal(1);
    expect(run.handoffPending).to.equal(false);
  });
});
