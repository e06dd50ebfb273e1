// The dataflow a worker runs every epoch (PROTOCOL.md §5–§9; docs/worker.md):
//   source: the StreamInbox stream, read from the chain and checked against its per-block digests;
//     each worker keeps the deltas of the source shards it holds (time = the delta's inbox index);
//   operators: the registry's WebAssembly modules (OperatorHost), fresh each epoch;
//   exchange: an operator's output deltas go, by their shard, to every holder of that shard as
//     signed batches on (epoch, stream, shard, sender, receiver) channels over libp2p;
//   checks: every incoming batch goes through verifyBatch and every accumulated proof through
//     verifyAccumulatedProof; each provable violation becomes evidence, submitted on-chain;
//   replicas: the k holders of a source shard all send its outputs; a receiver uses each source
//     time's deltas once (from the first sender whose batch passed every check) and notes any
//     replica that disagrees or never delivers (not provable: §10);
//   output: streams nobody consumes stay with the holders of their shards, per epoch.
// Epoch e covers the inbox blocks from the block epoch e became current up to the block before
// epoch e+1 did. Operator state does not move between epochs.
import { keccak256, concat, getBytes, hexlify, randomBytes, toUtf8Bytes, toUtf8String, type Wallet } from "ethers";
import type { Logger } from "pino";
import {
  buildAccumulatedProof,
  buildBatch,
  buildEvidence,
  EpochMath,
  Fault,
  LtHash16,
  MAX_BATCH,
  openChannel,
  openReceiverChannel,
  protocolDomain,
  readInbox,
  signBatch,
  submitEvidence,
  syncGraph,
  verifyAccumulatedProof,
  verifyBatch,
  type Assignment,
  type Delta,
  type Evidence,
  type InboxDelta,
  type Protocol,
  type ReceiverChannel,
  type SenderChannel,
  type SignedAccumulatedProof,
  type SignedBatch,
} from "../../client/index.js";
import { OperatorError, OperatorHost } from "../operators/host.js";
import type { EpochDone, Message, Transport } from "../transport/p2p.js";
import type { ByzantineMode } from "./byzantine.js";
import { compileGraph, type RunnableGraph, type RunnableOperator } from "./graph.js";

export const FAULT_NAMES = [
  "misrouted-delta",
  "equivocation",
  "batch-mismatch",
  "broken-chain",
  "invalid-accumulated-proof",
];

/** Evidence this worker submitted, and what became of it. */
export type EvidenceRecord = {
  epoch: string;
  worker: string;
  fault: string;
  status: string;
  amount?: string;
  txHash?: string;
  reason?: string;
  /** Wall-clock ms: when the violation was seen, and when the transaction settled. */
  detectedAt: number;
  settledAt: number;
};

/** A lie this worker told on purpose (byzantine modes only). */
export type CheatRecord = {
  mode: ByzantineMode;
  epoch: string;
  stream: string;
  shard: number;
  seq: string;
  at: number;
};

/** What one epoch of the dataflow did at this worker. */
export type EpochReport = {
  epoch: string;
  index: number;
  shards: number[];
  graphHash: string;
  sourceDeltas: number;
  sourceRead: number;
  sentBatches: number;
  sentDeltas: number;
  acceptedBatches: number;
  acceptedDeltas: number;
  rejectedBatches: number;
  droppedFromEjected: number;
  proofsChecked: number;
  violations: Record<string, number>;
  divergent: number;
  withholding: Array<{ worker: string; missingGroups: number; sentDone: boolean }>;
  timedOut: boolean;
  operatorErrors: number;
  /** Operators that failed even after a restart and replay: this worker's output of the epoch is incomplete. */
  operatorsStopped: number;
  malformed: number;
  verifyMs: number;
  /** Terminal stream → data (hex) → multiplicity (decimal), consolidated. */
  output: Record<string, Record<string, string>>;
  finishedAt: number;
};

export type DataflowOptions = {
  p: Protocol;
  me: string;
  signingKey: Wallet;
  chainId: number;
  transport?: Transport;
  log: Logger;
  gateway: string;
  cacheDir?: string;
  byzantine?: ByzantineMode;
  /** Run verifyBatch and verifyAccumulatedProof on what arrives (off only to measure their cost). */
  checks: boolean;
  confirmations: number;
  /** How long to wait for other workers' batches after this worker finished an epoch. */
  graceMs: number;
  perDeltaMs: number;
};

type Group = { time: bigint; deltas: Delta[] };
type OutChannel = { stream: string; shard: number; groups: Group[] };

const lower = (s: string) => s.toLowerCase();
const dataHex = (d: Delta) => (typeof d.data === "string" ? lower(d.data) : hexlify(d.data as Uint8Array));

