// One epoch of the engine in one process, with the real operators, outbox, inbox and replica
// agreement (a member that holds every shard: its batches go to itself): the output equals a direct
// computation; each batch signs the input commitment of its last time, computed from checkpoints as
// a per-delta running hash would give it; and inputs an operator refuses make the output
// incomplete, said in the report, never quietly left out.
import { expect } from "chai";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wallet, hexlify, id, keccak256, toBeHex, zeroPadValue } from "ethers";
import { pino } from "pino";
import {
  KeyKind,
  batchHeaderDigest,
  recoverSigner,
  LtHash16,
  Permutation,
  Sharder,
  protocolDomain,
  type Assignment,
  type BatchHeader,
  type Delta,
  type EpochView,
  type PartitionSpec,
} from "../../client/index.js";
import type { SourceDelta } from "../../worker/chain/source.js";
import { EpochRun, type HandoffState, type PreviousEpoch } from "../../worker/engine/epochRun.js";
import { EpochMath } from "../../client/batches/verifyBatch.js";
import { handoffOrigin, handoffStreamOf } from "../../client/registry/handoff.js";
import type { RunnableGraph } from "../../worker/engine/graph.js";
import type { EpochReport } from "../../worker/engine/report.js";
import { Outbox } from "../../worker/exchange/outbox.js";
import { encodeMessage, type Message } from "../../worker/transport/codec.js";
import { protectedSigner } from "../../worker/exchange/signer.js";
import { ProtectionRecord } from "../../worker/protection/record.js";
import { OperatorHost } from "../../worker/operators/host.js";

const wasm = (name: string) =>
  new Uint8Array(readFileSync(new URL(`../../operators/build/${name}.wasm`, import.meta.url)));
const log = pino({ level: "silent" });
const EPOCH = 5n;
const CHAIN = 31337n;
const VERIFYING = "0x" + "22".repeat(20);
const domain = protocolDomain(CHAIN, VERIFYING);
const worker = new Wallet(keccak256(toBeHex(0x3001, 32)));
const key = new Wallet(keccak256(toBeHex(0x3002, 32)));
const me = worker.address.toLowerCase();
const r = id("epochRun.test r");
const view: EpochView = {
  epoch: EPOCH,
  n: 1,
  k: 1,
  r,
  indexOf: new Map([[me, 0]]),
  signingKeyOf: new Map([[me, key.address.toLowerCase()]]),
};
const perm = new Permutation(r, 1);
const sharder = new Sharder(r, 1);
const a: Assignment = {
  view,
  index: 0,
  shards: [0],
  holders: (shard) => perm.holders(shard, 1),
  shardOf: (k) => sharder.shard(k),
  members: [me],
};
const SOURCE = id("token_transfers").toLowerCase();
const CHANGES = id("balance_changes").toLowerCase();
const BALANCES = id("balances").toLowerCase();
const graph: RunnableGraph = {
  graphHash: id("graph"),
  sources: [SOURCE],
  sourceOf: new Map([[SOURCE, { kind: "INBOX" }]]),
  partitions: new Map([
    [SOURCE, { kind: KeyKind.SLICE, offset: 12, length: 20 }],
    [CHANGES, { kind: KeyKind.WHOLE, offset: 0, length: 0 }],
    [BALANCES, { kind: KeyKind.SLICE, offset: 0, length: 20 }],
  ]),
  operators: [],
  consumers: new Map(),
  terminal: new Set([BALANCES]),
  handoffs: new Map([[handoffStreamOf(CHANGES), CHANGES]]),
  stage2: new Set(),
};
graph.partitions.set(handoffStreamOf(CHANGES), graph.partitions.get(CHANGES)!);
const map = {
  id: 0,
  name: "erc20_to_balances",
  input: SOURCE,
  inputs: [SOURCE],
  output: CHANGES,
  bytecode: wasm("erc20_to_balances"),
};
const reduce = {
  id: 1,
  name: "sum_by_key",
  input: CHANGES,
  inputs: [CHANGES],
  output: BALANCES,
  bytecode: wasm("sum_by_key"),
};
graph.operators.push(map, reduce);
graph.consumers.set(SOURCE, [map]);
graph.consumers.set(CHANGES, [reduce]);
graph.consumers.set(handoffStreamOf(CHANGES), [reduce]);
/**
 * Two CHAIN sources joined (the devnet's second dataflow): Transfer logs → balance changes and
 * sends; Approval logs (another stream, keyed by owner) → approvals; balance_activity joins the three.
 */
