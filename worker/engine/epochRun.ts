// One epoch of the dataflow at one worker (docs/protocol.md §5–§9, §12): the source deltas of the
// shards it holds go through the operators; what they emit goes to the exchange layer (Outbox) by
// shard, or stays here as output when nobody consumes the stream; what other workers send comes
// through the Inbox's checks and then the replica agreement (./agreement.ts): the k holders of a
// source shard all send its outputs, and a time's deltas are used as they came only when every
// live holder's copy agrees. Otherwise this worker computes the time itself (`recompute`) and
// reports who sent what; a holder silent past the grace is reported as withholding (not provable
// on-chain: docs/worker.md).
import type { TypedDataDomain } from "ethers";
import { bytesToHex } from "../../client/math/values.js";
import type { Logger } from "pino";
import { EpochMath } from "../../client/batches/verifyBatch.js";
import { MAX_BATCH } from "../../client/batches/types.js";
import { BatchStateCache } from "../../client/batches/stateCache.js";
import { PrefixHashes } from "./prefixHashes.js";
import { LiveHolders } from "./liveHolders.js";
import type { Assignment } from "../../client/actions/getAssignment.js";
import type { SourceDelta } from "../chain/source.js";
import type { BatchHeader } from "../../client/math/eip712.js";
import type { Delta } from "../../client/math/lthash.js";
import type { Evidence } from "../../client/evidence/buildEvidence.js";
import type { SignedHeaderArg } from "../../client/evidence/disputes.js";
import { replicaHash } from "../../client/math/eip712.js";
import { OperatorError, OperatorHost } from "../operators/host.js";
import { Inbox } from "../exchange/inbox.js";
import type { Outbox, OutboxOptions } from "../exchange/outbox.js";
import { groupByTime } from "../exchange/packing.js";
import type { ExchangeSigner } from "../exchange/signer.js";
import type { Message } from "../transport/codec.js";
import { Agreement } from "./agreement.js";
import { handoffOrigin, handoffStreamOf, handoffTime } from "../../client/registry/handoff.js";
import { Replay } from "./replay.js";
import { firstStageOf, isSecondStageSource, type RunnableGraph, type RunnableOperator } from "./graph.js";
import type { EpochReport } from "./report.js";
import type { WorkerMetrics } from "../metrics/metrics.js";

/** What an epoch run needs from the worker around it. */
export type RunContext = {
  me: string;
  log: Logger;
  domain: TypedDataDomain;
  checks: boolean;
  perDeltaMs: number;
  sourceChainId: bigint;
  signer: ExchangeSigner;
  /** Builds the epoch's outbox (the adversary layer wraps it in byzantine modes). */
  outbox(o: OutboxOptions): Outbox;
  isEjected(epoch: bigint, worker: string): boolean;
  send(member: string, m: Message): void;
  evidence(epoch: bigint, worker: string, e: Evidence): void;
  /** Two holders' signed headers of one position with different content: `wrong` signed the wrong one (§12). */
  dispute?(epoch: bigint, wrong: string, a: SignedHeaderArg, b: SignedHeaderArg): void;
  metrics?: WorkerMetrics;
};

const lower = (s: string) => s.toLowerCase();
/** Inputs between two kept states of a shard's input commitment. */
const CHECKPOINT = 32;
const dataHex = (d: Delta) => (typeof d.data === "string" ? lower(d.data) : bytesToHex(d.data as Uint8Array));

/**
 * The epoch whose state this one takes over (docs/protocol.md §9), when a handoff is due: it ran the
 * same graph. Its holders of each shard hand that shard's state to this epoch's holders.
 */
export type PreviousEpoch = { a: Assignment; math: EpochMath };

/**
 * A worker's state at the end of an epoch, to hand to the next: per stateful stream (the input of
 * an operator after the exchange), per shard it held, that stream's consolidated input (data hex →
 * multiplicity), sorted by data. Written to the data directory before the next epoch signs it.
 */
export type HandoffState = {
  epoch: string;
  graphHash: string;
  streams: Array<{ stream: string; shards: Array<{ shard: number; deltas: Array<{ data: string; diff: string }> }> }>;
};

/** The key of an operator instance: first-stage operators run one instance per source shard. */
const instanceKey = (op: RunnableOperator, originShard?: number) =>
  originShard === undefined ? String(op.id) : `${op.id}|${originShard}`;

/** Input deltas an operator takes at once before what they produced is routed (see `feedNow`). */
export const FEED_SEGMENT = 1024;

/**
 * @example
 * ```ts
 * const run = new EpochRun(ctx, epoch, assignment, graph, hosts, resumed);
 * await run.processSource(deltas); await run.outbox.flush();
 * await run.finishSending(lastBlock, blockHash);
 * if (run.inbox.complete()) report = await run.finalize(false);
 * ```
 */