/** Splits deltas into runs of equal time (operators keep the input's time, so inputs stay grouped). */
function groupByTime(deltas: Delta[]): Group[] {
  const groups: Group[] = [];
  for (const d of deltas) {
    const t = BigInt(d.time);
    const last = groups[groups.length - 1];
    if (last && last.time === t) last.deltas.push(d);
    else groups.push({ time: t, deltas: [d] });
  }
  return groups;
}

function groupDigest(g: Group): string {
  return keccak256(concat(g.deltas.flatMap((d) => [getBytes(dataHex(d)), toUtf8Bytes(`|${BigInt(d.diff)};`)])));
}

/** The worker's dataflow across epochs. Call {@link startEpoch} when an epoch is verified, {@link tick} on every poll. */
export class Dataflow {
  readonly runs = new Map<bigint, EpochRun>();
  readonly reports: EpochReport[] = [];
  readonly evidence: EvidenceRecord[] = [];
  readonly cheats: CheatRecord[] = [];
  cheated = false;
  private readonly early = new Map<bigint, Message[]>();
  private readonly advancedAt = new Map<bigint, number>();
  private readonly ejected = new Set<string>();
  private readonly submitted = new Set<string>();
  private readonly queue: Array<{
    key: string;
    epoch: bigint;
    worker: string;
    evidence: Evidence;
    detectedAt: number;
  }> = [];
  private readonly graphs = new Map<string, RunnableGraph>();
  private eventsTo: number;
  private source?: { stream: string; readTo: number; state: { count: bigint; hash: LtHash16 } };
  /** The newest epoch this worker is through with (finished, or not a member of). */
  lastFinished = 0n;
  readonly domain;

  constructor(readonly o: DataflowOptions) {
    this.eventsTo = o.p.book.startBlock - 1;
    this.domain = protocolDomain(o.chainId, o.p.book.contracts.fraudProofs);
  }

  get log() {
    return this.o.log;
  }

  isEjected(epoch: bigint, worker: string): boolean {
    return this.ejected.has(`${epoch}|${lower(worker)}`);
  }

  /** Sends a message to a member (by its on-chain network address). Failures are logged, not thrown. */
  send(peer: string | undefined, m: Message): void {
    if (!peer || !this.o.transport) return;
    this.o.transport.send(peer, m).catch((e: Error) => this.log.warn({ peer, error: e.message }, "send failed"));
  }

  /** A message from the network: to its epoch's run, held until that epoch starts, or dropped if old. */
  onMessage(m: Message): void {
    const epoch = BigInt(
      m.kind === "batch" ? m.batch.header.epoch : m.kind === "proof" ? m.proof.proof.epoch : m.done.epoch,
    );
    const run = this.runs.get(epoch);
    if (run) {
      run.handle(m).catch((e: Error) => this.log.error({ error: e.message }, "handling a message failed"));
    } else if (epoch > this.lastFinished) {
      const held = this.early.get(epoch) ?? [];
      if (held.length < 100_000) held.push(m);
      this.early.set(epoch, held);
    }
  }

  /** Starts epoch `epoch` (its r verified): syncs and checks its graph, starts its operators. */
  async startEpoch(epoch: bigint, a: Assignment): Promise<void> {
    if (this.runs.has(epoch) || epoch <= this.lastFinished) return;
    if (a.index === undefined) {
      this.log.info({ epoch: epoch.toString() }, "not a member of the epoch");
      this.lastFinished = epoch;
      this.early.delete(epoch);
      return;
    }
    await this.refreshEvents();
    const from = this.advancedAt.get(epoch);
    if (from === undefined) return; // not current yet: the next tick tries again
    const info = await this.o.p.epochs.epochInfo(epoch);
    let graph = this.graphs.get(info.graphHash);
    if (!graph) {
      const synced = await syncGraph({
        provider: this.o.p.epochs.runner!.provider!,
        epochManager: this.o.p.book.contracts.epochManager,
        registry: this.o.p.book.contracts.registry,
        epoch,
        gateway: this.o.gateway,
        cacheDir: this.o.cacheDir,
        fromBlock: this.o.p.book.startBlock,
      });
      if (!synced.operators.some((x) => x && x.status === "ACTIVE")) {
        // Nothing registered yet: follow the epochs, run nothing.
        this.log.info(
          { epoch: epoch.toString(), graphVersion: synced.version.toString() },
          "the epoch's graph has no operators",
        );
        this.lastFinished = epoch;
        this.early.delete(epoch);
        return;
      }
      graph = compileGraph(synced);
      this.graphs.set(info.graphHash, graph);
      this.log.info(
        { epoch: epoch.toString(), graphHash: graph.graphHash, operators: graph.operators.map((x) => x.name) },
        "graph synced",
      );
    }
    const hosts = new Map<number, OperatorHost>();
    for (const op of graph.operators) {
      hosts.set(op.id, await OperatorHost.start(op.bytecode, { perDeltaMs: this.o.perDeltaMs }));
    }
    const peers = new Map<string, string>();
    for (const m of a.members) {
      try {
        peers.set(m, toUtf8String(await this.o.p.epochs.networkAddressOf(m)));
      } catch {
        this.log.warn({ member: m }, "no readable network address");
      }
    }
    if (!this.source)
      this.source = { stream: graph.source, readTo: from - 1, state: await this.sourceStateAt(graph.source, from) };
    const run = new EpochRun(this, epoch, a, graph, hosts, peers);
    this.runs.set(epoch, run);
    this.log.info({ epoch: epoch.toString(), fromBlock: from, shards: a.shards }, "dataflow started");
    for (const m of this.early.get(epoch) ?? []) this.onMessage(m);
    this.early.delete(epoch);
  }