const APPROVAL_LOGS = id("token_approvals").toLowerCase();
const SENDS = id("sends").toLowerCase();
const APPROVED = id("approvals").toLowerCase();
const ACTIVITY = id("activity").toLowerCase();
const whole: PartitionSpec = { kind: KeyKind.WHOLE, offset: 0, length: 0 };
const joined: RunnableGraph = {
  graphHash: id("joined graph"),
  sources: [SOURCE, APPROVAL_LOGS].sort(),
  sourceOf: new Map(
    [SOURCE, APPROVAL_LOGS].map((s, i) => [
      s,
      { kind: "CHAIN", chain: { chainId: CHAIN, emitter: zeroPadValue("0x0c", 20), topic0: id(`event ${i}`) } },
    ]),
  ),
  partitions: new Map<string, PartitionSpec>([
    [SOURCE, { kind: KeyKind.SLICE, offset: 12, length: 20 }],
    [APPROVAL_LOGS, { kind: KeyKind.SLICE, offset: 12, length: 20 }],
    [CHANGES, whole],
    [SENDS, whole],
    [APPROVED, whole],
    [ACTIVITY, { kind: KeyKind.SLICE, offset: 0, length: 20 }],
  ]),
  operators: [],
  consumers: new Map(),
  terminal: new Set([ACTIVITY]),
  handoffs: new Map(),
  stage2: new Set(),
};
{
  const sends = { ...map, id: 2, name: "erc20_to_sends", output: SENDS, bytecode: wasm("erc20_to_sends") };
  const approvals = {
    id: 3,
    name: "erc20_to_approvals",
    input: APPROVAL_LOGS,
    inputs: [APPROVAL_LOGS],
    output: APPROVED,
    bytecode: wasm("erc20_to_sends"),
  };
  const join = {
    id: 4,
    name: "balance_activity",
    input: CHANGES,
    inputs: [CHANGES, SENDS, APPROVED],
    output: ACTIVITY,
    bytecode: wasm("balance_activity"),
  };
  joined.operators.push(map, sends, approvals, join);
  joined.consumers.set(SOURCE, [map, sends]);
  joined.consumers.set(APPROVAL_LOGS, [approvals]);
  for (const x of join.inputs) {
    joined.consumers.set(x, [join]);
    joined.handoffs.set(handoffStreamOf(x), x);
    joined.partitions.set(handoffStreamOf(x), whole);
    joined.consumers.set(handoffStreamOf(x), [join]);
  }
}

/**
 * Two exchanges (the devnet's third dataflow): balance changes → (exchange) → balance_buckets, over
 * each shard's whole state once the first stage is complete → (exchange, by bucket) →
 * count_by_bucket → how many accounts hold a balance of each bit length.
 */
const BUCKETS = id("balance_buckets").toLowerCase();
const HISTOGRAM = id("balance_histogram").toLowerCase();
const byBucket: PartitionSpec = { kind: KeyKind.SLICE, offset: 0, length: 8 };
const twoStage: RunnableGraph = {
  ...graph,
  graphHash: id("two-stage graph"),
  partitions: new Map([...graph.partitions, [BUCKETS, byBucket], [HISTOGRAM, byBucket]]),
  operators: [
    ...graph.operators,
    {
      id: 5,
      name: "balance_buckets",
      input: CHANGES,
      inputs: [CHANGES],
      output: BUCKETS,
      bytecode: wasm("balance_buckets"),
    },
    {
      id: 6,
      name: "count_by_bucket",
      input: BUCKETS,
      inputs: [BUCKETS],
      output: HISTOGRAM,
      bytecode: wasm("count_by_bucket"),
    },
  ],
  terminal: new Set([BALANCES, HISTOGRAM]),
  stage2: new Set([BUCKETS]),
};
twoStage.consumers = new Map([
  [SOURCE, [map]],
  [CHANGES, [reduce, twoStage.operators[2]]],
  [handoffStreamOf(CHANGES), [reduce, twoStage.operators[2]]],
  [BUCKETS, [twoStage.operators[3]]],
]);