export class EpochRun {
  readonly math: EpochMath;
  readonly outbox: Outbox;
  get graphHash(): string {
    return this.graph.graphHash;
  }
  readonly inbox: Inbox;
  private readonly myShards: Set<number>;
  readonly agreement: Agreement;
  /** Set by release(): the epoch's inputs, indexes and state are gone. */
  private released = false;
  /** The batch states the outbox and inbox share (a content is hashed once). */
  private readonly states: BatchStateCache;
  /** Senders any accepted batch came from. */
  private readonly heard = new Set<string>();
  /** Source time → its shard (a time is one delta of one source stream: §9). */
  private readonly sourceShard = new Map<bigint, number>();
  /** Source time → its stream, when the graph reads several (a time names one log of the chain). */
  private readonly sourceStream = new Map<bigint, string>();
  /** The last source index taken. */
  private lastSourceIndex?: bigint;
  /** Per source time of a held shard: its position in the shard's inputs (`sourceByShard`). */
  private readonly inputPos = new Map<bigint, number>();
  /**
   * The input commitment (§12), computed when a batch needs it, not per delta: the prefix hashes of
   * each held shard's inputs (key `cpKey` of `prefixDigest`).
   */
  private readonly prefixes = new Map<string, PrefixHashes>();
  private readonly inputDigests = new Map<bigint, string>();
  private readonly output = new Map<string, Map<string, bigint>>();
  /** Operator instances (`instanceKey`) that failed twice: stopped for the epoch. */
  private readonly failed = new Set<string>();
  /** The operators' turns under way (by the turn's promise), each with its failure logged. */
  private readonly feeding = new Map<Promise<void>, Promise<void>>();
  private readonly chains = new Map<string, Promise<void>>();
  /** Deltas queued for an operator instance in this turn of the event loop (see `feed`). */
  private readonly queuedFeeds = new Map<
    string,
    { parts: Array<{ input?: number; deltas: Delta[] }>; done: Promise<void> }
  >();
  /** Every input an operator instance took this epoch (by input number for a join), to replay it into a restarted one. */
  private readonly inputs = new Map<string, Array<{ input?: number; deltas: Delta[] }>>();
  /** Every source delta of the epoch's window by source stream and shard, in order (to compute a time again, §12). */
  private readonly sourceByShard = new Map<string, Map<number, Delta[]>>();
  /** Holders whose wrong copy has been handed to the dispute desk this epoch. */
  private readonly disputed = new Set<string>();
  /** The streams whose state is handed over: the inputs of the operators after the exchange. */
  private readonly statefulStreams: ReadonlySet<string>;
  /**
   * Stateful stream → shard → consolidated input (data hex → multiplicity), handoffs included. The
   * data is kept as its hex key alone: a delta's bytes may be a view into an operator's whole
   * answer, which the state would otherwise keep for epochs.
   */
  private readonly state = new Map<string, Map<number, Map<string, bigint>>>();
  /** Per origin shard of the previous epoch: the handoff deltas this worker sent, in time order. */
  private readonly handoffInputs = new Map<number, Delta[]>();
  /** Set while the previous epoch's state is still being computed here: sending cannot finish before it is added. */
  handoffPending = false;
  /** Set once the previous epoch's state went into this epoch's outbox (it goes once). */
  handoffTaken = false;
  /** Whether the previous epoch's state is due here (it ran the same graph). */
  get handoffDue(): boolean {
    return this.previous !== undefined;
  }
  /** Set by `finalize`: nothing this worker used in the epoch lacked data (its state can be handed over). */
  private vouched = false;
  /** The window's last block and its hash (the accumulated proofs of the second exchange name them too). */
  private windowLast?: { block: bigint; hash: string };
  /**
   * The second exchange (graphs with one): once this worker's first stage is complete, the
   * operators that emit its streams run over each held shard's whole state (`startSecondStage`).
   */
  readonly secondStage: boolean;
  secondStageStarted = false;
  secondStageDone = false;
  secondStageDoneAt = 0;
  /** The instance keys of the operators of the second stage: each per-shard one of an operator emitting its streams, and those after it. */
  private readonly secondStageKeys = new Set<string>();
  /** Per `stream|originShard` of the second exchange: the input the operator ran over here, in rank order. */
  private readonly stage2Inputs = new Map<string, Delta[]>();
  private readonly stage2Digests = new Map<string, string>();
  /** What the first stage looked like when the second started (its state is final from then on). */
  private stage1?: { lacking: boolean; unconfirmed: boolean; why?: string };
  readonly secondStageStats = { shards: 0, sentDeltas: 0, ms: 0, lateBatches: 0, malformed: 0 };
  /** `stream|originShard` of the second exchange whose channels this worker named (its operator ran and did not stop). */
  private readonly stage2Named = new Set<string>();
  /** Set when the second stage failed for a reason other than an operator's (a bug): its output is incomplete. */
  private secondStageError?: string;
  readonly handoffStats = { sentDeltas: 0, ms: 0 };
  /** First-stage instances run again from the source to settle differing copies, by instance key. */
  private readonly replays = new Map<string, Promise<Replay>>();
  sendingDone = false;
  sendingDoneAt = 0;
  /** The block the epoch's source window ends at, once known. */
  windowEnd?: number;
  lastResendAsk = 0;
  readonly stats = {
    sourceDeltas: 0,
    sourceRead: 0,
    unkeyable: 0,
    operatorErrors: 0,
    resendsAsked: 0,
    resendsServed: 0,
    /** Accepted batches whose times do not belong on their channel (handoff times elsewhere, or others on a handoff): not used. */
    misplacedBatches: 0,
  };

  constructor(
    private readonly ctx: RunContext,
    readonly epoch: bigint,
    readonly a: Assignment,
    private readonly graph: RunnableGraph,
    /** Instances by key: `op.id` for operators after the exchange; first-stage ones start here, one per source shard. */
    private readonly hosts: Map<string, OperatorHost>,
    readonly resumed: boolean,
    /** The epoch whose state this one takes over; undefined when no handoff is due. */
    private readonly previous?: PreviousEpoch,
  ) {
    this.math = new EpochMath(a.view);
    this.statefulStreams = new Set(graph.handoffs.values());
    this.secondStage = graph.stage2.size > 0;
    for (const op of graph.operators)
      if (op.inputs.some((x) => graph.stage2.has(x))) this.secondStageKeys.add(instanceKey(op));
    this.myShards = new Set(a.shards);
    const me = lower(ctx.me);
    const states = (this.states = new BatchStateCache());
    this.outbox = ctx.outbox({
      epoch,
      states,
      me,
      signer: ctx.signer,
      holders: (shard) => this.holders(shard),
      members: a.members,
      live: (w) => this.live(w),
      send: (to, m) => ctx.send(to, m),
      shardOf: (stream, data) => this.math.sharder.shardOfDelta(this.graph.partitions.get(stream)!, data),
      inputDigest: (stream, originShard, time) =>
        this.graph.stage2.has(stream)
          ? this.stage2Digest(stream, originShard, time)
          : this.inputDigest(originShard, time),
      local: (h, deltas) => this.inbox.own(h, deltas),
      secondStage: graph.stage2,
      log: ctx.log,
      metrics: ctx.metrics,
    });
    this.inbox = new Inbox({
      epoch,
      states,
      me,
      a,
      domain: ctx.domain,
      partitions: graph.partitions,
      secondStage: graph.stage2,
      checks: ctx.checks,
      sourceChainId: ctx.sourceChainId,
      handoff: previous ? { streams: new Set(graph.handoffs.keys()), previous: previous.math } : undefined,
      live: (w) => this.live(w),
      accept: (sender, h, deltas) => this.accept(sender, h, deltas),
      evidence: (w, e) => ctx.evidence(epoch, w, e),
      log: ctx.log,
      metrics: ctx.metrics,
    });
    this.agreement = new Agreement({
      epoch,
      log: ctx.log,
      holdersOf: (time, stream) => {
        if (this.graph.stage2.has(stream)) {
          // A time of the second exchange names the shard whose state produced it (and a rank).
          const from = handoffOrigin(time);
          return from === undefined || from >= this.a.view.n ? undefined : this.liveHolders.of(from);
        }
        const from = handoffOrigin(time);
        if (from !== undefined)
          return this.previous ? { originShard: from, holders: this.handoffSenders(from) } : undefined;
        const originShard = this.sourceShard.get(time);
        return originShard === undefined ? undefined : this.liveHolders.of(originShard);
      },
      closed: (holder, stream, originShard, shard) => {
        // A handoff copy is final only once its sender named the channel: a holder that cannot
        // vouch for its state names nothing, and is silent, never the copy "nothing".
        if (this.graph.handoffs.has(stream))
          return holder === me
            ? this.sendingDone && this.handoffInputs.has(originShard)
            : this.inbox.declared(holder, stream, originShard, shard) &&
                this.inbox.closed(holder, stream, originShard, shard);
        // So is a copy of the second exchange: a holder that could not vouch for its first stage names nothing.
        if (this.graph.stage2.has(stream))
          return holder === me
            ? this.namedSecondStage(stream, originShard)
            : this.inbox.declared(holder, stream, originShard, shard) &&
                this.inbox.closed(holder, stream, originShard, shard);
        return holder === me ? this.sendingDone : this.inbox.closed(holder, stream, originShard, shard);
      },
      use: (stream, shard, deltas) => this.use(stream, shard, deltas),
      takeUnconfirmed: (slot) => this.graph.handoffs.has(slot.stream) || this.graph.stage2.has(slot.stream),
      recompute: (slot) => this.recompute(slot),
      conflict: (slot, right, wrong) => this.conflict(slot, right, wrong),
    });
  }