  /** The inbox state (count, multiset hash) before block `block`, read from the deployment's start. */
  private async sourceStateAt(stream: string, block: number) {
    let state = { count: 0n, hash: new LtHash16() };
    const start = this.o.p.book.startBlock;
    for (let at = start; at < block; at += 5_000) {
      const to = Math.min(block - 1, at + 4_999);
      state = (await readInbox(this.o.p, stream, at, to, state)).next;
    }
    return state;
  }

  private async refreshEvents(): Promise<number> {
    const provider = this.o.p.epochs.runner!.provider!;
    const head = await provider.getBlockNumber();
    if (head > this.eventsTo) {
      const em = this.o.p.epochs;
      for (const e of await em.queryFilter(em.filters.EpochAdvanced(), this.eventsTo + 1, head)) {
        this.advancedAt.set(e.args.epoch as bigint, e.blockNumber);
      }
      for (const e of await em.queryFilter(em.filters.Slashed(), this.eventsTo + 1, head)) {
        const key = `${e.args.epoch}|${lower(e.args.worker as string)}`;
        if (!this.ejected.has(key)) this.log.info({ worker: e.args.worker, epoch: String(e.args.epoch) }, "ejected");
        this.ejected.add(key);
      }
      this.eventsTo = head;
    }
    return head;
  }

  /** One poll: reads new source blocks, runs them through the operators, sends, submits evidence, closes epochs. */
  async tick(): Promise<void> {
    const head = await this.refreshEvents();
    const runs = [...this.runs.values()].sort((x, y) => (x.epoch < y.epoch ? -1 : 1));
    if (this.source && runs.length > 0) {
      // Read no further than the newest started epoch's window (a later epoch may not be verified yet).
      const newest = runs[runs.length - 1].epoch;
      const nextStart = this.advancedAt.get(newest + 1n);
      let target = head - this.o.confirmations;
      if (nextStart !== undefined) target = Math.min(target, nextStart - 1);
      if (target > this.source.readTo) {
        const { deltas, next } = await readInbox(
          this.o.p,
          this.source.stream,
          this.source.readTo + 1,
          target,
          this.source.state,
        );
        this.source.state = next;
        this.source.readTo = target;
        const byEpoch = new Map<bigint, InboxDelta[]>();
        let block = -1;
        let epoch: bigint | undefined;
        for (const d of deltas) {
          if (d.blockNumber !== block) [block, epoch] = [d.blockNumber, this.epochOfBlock(d.blockNumber)];
          if (epoch === undefined) continue;
          const list = byEpoch.get(epoch) ?? [];
          if (list.length === 0) byEpoch.set(epoch, list);
          list.push(d);
        }
        for (const [e, ds] of byEpoch) await this.runs.get(e)?.processSource(ds);
      }
    }
    for (const run of runs) {
      const nextStart = this.advancedAt.get(run.epoch + 1n);
      if (!run.sendingDone && nextStart !== undefined && this.source && this.source.readTo >= nextStart - 1) {
        await run.finishSending(nextStart - 1);
      } else if (!run.sendingDone) {
        await run.flush();
      }
    }
    await this.drainEvidence();
    for (const run of runs) {
      if (run.sendingDone && (run.complete() || Date.now() - run.sendingDoneAt > this.o.graceMs)) {
        const report = await run.finalize(!run.complete());
        this.reports.push(report);
        this.runs.delete(run.epoch);
        if (run.epoch > this.lastFinished) this.lastFinished = run.epoch;
        this.log.info({ ...report, output: undefined }, "epoch finished");
      }
    }
  }