/** Bucket (the bit length, negative below zero) → how many accounts hold such a balance. */
function directHistogram(balances: Map<string, bigint>): Map<bigint, bigint> {
  const out = new Map<bigint, bigint>();
  for (const v of balances.values()) {
    const bits = BigInt((v < 0n ? -v : v).toString(2).length);
    const b = v < 0n ? -bits : bits;
    out.set(b, (out.get(b) ?? 0n) + 1n);
  }
  return out;
}

function reportedHistogram(report: EpochReport): Map<bigint, bigint> {
  const got = new Map<bigint, bigint>();
  for (const [data, mult] of Object.entries(report.output[HISTOGRAM] ?? {})) {
    expect(mult).to.equal("1");
    got.set(BigInt.asIntN(64, BigInt(`0x${data.slice(2, 18)}`)), BigInt.asIntN(64, BigInt(`0x${data.slice(18, 34)}`)));
  }
  return got;
}

/** The same single member in the next epoch (its randomness differs). */
const next: Assignment = { ...a, view: { ...view, epoch: EPOCH + 1n, r: id("epochRun.test r next") } };

const account = (i: number) => `0x${id(`account ${i}`).slice(26)}`;
const word = (hex: string) => zeroPadValue(hex, 32).slice(2);
/** A Transfer log's delta at position `t`. */
const transfer = (t: number, from: number, to: number, value: bigint): SourceDelta => ({
  data: `0x${word(account(from))}${word(account(to))}${word(toBeHex(value))}`,
  time: BigInt(t),
  diff: 1n,
  index: BigInt(t),
  blockNumber: 10 + Math.floor(t / 4),
  stream: SOURCE,
});

/** The balances computed directly from Transfer deltas (zeros left out). */
function directBalances(deltas: SourceDelta[]): Map<string, bigint> {
  const want = new Map<string, bigint>();
  for (const t of deltas) {
    const d = String(t.data).slice(2);
    const [from, to, value] = [`0x${d.slice(24, 64)}`, `0x${d.slice(88, 128)}`, BigInt(`0x${d.slice(128)}`)];
    want.set(from, (want.get(from) ?? 0n) - value);
    want.set(to, (want.get(to) ?? 0n) + value);
  }
  return new Map([...want].filter(([, v]) => v !== 0n));
}

/** The balances an epoch report's output holds (each record once). */
function reportedBalances(report: EpochReport): Map<string, bigint> {
  const got = new Map<string, bigint>();
  for (const [data, mult] of Object.entries(report.output[BALANCES] ?? {})) {
    expect(mult).to.equal("1");
    got.set(`0x${data.slice(2, 42)}`, BigInt.asIntN(64, BigInt(`0x${data.slice(42, 58)}`)));
  }
  return got;
}