  /** The members holding `shard` this epoch (fixed by the assignment: computed once per shard). */
  holders(shard: number): readonly string[] {
    let hs = this.holdersByShard.get(shard);
    if (!hs) this.holdersByShard.set(shard, (hs = this.a.holders(shard).map((i) => this.a.members[i])));
    return hs;
  }
  private readonly holdersByShard = new Map<number, readonly string[]>();

  /** The live holders of each shard, as the agreement asks for them. */
  private readonly liveHolders = new LiveHolders(
    (shard) => this.holders(shard),
    (w) => this.live(w),
  );

  live(worker: string): boolean {
    return !this.ctx.isEjected(this.epoch, worker);
  }

  /**
   * Who hands over origin shard `j` of the previous epoch: its holders then that are live members
   * of this epoch (a handoff is signed under this epoch).
   */
  private handoffSenders(j: number): string[] {
    const prev = this.previous!.a;
    return prev
      .holders(j)
      .map((i) => lower(prev.members[i]))
      .filter((w) => this.a.view.indexOf.has(w) && this.live(w));
  }

  /**
   * The shard of a delta, or undefined (counted) when its data is shorter than its stream's key:
   * the same delta is skipped the same way on every worker and on every replay.
   */
  private shardOf(spec: Parameters<EpochMath["sharder"]["shardOfDelta"]>[0], data: Delta["data"]): number | undefined {
    try {
      return this.math.sharder.shardOfDelta(spec, data);
    } catch {
      this.stats.unkeyable += 1;
      return undefined;
    }
  }

  /** The source stream a source time belongs to (undefined for a time not read). */
  private streamOfTime(time: bigint): string | undefined {
    return this.graph.sources.length === 1 ? this.graph.sources[0] : this.sourceStream.get(time);
  }

  /** The source deltas of `stream`'s shard `shard` read so far, in order. */
  private sourceInputs(stream: string, shard: number): Delta[] {
    return this.sourceByShard.get(stream)?.get(shard) ?? [];
  }

  /**
   * Source deltas of this epoch's window, in time order (of every source stream the graph reads):
   * keep those of my shards, run them through the operators that read their stream.
   */
  async processSource(deltas: SourceDelta[]): Promise<void> {
    this.assertOpen();
    const several = this.graph.sources.length > 1;
    const mine = new Map<string, Map<number, Delta[]>>();
    for (const d of deltas) {
      // Blocks read again after a failed tick bring deltas already taken: each is taken once.
      if (this.lastSourceIndex !== undefined && d.index <= this.lastSourceIndex) continue;
      this.lastSourceIndex = d.index;
      const spec = this.graph.partitions.get(d.stream);
      if (!spec) continue; // not a stream of this graph (a reader of other streams is never handed here)
      const shard = this.shardOf(spec, d.data);
      if (shard === undefined) continue;
      this.sourceShard.set(d.index, shard);
      if (several) this.sourceStream.set(d.index, d.stream);
      this.stats.sourceRead += 1;
      const delta = { data: d.data, time: d.index, diff: d.diff };
      let byShard = this.sourceByShard.get(d.stream);
      if (!byShard) this.sourceByShard.set(d.stream, (byShard = new Map()));
      const all = byShard.get(shard);
      if (all) all.push(delta);
      else byShard.set(shard, [delta]);
      if (!this.myShards.has(shard)) continue;
      let myByShard = mine.get(d.stream);
      if (!myByShard) mine.set(d.stream, (myByShard = new Map()));
      const list = myByShard.get(shard);
      if (list) list.push(delta);
      else myByShard.set(shard, [delta]);
      this.inputPos.set(d.index, all ? all.length - 1 : 0);
    }
    // One instance of each first-stage operator per source shard: what it emits for a shard's
    // delta depends on that shard's inputs alone, as on every other holder of the shard.
    const feeds: Array<Promise<void>> = [];
    for (const [stream, byShard] of mine) {
      const firstStage = this.graph.consumers.get(stream) ?? [];
      for (const [shard, list] of byShard) {
        this.stats.sourceDeltas += list.length;
        for (const op of firstStage) feeds.push(this.feed(op, list, shard));
      }
    }
    await Promise.all(feeds);
  }

  /** The digest of `originShard`'s inputs up to and including `time` (a held shard's source time). */
  private inputDigest(originShard: number, time: bigint): string {
    const memo = this.inputDigests.get(time);
    if (memo !== undefined) return memo;
    // A handoff's input is the state handed over: the origin shard's handoff deltas up to `time`.
    const handedOver = handoffOrigin(time) === originShard ? this.handoffInputs.get(originShard) : undefined;
    const i = handedOver
      ? Number(time & ((1n << 40n) - 1n))
      : this.sourceShard.get(time) === originShard
        ? this.inputPos.get(time)
        : undefined;
    if (i === undefined)
      throw new Error(`no input of origin shard ${originShard} at time ${time}: an operator changed a delta's time`);
    const stream = handedOver ? "handoff" : this.streamOfTime(time)!;
    const inputs = handedOver ?? this.sourceInputs(stream, originShard);
    const digest = this.prefixDigest(`${stream}|${originShard}`, inputs, i);
    this.inputDigests.set(time, digest);
    return digest;
  }

  /**
   * The input commitment of a batch of the second exchange: the digest of the input the operator
   * emitting `stream` ran over for `originShard`'s state, up to and including the rank `time` names.
   */
  private stage2Digest(stream: string, originShard: number, time: bigint): string {
    const key = `${stream}|${originShard}|${time}`;
    const memo = this.stage2Digests.get(key);
    if (memo !== undefined) return memo;
    const inputs = this.stage2Inputs.get(`${stream}|${originShard}`);
    const i = Number(time & ((1n << 40n) - 1n));
    if (!inputs || handoffOrigin(time) !== originShard || i >= inputs.length)
      throw new Error(`no input of shard ${originShard}'s state at time ${time}: an operator changed a delta's time`);
    const digest = this.prefixDigest(`stage2|${stream}|${originShard}`, inputs, i);
    this.stage2Digests.set(key, digest);
    return digest;
  }

  /** The multiset hash of `inputs[0..i]`, by `cpKey`'s running prefix hashes. */
  private prefixDigest(cpKey: string, inputs: Delta[], i: number): string {
    let p = this.prefixes.get(cpKey);
    if (!p) this.prefixes.set(cpKey, (p = new PrefixHashes(CHECKPOINT)));
    return p.digest(inputs, i);
  }