  private epochOfBlock(block: number): bigint | undefined {
    let best: bigint | undefined;
    for (const [e, at] of this.advancedAt) if (at <= block && (best === undefined || e > best)) best = e;
    return best;
  }

  /** Queues evidence (once per (worker, epoch, fault)); submitted in {@link tick}, one transaction at a time. */
  queueEvidence(epoch: bigint, worker: string, evidence: Evidence): void {
    const key = `${lower(worker)}|${epoch}|${evidence.fault}`;
    if (this.submitted.has(key)) return;
    this.submitted.add(key);
    this.queue.push({ key, epoch, worker: lower(worker), evidence, detectedAt: Date.now() });
  }

  private async drainEvidence(): Promise<void> {
    while (this.queue.length > 0) {
      const q = this.queue.shift()!;
      const result = await submitEvidence(this.o.p.fraud as never, q.evidence, [this.o.p.epochs.interface]);
      const record: EvidenceRecord = {
        epoch: q.epoch.toString(),
        worker: q.worker,
        fault: FAULT_NAMES[q.evidence.fault],
        status: result.status,
        detectedAt: q.detectedAt,
        settledAt: Date.now(),
        ...(result.status === "slashed"
          ? { amount: result.amount.toString(), txHash: result.txHash }
          : { reason: result.reason }),
      };
      this.evidence.push(record);
      this.log.info(record, "evidence");
    }
  }

  /** Finishes what can be finished on shutdown: open epochs are reported as they are. */
  async stop(): Promise<void> {
    for (const run of this.runs.values()) this.reports.push(await run.finalize(true));
    this.runs.clear();
  }
}

/** One epoch at one worker: its channels out and in, its operators and its output. */
class EpochRun {
  private readonly math: EpochMath;
  private readonly me: string;
  private readonly myShards: Set<number>;
  private readonly out = new Map<string, OutChannel>();
  private readonly senders = new Map<string, SenderChannel>();
  private readonly inCh = new Map<string, ReceiverChannel>();
  private readonly acceptedCount = new Map<string, bigint>();
  private readonly stash = new Map<string, Map<bigint, SignedBatch>>();
  private readonly taken = new Map<string, { sender: string; digest: string }>();
  private readonly delivered = new Map<string, Set<string>>();
  private readonly sourceShard = new Map<bigint, number>();
  private readonly done = new Map<string, EpochDone>();
  private readonly output = new Map<string, Map<string, bigint>>();
  private readonly failed = new Set<number>();
  private readonly feeding = new Set<Promise<void>>();
  private readonly chains = new Map<number, Promise<void>>();
  /** A tampered header's cumulative hash (byzantine modes): the lie's proofs repeat it, so they tell one lie only. */
  private readonly claimed = new Map<string, { seq: bigint; cumulativeMsh: string }>();
  /** Every input an operator took this epoch, to replay it into a restarted operator. */
  private readonly inputs = new Map<number, Delta[]>();
  sendingDone = false;
  sendingDoneAt = 0;
  private readonly stats = {
    sourceDeltas: 0,
    sourceRead: 0,
    sentBatches: 0,
    sentDeltas: 0,
    acceptedBatches: 0,
    acceptedDeltas: 0,
    rejectedBatches: 0,
    droppedFromEjected: 0,
    proofsChecked: 0,
    divergent: 0,
    operatorErrors: 0,
    verifyMs: 0,
    violations: {} as Record<string, number>,
  };

  constructor(
    private readonly df: Dataflow,
    readonly epoch: bigint,
    private readonly a: Assignment,
    private readonly graph: RunnableGraph,
    private readonly hosts: Map<number, OperatorHost>,
    private readonly peers: Map<string, string>,
  ) {
    this.math = new EpochMath(a.view);
    this.me = lower(df.o.me);
    this.myShards = new Set(a.shards);
  }

  private holders(shard: number): string[] {
    return this.a.holders(shard).map((i) => this.a.members[i]);
  }

  private live(worker: string): boolean {
    return !this.df.isEjected(this.epoch, worker);
  }

  /** Source deltas of this epoch's window: keep those of my shards, run them through the operators. */
  async processSource(deltas: InboxDelta[]): Promise<void> {
    const spec = this.graph.partitions.get(this.graph.source)!;
    const mine: Delta[] = [];
    for (const d of deltas) {
      const shard = this.math.sharder.shardOfDelta(spec, d.data);
      this.sourceShard.set(d.index, shard);
      this.stats.sourceRead += 1;
      if (this.myShards.has(shard)) mine.push({ data: d.data, time: d.index, diff: d.diff });
    }
    this.stats.sourceDeltas += mine.length;
    await Promise.all((this.graph.consumers.get(this.graph.source) ?? []).map((op) => this.feed(op, mine)));
  }