async function runEpoch(
  deltas: SourceDelta[],
  o: {
    epoch?: bigint;
    assignment?: Assignment;
    previous?: PreviousEpoch;
    handoff?: HandoffState;
    graph?: RunnableGraph;
    /** Runs once the epoch's sending is done, before it is finalized. */
    beforeFinalize?: (run: EpochRun) => Promise<void>;
    afterFinalize?: (run: EpochRun) => void | Promise<void>;
    /** Where to put what the run sends (a new list by default). */
    sent?: Message[];
  } = {},
) {
  const epoch = o.epoch ?? EPOCH;
  const dir = mkdtempSync(join(tmpdir(), "maru-epochrun-"));
  const record = ProtectionRecord.open(dir, {
    signingKey: key.address,
    chainId: Number(CHAIN),
    verifyingContract: VERIFYING,
  });
  record.beginEpoch(epoch);
  const headers: BatchHeader[] = [];
  /** What each header carried, as delivered here (same index as `headers`). */
  const delivered: Delta[][] = [];
  /** What the run sent to other workers (or to itself, for a resend). */
  const sent: Message[] = o.sent ?? [];
  try {
    const run = new EpochRun(
      {
        me,
        log,
        domain,
        checks: true,
        perDeltaMs: 50,
        sourceChainId: CHAIN,
        signer: protectedSigner(key, domain, record),
        outbox: (o) =>
          new Outbox({
            ...o,
            local: (h, ds) => {
              headers.push(h);
              delivered.push(ds);
              o.local(h, ds);
            },
          }),
        isEjected: () => false,
        send: (_to, m) => void sent.push(m),
        evidence: () => undefined,
      },
      epoch,
      o.assignment ?? a,
      o.graph ?? graph,
      new Map(),
      false,
      o.previous,
    );
    if (o.handoff) run.sendHandoff(o.handoff);
    for (let i = 0; i < deltas.length; i += 7) {
      await run.processSource(deltas.slice(i, i + 7));
      await run.outbox.flush();
    }
    await run.finishSending(99, id("block 99"));
    run.settle();
    // One member: its first stage is complete once it has sent (nobody else sends to it).
    if (run.secondStage) {
      await run.startSecondStage(false);
      run.settle();
    }
    await o.beforeFinalize?.(run);
    const report = await run.finalize(false);
    const state = run.handoffOut();
    await o.afterFinalize?.(run);
    return { report, headers, delivered, sent, state };
  } finally {
    record.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("worker: one epoch of the engine (EpochRun), in process", function () {
  this.timeout(60_000);

  it("computes the balances, and signs each batch's input commitment as a per-delta running hash gives it", async function () {
    const deltas = Array.from({ length: 150 }, (_, t) =>
      transfer(t, t % 5, (t * 7 + 1) % 5, BigInt(1 + ((t * 37) % 900))),
    );
    const { report, headers } = await runEpoch(deltas);
    expect(report.outputIncomplete, JSON.stringify(report)).to.equal(false);
    expect(report.malformed).to.equal(0);
    expect(reportedBalances(report)).to.deep.equal(directBalances(deltas));
    // Each header's inputMsh: the running multiset hash of the shard's inputs up to its last time.
    expect(headers.length).to.be.greaterThan(1);
    for (const h of headers) {
      const upTo = deltas.filter((d) => d.index <= BigInt(h.lastTime));
      const state = new LtHash16().addAll(upTo.map((d) => ({ data: d.data, time: d.index, diff: d.diff })));
      expect(h.inputMsh, `batch ${h.seq} to time ${h.lastTime}`).to.equal(state.digest());
    }
  });

  it("forgets a finished epoch's inputs and indexes on release, and refuses to hand on a state it no longer has", async function () {
    const deltas = Array.from({ length: 150 }, (_, t) =>
      transfer(t, t % 5, (t * 7 + 1) % 5, BigInt(1 + ((t * 37) % 900))),
    );
    const held = (run: EpochRun) => {
      const x = run as unknown as Record<string, Map<unknown, unknown>>;
      const agreement = run.agreement as unknown as Record<string, Map<unknown, unknown>>;
      return {
        sourceByShard: x.sourceByShard.size,
        inputs: x.inputs.size,
        inputDigests: x.inputDigests.size,
        sourceShard: x.sourceShard.size,
        state: x.state.size,
        decided: agreement.decided.size,
      };
    };
    let before: ReturnType<typeof held> | undefined;
    let after: ReturnType<typeof held> | undefined;
    const { report, state } = await runEpoch(deltas, {
      afterFinalize: (run) => {
        before = held(run);
        run.release();
        after = held(run);
        // What a retained outbox still asks of its run (resends go to a shard's holders).
        expect(run.holders(0)).to.deep.equal([me]);
        expect(() => run.handoffOut()).to.throw(/state was released: hand it over before release\(\)/);
      },
    });
    expect(
      Object.values(before!).every((n) => n > 0),
      JSON.stringify(before),
    ).to.equal(true);
    expect(
      Object.values(after!).every((n) => n === 0),
      JSON.stringify(after),
    ).to.equal(true);
    // The report and the state to hand on were taken before: both whole.
    expect(reportedBalances(report)).to.deep.equal(directBalances(deltas));
    expect(state!.streams[0].shards[0].deltas.length).to.be.greaterThan(0);
  });

  it("answers a resend once released, with every batch as it was first sent to that receiver", async function () {
    // Two members holding both shards: every batch goes to the peer too, signed for it.
    const peer = new Wallet(keccak256(toBeHex(0x3003, 32)));
    const peerKey = new Wallet(keccak256(toBeHex(0x3004, 32)));
    const them = peer.address.toLowerCase();
    const pair: Assignment = {
      view: {
        ...view,
        n: 2,
        k: 2,
        indexOf: new Map([
          [me, 0],
          [them, 1],
        ]),
        signingKeyOf: new Map([
          [me, key.address.toLowerCase()],
          [them, peerKey.address.toLowerCase()],
        ]),
      },
      index: 0,
      shards: [0, 1],
      holders: () => [0, 1],
      shardOf: (k) => new Sharder(r, 2).shard(k),
      members: [me, them],
    };
    const deltas = Array.from({ length: 150 }, (_, t) =>
      transfer(t, t % 5, (t * 7 + 1) % 5, BigInt(1 + ((t * 37) % 900))),
    );
    const sent: Message[] = [];
    const batchesTo = (from: number) =>
      sent.slice(from).flatMap((m) => (m.kind === "batch" && m.batch.header.receiver === them ? [m] : []));
    let first: ReturnType<typeof batchesTo> = [];
    let resent = -1;
    let afterResend = 0;
    await runEpoch(deltas, {
      assignment: pair,
      sent,
      afterFinalize: async (run) => {
        first = batchesTo(0);
        run.release();
        const from = sent.length;
        resent = await run.outbox.resend({ epoch: EPOCH, sender: them, channels: [] }, them);
        afterResend = from;
      },
    });
    const again = batchesTo(afterResend);
    expect(first.length, "batches sent to the peer in the epoch").to.be.greaterThan(1);
    expect(resent).to.equal(first.length);
    expect(again.map((m) => m.batch.header)).to.deep.equal(first.map((m) => m.batch.header));
    expect(again.map((m) => m.batch.signature)).to.deep.equal(first.map((m) => m.batch.signature));
    // The same deltas (first sent as the operator's bytes, resent decoded from the kept wire bytes).
    const plain = (m: (typeof first)[number]) =>
      m.batch.deltas.map((d) => ({ data: hexlify(d.data), time: BigInt(d.time), diff: BigInt(d.diff) }));
    expect(again.map(plain)).to.deep.equal(first.map(plain));
    // The kept buffer itself goes again, not one decoded and encoded again; on the wire, byte for byte.
    again.forEach((m, i) => expect(m.packed).to.equal(first[i].packed));
    expect(again.map((m) => hexlify(encodeMessage(m)))).to.deep.equal(first.map((m) => hexlify(encodeMessage(m))));
    for (const m of again)
      expect(recoverSigner(batchHeaderDigest(domain, m.batch.header), m.batch.signature)).to.equal(
        key.address.toLowerCase(),
      );
    // Then the channels' proofs and the end notice, as at the epoch's end.
    const rest = sent.slice(afterResend).map((m) => m.kind);
    expect(rest).to.include("proof");
    expect(rest).to.include("done");
  });

  it("joins two sources: each first stage reads its own stream, and commits to that stream's inputs alone", async function () {
    // Transfer logs at even times, Approval logs (owner ‖ spender ‖ value) at odd ones, interleaved.
    const transfers = Array.from({ length: 90 }, (_, i) => transfer(2 * i, i % 5, (i * 3 + 1) % 5, BigInt(1 + i)));
    const approvals: SourceDelta[] = Array.from({ length: 30 }, (_, i) => ({
      ...transfer(2 * (i * 3) + 1, (i * 2) % 5, (i + 4) % 5, 7n),
      stream: APPROVAL_LOGS,
    }));
    const deltas = [...transfers, ...approvals].sort((x, y) => (x.index < y.index ? -1 : 1));
    // What a receiver computes itself when copies differ: each stream's first stage over its own
    // source's deltas (an approval's time gives the owner's +1 on `approvals`, nothing on `sends`).
    const recomputed: Array<[string, bigint, string[]]> = [];
    const beforeFinalize = async (run: EpochRun) => {
      for (const [stream, time] of [
        [APPROVED, approvals[4].index],
        [SENDS, approvals[4].index],
        [SENDS, transfers[9].index],
        [APPROVED, transfers[9].index],
      ] as const) {
        const got = await run.recompute({ stream, shard: 0, time, originShard: 0 });
        recomputed.push([stream, time, got!.map((d) => `${hexlify(d.data)}:${d.diff}`)]);
      }
    };
    const { report, headers } = await runEpoch(deltas, { graph: joined, beforeFinalize });
    const owner = (d: SourceDelta) => `0x${hexlify(d.data).slice(26, 66)}`;
    expect(recomputed).to.deep.equal([
      [APPROVED, approvals[4].index, [`${owner(approvals[4])}:1`]],
      [SENDS, approvals[4].index, []],
      [SENDS, transfers[9].index, [`${owner(transfers[9])}:1`]],
      [APPROVED, transfers[9].index, []],
    ]);
    expect(report.outputIncomplete, JSON.stringify(report)).to.equal(false);
    expect(report.malformed).to.equal(0);
    // account ‖ balance ‖ sent ‖ approvals, against a direct computation.
    const balances = directBalances(transfers);
    const count = (ds: SourceDelta[]) => {
      const out = new Map<string, bigint>();
      for (const d of ds) {
        const who = `0x${hexlify(d.data).slice(26, 66)}`;
        out.set(who, (out.get(who) ?? 0n) + 1n);
      }
      return out;
    };
    const sent = count(transfers);
    const approved = count(approvals);
    const i64 = (v: bigint) => BigInt.asUintN(64, v).toString(16).padStart(16, "0");
    const expected = [...new Set([...balances.keys(), ...sent.keys(), ...approved.keys()])]
      .map((k) => `${k}${i64(balances.get(k) ?? 0n)}${i64(sent.get(k) ?? 0n)}${i64(approved.get(k) ?? 0n)}`)
      .sort();
    expect(approved.size).to.be.greaterThan(1);
    const got = Object.entries(report.output[ACTIVITY] ?? {});
    for (const [, mult] of got) expect(mult).to.equal("1");
    expect(got.map(([data]) => data).sort()).to.deep.equal(expected);
    // A channel's input commitment is over its own source stream's inputs of the origin shard.
    const ofStream = new Map<string, SourceDelta[]>([
      [CHANGES, transfers],
      [SENDS, transfers],
      [APPROVED, approvals],
    ]);
    const seen = new Set<string>();
    for (const h of headers) {
      const stream = String(h.stream).toLowerCase();
      seen.add(stream);
      const upTo = ofStream.get(stream)!.filter((d) => d.index <= BigInt(h.lastTime));
      const state = new LtHash16().addAll(upTo.map((d) => ({ data: d.data, time: d.index, diff: d.diff })));
      expect(h.inputMsh, `${stream} batch ${h.seq} to time ${h.lastTime}`).to.equal(state.digest());
    }
    expect(seen).to.deep.equal(new Set([CHANGES, SENDS, APPROVED]));
  });

  it("hands the balances' state to the next epoch, whose output is the running balances", async function () {
    const deltas = Array.from({ length: 120 }, (_, t) =>
      transfer(t, t % 6, (t * 5 + 1) % 6, BigInt(1 + ((t * 31) % 700))),
    );
    const first = await runEpoch(deltas.slice(0, 70));
    expect(first.state, "a complete epoch vouches for its state").to.not.equal(undefined);
    expect(first.report.handoff).to.deep.include({ due: false, gap: false, sentDeltas: 0 });
    const [changes] = first.state!.streams;
    expect(changes.stream).to.equal(CHANGES);
    // One record per account (data = account, diff = its sum), sorted by data.
    const datas = changes.shards[0].deltas.map((x) => x.data);
    expect(datas).to.deep.equal([...datas].sort());
    const second = await runEpoch(deltas.slice(70), {
      epoch: EPOCH + 1n,
      assignment: next,
      previous: { a, math: new EpochMath(view) },
      handoff: first.state,
    });
    expect(second.report.outputIncomplete, JSON.stringify(second.report)).to.equal(false);
    expect(second.report.handoff).to.deep.include({ due: true, gap: false, sentDeltas: datas.length });
    // The running balances over both epochs' transfers.
    expect(reportedBalances(second.report)).to.deep.equal(directBalances(deltas));
    // The handoff's batches sign the running hash of the handed-over state as their input.
    const handed = second.headers.filter((h) => String(h.stream).toLowerCase() === handoffStreamOf(CHANGES));
    expect(handed.length).to.be.greaterThan(0);
    for (const h of handed) {
      expect(handoffOrigin(BigInt(h.lastTime))).to.equal(0);
      const rank = Number(BigInt(h.lastTime) & ((1n << 40n) - 1n));
      const upTo = changes.shards[0].deltas
        .slice(0, rank + 1)
        .map((x, i) => ({ data: x.data, time: BigInt(h.lastTime) - BigInt(rank - i), diff: BigInt(x.diff) }));
      expect(h.inputMsh).to.equal(new LtHash16().addAll(upTo).digest());
    }
  });

  it("runs a second exchange over each shard's whole state, with state carried across epochs", async function () {
    const deltas = Array.from({ length: 160 }, (_, t) =>
      transfer(t, t % 9, (t * 5 + 2) % 9, BigInt(1 + ((t * 7919) % 5000)) << BigInt((t * 5) % 23)),
    );
    const first = await runEpoch(deltas.slice(0, 90), { graph: twoStage });
    expect(first.report.outputIncomplete, JSON.stringify(first.report)).to.equal(false);
    expect(first.report.secondStage).to.deep.include({ ran: true, shards: 1, gap: false, unconfirmed: false });
    const once = directBalances(deltas.slice(0, 90));
    expect(reportedBalances(first.report)).to.deep.equal(once);
    expect(reportedHistogram(first.report)).to.deep.equal(directHistogram(once));
    expect(directHistogram(once).size, "the data spans several buckets, both signs").to.be.greaterThan(4);
    // Its state is the first stage's (the balance changes), not the second's.
    expect(first.state!.streams.map((x) => x.stream)).to.deep.equal([CHANGES]);
    // The second exchange's batches: times name the shard and the rank in its state; each signs the
    // running hash of the state it ran over (the records by data, the i-th at rank i).
    const state = first.state!.streams[0].shards[0].deltas;
    const buckets = first.headers.filter((h) => String(h.stream).toLowerCase() === BUCKETS);
    expect(buckets.length).to.be.greaterThan(0);
    for (const h of buckets) {
      expect(handoffOrigin(BigInt(h.lastTime))).to.equal(0);
      const rank = Number(BigInt(h.lastTime) & ((1n << 40n) - 1n));
      const upTo = state
        .slice(0, rank + 1)
        .map((x, i) => ({ data: x.data, time: BigInt(h.lastTime) - BigInt(rank - i), diff: BigInt(x.diff) }));
      expect(h.inputMsh).to.equal(new LtHash16().addAll(upTo).digest());
    }
    // The next epoch takes the state over: both outputs are over every transfer so far.
    const second = await runEpoch(deltas.slice(90), {
      graph: twoStage,
      epoch: EPOCH + 1n,
      assignment: next,
      previous: { a, math: new EpochMath(view) },
      handoff: first.state,
    });
    expect(second.report.outputIncomplete, JSON.stringify(second.report)).to.equal(false);
    const all = directBalances(deltas);
    expect(reportedBalances(second.report)).to.deep.equal(all);
    expect(reportedHistogram(second.report)).to.deep.equal(directHistogram(all));
  });

  it("runs no second stage over a first stage that lacks data, and says the output is incomplete", async function () {
    // The previous epoch's state was due and nobody handed it over: the first stage has a gap.
    const deltas = Array.from({ length: 30 }, (_, t) => transfer(t, t % 4, (t + 1) % 4, 5n + BigInt(t)));
    const { report, headers, state } = await runEpoch(deltas, {
      graph: twoStage,
      epoch: EPOCH + 1n,
      assignment: next,
      previous: { a, math: new EpochMath(view) },
    });
    expect(report.handoff).to.deep.include({ gap: true });
    expect(report.secondStage).to.deep.include({ ran: false, shards: 0, gap: true });
    expect(report.secondStage!.skipped).to.match(/lacks data/);
    expect(report.outputIncomplete).to.equal(true);
    // Nothing of the second exchange was signed: a holder that cannot vouch for its state names nothing.
    expect(headers.filter((h) => String(h.stream).toLowerCase() === BUCKETS)).to.deep.equal([]);
    expect(report.output[HISTOGRAM] ?? {}).to.deep.equal({});
    expect(state).to.equal(undefined);
  });

  it("says the output is incomplete when the previous epoch's state was due and nobody handed it over", async function () {
    const deltas = Array.from({ length: 20 }, (_, t) => transfer(t, t % 3, (t + 1) % 3, 5n));
    const { report, state } = await runEpoch(deltas, {
      epoch: EPOCH + 1n,
      assignment: next,
      previous: { a, math: new EpochMath(view) },
    });
    expect(report.handoff).to.deep.include({ due: true, gap: true });
    expect(report.outputIncomplete).to.equal(true);
    expect(state, "a state with a gap is not vouched for").to.equal(undefined);
  });

  it("hands nothing over when a consolidated multiplicity does not fit 64 bits, and takes no state in part", async function () {
    const big = 0x6000_0000_0000_0000n; // each fits; their sum, for one account, does not
    const { report, state } = await runEpoch([transfer(0, 1, 2, big), transfer(1, 3, 2, big)]);
    // The reduce refuses the change that would wrap its 64-bit sum: the output says it is incomplete.
    expect(report.malformed).to.equal(1);
    expect(report.outputIncomplete).to.equal(true);
    expect(state).to.equal(undefined);
    // A damaged state (a multiplicity past 64 bits) is refused before anything of it is queued.
    const good = (await runEpoch([transfer(0, 1, 2, 5n)])).state!;
    const damaged = structuredClone(good);
    damaged.streams[0].shards[0].deltas.push({ data: "0x" + "ab".repeat(20), diff: (1n << 64n).toString() });
    const second = await runEpoch([transfer(1, 2, 3, 1n)], {
      epoch: EPOCH + 1n,
      assignment: next,
      previous: { a, math: new EpochMath(view) },
      handoff: damaged,
    }).catch((e: Error) => e);
    expect(second).to.be.instanceOf(Error);
    expect((second as Error).message).to.match(/a delta that is not one/);
  });

  it("says the output is incomplete when an operator refuses inputs (a value past the sample's 64-bit sums)", async function () {
    const deltas = [transfer(0, 1, 2, 5n), transfer(1, 2, 3, 1n << 63n), transfer(2, 3, 1, 7n)];
    const { report } = await runEpoch(deltas);
    expect(report.malformed).to.equal(1);
    expect(report.outputIncomplete).to.equal(true);
    expect(Object.keys(report.output[BALANCES] ?? {}).map((x) => hexlify(x).slice(0, 42))).to.have.length(3);
  });

  it("feeds a later operator what one turn agreed in one request, not a message per agreed group", async function () {
    // One request per agreed group (one to three deltas) cost a tenth of a worker's main thread.
    const deltas = Array.from({ length: 150 }, (_, t) =>
      transfer(t, t % 5, (t * 7 + 1) % 5, BigInt(1 + ((t * 37) % 900))),
    );
    const original = OperatorHost.prototype.process;
    let laterRequests = 0;
    OperatorHost.prototype.process = function (this: OperatorHost, ds, input) {
      // Balance changes (an account, 20 bytes) go to the operator after the exchange; transfers are 96 bytes.
      if (ds.length > 0 && ds[0].data.length !== 2 + 2 * 96) laterRequests += 1;
      return original.call(this, ds, input);
    };
    try {
      const { report } = await runEpoch(deltas);
      expect(reportedBalances(report)).to.deep.equal(directBalances(deltas));
      expect(report.agreedGroups).to.equal(150);
      expect(laterRequests).to.be.greaterThan(0);
      expect(laterRequests).to.be.at.most(report.agreedGroups / 5);
    } finally {
      OperatorHost.prototype.process = original;
    }
  });
});