  /**
   * What this worker computes itself for (stream, shard, time) from `originShard`'s source deltas:
   * a fresh instance of the first-stage operator that emits `stream`, run over the shard's deltas of
   * the source it reads, in order up to `time` (kept, so later times continue it). Undefined when
   * no first-stage operator emits `stream`; throws when the operator fails.
   */
  async recompute(slot: {
    stream: string;
    shard: number;
    time: bigint;
    originShard: number;
  }): Promise<Delta[] | undefined> {
    const op = firstStageOf(this.graph).find((o) => o.output === slot.stream);
    if (!op) return undefined;
    const key = instanceKey(op, slot.originShard);
    let replay = this.replays.get(key);
    if (!replay) {
      const inputs = () => this.sourceInputs(op.input, slot.originShard);
      this.replays.set(key, (replay = Replay.start(op.bytecode, { perDeltaMs: this.ctx.perDeltaMs }, inputs)));
    }
    const emitted = await (await replay).at(slot.time);
    const spec = this.graph.partitions.get(slot.stream)!;
    return emitted.filter((d) => {
      try {
        return this.math.sharder.shardOfDelta(spec, d.data) === slot.shard;
      } catch {
        return false; // unkeyable: skipped by every holder too
      }
    });
  }

  /**
   * Copies of a time differed, and this worker computed which holders were right. For each wrong
   * holder, the position that proves it: the batch of a right holder (or of the wrong one) that
   * covers the time, and the other's signed header at the same seq, when their replica content
   * differs. A wrong holder with no batch at that seq (it withheld) has no position to dispute.
   */
  private conflict(
    slot: { stream: string; shard: number; time: bigint; originShard: number },
    right: string[],
    wrong: string[],
  ): void {
    if (!this.ctx.dispute) return;
    const me = lower(this.ctx.me);
    wrong = wrong.filter((w) => !this.disputed.has(w)); // one position per wrong holder is enough
    const headersOf = (holder: string) =>
      holder === me
        ? this.outbox.signedHeaders(slot.stream, slot.originShard, slot.shard)
        : this.inbox.signedHeaders(holder, slot.stream, slot.originShard, slot.shard);
    const covering = (headers: ReturnType<typeof headersOf>) =>
      [...headers.values()].find(
        (s) => BigInt(s.header.firstTime) <= slot.time && slot.time <= BigInt(s.header.lastTime),
      );
    for (const w of wrong) {
      if (w === me) continue; // this worker computed the time itself: its own copy is the truth
      const ofW = headersOf(w);
      for (const r of right) {
        const ofR = headersOf(r);
        const seq = (covering(ofR) ?? covering(ofW))?.header.seq;
        const x = seq === undefined ? undefined : ofR.get(BigInt(seq));
        const y = seq === undefined ? undefined : ofW.get(BigInt(seq));
        if (!x || !y || replicaHash(x.header) === replicaHash(y.header)) continue;
        const signed = (s: { header: BatchHeader; signature: string }) => ({
          ...s,
          senderIndex: this.a.view.indexOf.get(lower(String(s.header.sender)))!,
        });
        this.ctx.dispute(this.epoch, w, signed(x), signed(y));
        this.disputed.add(w);
        break;
      }
    }
  }

  /**
   * Runs deltas through an operator instance and routes what it emits; calls for one instance run
   * in order. A failing operator (trap, overrun) is restarted once and its epoch input replayed; if
   * it fails again it stops for the epoch and the epoch's report says so (its output is then
   * incomplete). What is queued for an instance in one turn of the event loop goes to its thread
   * together: a later operator is fed an agreed group at a time (one to three deltas), and a
   * message to the thread per group cost a tenth of the worker's main thread. The operator takes
   * the same deltas in the same order either way, so what it emits is the same.
   */
  private feed(op: RunnableOperator, deltas: Delta[], originShard?: number, input?: number): Promise<void> {
    const key = instanceKey(op, originShard);
    let queued = this.queuedFeeds.get(key);
    if (!queued) {
      const parts: Array<{ input?: number; deltas: Delta[] }> = [];
      const turn = new Promise<void>((r) => setImmediate(r));
      const done = (this.chains.get(key) ?? Promise.resolve()).then(async () => {
        await turn;
        this.queuedFeeds.delete(key);
        // Each part is fed even if one before it threw (a bug, not an operator's failure, which
        // feedNow handles): the first error is what every caller of this turn sees.
        let error: unknown;
        for (const part of parts)
          await this.feedNow(op, key, part.deltas, originShard, part.input).catch((e: unknown) => (error ??= e));
        if (error !== undefined) throw error;
      });
      this.chains.set(
        key,
        done.catch(() => undefined),
      );
      this.queuedFeeds.set(key, (queued = { parts, done }));
    }
    const last = queued.parts.at(-1);
    if (last && last.input === input) for (const d of deltas) last.deltas.push(d);
    else queued.parts.push({ input, deltas: [...deltas] });
    return queued.done;
  }

  /**
   * Feeds `deltas` in segments of FEED_SEGMENT, each routed (batched, hashed) before the next goes
   * to the operator's thread: a whole epoch's outputs routed at once held the worker's event loop
   * for seconds, and peers, timers and pings waited. Cuts depend on the data alone, not on the
   * segments (./packing.ts), so the batches are the same.
   */
  private async feedNow(
    op: RunnableOperator,
    key: string,
    deltas: Delta[],
    originShard?: number,
    input?: number,
  ): Promise<void> {
    for (let i = 0; i < deltas.length; i += FEED_SEGMENT)
      await this.feedSegment(op, key, deltas.slice(i, i + FEED_SEGMENT), originShard, input);
  }

  private async feedSegment(
    op: RunnableOperator,
    key: string,
    deltas: Delta[],
    originShard?: number,
    input?: number,
  ): Promise<void> {
    if (deltas.length === 0 || this.failed.has(key)) return;
    const log = this.inputs.get(key) ?? [];
    this.inputs.set(key, log);
    let outs: Delta[][];
    try {
      const t0 = performance.now();
      let host = this.hosts.get(key);
      if (!host)
        this.hosts.set(key, (host = await OperatorHost.start(op.bytecode, { perDeltaMs: this.ctx.perDeltaMs })));
      outs = await host.process(deltas, input);
      this.ctx.metrics?.operatorTime(op.name, (performance.now() - t0) / 1000);
    } catch (e) {
      if (!(e instanceof OperatorError)) throw e;
      this.stats.operatorErrors += 1;
      this.ctx.log.warn(
        { operator: op.name, epoch: this.epoch.toString(), error: e.message },
        "operator failed, replaying",
      );
      try {
        await this.hosts.get(key)?.close();
        // An operator that failed itself restarts in a thread of its own, so that if it fails again
        // it stops nothing but itself; one lost with a thread another overran shares one again.
        const host = await OperatorHost.start(op.bytecode, {
          perDeltaMs: this.ctx.perDeltaMs,
          ownThread: !e.lostWithThread,
        });
        this.hosts.set(key, host);
        for (const seg of log)
          for (let i = 0; i < seg.deltas.length; i += MAX_BATCH)
            await host.process(seg.deltas.slice(i, i + MAX_BATCH), seg.input);
        outs = await host.process(deltas, input);
      } catch (again) {
        this.failed.add(key);
        // What it emitted so far for the batch being filled is a part of a group: never signed.
        // An operator after the exchange reads every origin: all of its output's lanes stop.
        this.outbox.stopLanes(op.output, originShard);
        this.ctx.log.error(
          { operator: op.name, epoch: this.epoch.toString(), error: (again as Error).message },
          "operator failed again: stopped for the epoch",
        );
        return;
      }
    }
    log.push({ input, deltas });
    this.route(op.output, outs.flat());
  }