  /**
   * Runs deltas through an operator and routes what it emits; calls for one operator run in order.
   * A failing operator (trap, overrun) is restarted once and its epoch input replayed; if it fails
   * again it stops for the epoch and the epoch's report says so (its output is then incomplete).
   */
  private feed(op: RunnableOperator, deltas: Delta[]): Promise<void> {
    const next = (this.chains.get(op.id) ?? Promise.resolve()).then(() => this.feedNow(op, deltas));
    this.chains.set(
      op.id,
      next.catch(() => undefined),
    );
    return next;
  }

  private async feedNow(op: RunnableOperator, deltas: Delta[]): Promise<void> {
    if (deltas.length === 0 || this.failed.has(op.id)) return;
    const log = this.inputs.get(op.id) ?? [];
    this.inputs.set(op.id, log);
    let outs: Delta[][];
    try {
      outs = await this.hosts.get(op.id)!.process(deltas);
    } catch (e) {
      if (!(e instanceof OperatorError)) throw e;
      this.stats.operatorErrors += 1;
      this.df.log.warn(
        { operator: op.name, epoch: this.epoch.toString(), error: e.message },
        "operator failed, replaying",
      );
      try {
        const host = await OperatorHost.start(op.bytecode, { perDeltaMs: this.df.o.perDeltaMs });
        this.hosts.set(op.id, host);
        for (let i = 0; i < log.length; i += MAX_BATCH) await host.process(log.slice(i, i + MAX_BATCH));
        outs = await host.process(deltas);
      } catch (again) {
        this.failed.add(op.id);
        this.df.log.error(
          { operator: op.name, epoch: this.epoch.toString(), error: (again as Error).message },
          "operator failed again: stopped for the epoch",
        );
        return;
      }
    }
    log.push(...deltas);
    this.route(op.output, groupByTime(outs.flat()));
  }

  private route(stream: string, groups: Group[]): void {
    if (this.graph.terminal.has(stream)) {
      const coll = this.output.get(stream) ?? new Map<string, bigint>();
      this.output.set(stream, coll);
      for (const g of groups)
        for (const d of g.deltas) {
          const k = dataHex(d);
          const v = (coll.get(k) ?? 0n) + BigInt(d.diff);
          if (v === 0n) coll.delete(k);
          else coll.set(k, v);
        }
      return;
    }
    const spec = this.graph.partitions.get(stream)!;
    for (const g of groups) {
      for (const d of g.deltas) {
        const shard = this.math.sharder.shardOfDelta(spec, d.data);
        const key = `${stream}|${shard}`;
        const ch = this.out.get(key) ?? { stream, shard, groups: [] };
        this.out.set(key, ch);
        const last = ch.groups[ch.groups.length - 1];
        if (last && last.time === g.time) last.deltas.push(d);
        else ch.groups.push({ time: g.time, deltas: [d] });
      }
    }
  }

  /** Sends what the operators produced since the last flush, in batches of at most MAX_BATCH deltas (a time's deltas stay together). */
  async flush(): Promise<void> {
    for (const ch of this.out.values()) {
      // A time's deltas are one part (cut only when they alone exceed MAX_BATCH); a part that does
      // not fit in the batch being filled starts the next one.
      const parts = ch.groups.flatMap((g) =>
        Array.from({ length: Math.ceil(g.deltas.length / MAX_BATCH) }, (_, i) =>
          g.deltas.slice(i * MAX_BATCH, (i + 1) * MAX_BATCH),
        ),
      );
      let batch: Delta[] = [];
      for (const part of parts) {
        if (batch.length + part.length > MAX_BATCH) {
          await this.sendBatch(ch.stream, ch.shard, batch);
          batch = [];
        }
        batch.push(...part);
      }
      if (batch.length > 0) await this.sendBatch(ch.stream, ch.shard, batch);
    }
    this.out.clear();
  }

  private async sendBatch(stream: string, shard: number, deltas: Delta[]): Promise<void> {
    const key = `${stream}|${shard}`;
    const ch = this.senders.get(key) ?? openChannel(this.epoch, stream, shard, this.me);
    this.senders.set(key, ch);
    const receivers = this.holders(shard).filter((w) => this.live(w));
    if (receivers.length === 0) return;
    const mode = this.df.o.byzantine;
    if (mode === "broken-chain" && !this.df.cheated && ch.seq === 0n) {
      // The lie needs a previous header: send the deltas of the first source time honestly first.
      const cut = deltas.findIndex((d) => BigInt(d.time) !== BigInt(deltas[0].time));
      if (cut > 0) {
        await this.sendBatch(stream, shard, deltas.slice(0, cut));
        await this.sendBatch(stream, shard, deltas.slice(cut));
        return;
      }
    }
    const cheat =
      mode !== undefined &&
      !this.df.cheated &&
      (mode === "misroute" ||
        mode === "equivocate" ||
        (mode === "bad-batch-hash" && ch.seq === 0n) ||
        (mode === "broken-chain" && ch.seq >= 1n));
    let sent = deltas;
    if (cheat && mode === "misroute") {
      // A delta that belongs to another shard, slipped into this batch.
      const spec = this.graph.partitions.get(stream)!;
      let data: string;
      do data = hexlify(randomBytes(20));
      while (this.math.sharder.shardOfDelta(spec, data) === shard);
      sent = [...deltas, { data, time: deltas[0].time, diff: 1n }];
    }
    const before = cheat && mode === "equivocate" ? { ...ch, cumulative: ch.cumulative.clone() } : undefined;
    const seq = ch.seq;
    const headers = buildBatch(ch, sent, receivers);
    if (cheat && mode === "bad-batch-hash") {
      const fake = keccak256(toUtf8Bytes(`not the batch ${seq}`));
      for (const h of headers) Object.assign(h, { batchMsh: fake, cumulativeMsh: fake });
    }
    if (cheat && mode === "broken-chain") {
      for (const h of headers) Object.assign(h, { cumulativeMsh: h.batchMsh }); // forgets the channel's history
    }
    if (cheat && (mode === "bad-batch-hash" || mode === "broken-chain"))
      this.claimed.set(key, { seq, cumulativeMsh: headers[0].cumulativeMsh });
    await this.deliver(receivers, headers, sent, deltas);
    if (before) {
      const other = deltas.map((d, i) => (i === deltas.length - 1 ? { ...d, diff: BigInt(d.diff) + 1n } : d));
      await this.deliver(receivers, buildBatch(before, other, receivers), other, undefined);
    }
    if (cheat) this.recordCheat(mode!, stream, shard, seq);
    this.stats.sentBatches += 1;
    this.stats.sentDeltas += deltas.length;
  }

  /** Notes the one lie a byzantine worker tells (its report, and the devnet's cheat → slash latency). */
  private recordCheat(mode: ByzantineMode, stream: string, shard: number, seq: bigint): void {
    this.df.cheated = true;
    const record: CheatRecord = {
      mode,
      epoch: this.epoch.toString(),
      stream,
      shard,
      seq: seq.toString(),
      at: Date.now(),
    };
    this.df.cheats.push(record);
    this.df.log.warn(record, "cheated (byzantine mode)");
  }

  /** Signs a batch's header for each receiver and sends it; to itself, the honest deltas go straight in. */
  private async deliver(receivers: string[], headers: SignedBatch["header"][], deltas: Delta[], honest?: Delta[]) {
    for (let i = 0; i < receivers.length; ++i) {
      const r = receivers[i];
      if (r === this.me) {
        if (honest)
          this.accept(`${this.me}|${lower(headers[i].stream)}|${headers[i].shard}`, { ...headers[i], deltas: honest });
        continue;
      }
      if (this.df.o.byzantine === "withhold") continue;
      const signature = await signBatch(this.df.o.signingKey, this.df.domain, headers[i]);
      this.df.send(this.peers.get(r), { kind: "batch", batch: { header: headers[i], signature, deltas } });
    }
  }

  /** The end of this epoch's source window: last batches, accumulated proofs, and the end notice to every member. */
  async finishSending(lastBlock: number): Promise<void> {
    await this.flush();
    const provider = this.df.o.p.epochs.runner!.provider!;
    let blockHash = (await provider.getBlock(lastBlock))!.hash!;
    const withhold = this.df.o.byzantine === "withhold";
    if (this.df.o.byzantine === "bad-accumulated-proof" && !this.df.cheated && this.senders.size > 0) {
      blockHash = keccak256(toUtf8Bytes(`not block ${lastBlock}`));
      const [first] = this.senders.values();
      this.recordCheat("bad-accumulated-proof", first.stream, first.shard, first.seq - 1n);
    }
    for (const ch of this.senders.values()) {
      if (ch.seq === 0n || withhold) continue;
      const header = {
        epoch: ch.epoch,
        stream: ch.stream,
        shard: ch.shard,
        sender: ch.sender,
        seq: ch.seq - 1n,
        cumulativeMsh: ch.cumulative.digest(),
      };
      const claimed = this.claimed.get(`${ch.stream}|${ch.shard}`);
      if (claimed?.seq === header.seq) header.cumulativeMsh = claimed.cumulativeMsh;
      const proof = await buildAccumulatedProof(
        this.df.o.signingKey,
        this.df.domain,
        header as never,
        BigInt(this.df.o.chainId),
        BigInt(lastBlock),
        blockHash,
      );
      for (const r of this.holders(ch.shard)) {
        if (r !== this.me && this.live(r)) this.df.send(this.peers.get(r), { kind: "proof", proof });
      }
    }
    for (const m of this.a.members) {
      if (m === this.me || !this.live(m) || withhold) continue;
      const channels = [...this.senders.values()]
        .filter((c) => this.holders(c.shard).includes(m))
        .map((c) => ({ stream: c.stream, shard: c.shard, batches: c.seq }));
      this.df.send(this.peers.get(m), {
        kind: "done",
        done: { epoch: this.epoch, sender: this.me, lastBlock: BigInt(lastBlock), channels },
      });
    }
    this.sendingDone = true;
    this.sendingDoneAt = Date.now();
  }