  private route(stream: string, deltas: Delta[]): void {
    if (this.graph.terminal.has(stream)) {
      const coll = this.output.get(stream) ?? new Map<string, bigint>();
      this.output.set(stream, coll);
      for (const d of deltas) {
        const k = dataHex(d);
        const v = (coll.get(k) ?? 0n) + BigInt(d.diff);
        if (v === 0n) coll.delete(k);
        else coll.set(k, v);
      }
      return;
    }
    // By channel: the shard each delta goes to, and the source shard of its time (its origin).
    const spec = this.graph.partitions.get(stream)!;
    // A stream of the second exchange comes from a shard's state: its times name that shard.
    const second = this.graph.stage2.has(stream);
    if (second) this.secondStageStats.sentDeltas += deltas.length;
    const byChannel = new Map<string, { originShard: number; shard: number; deltas: Delta[] }>();
    for (const d of deltas) {
      const shard = this.shardOf(spec, d.data);
      if (shard === undefined) continue;
      const originShard = second ? handoffOrigin(BigInt(d.time))! : this.sourceShard.get(BigInt(d.time))!;
      const key = `${originShard}|${shard}`;
      const ch = byChannel.get(key);
      if (ch) ch.deltas.push(d);
      else byChannel.set(key, { originShard, shard, deltas: [d] });
    }
    for (const ch of byChannel.values()) this.outbox.add(stream, ch.originShard, ch.shard, ch.deltas);
  }

  /** A batch that passed every check (or came from this worker): its groups wait for the replica agreement. */
  private accept(sender: string, h: BatchHeader, deltas: Delta[]): void {
    this.assertOpen();
    this.heard.add(sender);
    const stream = lower(h.stream);
    const origin = Number(h.originShard);
    // Handoff times on handoff channels only, each of the channel's origin shard, and only when a
    // handoff is due: anything else is no copy of anything (a sender's mistake or its lie).
    const handoff = this.graph.handoffs.has(stream);
    const second = this.graph.stage2.has(stream);
    if (!second && this.secondStageStarted) {
      // The first stage's state is final once the second stage ran over it: a late copy changes nothing.
      this.secondStageStats.lateBatches += 1;
      return;
    }
    if (
      (handoff && !this.previous) ||
      deltas.some((d) => {
        const from = handoffOrigin(BigInt(d.time));
        return handoff || second ? from !== origin : from !== undefined;
      })
    ) {
      this.stats.misplacedBatches += 1;
      this.ctx.log.warn(
        { epoch: this.epoch.toString(), sender, stream, originShard: origin, seq: String(h.seq) },
        "a batch whose times do not belong on its channel (not used)",
      );
      return;
    }
    this.agreement.offer(sender, stream, origin, Number(h.shard), groupByTime(deltas));
  }

  /** Deltas every live holder agreed on: into the operators that consume their stream. */
  private use(stream: string, shard: number, deltas: Delta[]): void {
    const stateful = this.graph.handoffs.get(stream) ?? (this.statefulStreams.has(stream) ? stream : undefined);
    if (stateful !== undefined) {
      let byShard = this.state.get(stateful);
      if (!byShard) this.state.set(stateful, (byShard = new Map()));
      let coll = byShard.get(shard);
      if (!coll) byShard.set(shard, (coll = new Map()));
      for (const d of deltas) {
        const k = dataHex(d);
        const v = (coll.get(k) ?? 0n) + BigInt(d.diff);
        if (v === 0n) coll.delete(k);
        else coll.set(k, v);
      }
    }
    const of = stateful ?? stream;
    for (const op of this.graph.consumers.get(stream) ?? []) {
      // An operator whose output is exchanged again runs over the whole state, once the first stage is complete.
      if (isSecondStageSource(this.graph, op)) continue;
      // A join gets each delta with its input's number (the ABI's processFrom).
      const input = op.inputs.length > 1 ? op.inputs.indexOf(of) : undefined;
      const turn = this.feed(op, deltas, undefined, input);
      // Once per turn of the operator, not per group: thousands of groups wait for one turn when
      // the operator is behind, and a promise and a closure each cost a busy worker memory and GC.
      if (!this.feeding.has(turn)) {
        const p = turn.catch((e: Error) => this.ctx.log.error({ error: e.message }, "operator feed failed"));
        this.feeding.set(turn, p);
        void p.finally(() => this.feeding.delete(turn));
      }
    }
  }

  /**
   * Sends the previous epoch's state (what this worker computed as a holder of its shards) to this
   * epoch's holders: each delta to its shard under this epoch, with time `handoffTime(origin, rank)`,
   * and every handoff channel of the origin shards named in the end notices (an empty one says
   * "nothing of it is yours"). Call before `finishSending`.
   */
  sendHandoff(h: HandoffState): void {
    if (this.handoffTaken) throw new Error(`epoch ${this.epoch} already took the previous epoch's state`);
    // All of it or nothing: a malformed state (a damaged file) never goes out in part.
    for (const s of h.streams) {
      if (!this.statefulStreams.has(s.stream))
        throw new Error(`the state names stream ${s.stream}, which no operator of the graph keeps`);
      for (const sh of s.shards) {
        if (!this.previous || sh.shard >= this.previous.a.view.n)
          throw new Error(`the state names shard ${sh.shard} of epoch ${this.epoch - 1n}`);
        for (const x of sh.deltas)
          if (
            !/^0x([0-9a-f]{2})*$/.test(x.data) ||
            BigInt(x.diff) !== BigInt.asIntN(64, BigInt(x.diff)) ||
            BigInt(x.diff) === 0n
          )
            throw new Error(`the state holds a delta that is not one (${x.data}, ${x.diff})`);
      }
    }
    this.handoffTaken = true;
    const t0 = performance.now();
    const byOrigin = new Map<number, Array<{ stream: string; deltas: Array<{ data: string; diff: string }> }>>();
    for (const s of [...h.streams].sort((x, y) => (x.stream < y.stream ? -1 : 1)))
      for (const sh of s.shards) {
        const list = byOrigin.get(sh.shard) ?? [];
        list.push({ stream: s.stream, deltas: sh.deltas });
        byOrigin.set(sh.shard, list);
      }
    for (const [origin, streams] of byOrigin) {
      const sent: Delta[] = [];
      this.handoffInputs.set(origin, sent);
      for (const { stream, deltas } of streams) {
        const hs = handoffStreamOf(stream);
        const spec = this.graph.partitions.get(hs)!;
        const byShard = new Map<number, Delta[]>();
        for (const x of deltas) {
          const d: Delta = { data: x.data, time: handoffTime(origin, sent.length), diff: BigInt(x.diff) };
          sent.push(d);
          const shard = this.shardOf(spec, d.data);
          if (shard === undefined) continue;
          const list = byShard.get(shard) ?? [];
          list.push(d);
          byShard.set(shard, list);
        }
        for (let shard = 0; shard < this.a.view.n; ++shard) {
          this.outbox.declare(hs, origin, shard);
          const list = byShard.get(shard);
          if (list) this.outbox.add(hs, origin, shard, list);
        }
      }
      this.handoffStats.sentDeltas += sent.length;
    }
    this.handoffStats.ms += performance.now() - t0;
  }