  async handle(m: Message): Promise<void> {
    if (m.kind === "batch") this.onBatch(m.batch);
    else if (m.kind === "proof") await this.onProof(m.proof);
    else this.done.set(lower(m.done.sender), m.done);
  }

  private onBatch(batch: SignedBatch): void {
    const h = batch.header;
    const sender = lower(String(h.sender));
    if (!this.live(sender)) {
      this.stats.droppedFromEjected += 1;
      return;
    }
    const key = `${sender}|${lower(h.stream)}|${h.shard}`;
    if (!this.df.o.checks) {
      this.accept(key, { ...h, deltas: batch.deltas });
      return;
    }
    const channel = this.inCh.get(key) ?? openReceiverChannel();
    this.inCh.set(key, channel);
    const t0 = performance.now();
    const verdict = verifyBatch(batch, {
      math: this.math,
      me: this.me,
      domain: this.df.domain,
      partitions: this.graph.partitions,
      channel,
    });
    this.stats.verifyMs += performance.now() - t0;
    if (verdict.ok) {
      this.accept(key, { ...h, deltas: batch.deltas });
      const next = this.stash.get(key)?.get(BigInt(h.seq) + 1n);
      if (next) {
        this.stash.get(key)!.delete(BigInt(h.seq) + 1n);
        this.onBatch(next);
      }
      return;
    }
    if (verdict.violations.every((v) => v.kind === "out-of-order")) {
      const held = this.stash.get(key) ?? new Map<bigint, SignedBatch>();
      if (held.size < 1024) held.set(BigInt(h.seq), batch);
      this.stash.set(key, held);
      return;
    }
    this.stats.rejectedBatches += 1;
    for (const v of verdict.violations) this.stats.violations[v.kind] = (this.stats.violations[v.kind] ?? 0) + 1;
    this.df.log.warn(
      {
        epoch: this.epoch.toString(),
        sender,
        seq: String(h.seq),
        violations: verdict.violations.map((v) => v.message),
      },
      "batch rejected",
    );
    // One evidence per provable fault. The chain check recomputes the cumulative hash from the
    // deltas; when the signed batchMsh is itself false, only the batch mismatch is provable.
    const faults = new Map<number, (typeof verdict.violations)[number]>();
    for (const v of verdict.violations) if (v.fault !== undefined && !faults.has(v.fault)) faults.set(v.fault, v);
    if (faults.has(Fault.BATCH_MISMATCH)) faults.delete(Fault.BROKEN_CHAIN);
    for (const v of faults.values()) {
      try {
        const evidence = buildEvidence(v, batch, {
          view: this.a.view,
          me: this.me,
          channel,
          batchState: verdict.batchState!,
        });
        this.df.queueEvidence(this.epoch, sender, evidence);
      } catch (e) {
        this.df.log.warn({ kind: v.kind, error: (e as Error).message }, "violation not provable");
      }
    }
  }

  /** A batch that passed every check (or came from this worker): each time's deltas are used once. */
  private accept(key: string, batch: SignedBatch["header"] & { deltas: Delta[] }): void {
    const sender = lower(String(batch.sender));
    const stream = lower(batch.stream);
    this.stats.acceptedBatches += 1;
    this.stats.acceptedDeltas += batch.deltas.length;
    this.acceptedCount.set(key, (this.acceptedCount.get(key) ?? 0n) + 1n);
    const mine = this.delivered.get(sender) ?? new Set<string>();
    this.delivered.set(sender, mine);
    const use: Delta[] = [];
    for (const g of groupByTime(batch.deltas)) {
      const tkey = `${stream}|${batch.shard}|${g.time}`;
      mine.add(`${stream}|${g.time}`);
      const digest = groupDigest(g);
      const first = this.taken.get(tkey);
      if (!first) {
        this.taken.set(tkey, { sender, digest });
        use.push(...g.deltas);
      } else if (first.digest !== digest) {
        this.stats.divergent += 1;
        this.df.log.warn(
          { time: g.time.toString(), first: first.sender, other: sender },
          "replicas disagree (not provable)",
        );
      }
    }
    for (const op of this.graph.consumers.get(stream) ?? []) {
      const p = this.feed(op, use).catch((e: Error) => this.df.log.error({ error: e.message }, "operator feed failed"));
      this.feeding.add(p);
      void p.finally(() => this.feeding.delete(p));
    }
  }

  private async onProof(sp: SignedAccumulatedProof): Promise<void> {
    const sender = lower(String(sp.proof.sender));
    if (!this.live(sender) || !this.df.o.checks) return;
    const provider = this.df.o.p.epochs.runner!.provider!;
    const chainId = BigInt(this.df.o.chainId);
    const verdict = await verifyAccumulatedProof(sp, {
      view: this.a.view,
      domain: this.df.domain,
      channel: this.inCh.get(`${sender}|${lower(sp.proof.stream)}|${sp.proof.shard}`),
      canonicalHash: async (chain, n) =>
        chain === chainId ? ((await provider.getBlock(Number(n)))?.hash ?? undefined) : undefined,
    });
    this.stats.proofsChecked += 1;
    for (const v of verdict.violations) {
      this.stats.violations[v.kind] = (this.stats.violations[v.kind] ?? 0) + 1;
      this.df.log.warn({ epoch: this.epoch.toString(), sender, violation: v.message }, "accumulated proof rejected");
      if (v.evidence) this.df.queueEvidence(this.epoch, sender, v.evidence);
    }
  }

  /** Every live member said it is done, and everything it announced to this worker has arrived. */
  complete(): boolean {
    for (const m of this.a.members) {
      if (m === this.me || !this.live(m)) continue;
      const d = this.done.get(m);
      if (!d) return false;
      for (const c of d.channels) {
        const key = `${m}|${lower(c.stream)}|${c.shard}`;
        const got = this.df.o.checks
          ? this.inCh.get(key)?.last
            ? BigInt(this.inCh.get(key)!.last!.header.seq) + 1n
            : 0n
          : (this.acceptedCount.get(key) ?? 0n);
        if (got < BigInt(c.batches)) return false;
      }
    }
    return true;
  }

  /**
   * Closes the epoch: stops its operators, and looks for withholding. A live member that holds a
   * source shard whose outputs reached this worker from another holder, but never sent them itself,
   * is withholding (or its batches failed the checks). Not provable on-chain: reported, not slashed.
   */
  async finalize(timedOut: boolean): Promise<EpochReport> {
    await Promise.all([...this.feeding]);
    let malformed = 0;
    for (const h of this.hosts.values()) {
      malformed += h.malformed;
      await h.close();
    }
    const firstStage = new Set((this.graph.consumers.get(this.graph.source) ?? []).map((o) => o.output));
    const withholding: EpochReport["withholding"] = [];
    for (const m of this.a.members) {
      if (m === this.me || !this.live(m)) continue;
      const index = this.a.view.indexOf.get(m)!;
      const got = this.delivered.get(m) ?? new Set<string>();
      let missing = 0;
      for (const tkey of this.taken.keys()) {
        const [stream, , t] = tkey.split("|");
        if (!firstStage.has(stream)) continue;
        const source = this.sourceShard.get(BigInt(t));
        if (source !== undefined && this.a.holders(source).includes(index) && !got.has(`${stream}|${t}`)) missing += 1;
      }
      // Withholding is data missing; a late end notice alone (a slow peer) is only logged.
      if (missing > 0) {
        withholding.push({ worker: m, missingGroups: missing, sentDone: this.done.has(m) });
        this.df.log.warn(
          { epoch: this.epoch.toString(), worker: m, missingGroups: missing },
          "withholding (not provable on-chain)",
        );
      } else if (!this.done.has(m)) {
        this.df.log.info({ epoch: this.epoch.toString(), worker: m }, "no end notice in time (all its data arrived)");
      }
    }
    const output: EpochReport["output"] = {};
    for (const [stream, coll] of this.output) {
      output[stream] = Object.fromEntries([...coll].map(([k, v]) => [k, v.toString()]));
    }
    return {
      epoch: this.epoch.toString(),
      index: this.a.index!,
      shards: this.a.shards,
      graphHash: this.graph.graphHash,
      ...this.stats,
      verifyMs: Math.round(this.stats.verifyMs),
      withholding,
      timedOut,
      operatorsStopped: this.failed.size,
      malformed,
      output,
      finishedAt: Date.now(),
    };
  }
}