  /**
   * This worker's state at the end of the epoch, for the shards it held, or undefined when it cannot
   * vouch for it (what makes its output incomplete, but for inputs every holder skips alike: an
   * operator stopped, a time was held back, it timed out missing announced batches or after a
   * restart, a shard's holders were silent, the state it took over had a gap, or its protection
   * record refused a signature): it then hands nothing over, and the next epoch's holders see its
   * channels missing, never a wrong state. Call after `finalize`.
   */
  handoffOut(): HandoffState | undefined {
    // After release the state is gone: an empty state handed on would pass for a real one.
    if (this.released) throw new Error(`epoch ${this.epoch}'s state was released: hand it over before release()`);
    if (this.graph.handoffs.size === 0 || !this.vouched) return undefined;
    for (const byShard of this.state.values())
      for (const [shard, coll] of byShard)
        for (const [data, v] of coll)
          if (v !== BigInt.asIntN(64, v)) {
            // A delta's multiplicity is an int64: this state cannot be handed over as deltas.
            this.ctx.log.warn(
              { epoch: this.epoch.toString(), shard, data, multiplicity: v.toString() },
              "a consolidated multiplicity does not fit 64 bits: this worker hands nothing over",
            );
            return undefined;
          }
    const t0 = performance.now();
    const streams: HandoffState["streams"] = [];
    for (const stream of this.statefulStreams) {
      const byShard = this.state.get(stream);
      const shards = [...this.myShards]
        .sort((x, y) => x - y)
        .map((shard) => ({
          shard,
          deltas: [...(byShard?.get(shard) ?? new Map<string, bigint>())]
            .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
            .map(([data, v]) => ({ data, diff: v.toString() })),
        }));
      streams.push({ stream, shards });
    }
    this.handoffStats.ms += performance.now() - t0;
    return { epoch: this.epoch.toString(), graphHash: this.graph.graphHash, streams };
  }

  /**
   * How completely the state this epoch took over is vouched for, for the shards this worker holds:
   * a `gap` when, for some origin shard of the previous epoch, no live holder here named its
   * channel (handed its state over): that state is missing; `unconfirmed` when only one named it
   * while others did not (silent, or unable to vouch): it rests on one holder's word. (One holder
   * alone confirms it when it is the only live holder left, as for any stage after an ejection.)
   */
  private handoffCoverage(): { gap: boolean; unconfirmed: boolean } {
    if (!this.previous) return { gap: false, unconfirmed: false };
    const me = lower(this.ctx.me);
    return this.coverage(
      this.graph.handoffs.keys(),
      this.previous.a.view.n,
      (j) => this.handoffSenders(j),
      (w, hs, j, shard) => (w === me ? this.handoffInputs.has(j) : this.inbox.declared(w, hs, j, shard)),
    );
  }

  /**
   * Whether each shard this worker holds got every origin shard's part of `streams` (a handoff, or
   * the second exchange, which nobody can compute again): `gap` when no sender of some origin shard
   * counts (`counts`: it named that part, as its stream requires), `unconfirmed` when fewer than two
   * do. Two holders confirm a part; one alone does, too, when it is the only live holder left.
   */
  private coverage(
    streams: Iterable<string>,
    origins: number,
    sendersOf: (j: number) => readonly string[],
    counts: (sender: string, stream: string, j: number, shard: number) => boolean,
  ): { gap: boolean; unconfirmed: boolean } {
    let gap = false;
    let unconfirmed = false;
    for (const stream of streams)
      for (let j = 0; j < origins; ++j) {
        const senders = sendersOf(j);
        for (const shard of this.myShards) {
          const said = senders.filter((w) => counts(w, stream, j, shard)).length;
          if (said === 0) gap = true;
          else if (said < Math.min(2, senders.length)) unconfirmed = true;
        }
      }
    return { gap, unconfirmed };
  }

  /**
   * The graph's second exchange at this worker, once its first stage is complete (or its grace is
   * over: `timedOut`). What the first stage decided is final from here on. When nothing this worker
   * used there lacked data or rests on fewer holders than it should, the operators that emit a
   * stream of the second exchange run, once per shard this worker holds, over that shard's whole
   * state in one order every holder computes: each input in the registered order, its records by
   * data, the i-th at time `handoffTime(shard, i)`. What they emit goes out on the shard's
   * channels, each named in a stage-2 end notice (an empty one says "nothing of it is yours").
   * Otherwise this worker names nothing, and its co-holders' copies stand (§9, §12).
   */
  async startSecondStage(timedOut: boolean): Promise<void> {
    if (!this.secondStage || this.secondStageStarted) return;
    this.secondStageStarted = true;
    const t0 = performance.now();
    try {
      await this.runSecondStageNow(timedOut);
    } catch (e) {
      // A bug, not an operator's failure (feedNow handles those): the second stage of this worker
      // lacks data, and its unfinished channels are named in no notice.
      this.secondStageError = (e as Error).message;
      for (const stream of this.graph.stage2) this.outbox.stopLanes(stream);
      this.ctx.log.error(
        { epoch: this.epoch.toString(), error: this.secondStageError },
        "the second stage failed: its output is incomplete",
      );
    }
    try {
      const { block, hash } = this.windowLast!;
      await this.outbox.finish(this.ctx.sourceChainId, block, hash, 2);
    } catch (e) {
      this.secondStageError ??= (e as Error).message;
    }
    // What the second stage's inputs cost is dropped once its batches are signed.
    this.stage2Inputs.clear();
    for (const key of [...this.prefixes.keys()]) if (key.startsWith("stage2|")) this.prefixes.delete(key);
    this.secondStageDone = true;
    this.secondStageDoneAt = Date.now();
    this.secondStageStats.ms += performance.now() - t0;
    this.ctx.log.info(
      {
        epoch: this.epoch.toString(),
        shards: this.secondStageStats.shards,
        ran: this.stage1 !== undefined && this.stage1.why === undefined && this.secondStageError === undefined,
      },
      "second stage sent (batches, proofs and end notices)",
    );
  }

  private async runSecondStageNow(timedOut: boolean): Promise<void> {
    // The first stage ends here: every copy not final now is a silent holder's (copies that come
    // later are not used), and the times it leaves are computed or held back before g runs.
    this.agreement.settle(true, (stream) => !this.graph.stage2.has(stream));
    // A member silent through the first stage's grace is not waited for again in the second.
    if (timedOut)
      this.inbox.excuse(
        this.inbox
          .missing(1)
          .filter((m) => !m.noticed)
          .map((m) => m.member),
      );
    await this.agreement.idle();
    await Promise.all([...this.feeding.values()]);
    const first = this.firstStageShape(timedOut, false);
    const why = first.lacking
      ? "what its first stage used lacks data"
      : first.unconfirmed
        ? "what its first stage used rests on fewer holders than it should"
        : this.outbox.refused
          ? "its protection record refused a signature"
          : undefined;
    this.stage1 = { ...first, why };
    if (why === undefined) {
      for (const op of this.graph.operators.filter((o) => isSecondStageSource(this.graph, o)))
        for (const shard of [...this.myShards].sort((x, y) => x - y)) await this.runSecondStage(op, shard);
    } else
      this.ctx.log.warn(
        { epoch: this.epoch.toString(), why },
        "the second stage does not run here: this worker names none of its channels",
      );
  }

  /** One operator of the second stage over held shard `shard`'s whole state, in a fresh instance. */
  private async runSecondStage(op: RunnableOperator, shard: number): Promise<void> {
    const inputs: Delta[] = [];
    const parts: Array<{ input?: number; deltas: Delta[] }> = [];
    for (const [n, stream] of op.inputs.entries()) {
      const coll = this.state.get(stream)?.get(shard) ?? new Map<string, bigint>();
      const deltas: Delta[] = [];
      for (const [data, diff] of [...coll].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))) {
        // A multiplicity is an int64 on the wire and in the operator ABI.
        if (diff !== BigInt.asIntN(64, diff)) {
          this.ctx.log.warn(
            { epoch: this.epoch.toString(), operator: op.name, shard },
            "a consolidated multiplicity does not fit 64 bits: the second stage of this shard does not run here",
          );
          return;
        }
        const d = { data, time: handoffTime(shard, inputs.length), diff };
        deltas.push(d);
        inputs.push(d);
      }
      parts.push({ input: op.inputs.length > 1 ? n : undefined, deltas });
    }
    const key = instanceKey(op, shard);
    this.stage2Inputs.set(`${op.output}|${shard}`, inputs);
    this.secondStageKeys.add(key);
    for (const part of parts) if (part.deltas.length > 0) await this.feed(op, part.deltas, shard, part.input);
    // The instance and its replay log are done with: O(state) each, per held shard.
    const host = this.hosts.get(key);
    if (host) {
      this.secondStageStats.malformed += host.malformed;
      this.hosts.delete(key);
      await host.close();
    }
    this.inputs.delete(key);
    if (this.failed.has(key)) return; // its lanes are stopped: named in no notice
    for (let s = 0; s < this.a.view.n; ++s) this.outbox.declare(op.output, shard, s);
    this.stage2Named.add(`${op.output}|${shard}`);
    this.secondStageStats.shards += 1;
  }

  /** Whether output stream `stream` is computed after the graph's second exchange. */
  private afterSecondExchange(stream: string): boolean {
    return this.graph.operators.some((o) => o.output === stream && o.inputs.some((x) => this.graph.stage2.has(x)));
  }

  /** Whether this worker named its channels of `stream` from `originShard`'s state (it ran, and did not stop). */
  private namedSecondStage(stream: string, originShard: number): boolean {
    // A refused signature leaves its lanes short: this worker's copy is then no copy.
    return (
      this.secondStageDone &&
      this.secondStageError === undefined &&
      !this.outbox.refused &&
      this.stage2Named.has(`${stream}|${originShard}`)
    );
  }

  /**
   * Whether each shard this worker holds got a copy of every origin shard's part of each stream of
   * the second exchange: `gap` when no live holder of some origin shard named its channel (that
   * part is missing), `unconfirmed` when one did while another did not.
   */
  private secondStageCoverage(): { gap: boolean; unconfirmed: boolean } {
    const me = lower(this.ctx.me);
    // A remote holder counts once everything it named has arrived (a member excused from the
    // wait may have named channels whose batches are still on the way).
    return this.coverage(
      this.graph.stage2,
      this.a.view.n,
      (j) => this.liveHolders.of(j).holders,
      (w, stream, j, shard) =>
        w === me
          ? this.namedSecondStage(stream, j)
          : this.inbox.declared(w, stream, j, shard) && this.inbox.closed(w, stream, j, shard),
    );
  }

  /**
   * What this worker's first stage lacks (`lacking`: then its output is incomplete and its state is
   * not handed on) or rests on fewer holders than it should (`unconfirmed`).
   */
  private firstStageShape(timedOut: boolean, unfinished: boolean) {
    const me = lower(this.ctx.me);
    // A source shard with deltas this epoch whose live holders all stayed silent (no batch, no
    // end notice) left nothing for anyone to use: the output is missing its data and says so.
    const heard = new Set([me, ...this.heard, ...this.inbox.done.keys()]);
    const sourceShards = [...new Set(this.sourceShard.values())];
    const silentShards = sourceShards
      .filter((shard) => !this.holders(shard).some((w) => heard.has(w) || !this.live(w)))
      .sort((x, y) => x - y);
    const { gap, unconfirmed: undeclared } = this.handoffCoverage();
    // Timed out: a source shard none of whose live holders finished sending here (end notice
    // counted, everything it announced received) may have times nobody delivered, which no copy
    // would name.
    const missing = this.inbox.missing();
    const unfinishedMembers = new Set(missing.map((m) => m.member));
    const uncovered =
      timedOut &&
      sourceShards.some(
        (shard) => !this.holders(shard).some((w) => this.live(w) && (w === me || !unfinishedMembers.has(w))),
      );
    // What this worker used may lack data: then neither its output nor its state can be vouched for.
    const first = (stream: string) => !this.graph.stage2.has(stream);
    const lacking =
      unfinished ||
      [...this.failed].some((key) => !this.secondStageKeys.has(key)) ||
      silentShards.length > 0 ||
      [...this.agreement.heldBackStreams].some(first) ||
      gap ||
      uncovered ||
      (timedOut && (this.resumed || missing.some((m) => m.noticed)));
    // State that rests on fewer holders than it should is used (the output says so) but never
    // handed on: two honest holders could then sign different states, and a lie taken once would
    // outlive the epoch that flagged it.
    const unconfirmed = undeclared || [...this.agreement.unconfirmedStreams].some(first);
    return { silentShards, gap, undeclared, lacking, unconfirmed };
  }

  /** Decides the times whose holders' copies are all final (on every tick: end notices close lanes). */
  settle(): void {
    this.agreement.settle(false);
  }

  /**
   * Drops what only an open epoch needs, once it is finalized and its state handed on (the
   * handoff is kept apart from the run). The outbox (resends) and inbox (late proofs) of a
   * finished epoch are kept for RETAINED_EPOCHS epochs, and their callbacks keep the run
   * reachable: without this, every source delta, operator log and index of the last two epochs
   * stayed on the heap beside the running one (a third of a busy worker's heap in a devnet of
   * three epochs). What they still ask of the run (the holders of a shard, who is live) stays.
   */
  release(): void {
    this.released = true;
    for (const m of [
      this.sourceShard,
      this.sourceStream,
      this.inputPos,
      this.prefixes,
      this.inputDigests,
      this.output,
      this.inputs,
      this.sourceByShard,
      this.state,
      this.handoffInputs,
      this.stage2Inputs,
      this.stage2Digests,
      this.queuedFeeds,
      this.replays,
    ])
      m.clear();
    this.agreement.release();
    this.states.clear();
  }

  /** A released run takes no more input (its indexes are gone): a routing mistake is loud, never quiet. */
  private assertOpen(): void {
    if (this.released) throw new Error(`epoch ${this.epoch} is finished and released here: it takes no more input`);
  }

  /** The end of this epoch's source window (`lastBlock`, final): last batches, proofs, end notices. */
  async finishSending(lastBlock: number, blockHash: string): Promise<void> {
    this.windowLast = { block: BigInt(lastBlock), hash: blockHash };
    await Promise.all([...this.chains.values()]);
    await this.outbox.finish(this.ctx.sourceChainId, BigInt(lastBlock), blockHash);
    this.sendingDone = true;
    this.sendingDoneAt = Date.now();
    this.ctx.log.info(
      { epoch: this.epoch.toString(), lastBlock, batches: this.outbox.stats.sentBatches, refused: this.outbox.refused },
      "epoch sent (batches, proofs and end notices)",
    );
  }

  /**
   * Closes the epoch: decides what the replica agreement still holds open (a holder whose copy is
   * not final by now is missing), stops the operators, and looks for withholding. A live member
   * whose copy of a time its co-holders delivered never came is withholding (or its batches
   * failed the checks). Not provable on-chain: reported, not slashed.
   */
  async finalize(timedOut: boolean, unfinished = false): Promise<EpochReport> {
    this.agreement.settle(true);
    await this.agreement.idle();
    await Promise.all([...this.feeding.values()]);
    let malformed = this.secondStageStats.malformed;
    for (const h of this.hosts.values()) {
      malformed += h.malformed;
      await h.close();
    }
    for (const r of this.replays.values()) await (await r.catch(() => undefined))?.close();
    const withholding: EpochReport["withholding"] = [];
    const me = lower(this.ctx.me);
    for (const [m, missing] of this.agreement.missingBy) {
      if (m === me || !this.live(m)) continue;
      // Withholding is data missing; a late end notice alone (a slow peer) is only logged.
      withholding.push({ worker: m, missingGroups: missing, sentDone: this.inbox.done.has(m) });
      this.ctx.log.warn(
        { epoch: this.epoch.toString(), worker: m, missingGroups: missing },
        "withholding (not provable on-chain)",
      );
    }
    for (const m of this.a.members)
      if (m !== me && this.live(m) && !this.agreement.missingBy.has(m) && !this.inbox.done.has(m))
        this.ctx.log.info({ epoch: this.epoch.toString(), worker: m }, "no end notice in time (all its data arrived)");
    const output: EpochReport["output"] = {};
    for (const [stream, coll] of this.output)
      output[stream] = Object.fromEntries([...coll].map(([k, v]) => [k, v.toString()]));
    const { verifyMs, ...inboxStats } = this.inbox.stats;
    const first = this.firstStageShape(timedOut, unfinished);
    const { silentShards, gap } = first;
    // The second exchange: a part no holder named, a time held back (in the agreement's counts), or
    // batches announced but missing at the end make the output incomplete.
    const second = this.secondStage ? this.secondStageCoverage() : { gap: false, unconfirmed: false };
    // What the first stage lacked when the second began stays lacking: copies that came later were
    // not used (its state was final by then).
    // Once the second stage began, the first stage's state was final: its shape then is its shape.
    const lacking = this.stage1 ? this.stage1.lacking : first.lacking;
    const lacking2 =
      lacking ||
      (this.secondStage &&
        (!this.secondStageDone ||
          second.gap ||
          this.secondStageError !== undefined ||
          [...this.failed].some((key) => this.secondStageKeys.has(key)) ||
          [...this.agreement.heldBackStreams].some((s) => this.graph.stage2.has(s)) ||
          (timedOut && this.inbox.missing(2).some((m) => m.noticed))));
    const unconfirmed =
      (this.stage1 ? this.stage1.unconfirmed : first.unconfirmed) ||
      second.unconfirmed ||
      [...this.agreement.unconfirmedStreams].some((s) => this.graph.stage2.has(s));
    // Inputs an operator refused, or deltas without a key: skipped alike by every holder, so not
    // wrong, but the output does not reflect them (an ERC-20 value past the sample's 64-bit sums,
    // say), and whoever reads it must know.
    const skipped = malformed > 0 || this.stats.unkeyable > 0;
    // Each output stream is as complete as the stage it comes out of: what only the second
    // exchange lacks leaves the first's outputs complete.
    const incompleteOutputs = [...this.graph.terminal]
      .filter((t) => skipped || (this.afterSecondExchange(t) ? lacking2 : lacking))
      .sort();
    // The state handed on is the first stage's, final when the second began.
    this.vouched = this.secondStage
      ? this.stage1 !== undefined && this.stage1.why === undefined && !this.outbox.refused
      : !lacking && !unconfirmed && !this.outbox.refused;
    return {
      epoch: this.epoch.toString(),
      index: this.a.index!,
      shards: this.a.shards,
      graphHash: this.graph.graphHash,
      resumed: this.resumed,
      ...this.stats,
      ...this.agreement.stats,
      disagreements: this.agreement.disagreements,
      singleHolder: this.agreement.singleHolder(),
      ...this.outbox.stats,
      ...inboxStats,
      verifyMs: Math.round(verifyMs),
      withholding,
      timedOut,
      outputIncomplete: lacking2 || skipped,
      incompleteOutputs,
      outputUnconfirmed: unconfirmed,
      silentShards,
      ...(this.outbox.refused ? { signingRefused: this.outbox.refused } : {}),
      operatorsStopped: this.failed.size,
      malformed,
      ...(this.graph.handoffs.size > 0
        ? {
            handoff: {
              due: this.previous !== undefined,
              gap,
              unconfirmed: first.unconfirmed,
              sentDeltas: this.handoffStats.sentDeltas,
              unconfirmedGroups: this.agreement.stats.unconfirmedGroups,
              ms: Math.round(this.handoffStats.ms),
            },
          }
        : {}),
      ...(this.secondStage
        ? {
            secondStage: {
              ran:
                this.secondStageDone &&
                this.stage1 !== undefined &&
                this.stage1.why === undefined &&
                this.secondStageError === undefined,
              ...(this.stage1?.why || this.secondStageError
                ? { skipped: this.stage1?.why ?? `it failed: ${this.secondStageError}` }
                : {}),
              shards: this.secondStageStats.shards,
              sentDeltas: this.secondStageStats.sentDeltas,
              lateBatches: this.secondStageStats.lateBatches,
              gap: second.gap,
              unconfirmed: second.unconfirmed,
              ms: Math.round(this.secondStageStats.ms),
            },
          }
        : {}),
      output,
      finishedAt: Date.now(),
    };
  }
}
